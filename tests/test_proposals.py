"""vae_utils.proposals: the defensive mixture against direct computations, its weight bound,
and the K-sample bound curve against the estimators it summarises."""
import math

import pytest
import torch
from torch.distributions import Independent, Normal

from vae_utils import estimators
from vae_utils.proposals import DefensiveMixture, bound_curve, importance_log_weights


def _diag(mean, sd):
    return Independent(Normal(torch.as_tensor(mean, dtype=torch.float64),
                              torch.as_tensor(sd, dtype=torch.float64)), 1)


@pytest.fixture
def mixture():
    q = _diag(torch.tensor([[1.0, -2.0], [0.5, 0.0], [3.0, 3.0]]), torch.tensor([[0.3, 0.2], [1.0, 0.5], [0.1, 0.1]]))
    p = _diag(torch.zeros(2), torch.ones(2))
    return q, p, DefensiveMixture(q, p, 0.2)


def test_log_prob_is_the_log_of_the_mixture_density(mixture):
    q, p, mix = mixture
    z = torch.randn(50, 3, 2, dtype=torch.float64) * 2
    direct = torch.log(0.8 * q.log_prob(z).exp() + 0.2 * p.log_prob(z).exp())
    torch.testing.assert_close(mix.log_prob(z), direct, rtol=1e-12, atol=1e-12)
    assert mix.batch_shape == (3,) and mix.event_shape == (2,)


def test_log_prob_stays_finite_where_one_density_underflows(mixture):
    q, p, mix = mixture
    far = torch.tensor([[-40.0, 40.0]] * 3, dtype=torch.float64)       # q(z) = 0 in float64
    assert torch.all(q.log_prob(far).exp() == 0)
    torch.testing.assert_close(mix.log_prob(far), math.log(0.2) + p.log_prob(far))


def test_samples_come_from_the_prior_with_probability_alpha():
    q = _diag(torch.full((4, 3), 10.0), torch.full((4, 3), 0.1))     # far from the prior
    p = _diag(torch.zeros(3), torch.ones(3))
    torch.manual_seed(0)
    z = DefensiveMixture(q, p, 0.3).sample((20_000,))
    assert z.shape == (20_000, 4, 3)
    from_prior = (z - 10).abs().max(dim=-1).values > 1                 # whole vectors, not coordinates
    assert abs(from_prior.double().mean().item() - 0.3) < 0.01
    in_prior = z[from_prior]
    assert abs(in_prior.mean().item()) < 0.03 and abs(in_prior.std().item() - 1) < 0.03


def test_mean_and_variance_are_the_mixtures(mixture):
    q, p, mix = mixture
    torch.manual_seed(1)
    z = mix.sample((200_000,))
    torch.testing.assert_close(z.mean(0), mix.mean, atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), mix.variance, atol=0.03, rtol=0.02)


def test_every_weight_is_at_most_the_likelihood_over_alpha(linear_model):
    x = torch.randn(6, 5, dtype=torch.float64) * 2
    post = linear_model.posterior(x)
    narrow = Independent(Normal(post.mean, 0.3 * post.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()), 1)
    mix = DefensiveMixture(narrow, linear_model.prior, 0.1)
    z = mix.sample((5000,))
    log_ratio = linear_model.prior.log_prob(z) - mix.log_prob(z)       # log w − log p(x|z)
    assert log_ratio.max() <= -math.log(0.1) + 1e-12
    assert log_ratio.max() > -math.log(0.1) - 0.01                     # reached by prior draws far from q


def test_log_marginal_is_takes_the_mixture_and_is_unbiased(linear_model):
    x = torch.randn(4, 5, dtype=torch.float64)
    exact = linear_model.log_marginal(x)
    mix = DefensiveMixture(linear_model.posterior(x), linear_model.prior, 0.1)
    torch.manual_seed(2)
    est = estimators.log_marginal_is(linear_model, x, mix, 20_000)
    lw = importance_log_weights(linear_model, x, mix, 20_000)
    se = (20_000 / estimators.effective_sample_size(lw) - 1).sqrt() / math.sqrt(20_000)
    assert torch.all((est - exact).abs() < 5 * se + 1e-9)


