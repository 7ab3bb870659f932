"""Checks for the exercises of lessons 5 and 5b:

* ``best_q_prediction`` — which of three Gaussian q has the smallest gap, predicted from their
  contours before anything measures it (judge, lesson 5);
* ``elbo_gap`` — the ELBO's gap as a KL between two Gaussians, derived (lesson 5);
* ``elbo_diagnosis`` — three broken ELBO estimators matched to their slips from their numbers
  (judge, lesson 5);
* ``gradient_choice`` — the score-function or the reparameterization gradient, chosen for two
  problems from their measured bias and variance (judge, lesson 5b);
* ``weight_second_moment`` — the second moment of the importance weights of a Gaussian q,
  derived (lesson 5b);
* ``iwae_choice`` — a proposal and K for the IWAE bound to come within 0.05 nats of log p(x),
  graded within a band on the measured E[L_K] (judge, lesson 5b).

Every reference comes from ``vae_utils`` or ``torch.distributions``: ``kl_divergence`` of two
``MultivariateNormal``, the exact ``LinearGaussianLVM`` (log p(x) and the posterior, so the
exact ELBO is log p(x) − KL(q ‖ p(z|x))) and ``iwae_bound``. Hidden inputs are seeded; the
judge exercises' answers are choices about the lesson's own model, which has no hidden inputs.
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from ..estimators import iwae_bound
from ..lvm import LinearGaussianLVM
from ._common import (exercise, fallback_for, gen, as_tensor, call, choice as _choice, choice_dict, expect_close,
                      fail, manual_seed, passed)

__all__ = ["best_q_prediction", "elbo_gap", "elbo_diagnosis", "gradient_choice", "weight_second_moment", "iwae_choice"]

_F64 = torch.float64


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-6, rtol: float = 1e-6) -> bool:
    return a.shape == b.shape and bool(torch.all((a - b).abs() <= atol + rtol * b.abs()))


# --- lesson 5: which q has the smallest gap? (predicted) -------------------------------------------

def _lesson5_gaps() -> dict[str, float]:
    """Exact gaps KL(q ‖ p(z|x)) of lesson 5's three q (``elbo_demos.three_qs``), nats."""
    from ..elbo_demos import lesson5_model, three_qs
    model, x = lesson5_model()
    post = model.posterior(x)
    return {name: kl_divergence(q, post).item() for name, q in three_qs(model, x).items()}


@fallback_for("best_q_prediction", prediction=True)
def _best_q_prediction() -> str:
    """The course's version of exercise ``best_q_prediction``: the name of the q with the
    smallest gap among lesson 5's three (``elbo_demos.three_qs``)."""
    gaps = _lesson5_gaps()
    return min(gaps, key=gaps.get)


@exercise("vae_utils.checks._lesson5._best_q_prediction")
def best_q_prediction(fn) -> None:
    """Check ``fn() -> "A" | "B" | "C"``: the q of lesson 5, §5 predicted to have the smallest gap.

    The three q (``vae_utils.elbo_demos.three_qs``) are drawn as 2-σ contours over the exact
    posterior of the lesson's linear-Gaussian model: A round and wider than the posterior's
    short axis, B the narrow best diagonal q, C the posterior's own shape moved along its long
    axis. The reference is the exact gap KL(q ‖ p(z|x)) by ``torch.distributions.kl_divergence``.
    There are no hidden inputs: the choice is about the lesson's model; a wrong choice is named
    without naming the right one.

    Source: the identity log p(x) = ELBO(q) + KL(q ‖ p(z|x)) (Kingma & Welling 2019, §2.2); the
    zero-forcing behaviour of KL(q ‖ p) (Bishop 2006, §10.1.2; Murphy 2012, §21.2.2).
    """
    answer = _choice(call(fn, name="best_q_prediction"), ("A", "B", "C"), "best_q_prediction()", '"A"')
    gaps = _lesson5_gaps()
    best = min(gaps, key=gaps.get)
    if answer != best:
        hints = {
            "A": "q A is centred and covers the posterior; but KL(q ‖ p(z|x)) = E_q[log q − log p(z|x)] "
                 "averages over q's samples: what does p(z|x) say about the ones that fall outside its "
                 "narrow direction?",
            "B": "q B sits inside the posterior, which KL(q ‖ p(z|x)) rewards; but it also ignores the "
                 "correlation. Compare what each q pays along the posterior's short axis, where p(z|x) "
                 "falls off fast, with what it pays along the long axis.",
            "C": "moving q along the posterior's long axis is cheap; ask what the other two pay.",
        }
        fail(f"q {answer} does not have the smallest gap of the three.", hints[answer])
    passed(f"q {answer} has the smallest gap of the three: the measurement below gives the numbers.")


