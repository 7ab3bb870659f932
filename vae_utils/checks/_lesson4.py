"""Checks for lesson 4's exercises: importance sampling of p(x) and the effective sample size.

Each check builds a hidden linear-Gaussian model (``vae_utils.lvm.LinearGaussianLVM``) with
an exact log p(x) and an exact posterior p(z|x), calls the learner's function on inputs it
chooses (seeded; the learner's random state is restored afterwards), and compares with a
reference computed by ``vae_utils``. Frequent mistakes get their own message.
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Distribution, Independent, Normal

from .. import estimators
from ..lvm import LinearGaussianLVM
from ._common import hidden_model, run_seeded, exercise, fallback_for, gen, manual_seed, as_tensor, call, expect_close, expect_shape, fail, passed

__all__ = ["log_importance_weights", "log_marginal_is", "effective_sample_size", "make_proposal"]




def _posterior_sd(model: LinearGaussianLVM, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    post = model.posterior(x)
    return post.mean, post.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()


def _offset_proposal(model: LinearGaussianLVM, x: torch.Tensor) -> Independent:
    """A diagonal Gaussian near the posterior: shifted by half a posterior sd, 1.5 times wider."""
    mean, sd = _posterior_sd(model, x)
    return Independent(Normal(mean + 0.5 * sd, 1.5 * sd), 1)




@exercise("vae_utils.estimators._log_weights")
def log_importance_weights(fn) -> None:
    """Check ``fn(model, x, q, z) -> (N, B)``: log w = log p(x|z) + log p(z) − log q(z).

    Args:
        fn: the learner's function; called with a hidden 3-latent ``LinearGaussianLVM``, a
            batch x of shape (4, 6), a diagonal Gaussian proposal q with batch shape (4,) and
            samples z ~ q of shape (10, 4, 3).
    Raises:
        CheckFailure: wrong shape, weights instead of log-weights, a missing prior term, the
            sign of log q flipped, or values off by more than 1e-8 nats.
    """
    model, x = hidden_model(6, 3, 0.7, 51, n_x=4)
    q = _offset_proposal(model, x)
    g = gen(52)
    mean, sd = q.base_dist.loc, q.base_dist.scale
    z = mean + sd * torch.randn(10, 4, 3, generator=g, dtype=torch.float64)
    out = as_tensor(call(fn, model, x.clone(), q, z.clone(), name="log_importance_weights"), "log w")
    if tuple(out.shape) == (4, 10):
        fail("log w has shape (4, 10) = (B, N), expected (10, 4) = (N, B).",
             "keep the sample dimension first, as z (N, B, k) has it; do not transpose.")
    expect_shape(out, (10, 4), "log w", "one log-weight per sample and data point: (N, B) for z of shape (N, B, k).")
    log_lik = model.likelihood(z).log_prob(x)
    log_prior = model.prior.log_prob(z)
    log_q = q.log_prob(z)
    expected = log_lik + log_prior - log_q
    if torch.all(out >= 0) and torch.allclose(out, expected.exp(), rtol=1e-6, atol=1e-300):
        fail("these are the weights w, not their logs.", "return log w; do not exponentiate (w underflows in high dimension).")
    wrong = {
        "the prior term log p(z) is missing: log w = log p(x, z) − log q(z) and log p(x, z) = log p(x|z) + log p(z).":
            log_lik - log_q,
        "log q(z) has the wrong sign: the proposal density divides, so subtract log q(z).":
            log_lik + log_prior + log_q,
        "log q(z) is missing: w = p(x, z) / q(z), so subtract log q(z).":
            log_lik + log_prior,
    }
    for hint, candidate in wrong.items():
        if torch.allclose(out, candidate, atol=1e-8):
            fail("log w is off: " + hint.split(":")[0] + ".", hint)
    expect_close(out, expected, "log w", atol=1e-8,
                 hint="model.likelihood(z).log_prob(x) + model.prior.log_prob(z) − q.log_prob(z).")
    passed("log_importance_weights = log p(x|z) + log p(z) − log q(z), shape (N, B).")


@exercise("vae_utils.estimators.log_marginal_is")
def log_marginal_is(fn) -> None:
    """Check ``fn(model, x, q, n_samples) -> (B,)``: the importance-sampling estimate of log p(x).

    log p̂(x) = logsumexp_n [log p(x, z_n) − log q(z_n)] − log N, z_n ~ q.

    Two tests: (1) with q the exact posterior p(z|x) every weight equals p(x), so the estimate
    must be exact (1e-8 nats) for N = 1 and N = 5; (2) with a shifted, wider diagonal q and
    N = 4,000 it must agree with the exact log p(x) to within 5 Monte Carlo standard errors.

    Args:
        fn: the learner's function; called with a hidden 3-latent, 6-dimensional
            ``LinearGaussianLVM``, a batch x of shape (4, 6), a proposal with batch (4,), and N.
    Raises:
        CheckFailure: wrong shape, NaN/inf, a missing −log N, a missing prior or proposal
            term, an average of log-weights instead of a log-sum-exp, or an estimate too far off.
    """
    model, x = hidden_model(6, 3, 0.7, 53, n_x=4)
    exact = model.log_marginal(x)
    post = model.posterior(x)
    for n in (1, 5):
        out = as_tensor(run_seeded(fn, model, x.clone(), post, n, seed=54, name="log_marginal_is"), "log p̂(x)")
        expect_shape(out, (4,), "log p̂(x)", "one estimate per data point: reduce the (N, B) log-weights over dim 0.")
        if not torch.all(torch.isfinite(out)):
            fail("log p̂(x) contains NaN or inf.", "stay in log space: torch.logsumexp(log_w, dim=0) − math.log(N).")
        err = out - exact
        if torch.allclose(err, torch.full_like(err, math.log(n)), atol=1e-6) and n > 1:
            fail(f"with N = {n} the estimate is too large by log N = {math.log(n):.3f} nats.",
                 "subtract math.log(n_samples) after the logsumexp: it is a mean, not a sum.")
        if err.abs().max() > 1e-8:
            fail(f"with the exact posterior as proposal and N = {n}, log p̂(x) should equal log p(x) exactly "
                 f"(every weight p(x, z)/p(z|x) is p(x)), but it is off by up to {err.abs().max().item():.3g} nats.",
                 "log w = model.likelihood(z).log_prob(x) + model.prior.log_prob(z) − q.log_prob(z), "
                 "with z = q.sample((n_samples,)).")
    q = _offset_proposal(model, x)
    n = 4000
    out = as_tensor(run_seeded(fn, model, x.clone(), q, n, seed=55, name="log_marginal_is"), "log p̂(x)")
    expect_shape(out, (4,), "log p̂(x)", "one estimate per data point.")
    with torch.random.fork_rng(devices=[]):
        manual_seed(56)
        zr = q.sample((20_000,))
        lw = model.likelihood(zr).log_prob(x) + model.prior.log_prob(zr) - q.log_prob(zr)
    cv2 = 20_000 / estimators.effective_sample_size(lw) - 1   # 1 + CV² = N Σw² / (Σw)²
    se = (cv2 / n).sqrt()
    err = out - exact
    if torch.all(err.abs() <= 5 * se + 1e-6):
        passed("log_marginal_is is exact with the posterior as proposal (any N) and within Monte Carlo "
               f"error with a shifted proposal (largest error {err.abs().max().item():.3f} nats, N = {n:,}).")
        return
    i = int(torch.argmax(err.abs() / se))
    hint = "log p̂(x) = torch.logsumexp(log_w, dim=0) − math.log(n_samples), with z = q.sample((n_samples,))."
    if torch.all(err < -5 * se):
        hint = ("all estimates are too low. Two frequent causes: you average the log-weights — with the exact "
                "posterior that happens to work (all weights are equal), but in general mean(log w) < log mean(w), "
                "so use logsumexp — or you drew z from somewhere other than q (sample z = q.sample((n_samples,))).")
    fail(f"with a shifted proposal, log p̂(x) = {out[i].item():.3f} for data point {i}, but the exact value is "
         f"{exact[i].item():.3f} nats (off by {err[i].item():+.3f}; Monte Carlo error ≈ {se[i].item():.3f}).", hint)


@exercise("vae_utils.estimators.effective_sample_size")
def effective_sample_size(fn) -> None:
    """Check ``fn(log_w, dim=0)``: the effective sample size (Σw)² / Σw², computed from log-weights.

    Args:
        fn: the learner's function; called on log-weights near −2000 (so exp underflows),
            of shape (200, 3) with dim=0 and of shape (3, 200) with dim=1.
    Raises:
        CheckFailure: wrong shape, NaN/inf, the ratio inverted, the numerator not squared,
            the ESS divided by N (a fraction), or values off by more than 1e-6 relative.
    """
    g = gen(57)
    n = 200
    lw = torch.randn(n, 3, generator=g, dtype=torch.float64) * torch.tensor([0.3, 1.0, 3.0], dtype=torch.float64) - 2000
    expected = estimators.effective_sample_size(lw, dim=0)
    out = as_tensor(call(fn, lw.clone(), dim=0, name="effective_sample_size"), "the ESS")
    expect_shape(out, (3,), "the ESS of log-weights (200, 3) along dim=0",
                 "reduce over `dim` (the samples): one ESS per column.")
    if not torch.all(torch.isfinite(out)):
        fail("the ESS contains NaN or inf. The log-weights are near −2000, so exp(log_w) underflows to 0 "
             "(0/0), and an unsquared numerator does not cancel the scale.",
             "ESS = exp(2·logsumexp(log_w) − logsumexp(2·log_w)): square in log space by doubling.")
    if torch.allclose(out, 1 / expected, rtol=1e-6):
        fail("the ratio is inverted: you returned Σw² / (Σw)² = 1/ESS.",
             "ESS = (Σw)² / Σw²; it lies between 1 and N.")
    if torch.allclose(out, expected / n, rtol=1e-6):
        fail(f"the result is ESS / N (between 1/N and 1), e.g. {out[0].item():.3f}; expected the ESS itself, "
             f"{expected[0].item():.1f} out of N = {n}.",
             "use sums, not means: (Σw)² / Σw² (the means version divides by N).")
    expect_close(out, expected, "the ESS", rtol=1e-6, atol=1e-9,
                 hint="ESS = (Σw)² / Σw² = exp(2·logsumexp(log_w, dim) − logsumexp(2·log_w, dim)).")
    out_t = as_tensor(call(fn, lw.T.contiguous(), dim=1, name="effective_sample_size"), "the ESS")
    expect_shape(out_t, (3,), "the ESS of log-weights (3, 200) along dim=1",
                 "use the `dim` argument in every reduction.")
    expect_close(out_t, expected, "the ESS along dim=1", rtol=1e-6, atol=1e-9,
                 hint="use the `dim` argument in both logsumexps.")
    passed(f"effective_sample_size is exact and stable for log-weights near −2000 "
           f"(ESS = {', '.join(f'{v:.1f}' for v in expected.tolist())} of {n}).")


@exercise("vae_utils.checks._lesson4._make_proposal")
def make_proposal(fn) -> None:
    """Check ``fn(model, x) -> q``: a proposal q(z|x) per data point, good enough for importance sampling.

    q must be a ``torch.distributions.Distribution`` with batch shape (B,) and event shape (k,).
    With N = 200 samples per data point, the median effective sample size must reach at least
    half of N (the exact posterior reaches N; the prior, here, about 1 sample).

    Args:
        fn: the learner's function; called with a hidden ``LinearGaussianLVM`` with k = 3,
            d = 20, σ = 0.3 and a batch x of shape (64, 20).
    Raises:
        CheckFailure: not a distribution, wrong batch or event shape, a variance passed where
            a standard deviation is expected, or a median ESS below N / 2.
    """
    model, x = hidden_model(20, 3, 0.3, 58, n_x=64)
    q = run_seeded(fn, model, x.clone(), seed=59, name="make_proposal")
    if not isinstance(q, Distribution):
        fail(f"make_proposal should return a torch.distributions object, got {type(q).__name__}.",
             "e.g. Independent(Normal(mu, std), 1) with mu and std of shape (B, k).")
    if tuple(q.batch_shape) == (64, 3) and tuple(q.event_shape) == ():
        fail("q has batch shape (64, 3) and no event shape: a Normal over each coordinate separately.",
             "wrap it so the k coordinates form one event: Independent(Normal(mu, std), 1).")
    if tuple(q.batch_shape) != (64,):
        fail(f"q has batch shape {tuple(q.batch_shape)}, expected (64,): one proposal per data point.",
             "build q from the whole batch x, with mu and std of shape (B, k).")
    if tuple(q.event_shape) != (3,):
        fail(f"q has event shape {tuple(q.event_shape)}, expected (3,) = (k,).",
             "q is a distribution over z, which has k = 3 coordinates.")
    n = 200
    with torch.random.fork_rng(devices=[]):
        manual_seed(60)
        z = q.sample((n,))
        if tuple(z.shape) != (n, 64, 3):
            fail(f"q.sample((200,)) has shape {tuple(z.shape)}, expected (200, 64, 3).")
        lw = (model.likelihood(z).log_prob(x) + model.prior.log_prob(z)
              - as_tensor(q.log_prob(z), "q.log_prob(z)"))
        prior_z = model.prior.sample((n, 64))
        ess_prior = estimators.effective_sample_size(model.likelihood(prior_z).log_prob(x)).median().item()
    if not torch.all(torch.isfinite(lw)):
        fail("some log-weights are NaN or inf: q.log_prob(z) or the samples are not finite.",
             "check that the standard deviations are positive and finite.")
    ess = estimators.effective_sample_size(lw).median().item()
    if ess >= n / 2:
        passed(f"median ESS {ess:.0f} of {n} (the prior reaches {ess_prior:.0f}): a proposal per data point "
               f"that importance sampling can use.")
        return
    _, sd = _posterior_sd(model, x)
    hint = ("centre q on the posterior mean and give it the posterior's marginal standard deviations: "
            "model.posterior(x) has .mean and .covariance_matrix.")
    q_sd = getattr(q, "stddev", None)
    if q_sd is not None and q_sd.shape == sd.shape and torch.allclose(q_sd.double(), sd ** 2, rtol=1e-3):
        hint = ("q's standard deviations equal the posterior variances: Normal(loc, scale) takes the "
                "standard deviation, sqrt(variance) = exp(0.5 * logvar), not the variance.")
    fail(f"median ESS {ess:.1f} of {n} samples; it should be at least {n // 2}.", hint)


@fallback_for("make_proposal")
def _make_proposal(model, x: torch.Tensor) -> Independent:
    """The course's version of exercise ``make_proposal`` (for ``try_yours``): a diagonal Gaussian
    with the exact posterior's means and marginal variances."""
    post = model.posterior(x)
    var = post.covariance_matrix.diagonal(dim1=-2, dim2=-1)
    return Independent(Normal(post.mean, var.sqrt()), 1)
