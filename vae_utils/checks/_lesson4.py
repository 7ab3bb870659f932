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

from .. import demos, estimators
from ._derive import check_closed_form, number
from ..lvm import LinearGaussianLVM
from ._common import CheckFailure, hidden_model, run_seeded, exercise, fallback_for, gen, manual_seed, as_tensor, call, expect_close, expect_shape, fail, passed

__all__ = ["weight_cv2", "effective_sample_size", "make_proposal", "chosen_proposal"]




def _posterior_sd(model: LinearGaussianLVM, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    post = model.posterior(x)
    return post.mean, post.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()


def _offset_proposal(model: LinearGaussianLVM, x: torch.Tensor) -> Independent:
    """A diagonal Gaussian near the posterior: shifted by half a posterior sd, 1.5 times wider."""
    mean, sd = _posterior_sd(model, x)
    return Independent(Normal(mean + 0.5 * sd, 1.5 * sd), 1)




def _weight_cv2_exact(m: float, s: float, m_q: float, s_q: float) -> float:
    return demos.proposal_cv2((m_q - m) / s, s_q / s, 1)


@exercise("vae_utils.demos.proposal_cv2")
def weight_cv2(fn) -> None:
    """Check ``fn(m, s, m_q, s_q) -> float``: CV² of the importance weights w = p(z)/q(z) for a
    1-D Gaussian target p = N(m, s²) (the posterior) and proposal q = N(m_q, s_q²):

        1 + CV² = E_q[w²] = ∫ p(z)²/q(z) dz = s_q²/(s √(2 s_q² − s²)) · exp((m_q − m)²/(2 s_q² − s²))

    when 2 s_q² > s², and +∞ otherwise — completing the square in z (Owen 2013, §9.1).

    Args:
        fn: the learner's function; called on six hidden (m, s, m_q, s_q) with finite CV²
            (proposals narrower and wider than the target, shifted or not), then on two with
            s_q² ≤ s²/2, where it must return math.inf.
    Raises:
        CheckFailure: not one number or off by more than 1e-5 relative; named mistakes: 1 + CV²
            or the ESS fraction 1/(1 + CV²) returned, s and s_q used as variances, the shift
            term left out or measured in the proposal's standard deviations, ∫ q²/p for
            ∫ p²/q; and a finite value, NaN or an error where the variance is infinite.
    """
    g = gen(414)
    finite = []
    for c, shift in ((0.8, 0.0), (1.0, 1.0), (2.0, 0.0), (1.4, -0.7), (0.75, 0.5), (3.0, 1.5)):
        m = torch.randn(1, generator=g).item()
        s = 0.3 + 1.7 * torch.rand(1, generator=g).item()
        finite.append((m, s, m + shift * s, c * s * (0.97 + 0.06 * torch.rand(1, generator=g).item())))

    def ratio(m, s, m_q, s_q, shift=None):        # 1 + CV² with the shift in its own units
        a = 2 * s_q ** 2 - s ** 2
        delta2 = (m_q - m) ** 2 if shift is None else shift
        return s_q ** 2 / (s * math.sqrt(a)) * math.exp(delta2 / a)

    def as_variances(m, s, m_q, s_q):              # s and s_q read as variances
        if 2 * s_q <= s:
            return math.inf
        return s_q / math.sqrt(s * (2 * s_q - s)) * math.exp((m_q - m) ** 2 / (2 * s_q - s)) - 1

    check_closed_form(fn, "weight_cv2", finite, _weight_cv2_exact, [
        (lambda *a: _weight_cv2_exact(*a) + 1, "that is 1 + CV² = E_q[w²] (with E_q[w] = 1): subtract 1.",
         "Var_q[w] = E_q[w²] − E_q[w]², and E_q[w] = ∫ p = 1."),
        (lambda *a: 1 / (1 + _weight_cv2_exact(*a)), "that is the ESS fraction 1/(1 + CV²), not CV².",
         "return CV² = ∫ p²/q − 1 itself."),
        (as_variances, "s and s_q are used as variances: they are standard deviations.",
         "p = N(m, s²): the exponent is −(z − m)²/(2s²)."),
        (lambda m, s, m_q, s_q: s_q ** 2 / (s * math.sqrt(2 * s_q ** 2 - s ** 2)) - 1,
         "the shift is missing: right only when m_q = m.",
         "completing the square leaves exp((m_q − m)²/(2 s_q² − s²))."),
        (lambda m, s, m_q, s_q: ratio(m, s, m_q, s_q, shift=(m_q - m) ** 2 / s_q ** 2 * s ** 2) - 1,
         "the shift term is off: its exponent is (m_q − m)²/(2 s_q² − s²).",
         "collect the terms of p²/q: 2(z − m)²/(2s²) − (z − m_q)²/(2 s_q²), then complete the square."),
        (lambda m, s, m_q, s_q: ratio(m_q, s_q, m, s) - 1 if 2 * s ** 2 > s_q ** 2 else math.inf,
         "that is ∫ q²/p − 1: the second moment of w under q is ∫ p²/q.",
         "E_q[w²] = ∫ (p/q)² q dz = ∫ p²/q dz."),
    ], hint="1 + CV² = ∫ p²/q dz = s_q²/(s √(2 s_q² − s²)) · exp((m_q − m)²/(2 s_q² − s²)) for 2 s_q² > s².")
    for c in (0.6, 0.7):
        m, s = torch.randn(1, generator=g).item(), 0.5 + torch.rand(1, generator=g).item()
        case = (m, s, m + 0.3 * s, c * s)
        try:
            v = number(call(fn, *case, name="weight_cv2"), "weight_cv2")
        except CheckFailure as err:
            fail(f"weight_cv2{tuple(round(a, 3) for a in case)} failed, with s_q² = {c ** 2:.2f} s² ≤ s²/2:\n  {err}",
                 "when 2 s_q² ≤ s² the integral ∫ p²/q diverges: return math.inf before taking a square root.")
        if not (math.isinf(v) and v > 0):
            fail(f"weight_cv2{tuple(round(a, 3) for a in case)} = {v}, but with s_q² = {c ** 2:.2f} s² ≤ s²/2 "
                 f"the variance of the weights is infinite.",
                 "p²/q ∝ exp(−(1/s² − 1/(2 s_q²)) z²) does not decay when 2 s_q² ≤ s²: return math.inf there.")
    passed("weight_cv2 gives the exact CV² on six hidden proposals, and ∞ where 2 s_q² ≤ s².")


@fallback_for("weight_cv2", prediction=True)
def _weight_cv2(m: float, s: float, m_q: float, s_q: float) -> float:
    """The course's version of exercise ``weight_cv2`` (for ``try_yours``)."""
    return _weight_cv2_exact(float(m), float(s), float(m_q), float(s_q))


@exercise("vae_utils.estimators.effective_sample_size")
def effective_sample_size(fn) -> None:
    """Check ``fn(log_w, dim=0)``: the effective sample size (Σw)² / Σw², computed from log-weights.

    Args:
        fn: the learner's function; called on log-weights near −2000 (so exp underflows),
            of shape (200, 3) with dim=0 and of shape (3, 200) with dim=1.
    Raises:
        CheckFailure: wrong shape, NaN/inf, the ratio inverted, the numerator not squared,
            the ESS divided by N (a fraction), or values off by more than 1e-5 relative.
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


@fallback_for("effective_sample_size")
def _effective_sample_size(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """The course's version of exercise ``effective_sample_size`` (for ``try_yours``)."""
    return torch.exp(2 * torch.logsumexp(log_w, dim=dim) - torch.logsumexp(2 * log_w, dim=dim))


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


# --- chosen_proposal (judge) ------------------------------------------------------------
@exercise()
def chosen_proposal(fn) -> None:
    """Check ``fn() -> "A" | "B" | "C"``: the proposal the learner chooses, from the pilot runs of
    lesson 4's section 5, for reporting log p̂(x) with 10,000 samples: the prior (A), a Gaussian
    at the posterior mean 0.68 times as wide (B: 2c² < 1, so the weights have infinite variance;
    its pilot ESS looks as good as C's at N = 1,000 and falls as N grows), or a shifted Gaussian
    2.2 times as wide (C: CV² = 1.73, ESS steady at about 37 %). The answer is C (Owen 2013, §9.3:
    a high ESS does not prove a good proposal; demos.candidate_proposals builds the three).

    Args:
        fn: the learner's function with no arguments, returning one of the letters.
    Raises:
        CheckFailure: not one of "A", "B", "C"; or A or B, each with a hint on what in the
            pilot runs speaks against it.
    """
    out = call(fn, name="chosen_proposal")
    choice = out.strip().upper() if isinstance(out, str) else out
    if choice not in ("A", "B", "C"):
        fail(f"chosen_proposal() returned {out!r}; return one of the letters \"A\", \"B\" or \"C\".",
             'e.g. return "A".')
    if choice == "A":
        fail("A, the prior, is unbiased and its weights are bounded, but its ESS is about 5 % of N: "
             "for the same standard error it needs many times more samples than a proposal near the posterior.",
             "compare the candidates' ESS fractions and the spread of their estimates at the same N.")
    if choice == "B":
        fail("B's pilot numbers at N = 1,000 look good, but they are computed from the samples B drew. "
             "Look at how its ESS fraction and its largest weight's share change from 10³ to 10⁵ samples, "
             "and compare with what a proposal with a finite weight variance does.",
             "section 3: what happens to the weights p/q in the tails of a proposal narrower than the posterior?")
    passed("C: its ESS fraction holds steady as N grows, as a finite weight variance predicts; "
           "wider than the posterior is the safe side to err on.")


@fallback_for("chosen_proposal", prediction=True)
def _chosen_proposal() -> str:
    """The course's choice for exercise ``chosen_proposal``."""
    return "C"
