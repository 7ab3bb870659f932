"""Lesson 5's claims about the bounds, tested on the course's own LinearGaussianLVM with
Monte Carlo tolerances from the samples' spread (the tests in test_estimators.py use a
separate copy of the model and fixed relative tolerances)."""
import math

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from vae_utils.estimators import elbo, iwae_bound, kl_normal_std_normal, log_marginal_is
from vae_utils.lvm import LinearGaussianLVM


@pytest.fixture
def lvm():
    g = torch.Generator().manual_seed(55)
    model = LinearGaussianLVM(torch.randn(6, 3, generator=g, dtype=torch.float64),
                              torch.randn(6, generator=g, dtype=torch.float64), 0.8)
    x, _ = model.sample(4, generator=g)
    return model, x


def _diag(mu, logvar):
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


def _kl_to_posterior(q, post):
    return kl_divergence(MultivariateNormal(q.mean, torch.diag_embed(q.variance)), post)


@pytest.mark.parametrize("n_samples", [1, 2, 17, 1000])
def test_elbo_is_exact_at_the_posterior_for_any_sample_count(lvm, n_samples):
    model, x = lvm
    torch.testing.assert_close(elbo(model, x, model.posterior(x), n_samples), model.log_marginal(x),
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize("shift,log_scale", [(0.0, -0.5), (0.4, 0.0), (-0.7, 0.3)])
def test_elbo_gap_is_kl_to_posterior_within_monte_carlo_error(lvm, shift, log_scale):
    model, x = lvm
    post = model.posterior(x)
    q = _diag(post.mean + shift, torch.log(post.covariance_matrix.diagonal(dim1=-2, dim2=-1)) + log_scale)
    n = 20_000
    torch.manual_seed(0)
    z = q.sample((n,))
    log_w = model.likelihood(z).log_prob(x) + model.prior.log_prob(z) - q.log_prob(z)
    se = log_w.std(0) / math.sqrt(n)
    torch.manual_seed(0)
    gap = model.log_marginal(x) - elbo(model, x, q, n)
    assert torch.all((gap - _kl_to_posterior(q, post)).abs() < 4 * se)
    assert torch.all(gap > 0)


def test_kl_matches_its_definition_and_its_gradient_matches_torch():
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    q, p = _diag(mu, logvar), _diag(torch.zeros(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    with torch.no_grad():
        z = q.sample((50_000,))
        ratio = q.log_prob(z) - p.log_prob(z)
        mc, se = ratio.mean(0), ratio.std(0) / math.sqrt(len(z))
        assert torch.all((kl_normal_std_normal(mu, logvar) - mc).abs() < 4 * se)
    ours = torch.autograd.grad(kl_normal_std_normal(mu, logvar).sum(), (mu, logvar))
    theirs = torch.autograd.grad(kl_divergence(q, p).sum(), (mu, logvar))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)


def test_reparameterized_elbo_gradient_is_unbiased(lvm):
    """∇_mu ELBO = Wᵀ(x − W mu − b)/σ² − mu for the linear-Gaussian model."""
    model, x = lvm
    post = model.posterior(x)
    mu = (post.mean + 0.5).requires_grad_(True)
    logvar = torch.full_like(mu, -1.0)
    torch.manual_seed(1)
    (grad,) = torch.autograd.grad(elbo(model, x, _diag(mu, logvar), 20_000).sum(), mu)
    mu_ = mu.detach()
    exact = (x - mu_ @ model.W.T - model.b) @ model.W / model.sigma ** 2 - mu_
    # Spread of one-sample gradients ∇_z log p(x, z) at z ~ q.
    z = mu_ + torch.exp(0.5 * logvar) * torch.randn(20_000, *mu.shape, dtype=torch.float64)
    per_sample = (x - z @ model.W.T - model.b) @ model.W / model.sigma ** 2 - z
    se = per_sample.std(0) / math.sqrt(20_000)
    assert torch.all((grad - exact).abs() < 5 * se)


def test_iwae_k1_is_the_one_sample_elbo_and_equals_the_is_estimate(lvm):
    model, x = lvm
    q = _diag(torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 3, dtype=torch.float64))
    torch.manual_seed(2)
    a = iwae_bound(model, x, q, 1)
    torch.manual_seed(2)
    torch.testing.assert_close(a, elbo(model, x, q, 1))
    for k in (5, 64):
        torch.manual_seed(3)
        a = iwae_bound(model, x, q, k)
        torch.manual_seed(3)
        torch.testing.assert_close(a, log_marginal_is(model, x, q, k))


def test_iwae_mean_rises_with_k_below_log_marginal(lvm):
    model, x = lvm
    post = model.posterior(x)
    q = _diag(post.mean[:1] + 0.3, torch.log(post.covariance_matrix.diagonal(dim1=-2, dim2=-1)[:1]))
    reps = 2000
    q_rep = _diag(q.mean.expand(reps, 3), torch.log(q.variance).expand(reps, 3))
    x_rep = x[:1].expand(reps, 6)
    torch.manual_seed(4)
    stats = []
    for k in (1, 4, 32, 256):
        L = iwae_bound(model, x_rep, q_rep, k)
        stats.append((L.mean(), L.std() / math.sqrt(reps)))
    log_px = model.log_marginal(x[:1])[0]
    exact_elbo = log_px - _kl_to_posterior(q, post)[0]
    assert abs(stats[0][0] - exact_elbo) < 4 * stats[0][1]
    for (m1, s1), (m2, s2) in zip(stats, stats[1:]):
        assert m2 > m1 - 4 * math.hypot(s1, s2)
    assert stats[-1][0] > stats[0][0] + 10 * stats[0][1]
    assert all(m < log_px + 4 * s for m, s in stats)
