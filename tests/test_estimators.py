import math

import numpy as np
import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from vae_utils.estimators import (effective_sample_size, elbo, iwae_bound, kl_normal_std_normal,
                                  log_marginal_is, log_marginal_mc)


def test_kl_closed_form_matches_torch_distributions():
    mu = torch.randn(7, 4, dtype=torch.float64)
    logvar = torch.randn(7, 4, dtype=torch.float64)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros(4, dtype=torch.float64), torch.ones(4, dtype=torch.float64)), 1)
    torch.testing.assert_close(kl_normal_std_normal(mu, logvar), kl_divergence(q, p))
    assert torch.all(kl_normal_std_normal(torch.zeros(3, 2), torch.zeros(3, 2)) == 0)


def test_kl_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="same shape"):
        kl_normal_std_normal(torch.zeros(3, 2), torch.zeros(3, 4))


def test_is_with_exact_posterior_is_exact_for_one_sample(linear_model):
    x, _ = _data(linear_model, 6)
    exact = linear_model.log_marginal(x)
    for n in (1, 3):
        est = log_marginal_is(linear_model, x, linear_model.posterior(x), n)
        torch.testing.assert_close(est, exact, rtol=0, atol=1e-9)


def test_naive_mc_agrees_with_exact_within_mc_error(linear_model):
    x, _ = _data(linear_model, 4)
    exact = linear_model.log_marginal(x)
    n = 20000
    # Standard error of log p-hat from the spread of the weights (delta method).
    z = linear_model.prior.sample((n, 4))
    lw = linear_model.likelihood(z).log_prob(x)
    w = torch.exp(lw - exact)
    se = w.std(dim=0) / math.sqrt(n)
    est = log_marginal_mc(linear_model, x, n)
    assert torch.all((est - exact).abs() < 5 * se + 1e-3)


def test_elbo_gap_is_kl_to_posterior(linear_model):
    x, _ = _data(linear_model, 3)
    post = linear_model.posterior(x)
    q = Independent(Normal(post.mean + 0.3, torch.full_like(post.mean, 0.4)), 1)
    gap = linear_model.log_marginal(x) - elbo(linear_model, x, q, 40000)
    exact_gap = _kl_diag_vs_full(q, post)
    torch.testing.assert_close(gap, exact_gap, rtol=0.03, atol=0.02)
    # At the exact posterior the ELBO equals log p(x), even from one sample.
    torch.testing.assert_close(elbo(linear_model, x, post, 1), linear_model.log_marginal(x))


def test_iwae_increases_with_k_and_stays_below_log_marginal(linear_model):
    x, _ = _data(linear_model, 2)
    q = Independent(Normal(torch.zeros(2, 2, dtype=torch.float64), torch.ones(2, 2, dtype=torch.float64)), 1)
    means = [iwae_bound(linear_model, x.expand(2000, -1, -1).reshape(-1, 5)[:2000], _rep(q, 1000), k)
             .mean().item() for k in (1, 10, 100)]
    assert means[0] < means[1] < means[2]
    assert means[2] < linear_model.log_marginal(x).repeat(1000).mean().item()


def test_elbo_is_differentiable_through_rsample(linear_model):
    x, _ = _data(linear_model, 2)
    mu = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    q = Independent(Normal(mu, torch.ones(2, 2, dtype=torch.float64)), 1)
    elbo(linear_model, x, q, 8).sum().backward()
    assert mu.grad is not None and torch.all(torch.isfinite(mu.grad)) and mu.grad.abs().sum() > 0


def test_effective_sample_size():
    assert effective_sample_size(torch.zeros(10)).item() == pytest.approx(10)
    lw = torch.tensor([0.0, -1e4, -1e4, -1e4])
    assert effective_sample_size(lw).item() == pytest.approx(1)
    # Invariant to a common shift of all log-weights, even far outside float range.
    lw = torch.randn(50, 3, dtype=torch.float64)
    torch.testing.assert_close(effective_sample_size(lw - 5000), effective_sample_size(lw))
    w = lw.exp()
    torch.testing.assert_close(effective_sample_size(lw), w.sum(0) ** 2 / (w ** 2).sum(0))
    with pytest.raises(ValueError, match="NaN"):
        effective_sample_size(torch.tensor([0.0, float("nan")]))
    with pytest.raises(ValueError, match="all log-weights are -inf"):
        effective_sample_size(torch.full((4,), -math.inf))
    # Equal float32 weights far from 0: exactly N, not N plus rounding error.
    assert effective_sample_size(torch.full((7,), -1234.5)).item() == pytest.approx(7.0, abs=1e-5)


def test_stable_in_high_dimension():
    """d = 800: p(x) underflows float64 but the log-space estimators stay finite."""
    from conftest import TinyLinearGaussian
    model = TinyLinearGaussian(d=800, k=3, sigma=2.0)
    x, _ = _data(model, 2)
    exact = model.log_marginal(x)
    assert torch.all(exact < -745) and torch.all(exact.exp() == 0)  # underflows in float64
    assert torch.all(torch.isfinite(log_marginal_mc(model, x, 100)))
    torch.testing.assert_close(log_marginal_is(model, x, model.posterior(x), 5), exact)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_bad_sample_counts(linear_model, n):
    x, _ = _data(linear_model, 2)
    with pytest.raises(ValueError, match="n_samples must be a positive integer"):
        log_marginal_is(linear_model, x, linear_model.posterior(x), n)


def test_proposal_batch_shape_is_checked(linear_model):
    x, _ = _data(linear_model, 3)
    with pytest.raises(ValueError, match=r"batch shape \(B,\) = \(3,\)"):
        log_marginal_is(linear_model, x, linear_model.prior, 10)
    with pytest.raises(ValueError, match="protocol"):
        log_marginal_mc(object(), x, 10)


