"""Checks for lesson 6b's exercises: predictions, derived on paper, of what importance
sampling with a given proposal will measure.

* ``predicted_ess_fraction`` — ESS/N of the proposal N(0, s² I_k) for the target N(0, I_k);
* ``defensive_elbo`` — the single-sample bound L_1 of the defensive mixture (1 − α) q + α p.

Each check draws its inputs from ``gen`` (so ``seed`` changes them), compares with the exact
closed form, and names the usual wrong derivations.
"""
from __future__ import annotations

import math

import torch

from ._common import as_tensor, call, exercise, expect_close, expect_shape, fail, fallback_for, gen, passed

__all__ = ["predicted_ess_fraction", "defensive_elbo"]


@fallback_for("predicted_ess_fraction")
def _predicted_ess_fraction(s: torch.Tensor, k: int) -> torch.Tensor:
    """The course's version of exercise ``predicted_ess_fraction`` (for ``try_yours``).

    ESS/N → 1/(1 + CV²) = (√(2s² − 1) / s²)^k for s² > ½, and 0 where E_q[w²] is infinite.
    """
    s2 = torch.as_tensor(s, dtype=torch.float64) ** 2
    inner = (2 * s2 - 1).clamp(min=0)
    return torch.where(s2 > 0.5, (inner.sqrt() / s2) ** k, torch.zeros_like(s2))


@fallback_for("defensive_elbo")
def _defensive_elbo(elbo_q, prior_log_lik, alpha: float):
    """The course's version of exercise ``defensive_elbo`` (for ``try_yours``).

    (1 − α)(ELBO_q − log(1 − α)) + α(E_p[log p(x|z)] − log α).
    """
    return (1 - alpha) * (elbo_q - math.log(1 - alpha)) + alpha * (prior_log_lik - math.log(alpha))


def _ess_candidates(s: torch.Tensor, k: int) -> dict[str, torch.Tensor]:
    """Predictions from the usual wrong derivations, on the finite-variance region."""
    s2 = s ** 2
    one_plus_cv2 = (s2 / (2 * s2 - 1).sqrt()) ** k
    return {
        "inverted": one_plus_cv2,
        "cv2": one_plus_cv2 - 1,
        "s for s²": ((2 * s - 1).clamp(min=0).sqrt() / s) ** k,
        "no root": ((2 * s2 - 1) / s2) ** k,
        "no power": (2 * s2 - 1).sqrt() / s2,
        "half power": ((2 * s2 - 1).sqrt() / s2) ** (k / 2),
    }


@exercise("vae_utils.checks._lesson6b._predicted_ess_fraction")
def predicted_ess_fraction(fn) -> None:
    """Check ``fn(s, k) -> (M,)``: the large-N effective sample size fraction ESS/N of the
    proposal N(0, s² I_k) for the target N(0, I_k), for a tensor of scales s (M,).

    Exact: ESS/N → E_q[w]² / E_q[w²] = (√(2s² − 1) / s²)^k when s² > ½; 0 when s² ≤ ½, where
    E_q[w²] = ∫ p²/q is infinite (lesson 4, §3).

    Args:
        fn: the learner's function; called with 9 scales (3 with s² < ½, 6 above, none
            within 0.02 of 1/√2) and a dimension k in 2…6, then with k = 1.
    Raises:
        CheckFailure: wrong shape; NaN or a nonzero value where s² ≤ ½; or, where s² > ½,
            1 + CV² (the inverse), CV², s in place of s², a missing square root, a missing or
            halved power k, or any value off by more than 1e-6 relative.
    """
    g = gen(66)
    low = 0.25 + 0.43 * torch.rand(3, generator=g, dtype=torch.float64)          # s² < ½
    high = 0.73 + 2.3 * torch.rand(6, generator=g, dtype=torch.float64)          # s² > ½
    s = torch.cat([low, torch.tensor([1.0], dtype=torch.float64), high[:5]])[torch.randperm(9, generator=g)]
    k = int(torch.randint(2, 7, (1,), generator=g))
    finite = s ** 2 > 0.5
    for kk in (k, 1):
        out = as_tensor(call(fn, s.clone(), kk, name="predicted_ess_fraction"), "ESS/N")
        expect_shape(out, (9,), f"ESS/N for 9 scales s (k = {kk})",
                     "compute elementwise on the tensor s: one fraction per scale.")
        where = f"s = {s[~finite][0].item():.3f} (s² = {s[~finite][0].item() ** 2:.3f} < ½)"
        if torch.isnan(out[~finite]).any():
            fail(f"ESS/N is NaN at {where}: √(2s² − 1) of a negative number.",
                 "below s² = ½ the integral E_q[w²] = ∫ p²/q diverges, so ESS/N → 0 as N grows: "
                 "return 0 there, e.g. with torch.where(s ** 2 > 0.5, formula, 0) on a clamped 2s² − 1.")
        if (out[~finite] != 0).any():
            fail(f"ESS/N is {out[~finite][0].item():.3g} at {where}; the second moment of the weights is "
                 f"infinite there, so ESS/N → 0.",
                 "the Gaussian integral ∫ p²/q converges only for 2s² − 1 > 0 (lesson 4, §3): "
                 "return 0 where s² ≤ ½ instead of using |2s² − 1| or letting it through.")
        want = _predicted_ess_fraction(s, kk)
        got = out[finite]
        if not torch.all(torch.isfinite(got)):
            fail("ESS/N contains NaN or inf where s² > ½.", "(√(2s² − 1) / s²)^k is finite there.")
        hints = {
            "inverted": ("you returned 1 + CV² = E_q[w²] / E_q[w]² = (s² / √(2s² − 1))^k; ESS/N is its inverse.",
                         "ESS/N → 1 / (1 + CV²): a fraction between 0 and 1."),
            "cv2": ("you returned CV² = (s² / √(2s² − 1))^k − 1.", "ESS/N → 1 / (1 + CV²)."),
            "s for s²": ("this is the formula with s where the variance s² belongs.",
                         "the proposal N(0, s²) has density ∝ exp(−z² / 2s²) / s: complete the square with s²."),
            "no root": ("the square root is missing: ∫ exp(−z²(1 − 1/(2s²))) dz gives √(π / (1 − 1/(2s²))).",
                        "E_q[w²] = s² / √(2s² − 1) in one dimension."),
            "no power": (f"this is the one-dimensional answer; with k = {kk} independent coordinates the "
                         f"weights factorise and 1 + CV² is a product.",
                         "raise the one-dimensional fraction to the power k."),
            "half power": ("the power is k/2; each of the k coordinates contributes a full factor.",
                           "raise the one-dimensional fraction √(2s² − 1) / s² to the power k."),
        }
        for name, cand in _ess_candidates(s[finite], kk).items():
            if torch.allclose(got, cand, rtol=1e-6, atol=1e-12) and not torch.allclose(cand, want[finite]):
                fail(f"ESS/N is off (k = {kk}): " + hints[name][0], hints[name][1])
        expect_close(got, want[finite], f"ESS/N for s² > ½ (k = {kk})", rtol=1e-6, atol=1e-12,
                     hint="ESS/N → 1/(1 + CV²) with 1 + CV² = E_q[w²] = (s² / √(2s² − 1))^k.")
    passed(f"predicted_ess_fraction: ESS/N = (√(2s² − 1)/s²)^k above s² = ½, 0 below "
           f"(s = 1.5, k = 20: {_predicted_ess_fraction(torch.tensor([1.5]), 20).item():.3f}).")