# --- derived closed forms: the ELBO's gap, and the second moment of the weights -------------------

_GAP_FORMULA = ("KL = ½ [tr(Σ_post⁻¹ Σ_q) + (μ_post − μ_q)ᵀ Σ_post⁻¹ (μ_post − μ_q) − k "
                "+ log det Σ_post − log det Σ_q]")


def _spd(k: int, g: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    """A random symmetric positive-definite (k, k) matrix, well conditioned, float64."""
    A = torch.randn(k, k, generator=g, dtype=_F64)
    return scale * (A @ A.T / k + 0.3 * torch.eye(k, dtype=_F64))


def _scalar(value, what: str) -> torch.Tensor:
    out = as_tensor(value, what)
    if out.numel() != 1:
        fail(f"{what} returned {tuple(out.shape)} numbers; expected one number.",
             "the inputs describe one pair of Gaussians: sum the terms to a single number.")
    return out.reshape(())


def _kl_parts(mu_q, S_q, mu_p, S_p):
    """The four pieces of KL(N(mu_q, S_q) ‖ N(mu_p, S_p)): trace, Mahalanobis, k, log-det ratio."""
    P = torch.linalg.inv(S_p)
    diff = mu_p - mu_q
    return (torch.trace(P @ S_q), diff @ P @ diff, len(mu_q), torch.logdet(S_p) - torch.logdet(S_q))


@fallback_for("elbo_gap", prediction=True)
def _elbo_gap(mu_q, Sigma_q, mu_post, Sigma_post) -> torch.Tensor:
    """The course's version of exercise ``elbo_gap`` (for ``try_yours``): KL(N(mu_q, Sigma_q) ‖
    N(mu_post, Sigma_post)) in closed form, a 0-dim tensor in nats."""
    tr, maha, k, logdet = _kl_parts(*(torch.as_tensor(a, dtype=_F64) for a in (mu_q, Sigma_q, mu_post, Sigma_post)))
    return 0.5 * (tr + maha - k + logdet)


@exercise("torch.distributions.kl._kl_multivariatenormal_multivariatenormal", "vae_utils.checks._lesson5._elbo_gap")
def elbo_gap(fn) -> None:
    """Check ``fn(mu_q, Sigma_q, mu_post, Sigma_post) -> log p(x) − ELBO(q)``, derived in closed form.

    The gap is KL(q ‖ p(z|x)) for q = N(mu_q, Sigma_q) and the posterior N(mu_post, Sigma_post):
    ½ [tr(Σ_post⁻¹ Σ_q) + (μ_post − μ_q)ᵀ Σ_post⁻¹ (μ_post − μ_q) − k + log det Σ_post − log det Σ_q].
    Run on a hidden pair of 3-D Gaussians and a 2-D pair (so k is not hard-coded), and on
    q = posterior (gap 0); the reference is ``torch.distributions.kl_divergence``, which the
    learner's function may not call (the exercise is the derivation). Names the usual wrong
    derivations: the KL's direction swapped (KL(p ‖ q)), a missing or sign-flipped log-det
    term, tr Σ_q or a missing trace where tr(Σ_post⁻¹ Σ_q) belongs, the mean term measured
    with Σ_q⁻¹, a missing ½, − k or mean term.

    Source: Bishop 2006, "Pattern Recognition and Machine Learning", exercise 2.13 / eq. (B.51)
    of Kingma & Welling 2014's appendix for the diagonal case; Kullback 1959.
    """
    g = gen(515)
    cases = []
    for k in (3, 2):
        mu_q, mu_p = torch.randn(k, generator=g, dtype=_F64), torch.randn(k, generator=g, dtype=_F64)
        cases.append((mu_q, _spd(k, g, 0.6), mu_p, _spd(k, g, 1.4)))
    for mu_q, S_q, mu_p, S_p in cases:
        k = len(mu_q)
        out = _scalar(call(fn, mu_q.clone(), S_q.clone(), mu_p.clone(), S_p.clone(), name="elbo_gap"),
                      f"elbo_gap for k = {k}")
        expected = kl_divergence(MultivariateNormal(mu_q, S_q), MultivariateNormal(mu_p, S_p))
        if _close(out, expected, atol=1e-8, rtol=1e-8):
            continue
        tr, maha, _, logdet = _kl_parts(mu_q, S_q, mu_p, S_p)
        Pq = torch.linalg.inv(S_q)
        diff = mu_p - mu_q
        diagnoses = [
            (kl_divergence(MultivariateNormal(mu_p, S_p), MultivariateNormal(mu_q, S_q)),
             "you computed KL(p(z|x) ‖ q), the KL in the other direction.",
             "the gap is E_q[log q(z) − log p(z|x)] = KL(q ‖ p(z|x)): the expectation is under q, so "
             "the posterior's precision Σ_post⁻¹ meets Σ_q in the trace."),
            (0.5 * (tr + maha - k), "the log-determinant term is missing.",
             "E_q[log q] and E_q[log p] carry −½ log det Σ_q and −½ log det Σ_post: "
             "+ ½ (log det Σ_post − log det Σ_q)."),
            (0.5 * (tr + maha - k - logdet), "the log-determinant term has the wrong sign.",
             "KL(q ‖ p) = E_q[log q(z) − log p(z|x)]: E_q[log q] brings −½ log det Σ_q and "
             "−E_q[log p(z|x)] brings +½ log det Σ_post."),
            (0.5 * (torch.trace(S_q) + maha - k + logdet),
             "the trace term is tr(Σ_q): the posterior's precision Σ_post⁻¹ is missing from it.",
             "E_q[(z − μ_post)ᵀ Σ_post⁻¹ (z − μ_post)] = tr(Σ_post⁻¹ Σ_q) + (μ_q − μ_post)ᵀ Σ_post⁻¹ (μ_q − μ_post)."),
            (0.5 * (maha - k + logdet), "the trace term tr(Σ_post⁻¹ Σ_q) is missing.",
             "E_q[(z − μ_post)ᵀ Σ_post⁻¹ (z − μ_post)] = tr(Σ_post⁻¹ Σ_q) + (μ_q − μ_post)ᵀ Σ_post⁻¹ (μ_q − μ_post)."),
            (0.5 * (tr + diff @ Pq @ diff - k + logdet),
             "the mean term uses Σ_q⁻¹: the distance between the means is measured with the posterior's precision.",
             "(μ_post − μ_q)ᵀ Σ_post⁻¹ (μ_post − μ_q): the log-density being averaged is the posterior's."),
            (0.5 * (tr - k + logdet), "the mean term (μ_post − μ_q)ᵀ Σ_post⁻¹ (μ_post − μ_q) is missing.",
             _GAP_FORMULA),
            (2 * expected, "every value is twice the KL: the factor ½ is missing.", _GAP_FORMULA),
            (expected + 0.5 * k, "the value is too large by k/2: the − k is missing.",
             "E_q[(z − μ_q)ᵀ Σ_q⁻¹ (z − μ_q)] = k, and it enters with ½: " + _GAP_FORMULA),
        ]
        for wrong, message, hint in diagnoses:
            if _close(out, wrong.reshape(()), atol=1e-8, rtol=1e-8):
                fail(f"for k = {k}: {message}", hint)
        steps = 2 * (out - expected).item()
        if abs(steps - round(steps)) < 1e-6:
            fail(f"for k = {k} the value is off by {steps / 2:+g}, a multiple of ½: the − k term uses another "
                 f"dimension than k = {k}.", "k is the dimension of z: k = len(mu_q), not a fixed number.")
        expect_close(out, expected, f"elbo_gap for k = {k}", atol=1e-8, hint=_GAP_FORMULA)
    mu_q, S_q = cases[0][0], cases[0][1]
    same = _scalar(call(fn, mu_q.clone(), S_q.clone(), mu_q.clone(), S_q.clone(), name="elbo_gap"),
                   "elbo_gap(q = posterior)")
    expect_close(same, torch.zeros((), dtype=_F64), "the gap when q is the posterior", atol=1e-9,
                 hint="at q = p(z|x) the ELBO is tight: tr(I) − k = 0, and the log-dets cancel.")
    passed("elbo_gap gives KL(q ‖ p(z|x)) of two Gaussians in closed form, for k = 3 and k = 2, "
           "and 0 at the posterior.")


_MOMENT_FORMULA = ("whiten with L L^T = Sigma_post: C = L^-1 Sigma_q L^-T, u = L^-1 (mu_q - mu_post); "
                   "1 + CV² = prod_i λ_i / sqrt(2 λ_i − 1) · exp(u^T (2C − I)^-1 u) over the eigenvalues λ_i "
                   "of C, and inf when min λ_i ≤ ½")


def _whiten(mu_q, S_q, mu_p, S_p):
    L = torch.linalg.cholesky(S_p)
    C = torch.linalg.solve_triangular(L, torch.linalg.solve_triangular(L, S_q, upper=False).T, upper=False)
    u = torch.linalg.solve_triangular(L, (mu_q - mu_p).unsqueeze(-1), upper=False).squeeze(-1)
    return 0.5 * (C + C.T), u


@fallback_for("weight_second_moment", prediction=True)
def _weight_second_moment(mu_q, Sigma_q, mu_post, Sigma_post) -> torch.Tensor:
    """The course's version of exercise ``weight_second_moment`` (for ``try_yours``):
    E_q[w²] / p(x)² = ∫ p(z|x)² / q(z) dz for Gaussian q and posterior; inf when it diverges."""
    C, u = _whiten(*(torch.as_tensor(a, dtype=_F64) for a in (mu_q, Sigma_q, mu_post, Sigma_post)))
    lam = torch.linalg.eigvalsh(C)
    if lam.min() <= 0.5:
        return torch.tensor(math.inf, dtype=_F64)
    two_c = 2 * C - torch.eye(len(u), dtype=_F64)
    return torch.prod(lam / torch.sqrt(2 * lam - 1)) * torch.exp(u @ torch.linalg.solve(two_c, u))


@exercise("vae_utils.checks._lesson5._weight_second_moment")
def weight_second_moment(fn) -> None:
    """Check ``fn(mu_q, Sigma_q, mu_post, Sigma_post) -> 1 + CV²`` of the importance weights of q.

    For w = p(x, z)/q(z), z ~ q = N(mu_q, Sigma_q), and a Gaussian posterior N(mu_post, Sigma_post):
    E_q[w²]/p(x)² = ∫ p(z|x)²/q(z) dz. Whitened by L Lᵀ = Σ_post, q becomes N(u, C) and the
    posterior N(0, I); the integral is Π_i λ_i/√(2λ_i − 1) · exp(uᵀ(2C − I)⁻¹u) over the
    eigenvalues λ_i of C when every λ_i > ½, and +∞ otherwise (lesson 4's criterion, in every
    direction). Run on a hidden 3-D pair with finite moment, a pair with one λ < ½ (must be
    inf) and q = posterior (must be 1). Names the usual slips: CV² instead of 1 + CV², the
    roles of q and the posterior swapped, the shift term missing or with a factor ½, the
    per-coordinate ratios Σ_q,jj/Σ_post,jj used without whitening, and a finite number or NaN
    where the integral diverges.

    Source: Owen 2013, "Monte Carlo theory, methods and examples", §9.1 (the variance of
    importance sampling); the Gaussian integral by completing the square, as in lesson 4.
    """
    g = gen(525)
    k = 3
    L = torch.linalg.cholesky(_spd(k, g))
    V, _ = torch.linalg.qr(torch.randn(k, k, generator=g, dtype=_F64))
    mu_p = torch.randn(k, generator=g, dtype=_F64)
    u = 0.6 * torch.randn(k, generator=g, dtype=_F64)
    mu_q = mu_p + L @ u

    def q_cov(lams):
        return L @ (V @ torch.diag(torch.tensor(lams, dtype=_F64)) @ V.T) @ L.T

    S_p = L @ L.T
    S_q = q_cov([0.7, 1.3, 2.2])
    expected = _weight_second_moment(mu_q, S_q, mu_p, S_p)
    out = _scalar(call(fn, mu_q.clone(), S_q.clone(), mu_p.clone(), S_p.clone(), name="weight_second_moment"),
                  "weight_second_moment")
    if not _close(out, expected, atol=1e-8, rtol=1e-8):
        C, uu = _whiten(mu_q, S_q, mu_p, S_p)
        lam = torch.linalg.eigvalsh(C)
        det_part = torch.prod(lam / torch.sqrt(2 * lam - 1))
        shift = uu @ torch.linalg.solve(2 * C - torch.eye(k, dtype=_F64), uu)
        c2 = S_q.diagonal() / S_p.diagonal()
        d2 = (mu_q - mu_p) ** 2 / S_p.diagonal()
        diagnoses = [
            (expected - 1, "the value is 1 + CV² minus 1: you returned CV², the squared coefficient of variation.",
             "E_q[w²]/p(x)² = 1 + CV² (the mean of w/p(x) is 1): return the second moment itself."),
            (_weight_second_moment(mu_p, S_p, mu_q, S_q),
             "the roles are swapped: that is the moment of the posterior's weights as a proposal for q.",
             "q is the proposal: whiten by the posterior's covariance, C = L⁻¹ Σ_q L⁻ᵀ with L Lᵀ = Σ_post."),
            (det_part, "the shift term is missing: the means differ, which costs exp(uᵀ(2C − I)⁻¹u).",
             _MOMENT_FORMULA),
            (det_part * torch.exp(0.5 * shift), "the exponent of the shift term carries an extra ½.",
             "completing the square gives exp(uᵀ(2C − I)⁻¹u), with no ½: in one dimension exp(δ²/(2c² − 1))."),
            (torch.prod(c2 / torch.sqrt(2 * c2 - 1)) * torch.exp((d2 / (2 * c2 - 1)).sum()),
             "you used the per-coordinate ratios Σ_q,jj / Σ_post,jj: the posterior is correlated, so the "
             "coordinates must be whitened first.",
             _MOMENT_FORMULA),
            (torch.log(expected), "you returned the log of the second moment.", "return 1 + CV² itself."),
        ]
        for wrong, message, hint in diagnoses:
            if torch.isfinite(wrong) and _close(out, wrong.reshape(()), atol=1e-8, rtol=1e-8):
                fail(message, hint)
        if torch.isinf(out):
            if torch.isinf(diagnoses[1][0]):
                fail("you returned inf: with the roles of q and the posterior swapped, the posterior's "
                     "whitened variances 1/λ_i fall below ½ — but here q is the proposal.", diagnoses[1][2])
            fail(f"you returned inf, but every whitened variance of q is above ½ (the smallest is "
                 f"{lam.min().item():.2f}): the integral is finite.", _MOMENT_FORMULA)
        expect_close(out, expected, "weight_second_moment (every whitened variance above ½)", atol=1e-8,
                     hint=_MOMENT_FORMULA)

    S_bad = q_cov([0.35, 1.1, 1.6])
    bad = _scalar(call(fn, mu_q.clone(), S_bad.clone(), mu_p.clone(), S_p.clone(), name="weight_second_moment"),
                  "weight_second_moment")
    if torch.isnan(bad):
        fail("the result is NaN where one whitened variance is 0.35 < ½: the square root of 2λ − 1 < 0.",
             "test the criterion first: if the smallest eigenvalue of C is ≤ ½, the integral diverges; "
             "return float('inf').")
    if not (torch.isinf(bad) and bad > 0):
        fail(f"the result is {bad.item():.4g} where one whitened variance of q is 0.35 < ½: the integral "
             "∫ p(z|x)²/q(z) dz diverges there, so the variance of the weights is infinite.",
             "compute the eigenvalues of C = L⁻¹ Σ_q L⁻ᵀ (torch.linalg.eigvalsh); if the smallest is ≤ ½, "
             "return float('inf').")
    one = _scalar(call(fn, mu_p.clone(), S_p.clone(), mu_p.clone(), S_p.clone(), name="weight_second_moment"),
                  "weight_second_moment(q = posterior)")
    expect_close(one, torch.ones((), dtype=_F64), "the moment when q is the posterior", atol=1e-9,
                 hint="at q = p(z|x) every weight equals p(x): CV² = 0, so 1 + CV² = 1.")
    passed("weight_second_moment gives 1 + CV² in closed form, +inf when a whitened variance is below ½, "
           "and 1 at the posterior.")


# --- lesson 5: three broken ELBO estimators (diagnosed) ---------------------------------------------

_SLIPS = ("no log p(z)", "+ log q", "no log q", "z from the prior")
_SLIP_HINTS = {
    "no log p(z)": "without log p(z) the estimate is the ELBO minus E_q[log p(z)] = ELBO + log 2π + ½(‖μ‖² + tr Σ): "
                   "does this run lie above the exact ELBO of each q by that much?",
    "+ log q": "adding log q instead of subtracting it moves the estimate by 2 E_q[log q] = −2 H(q): does this "
               "run's difference from the exact ELBO equal that for each q (q.entropy())?",
    "no log q": "dropping − log q moves the estimate by E_q[log q] = −H(q): does this run's difference from the "
                "exact ELBO equal that for each q (q.entropy())?",
    "z from the prior": "with z drawn from p(z) instead of q the estimate is E_p[log p(x|z)] + KL(p(z) ‖ q): it "
                        "equals the right ELBO only where q is the prior itself. Does this run do that?",
}


def _elbo_diagnosis() -> dict[str, str]:
    """The slips of ``vae_utils.elbo_demos.broken_elbo_runs``, run by run."""
    return {"run 1": "z from the prior", "run 2": "no log p(z)", "run 3": "+ log q"}


@exercise("vae_utils.checks._lesson5._elbo_diagnosis")
def elbo_diagnosis(fn) -> None:
    """Check ``fn() -> {"run 1": slip, "run 2": slip, "run 3": slip}``: the slip of each of lesson
    5's broken ELBO estimators (``vae_utils.elbo_demos.broken_elbo_runs``), each one of
    "no log p(z)", "+ log q", "no log q", "z from the prior" (one is not used).

    The runs are diagnosed from their numbers on three diagonal q against the exact ELBO and
    log p(x): the estimate without log p(z) exceeds the ELBO by −E_q[log p(z)] (above log p(x) for
    two of the q); "+ log q" lies 2 H(q) below it; z drawn from the prior gives
    E_p[log p(x|z)] + KL(p(z) ‖ q), equal to the right ELBO where q is the prior. No hidden inputs: the runs are the lesson's.
    A wrong entry is named, with a hint about the slip chosen for it, never the right slip.

    Source: the ELBO log p(x, z) − log q(z) averaged under q (Kingma & Welling 2014, eq. 3) and the
    entropy of a Gaussian (Cover & Thomas 2006, §8.4).
    """
    want = _elbo_diagnosis()
    got = choice_dict(call(fn, name="elbo_diagnosis"), want, _SLIPS, "elbo_diagnosis", kind="slip",
                      distinct="runs", distinct_hint="one of the four slips is not used.")
    for run in sorted(want):
        if got[run] != want[run]:
            fail(f"{run} is not explained by {got[run]!r}.", _SLIP_HINTS[got[run]])
    passed("elbo_diagnosis: each run matched to its slip.")


# --- lesson 5b: which gradient estimator? (chosen from measurements) --------------------------------

_ESTIMATORS = ("reparameterization", "score function")
_PROBLEMS = {
    "ELBO": ("the gradient in mu of the ELBO of §2.2, a smooth function of z",
             "both estimators are unbiased there: compare the spread of one gradient sample."),
    "P(z1 > 0)": ("the gradient in mu of P(z1 > 0) = E_q[1(z1 > 0)], a step in z",
                  "compare each estimator's mean with the exact gradient before its spread: a pathwise "
                  "gradient differentiates the integrand sample by sample."),
}


@exercise()
def gradient_choice(fn) -> None:
    """Check ``fn() -> {"ELBO": ..., "P(z1 > 0)": ...}``, each ``"reparameterization"`` or
    ``"score function"``: the estimator to use for each of lesson 5b's two gradient problems.

    Both are gradients in mu at q = N(0, I), measured in lesson 5b, §2.2 and §2.3. For the ELBO,
    a smooth function of z, both estimators are unbiased and the reparameterized one has a
    fraction of the variance: "reparameterization". For P(z1 > 0), the expectation of a step,
    autograd's pathwise gradient is 0 for every sample (the step is flat almost everywhere)
    while the exact gradient is φ(0) ≈ 0.399: only the score function is unbiased. No hidden
    inputs: the answer is a judgement about the lesson's measurements.

    Source: Mohamed, Rosca, Figurnov & Mnih 2020, "Monte Carlo gradient estimation in machine
    learning" (JMLR), §§4–5 (score function; pathwise gradients need a differentiable integrand).
    """
    got = choice_dict(call(fn, name="gradient_choice"), _PROBLEMS, _ESTIMATORS, "gradient_choice",
                      kind="estimator")
    want = {"ELBO": "reparameterization", "P(z1 > 0)": "score function"}
    for problem, (what, hint) in _PROBLEMS.items():
        if got[problem] != want[problem]:
            fail(f"for {what}, the {got[problem]} estimator is not the better choice.", hint)
    passed("gradient_choice: the reparameterized gradient where the integrand is smooth (lower variance, "
           "both unbiased), the score function where it is a step (the pathwise gradient is 0, biased).")


# --- lesson 5b: a proposal and K for the IWAE bound (chosen, then measured) --------------------------

_IWAE_TARGET = 0.05       # nats: the bound must come this close to log p(x) on average
_IWAE_BAND = 0.06         # accepted: E[log p(x) − L_K] ≤ this (the rule CV²/(2K) is asymptotic)
_PROPOSALS = ("prior", "best diagonal q")


def _iwae_gap(K: int, seed: int) -> tuple[float, float]:
    """log p(x) − E[L_K] for the prior N(0, I) as q on lesson 5's data point, by Monte Carlo:
    (estimate, its standard error), nats, from about 6·10⁵ samples in all."""
    from ..elbo_demos import diag_q, lesson5_model
    model, x = lesson5_model()
    reps = max(2000, 600_000 // K)
    zeros = torch.zeros(reps, 2, dtype=_F64)
    with torch.random.fork_rng(devices=[]):
        manual_seed(seed)
        L = iwae_bound(model, x.expand(reps, x.shape[-1]), diag_q(zeros, zeros), K)
    return (model.log_marginal(x) - L.mean()).item(), (L.std() / math.sqrt(reps)).item()


@fallback_for("iwae_choice", prediction=True)
def _iwae_choice() -> tuple[str, int]:
    """The course's version of exercise ``iwae_choice``: the prior as proposal, and K from the
    rule log p(x) − E[L_K] ≈ CV²/(2K) with lesson 5b's 1 + CV² = 3.851 of the prior (K ≥ 28.5),
    rounded up to a power of two."""
    return "prior", 32


@exercise("vae_utils.checks._lesson5._iwae_choice")
def iwae_choice(fn) -> None:
    """Check ``fn() -> (proposal, K)``: a proposal (``"prior"`` or ``"best diagonal q"``) and a
    number of importance samples K for which E[L_K] of lesson 5's data point lies within 0.05
    nats of log p(x), without wasting samples.

    The proposal must be the prior N(0, I): the best diagonal q's weights have infinite variance
    (lesson 5b, Exercise 3), so no K comes with a guarantee. K is graded within a band on the
    measured bound (the prior's IWAE bound, ``iwae_bound``, about 6·10⁵ samples): accepted when
    log p(x) − E[L_K] ≤ 0.06 nats (the rule CV²/(2K) is asymptotic and slightly optimistic here)
    and K/4 samples would not already reach 0.05 nats. The visible and the hidden tests differ
    only in the Monte Carlo seed of the measurement.

    Source: Burda, Grosse & Salakhutdinov 2016, theorem 1; the asymptotic gap Var(w/p(x))/(2K) of
    Maddison et al. 2017, "Filtering variational objectives", and Domke & Sheldon 2018,
    "Importance weighting and variational inference".
    """
    out = call(fn, name="iwae_choice")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"iwae_choice() should return (proposal, K), got {type(out).__name__}.", 'return e.g. ("prior", 10).')
    proposal = _choice(out[0], _PROPOSALS, "the proposal", '"prior"')
    try:
        K = float(out[1])
    except (TypeError, ValueError, RuntimeError):
        fail(f"K should be a number, got {type(out[1]).__name__}.", 'return e.g. ("prior", 10).')
    if not math.isfinite(K) or K != int(K) or K < 1:
        fail(f"K = {out[1]!r}: a number of importance samples is a whole number ≥ 1.", "round up: math.ceil.")
    K = int(K)
    if proposal != "prior":
        fail("with the best diagonal q as proposal, no K can be promised: its importance weights have "
             "infinite variance (Exercise 3), so the bound crawls toward log p(x) with no rate to plan by.",
             "choose the proposal whose weights have a finite second moment, then use the rule for K.")
    if K // 4 > 128:
        fail(f"K = {K} reaches 0.05 nats, but a quarter of it would too: that wastes samples.",
             "log p(x) − E[L_K] ≈ CV²/(2K) for weights of finite variance; solve for the smallest K.")
    gap, se = _iwae_gap(K, 5101)
    if gap > _IWAE_BAND + se:
        fail(f"with K = {K} the prior's bound is measured {gap:.3f} ± {se:.3f} nats below log p(x): more than "
             f"{_IWAE_TARGET} nats.",
             "log p(x) − E[L_K] ≈ CV²/(2K), with 1 + CV² the second moment of the normalised weights "
             "(Exercise 3): solve CV²/(2K) ≤ 0.05 for K.")
    if K // 4 >= 20:   # below 20 samples the prior's bound is measured more than 0.08 nats short
        gap_q, se_q = _iwae_gap(K // 4, 5102)
        if gap_q < _IWAE_TARGET - 2 * se_q:
            fail(f"K = {K} reaches 0.05 nats, but so would K = {K // 4} (measured {gap_q:.3f} ± {se_q:.3f} nats): "
                 "that wastes samples.",
                 "log p(x) − E[L_K] ≈ CV²/(2K) for weights of finite variance; solve for the smallest K.")
    passed(f"the prior with K = {K}: E[L_K] measured {gap:.3f} ± {se:.3f} nats below log p(x), within the band, "
           "and not four times more samples than needed.")
