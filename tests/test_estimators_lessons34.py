"""Claims lessons 3 and 4 make about the estimators, tested on the real LinearGaussianLVM.

tests/test_estimators.py covers the contract on a small stand-in model; these tests add the
properties the two lessons state and plot: p̂ unbiased but log p̂ biased low, the prior as
proposal reproducing naive Monte Carlo, exactness with the posterior for any N in high
dimension, and the invariances and bounds of the effective sample size.
"""
import math

import pytest
import torch

from vae_utils.estimators import effective_sample_size, log_marginal_is, log_marginal_mc
from vae_utils.lvm import LinearGaussianLVM


def _model(d=5, k=2, sigma=0.5, seed=4):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(d, k, generator=g, dtype=torch.float64)
    b = torch.randn(d, generator=g, dtype=torch.float64)
    model = LinearGaussianLVM(W, b, sigma)
    return model, g


def test_naive_mc_is_unbiased_for_p_but_biased_low_for_log_p():
    model, g = _model()
    x, _ = model.sample(1, generator=g)
    exact = model.log_marginal(x)
    R, n = 4000, 20
    err = log_marginal_mc(model, x.expand(R, 5), n) - exact        # R independent estimates
    ratio = err.exp()
    assert abs(ratio.mean().item() - 1) < 4 * ratio.std().item() / math.sqrt(R)   # E[p̂] = p
    assert err.mean().item() < -4 * err.std().item() / math.sqrt(R)               # E[log p̂] < log p


def test_prior_as_proposal_is_naive_monte_carlo():
    model, g = _model()
    x, _ = model.sample(3, generator=g)
    torch.manual_seed(11)
    mc = log_marginal_mc(model, x, 500)
    torch.manual_seed(11)
    is_prior = log_marginal_is(model, x, model.prior.expand((3,)), 500)
    torch.testing.assert_close(is_prior, mc, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_posterior_proposal_is_exact_for_any_n_in_high_dimension(n):
    model, g = _model(d=600, k=4, sigma=1.0, seed=5)
    x, _ = model.sample(2, generator=g)
    exact = model.log_marginal(x)
    assert torch.all(exact < -745)            # p(x) itself underflows in float64
    torch.testing.assert_close(log_marginal_is(model, x, model.posterior(x), n), exact, rtol=0, atol=1e-9)


def test_naive_mc_relative_error_matches_the_coefficient_of_variation():
    """Lesson 3's claim: relative error of p̂ = CV/√N with CV² = E[p(x|z)²]/p(x)² − 1."""
    model, g = _model()
    x, _ = model.sample(1, generator=g)
    twin = LinearGaussianLVM(model.W, model.b, model.sigma / math.sqrt(2))
    cv2 = math.expm1((-model.d / 2 * math.log(4 * math.pi * model.sigma ** 2) + twin.log_marginal(x)
                      - 2 * model.log_marginal(x)).item())
    R, n = 2000, 200
    ratio = (log_marginal_mc(model, x.expand(R, 5), n) - model.log_marginal(x)).exp()
    assert ratio.std().item() == pytest.approx(math.sqrt(cv2 / n), rel=0.1)


def test_ess_invariances_and_bounds():
    g = torch.Generator().manual_seed(0)
    lw = 3 * torch.randn(100, 4, generator=g, dtype=torch.float64)
    ess = effective_sample_size(lw)
    assert torch.all(ess >= 1) and torch.all(ess <= 100)
    perm = torch.randperm(100, generator=g)
    torch.testing.assert_close(effective_sample_size(lw[perm]), ess)            # order of samples
    torch.testing.assert_close(effective_sample_size(lw.T, dim=1), ess)         # layout
    torch.testing.assert_close(effective_sample_size(lw + torch.tensor([-800.0, 0, 5, 700])), ess)  # scale per column
    assert effective_sample_size(torch.full((7,), -1234.5, dtype=torch.float64)).item() == pytest.approx(7)   # equal weights
    # Duplicating every sample doubles N and the ESS.
    torch.testing.assert_close(effective_sample_size(torch.cat([lw, lw])), 2 * ess)


def test_ess_is_about_n_over_one_plus_cv2():
    """Lesson 4's reading of the ESS, for log-normal weights with known CV² = e^{s²} − 1."""
    g = torch.Generator().manual_seed(1)
    s, n = 0.8, 200_000
    lw = s * torch.randn(n, generator=g, dtype=torch.float64)
    assert effective_sample_size(lw).item() / n == pytest.approx(1 / math.exp(s ** 2), rel=0.03)