def test_bad_arguments_are_refused(mixture):
    q, p, _ = mixture
    for alpha in (0, 1, -0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="alpha"):
            DefensiveMixture(q, p, alpha)
    with pytest.raises(ValueError, match="event shape"):
        DefensiveMixture(q, _diag(torch.zeros(3), torch.ones(3)), 0.1)
    with pytest.raises(ValueError, match="broadcast"):
        DefensiveMixture(q, _diag(torch.zeros(5, 2), torch.ones(5, 2)), 0.1)
    with pytest.raises(ValueError, match="Distribution"):
        DefensiveMixture(q, torch.zeros(2), 0.1)


def test_importance_log_weights_are_those_of_log_marginal_is(linear_model):
    x = torch.randn(3, 5, dtype=torch.float64)
    q = linear_model.posterior(x)
    q = Independent(Normal(q.mean + 0.2, 1.5 * q.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()), 1)
    torch.manual_seed(3)
    lw = importance_log_weights(linear_model, x, q, 300)
    torch.manual_seed(3)
    est = estimators.log_marginal_is(linear_model, x, q, 300)
    assert lw.shape == (300, 3)
    torch.testing.assert_close(torch.logsumexp(lw, 0) - math.log(300), est)
    torch.manual_seed(4)
    z = q.sample((10,))
    direct = linear_model.likelihood(z).log_prob(x) + linear_model.prior.log_prob(z) - q.log_prob(z)
    torch.manual_seed(4)
    torch.testing.assert_close(importance_log_weights(linear_model, x, q, 10), direct)


def test_bound_curve_against_a_direct_loop():
    g = torch.Generator().manual_seed(5)
    lw = torch.randn(103, 4, generator=g, dtype=torch.float64) * 2 - 90
    bounds, ess = bound_curve(lw, [1, 5, 10, 103])
    assert bounds.shape == ess.shape == (4, 4)
    torch.testing.assert_close(bounds[0], lw.mean(0))                  # K = 1: the ELBO estimate
    torch.testing.assert_close(bounds[3], torch.logsumexp(lw, 0) - math.log(103))   # K = N: IS
    torch.testing.assert_close(ess[0], torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(ess[3], estimators.effective_sample_size(lw))
    for row, k in ((1, 5), (2, 10)):
        groups = [lw[i * k:(i + 1) * k] for i in range(103 // k)]     # the last 3 samples left out
        want_b = torch.stack([torch.logsumexp(gr, 0) - math.log(k) for gr in groups]).mean(0)
        want_e = torch.stack([w.logsumexp(0).mul(2).sub((2 * w).logsumexp(0)).exp() for w in groups]).mean(0)
        torch.testing.assert_close(bounds[row], want_b)
        torch.testing.assert_close(ess[row], want_e)
    assert torch.all(bounds[1:] >= bounds[:-1] - 0.5)                  # grows with K (up to noise)


def test_bound_curve_refuses_bad_input():
    lw = torch.zeros(10, 2)
    with pytest.raises(ValueError, match="at most N = 10"):
        bound_curve(lw, [1, 11])
    with pytest.raises(ValueError, match="shape"):
        bound_curve(torch.zeros(10), [1])
    with pytest.raises(ValueError, match="at least one"):
        bound_curve(lw, [])
    with pytest.raises(ValueError, match="K"):
        bound_curve(lw, [0])


def test_log_prob_agrees_with_mixture_same_family_where_that_applies(mixture):
    # Two diagonal Gaussians are one family: torch's own mixture gives the same density.
    from torch.distributions import Categorical, MixtureSameFamily
    q, p, mix = mixture
    loc = torch.stack([q.base_dist.loc, p.base_dist.loc.expand(3, 2)], dim=1)      # (3, 2 components, 2)
    scale = torch.stack([q.base_dist.scale, p.base_dist.scale.expand(3, 2)], dim=1)
    weights = Categorical(probs=torch.tensor([0.8, 0.2], dtype=torch.float64).expand(3, 2))
    torch_mix = MixtureSameFamily(weights, Independent(Normal(loc, scale), 1))
    z = torch.randn(40, 3, 2, dtype=torch.float64) * 3
    torch.testing.assert_close(mix.log_prob(z), torch_mix.log_prob(z), rtol=1e-10, atol=1e-10)
