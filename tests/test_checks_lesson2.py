"""Lesson-2 checks: correct answers pass, stubs are 'not implemented', plausible mistakes fail."""
import pytest
import torch

from conftest import assert_check_accepts_and_flags_stub

from vae_utils import checks

pytestmark = pytest.mark.usefixtures("check_inputs")


def icdf_ok(u, rate):
    return -torch.log1p(-u) / rate


def cov_ok(W, sigma):
    return W @ W.T + sigma ** 2 * torch.eye(W.shape[0], dtype=W.dtype)


def anc_ok(W, b, sigma, n):
    d, k = W.shape
    z = torch.randn(n, k, dtype=W.dtype)
    return z @ W.T + b + sigma * torch.randn(n, d, dtype=W.dtype), z


def anc_fresh_z(W, b, sigma, n):  # returns a z that did not generate x
    x, _ = anc_ok(W, b, sigma, n)
    return x, torch.randn(n, W.shape[1], dtype=W.dtype)


def anc_no_noise(W, b, sigma, n):
    z = torch.randn(n, W.shape[1], dtype=W.dtype)
    return z @ W.T + b, z


def postvar_ok(w, sigma):
    return sigma ** 2 / (sigma ** 2 + (w ** 2).sum())


def postvar_by_precision(w, sigma):
    """Also right: invert the posterior precision 1 + ‖w‖²/σ², returned as a tensor."""
    return 1 / (1 + w @ w / sigma ** 2)


def joint_ok(model, x, z):
    return model.prior.log_prob(z) + model.likelihood(z).log_prob(x)



@pytest.mark.parametrize("check,good", [
    (checks.inverse_cdf_exponential, icdf_ok), (checks.marginal_covariance, cov_ok),
    (checks.ancestral_sample, anc_ok), (checks.log_joint, joint_ok), (checks.posterior_variance, postvar_ok),
    (checks.posterior_variance, postvar_by_precision)])
def test_correct_answers_pass_and_stubs_do_not(check, good, capsys):
    assert_check_accepts_and_flags_stub(check, good, capsys)


@pytest.mark.parametrize("check,wrong,match", [
    (checks.inverse_cdf_exponential, lambda u, r: -torch.log(u) / r, r"log\(u\) instead of log\(1 − u\)"),
    (checks.inverse_cdf_exponential, lambda u, r: torch.log1p(-u) / r, "negative"),
    (checks.marginal_covariance, lambda W, s: W @ W.T + s * torch.eye(W.shape[0], dtype=W.dtype), "σ²"),
    (checks.marginal_covariance, lambda W, s: W.T @ W, r"W @ W\.T"),
    (checks.ancestral_sample, anc_no_noise, "output noise"),
    (checks.ancestral_sample, anc_fresh_z, "from \\*this\\* z"),
    (checks.log_joint, lambda m, x, z: m.likelihood(z).log_prob(x), "prior term is missing"),
    (checks.log_joint, lambda m, x, z: m.log_marginal(x), "marginal"),
    (checks.posterior_variance, lambda w, s: s ** 2 / (w @ w), "prior is missing"),
    (checks.posterior_variance, lambda w, s: 1 + (w @ w) / s ** 2, "precision"),
    (checks.posterior_variance, lambda w, s: s / (s + w @ w), "σ is used as a variance"),
    (checks.posterior_variance, lambda w, s: s ** 2 / (s ** 2 + w.norm()), "not squared"),
    (checks.posterior_variance, lambda w, s: s ** 2 / (s ** 2 + w.sum() ** 2), r"\(Σ_j w_j\)²"),
    (checks.posterior_variance, lambda w, s: (s ** 2 / (s ** 2 + w @ w)) ** 0.5, "standard deviation"),
    (checks.posterior_variance, lambda w, s: s ** 2 / (1 + w @ w), "expected"),
])
def test_plausible_wrong_answers_are_rejected(check, wrong, match):
    with pytest.raises(AssertionError, match=match):
        check(wrong)