@exercise("vae_utils.checks._lesson6b._defensive_elbo")
def defensive_elbo(fn) -> None:
    """Check ``fn(elbo_q, prior_log_lik, alpha) -> (B,)``: the single-sample bound L_1 of the
    defensive mixture (1 − α) q + α p, predicted from the encoder's ELBO and the prior's
    average log-likelihood, for components that do not overlap:

        L_1 = (1 − α)(ELBO_q − log(1 − α)) + α(E_p[log p(x|z)] − log α).

    Args:
        fn: the learner's function; called with elbo_q (6,) near −90 nats, prior_log_lik (6,)
            near −500 nats, and two values of α in (0.05, 0.5).
    Raises:
        CheckFailure: wrong shape; the plain average of the two ELBOs (no −log of the
            mixture weights), α and 1 − α swapped, the weights' logs with the wrong sign or
            only one of them, a log-sum-exp of the two ELBOs, or a value off by 1e-6 relative.
    """
    g = gen(67)
    elbo_q = -90 + 10 * torch.randn(6, generator=g, dtype=torch.float64)
    prior_ll = -500 + 50 * torch.randn(6, generator=g, dtype=torch.float64)
    alphas = (0.05 + 0.45 * torch.rand(2, generator=g, dtype=torch.float64)).tolist()
    for a in alphas:
        out = as_tensor(call(fn, elbo_q.clone(), prior_ll.clone(), a, name="defensive_elbo"), "L_1")
        expect_shape(out, (6,), "L_1 of the mixture", "one value per data point: combine the two (B,) tensors elementwise.")
        want = _defensive_elbo(elbo_q, prior_ll, a)
        la, l1a = math.log(a), math.log(1 - a)
        wrong = {
            "you averaged the two ELBOs; but where q's samples land the mixture's density is (1 − α) q(z), "
            "not q(z), so log w gains −log(1 − α) there, and −log α where the prior's samples land.":
                (1 - a) * elbo_q + a * prior_ll,
            "α and 1 − α are swapped: a share α of the samples comes from the prior.":
                a * (elbo_q - la) + (1 - a) * (prior_ll - l1a),
            "the logs of the mixture weights have the wrong sign: log w = log p(x, z) − log q_α(z), and "
            "log q_α(z) ≈ log(1 − α) + log q(z), so −log(1 − α) is added (it is positive).":
                (1 - a) * (elbo_q + l1a) + a * (prior_ll + la),
            "only the prior's share carries its −log α; the encoder's samples gain −log(1 − α) too.":
                (1 - a) * elbo_q + a * (prior_ll - la),
            "only the encoder's share carries its −log(1 − α); the prior's samples gain −log α too.":
                (1 - a) * (elbo_q - l1a) + a * prior_ll,
            "this is the log of an average of exp(ELBO)s; L_1 = E[log w] is an average of log-weights, "
            "split by the component each sample came from.":
                torch.logaddexp(l1a + elbo_q, la + prior_ll),
        }
        for why, cand in wrong.items():
            if torch.allclose(out, cand, rtol=1e-6, atol=1e-9):
                fail(f"L_1 is off (α = {a:.3f}): " + why.split(";")[0].split(":")[0] + ".", why)
        expect_close(out, want, f"L_1 of the mixture (α = {a:.3f})", rtol=1e-6, atol=1e-9,
                     hint="L_1 = (1 − α)(ELBO_q − log(1 − α)) + α(E_p[log p(x|z)] − log α).")
    passed("defensive_elbo: L_1 = (1 − α)(ELBO_q − log(1 − α)) + α(E_p[log p(x|z)] − log α) — "
           "the components' ELBOs averaged, plus the entropy of the choice between them.")
