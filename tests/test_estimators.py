import math

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
