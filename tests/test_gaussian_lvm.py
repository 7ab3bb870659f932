import numpy as np
import pytest
import scipy.stats
import torch

from vae_utils.estimators import log_marginal_is
from vae_utils.gaussian import fit_gaussian, gaussian_log_prob, sample_gaussian, sqrtm_psd
from vae_utils.lvm import LinearGaussianLVM


def _spd(d, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(d, d))
    return A @ A.T + 0.5 * np.eye(d)


def test_fit_gaussian_is_the_mle():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) @ np.array([[1, 0, 0], [0.5, 2, 0], [0, 1, 0.3]])
    mu, Sigma = fit_gaussian(X)
    np.testing.assert_allclose(mu, X.mean(0))
    np.testing.assert_allclose(Sigma, np.cov(X.T, bias=True))  # divides by m
    assert mu.dtype == torch.float64
    # MLE: perturbing mu or Sigma lowers the log-likelihood.
    ll = gaussian_log_prob(X, mu, Sigma).sum()
    assert gaussian_log_prob(X, mu + 0.01, Sigma).sum() < ll
    assert gaussian_log_prob(X, mu, Sigma * 1.02).sum() < ll
    assert gaussian_log_prob(X, mu, Sigma * 50 / 49).sum() < ll  # the m-1 estimate


@pytest.mark.parametrize("method", ["cholesky", "eigh"])
def test_sqrtm_psd_roots(method):
    S = _spd(4)
    L = sqrtm_psd(S, method)
    np.testing.assert_allclose(L @ L.T, S, atol=1e-10)
    if method == "cholesky":
        assert torch.equal(L, torch.tril(L))
        np.testing.assert_allclose(L, np.linalg.cholesky(S))
    else:
        np.testing.assert_allclose(L, L.T, atol=1e-12)
        np.testing.assert_allclose(L, scipy.linalg.sqrtm(S).real, atol=1e-8)


def test_singular_psd_matrix():
    v = np.array([[1.0, 2.0, 0.0]])
    S = v.T @ v + np.diag([0.0, 0.0, 1.0])  # rank 2
    L = sqrtm_psd(S, "eigh")
    np.testing.assert_allclose(L @ L.T, S, atol=1e-10)
    with pytest.raises(ValueError, match="singular.*eigh.*eps"):
        sqrtm_psd(S, "cholesky")


@pytest.mark.parametrize("bad,match", [
    (np.ones((2, 3)), "square"),
    (np.array([[1.0, 0.5], [0.0, 1.0]]), "symmetric"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), r"not positive semi-definite: its smallest eigenvalue is -1"),
])
def test_bad_covariances(bad, match):
    with pytest.raises(ValueError, match=match):
        sqrtm_psd(bad)


def test_sample_gaussian_moments_and_methods_agree_in_distribution():
    mu, S = np.array([1.0, -2.0, 0.5]), _spd(3, 1)
    g = torch.Generator().manual_seed(0)
    a = sample_gaussian(mu, S, 200_000, method="cholesky", generator=g)
    b = sample_gaussian(mu, S, 200_000, method="eigh", generator=g)
    for x in (a, b):
        np.testing.assert_allclose(x.mean(0), mu, atol=0.03)
        np.testing.assert_allclose(np.cov(x.T), S, rtol=0.03, atol=0.03)
    with pytest.raises(ValueError, match=r"Sigma must have shape \(d, d\) = \(3, 3\)"):
        sample_gaussian(mu, np.eye(2), 5)


def test_gaussian_log_prob_against_scipy():
    mu, S = np.array([0.3, -1.0]), _spd(2, 2)
    x = np.random.default_rng(3).normal(size=(4, 5, 2))
    np.testing.assert_allclose(gaussian_log_prob(x, mu, S),
                               scipy.stats.multivariate_normal(mu, S).logpdf(x), rtol=1e-10)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 2\)"):
        gaussian_log_prob(np.zeros(3), mu, S)


@pytest.fixture
def lvm():
    rng = np.random.default_rng(0)
    return LinearGaussianLVM(rng.normal(size=(6, 2)), rng.normal(size=6), 0.7)


def test_lvm_marginal_against_scipy_and_sampling(lvm):
    x, z = lvm.sample(100_000, generator=torch.Generator().manual_seed(1))
    assert x.shape == (100_000, 6) and z.shape == (100_000, 2)
    cov = lvm.W @ lvm.W.T + 0.49 * torch.eye(6, dtype=torch.float64)
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.06)
    ref = scipy.stats.multivariate_normal(lvm.b.numpy(), cov.numpy()).logpdf(x[:10].numpy())
    np.testing.assert_allclose(lvm.log_marginal(x[:10]), ref, rtol=1e-10)


def test_lvm_posterior_by_bayes_rule(lvm):
    """log p(z|x) = log p(x|z) + log p(z) − log p(x) at any z."""
    x, _ = lvm.sample(3, generator=torch.Generator().manual_seed(2))
    z = torch.randn(5, 3, 2, dtype=torch.float64)
    post = lvm.posterior(x)
    assert post.batch_shape == (3,) and post.event_shape == (2,)
    bayes = lvm.likelihood(z).log_prob(x) + lvm.prior.log_prob(z) - lvm.log_marginal(x)
    np.testing.assert_allclose(post.log_prob(z), bayes, rtol=1e-10)
    # And with it as proposal, importance sampling is exact from one sample.
    np.testing.assert_allclose(log_marginal_is(lvm, x, post, 1), lvm.log_marginal(x), rtol=1e-10)


def test_lvm_bad_arguments():
    with pytest.raises(ValueError, match=r"b must have shape \(d,\) = \(3,\)"):
        LinearGaussianLVM(np.ones((3, 2)), np.ones(2), 1.0)
    with pytest.raises(ValueError, match="sigma must be a positive"):
        LinearGaussianLVM(np.ones((3, 2)), np.ones(3), 0.0)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., d\) = \(\.\.\., 3\)"):
        LinearGaussianLVM(np.ones((3, 2)), np.ones(3), 1.0).log_marginal(np.ones(4))


# --- issue 13: relative tolerances, integers of any integer type -------------------------------

@pytest.mark.parametrize("scale", [1e-8, 1e-11, 1e8])
def test_covariance_checks_are_relative_to_the_scale_of_sigma(scale):
    """Defect 9: with entries near 1e-8 an asymmetric or non-PSD Σ passed the absolute
    tolerances (Cholesky then read only one triangle; eigh clipped the negative eigenvalue)."""
    asym = scale * np.array([[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"Sigma must be symmetric.*of its largest entry"):
        sqrtm_psd(asym, "cholesky")
    not_psd = scale * np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match=r"not positive semi-definite: its smallest eigenvalue is -1e"):
        sqrtm_psd(not_psd, "eigh")
    S = scale * _spd(3)  # a good Σ in any unit still passes
    np.testing.assert_allclose(sqrtm_psd(S, "eigh") @ sqrtm_psd(S, "eigh").T, S, rtol=1e-8, atol=0)


def test_sample_counts_of_any_integer_type():
    """Defect 4, lesson 1 and 2: numpy integers from np.logspace(...).astype(int)."""
    assert sample_gaussian(np.zeros(2), np.eye(2), np.int64(5)).shape == (5, 2)
    lvm = LinearGaussianLVM(np.ones((3, 1)), np.zeros(3), 0.5)
    assert lvm.sample(torch.tensor(4))[0].shape == (4, 3)
    with pytest.raises(ValueError, match=r"n must be a non-negative integer, got 2\.5"):
        sample_gaussian(np.zeros(2), np.eye(2), 2.5)