def test_chunking_draws_exactly_n_samples(linear_model):
    x, _ = _data(linear_model, 3)
    seen = []

    class Counting:
        prior = linear_model.prior

        def likelihood(self, z):
            seen.append(z.shape[0])
            return linear_model.likelihood(z)

    for chunk in (1, 7, 30, 100):
        seen.clear()
        est = log_marginal_is(Counting(), x, linear_model.posterior(x), 30, chunk_size=chunk)
        assert sum(seen) == 30 and max(seen) <= chunk
        torch.testing.assert_close(est, linear_model.log_marginal(x))


def _data(model, n):
    z = model.prior.sample((n,))
    return model.likelihood(z).sample(), z


def _rep(q, r):
    base = q.base_dist
    return Independent(Normal(base.loc.repeat(r, 1), base.scale.repeat(r, 1)), 1)


def _kl_diag_vs_full(q, post):
    """KL(q ‖ post) for q diagonal Gaussian, post full-covariance Gaussian, in closed form."""
    from torch.distributions import MultivariateNormal
    qm = MultivariateNormal(q.base_dist.loc, scale_tril=torch.diag_embed(q.base_dist.scale))
    return kl_divergence(qm, post)


# --- issue 13: every bad input answered clearly, through one log-weights routine ------------

def test_integers_of_any_integer_type_are_accepted(linear_model):
    """Defect 4: loops over np.logspace(...).astype(int) produce numpy integers."""
    x, _ = _data(linear_model, 3)
    q = linear_model.posterior(x)
    exact = linear_model.log_marginal(x)
    for n in (np.int64(4), np.int32(4), torch.tensor(4)):
        torch.testing.assert_close(log_marginal_is(linear_model, x, q, n, chunk_size=np.int64(3)), exact)
        assert log_marginal_mc(linear_model, x, n).shape == (3,)
        assert elbo(linear_model, x, q, n).shape == iwae_bound(linear_model, x, q, n).shape == (3,)
    with pytest.raises(ValueError, match=r"k must be a positive integer, got 2\.0 \(float\); pass int\(k\)"):
        iwae_bound(linear_model, x, q, 2.0)


def test_one_data_point_without_batch_dimension_is_refused_naming_x(linear_model):
    """Defect 2: x of shape (d,) used to be read as d data points, giving d estimates."""
    x, _ = _data(linear_model, 1)
    with pytest.raises(ValueError, match=r"^x must be a batch of shape \(B, 5\).*one data point "
                                         r"without a batch dimension.*x\[None\]"):
        log_marginal_mc(linear_model, x[0], 10)
    from vae_utils.lvm import LinearGaussianLVM
    lvm = LinearGaussianLVM(linear_model.W, linear_model.b, linear_model.sigma)
    with pytest.raises(ValueError, match=r"batch shape \(B,\) = \(5,\).*x\[None\]"):
        log_marginal_is(lvm, x[0], lvm.posterior(x[0]), 10)
    assert log_marginal_mc(linear_model, x[0][None], 10).shape == (1,)  # the fix works


@pytest.mark.parametrize("bad,match", [
    (torch.zeros(3, 4, dtype=torch.float64), r"^x must be a batch of shape \(B, 5\) .*got shape \(3, 4\)"),
    (torch.tensor(1.0, dtype=torch.float64), r"^x must be a batch .*got a scalar"),
    (torch.zeros(0, 5, dtype=torch.float64), r"^x is an empty batch"),
    (torch.tensor([[0.0, 1, 2, 3, float("nan")]], dtype=torch.float64), r"^x contains NaN or inf"),
])
def test_shape_and_value_errors_name_x(linear_model, bad, match):
    """Defects 5 and 3: these came from torch (or returned NaN) and never named x."""
    q = linear_model.prior.expand((3,))  # x is checked before q
    with pytest.raises(ValueError, match=match):
        log_marginal_mc(linear_model, bad, 10)
    with pytest.raises(ValueError, match=match):
        elbo(linear_model, bad, q, 2)


def test_vae_images_through_the_estimators():
    """The VAE's x is checked against its likelihood's event shape; float64 x is converted."""
    from vae_utils.vae import VAE
    m = VAE(latent_dim=2)
    x = (torch.rand(3, 1, 28, 28) > 0.5).float()
    with pytest.raises(ValueError, match=r"x must be a batch of shape \(B, 1, 28, 28\).*x\.reshape\(-1, 1, 28, 28\)"):
        log_marginal_mc(m, x.reshape(3, 784), 4)
    with torch.no_grad():
        torch.manual_seed(0)
        a = log_marginal_is(m, x.double(), m.approximate_posterior(x.double()), 8)
        torch.manual_seed(0)
        b = log_marginal_is(m, x, m.approximate_posterior(x), 8)
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, b)


def test_estimators_follow_the_models_device():
    """Defect 11: x is moved to the model's device (meta here, so it runs anywhere); a proposal
    on another device is refused with the fix."""
    from vae_utils.vae import VAE
    m = VAE(latent_dim=2).to("meta")
    x = (torch.rand(3, 1, 28, 28) > 0.5).float()
    q = Independent(Normal(torch.zeros(3, 2, device="meta"), torch.ones(3, 2, device="meta"),
                           validate_args=False), 1, validate_args=False)
    assert log_marginal_mc(m, x, 4).device.type == "meta"
    for est in (log_marginal_is, elbo, iwae_bound):
        assert est(m, x, q, 4).device.type == "meta"
    with pytest.raises(ValueError, match=r"q lives on cpu but the model on meta.*approximate_posterior"):
        elbo(m, x, VAE(latent_dim=2).approximate_posterior(x), 4)
