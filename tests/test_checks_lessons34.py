"""The exercise checks of lessons 3 and 4: right answers pass, stubs and plausible mistakes fail.

Each wrong implementation below is a mistake learners make; the test asserts both that the
check fails and that its message names the mistake.
"""
import math

import pytest
import torch
from torch.distributions import Independent, Normal

from vae_utils import checks
from vae_utils.checks._common import CheckFailure

pytestmark = pytest.mark.usefixtures("check_inputs")


def _stub(*args, **kwargs):
    raise NotImplementedError


def _fails(check, fn, *fragments):
    with pytest.raises(CheckFailure) as info:
        check(fn)
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in failure message:\n{msg}"
    return msg


def _passes(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out
    assert out.startswith("✓"), out


# ---------------------------------------------------------------- lesson 3 ----

def _log_lik(model, x, n_samples):
    z = model.prior.sample((n_samples, x.shape[0]))
    return model.likelihood(z).log_prob(x)              # (N, B)


def mc_marginal_right(model, x, n_samples):
    return _log_lik(model, x, n_samples).exp().mean(dim=0)


def mc_marginal_loop(model, x, n_samples):
    """Also right: one data point at a time, with its own samples."""
    out = []
    for xi in x:
        z = model.prior.sample((n_samples,))
        out.append(model.likelihood(z).log_prob(xi).exp().mean())
    return torch.stack(out)


def test_mc_marginal(capsys):
    _passes(checks.mc_marginal, mc_marginal_right, capsys)
    _passes(checks.mc_marginal, mc_marginal_loop, capsys)
    _fails(checks.mc_marginal, _stub, "not implemented")
    _fails(checks.mc_marginal, lambda m, x, n: _log_lik(m, x, n).exp().sum(0), "times too large", "mean")
    _fails(checks.mc_marginal, lambda m, x, n: _log_lik(m, x, n).mean(0).exp(), "Jensen")
    _fails(checks.mc_marginal, lambda m, x, n: _log_lik(m, x, n).logsumexp(0) - math.log(n), "look like log p(x)")
    _fails(checks.mc_marginal, lambda m, x, n: _log_lik(m, x, n).exp(), "shape (20000, 4)", "expected (4,)")
    # Evaluating the likelihood at the prior mean only, z = 0: a single, wrong "sample".
    _fails(checks.mc_marginal, lambda m, x, n: m.likelihood(torch.zeros(m.k)).log_prob(x).exp(), "exact p(x)")


def log_mean_exp_right(a, dim=0):
    m = a.max(dim=dim, keepdim=True).values
    return (m + (a - m).exp().mean(dim=dim, keepdim=True).log()).squeeze(dim)


def test_log_mean_exp(capsys):
    _passes(checks.log_mean_exp, log_mean_exp_right, capsys)
    _passes(checks.log_mean_exp, lambda a, dim=0: torch.logsumexp(a, dim) - math.log(a.shape[dim]), capsys)
    _fails(checks.log_mean_exp, _stub, "not implemented")
    _fails(checks.log_mean_exp, lambda a, dim=0: a.exp().mean(dim).log(), "underflows")
    _fails(checks.log_mean_exp, lambda a, dim=0: torch.logsumexp(a, dim), "log N")
    _fails(checks.log_mean_exp, lambda a, dim=0: a.mean(dim), "mean of a", "Jensen")
    # The max trick with the maximum over the wrong dimension / N hard-wired to dim 0.
    _fails(checks.log_mean_exp, lambda a, dim=0: torch.logsumexp(a, dim) - math.log(a.shape[0]), "a.shape[dim]")
    # Stable for underflow only (subtracting nothing), overflowing for a ≈ +1000.
    _fails(checks.log_mean_exp,
           lambda a, dim=0: torch.log(torch.exp(a + 1000).mean(dim)) - 1000, "overflows")


def log_marginal_mc_right(model, x, n_samples):
    return torch.logsumexp(_log_lik(model, x, n_samples), dim=0) - math.log(n_samples)


def test_log_marginal_mc(capsys):
    _passes(checks.log_marginal_mc, log_marginal_mc_right, capsys)
    from vae_utils.estimators import log_marginal_mc
    _fails(checks.log_marginal_mc, log_marginal_mc, "calls the course's own vae_utils.estimators.log_marginal_mc")
    _fails(checks.log_marginal_mc, _stub, "not implemented")
    _fails(checks.log_marginal_mc, lambda m, x, n: _log_lik(m, x, n).exp().mean(0).log(), "underflows")
    _fails(checks.log_marginal_mc, lambda m, x, n: torch.logsumexp(_log_lik(m, x, n), 0), "log N")
    _fails(checks.log_marginal_mc, lambda m, x, n: _log_lik(m, x, n).mean(0), "Jensen")
    _fails(checks.log_marginal_mc, lambda m, x, n: _log_lik(m, x, n).max(0).values - math.log(n), "exact log p(x)")
    _fails(checks.log_marginal_mc, lambda m, x, n: torch.logsumexp(_log_lik(m, x, n), 1) - math.log(n), "shape")


def samples_needed_right(log_w, rel_error):
    w = torch.exp(log_w - log_w.max())
    return (w.std() / w.mean()) ** 2 / rel_error ** 2


def test_samples_needed(capsys):
    _passes(checks.samples_needed, samples_needed_right, capsys)
    # Population variance instead of the unbiased one: the same answer to 0.02 %.
    _passes(checks.samples_needed, lambda lw, r: float(
        (torch.exp(lw - lw.max()).var(unbiased=False) / torch.exp(lw - lw.max()).mean() ** 2) / r ** 2), capsys)
    _fails(checks.samples_needed, _stub, "not implemented")
    _fails(checks.samples_needed, lambda lw, r: lw.exp().std() ** 2 / lw.exp().mean() ** 2 / r ** 2, "underflows")
    _fails(checks.samples_needed, lambda lw, r: samples_needed_right(lw, r).sqrt() / r, "CV is not squared")
    _fails(checks.samples_needed, lambda lw, r: samples_needed_right(lw, r) * r, "rel_error is not squared")
    _fails(checks.samples_needed, lambda lw, r: lw.var() / r ** 2, "spread of log w")
    _fails(checks.samples_needed, lambda lw, r: torch.full((2,), 3.0), "one number")


# ---------------------------------------------------------------- lesson 4 ----

def log_importance_weights_right(model, x, q, z):
    return model.likelihood(z).log_prob(x) + model.prior.log_prob(z) - q.log_prob(z)


def test_log_importance_weights(capsys):
    _passes(checks.log_importance_weights, log_importance_weights_right, capsys)
    _fails(checks.log_importance_weights, _stub, "not implemented")
    _fails(checks.log_importance_weights, lambda m, x, q, z: m.likelihood(z).log_prob(x) - q.log_prob(z),
           "prior term log p(z) is missing")
    _fails(checks.log_importance_weights,
           lambda m, x, q, z: m.likelihood(z).log_prob(x) + m.prior.log_prob(z) + q.log_prob(z), "wrong sign")
    _fails(checks.log_importance_weights,
           lambda m, x, q, z: log_importance_weights_right(m, x, q, z).exp(), "not their logs")
    _fails(checks.log_importance_weights,
           lambda m, x, q, z: log_importance_weights_right(m, x, q, z).T, "(B, N)")
    # Prior and likelihood densities multiplied (as probabilities would be) in log space.
    _fails(checks.log_importance_weights,
           lambda m, x, q, z: m.likelihood(z).log_prob(x) * m.prior.log_prob(z) - q.log_prob(z), "log w is off")


def log_marginal_is_right(model, x, q, n_samples):
    z = q.sample((n_samples,))
    lw = model.likelihood(z).log_prob(x) + model.prior.log_prob(z) - q.log_prob(z)
    return torch.logsumexp(lw, dim=0) - math.log(n_samples)


def test_log_marginal_is(capsys):
    _passes(checks.log_marginal_is, log_marginal_is_right, capsys)
    from vae_utils.estimators import log_marginal_is
    _fails(checks.log_marginal_is, log_marginal_is, "calls the course's own vae_utils.estimators.log_marginal_is")
    _fails(checks.log_marginal_is, _stub, "not implemented")

    def no_log_n(m, x, q, n):
        return log_marginal_is_right(m, x, q, n) + math.log(n)

    def mean_of_logs(m, x, q, n):
        z = q.sample((n,))
        return (m.likelihood(z).log_prob(x) + m.prior.log_prob(z) - q.log_prob(z)).mean(0)

    def no_prior(m, x, q, n):
        z = q.sample((n,))
        return torch.logsumexp(m.likelihood(z).log_prob(x) - q.log_prob(z), 0) - math.log(n)

    def prior_samples(m, x, q, n):   # samples from the prior but weights as if from q
        z = m.prior.sample((n, x.shape[0]))
        return torch.logsumexp(m.likelihood(z).log_prob(x) + m.prior.log_prob(z) - q.log_prob(z), 0) - math.log(n)

    _fails(checks.log_marginal_is, no_log_n, "log N")
    msg = _fails(checks.log_marginal_is, mean_of_logs, "average the log-weights")
    assert "shifted proposal" in msg           # passes the posterior test, caught by the second one
    _fails(checks.log_marginal_is, no_prior, "exactly")
    _fails(checks.log_marginal_is, prior_samples, "shifted proposal", "drew z from somewhere other than q")


def ess_right(log_w, dim=0):
    return torch.exp(2 * torch.logsumexp(log_w, dim) - torch.logsumexp(2 * log_w, dim))


def test_effective_sample_size(capsys):
    _passes(checks.effective_sample_size, ess_right, capsys)
    # Normalising the weights first is right too.
    _passes(checks.effective_sample_size,
            lambda lw, dim=0: 1 / (torch.softmax(lw, dim) ** 2).sum(dim), capsys)
    _fails(checks.effective_sample_size, _stub, "not implemented")
    _fails(checks.effective_sample_size, lambda lw, dim=0: lw.exp().sum(dim) ** 2 / (lw.exp() ** 2).sum(dim),
           "NaN or inf")
    _fails(checks.effective_sample_size,   # numerator not squared
           lambda lw, dim=0: torch.exp(torch.logsumexp(lw, dim) - torch.logsumexp(2 * lw, dim)), "NaN or inf")
    _fails(checks.effective_sample_size, lambda lw, dim=0: 1 / ess_right(lw, dim), "inverted")
    _fails(checks.effective_sample_size, lambda lw, dim=0: ess_right(lw, dim) / lw.shape[dim], "ESS / N")
    _fails(checks.effective_sample_size, lambda lw, dim=0: ess_right(lw, 0), "dim=1")
    # Squares the weights before the sum in the numerator: Σw² / Σw² = 1.
    _fails(checks.effective_sample_size, lambda lw, dim=0: torch.exp(
        torch.logsumexp(2 * lw, dim) - torch.logsumexp(2 * lw, dim)), "the ESS is off")


def make_proposal_right(model, x):
    post = model.posterior(x)
    std = post.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()
    return Independent(Normal(post.mean, std), 1)


def test_make_proposal(capsys):
    _passes(checks.make_proposal, make_proposal_right, capsys)
    _passes(checks.make_proposal, lambda m, x: m.posterior(x), capsys)     # the exact posterior
    _fails(checks.make_proposal, _stub, "not implemented")

    def variance_as_scale(m, x):
        post = m.posterior(x)
        var = post.covariance_matrix.diagonal(dim1=-2, dim2=-1)
        return Independent(Normal(post.mean, var), 1)

    def no_independent(m, x):
        return make_proposal_right(m, x).base_dist

    _fails(checks.make_proposal, variance_as_scale, "median ESS", "not the variance")
    _fails(checks.make_proposal, lambda m, x: m.prior, "batch shape ()")
    _fails(checks.make_proposal, lambda m, x: m.prior.expand((x.shape[0],)), "median ESS")
    _fails(checks.make_proposal, no_independent, "Independent(Normal(mu, std), 1)")
    _fails(checks.make_proposal, lambda m, x: m.posterior(x).mean, "torch.distributions object")


def test_checks_restore_the_learners_random_state():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    checks.log_marginal_is(log_marginal_is_right)
    checks.mc_marginal(mc_marginal_right)
    assert torch.equal(torch.rand(3), expected)


def test_checks_are_listed():
    for name in ("mc_marginal", "log_mean_exp", "log_marginal_mc", "samples_needed",
                 "log_importance_weights", "log_marginal_is", "effective_sample_size", "make_proposal"):
        assert callable(getattr(checks, name)) and getattr(checks, name).__doc__
