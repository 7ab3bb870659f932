"""Checks for lesson 1's exercises: the log-likelihood gap of a rescaled fit (predict, then
measure), sampling and evaluating one Gaussian, and matching sample clouds to the models that
drew them (judge)."""
from __future__ import annotations

import math

import torch

from .. import gaussian as ref
from ._derive import check_closed_form
from ._common import exercise, fallback_for, gen, manual_seed, as_tensor, call, expect_close, expect_shape, fail, passed

__all__ = ["loglik_gap", "sample_gaussian", "gaussian_log_prob", "mystery_samples", "match_samples"]


def _hidden_cov(d: int, seed: int) -> torch.Tensor:
    g = gen(seed)
    A = torch.randn(d, d, generator=g, dtype=torch.float64)
    return A @ A.T + 0.3 * torch.eye(d, dtype=torch.float64)


def _loglik_gap_exact(m: int, d: int, c: float) -> float:
    """ℓ(μ̂, Σ̂) − ℓ(μ̂, c Σ̂) = (m d / 2)(log c + 1/c − 1) nats, for m points in d dimensions."""
    return m * d / 2 * (math.log(c) + 1 / c - 1)


@exercise()
def loglik_gap(fn) -> None:
    """Check ``fn(m, d, c) -> float``: how many nats the maximum-likelihood Gaussian (μ̂, Σ̂) of m
    points in d dimensions beats (μ̂, c Σ̂) on those points,

        ℓ(μ̂, Σ̂) − ℓ(μ̂, c Σ̂) = (m d / 2) (log c + 1/c − 1),

    from log N = −½[d log 2π + log det Σ + (x − μ)ᵀ Σ⁻¹ (x − μ)]: log det(cΣ̂) = d log c + log det Σ̂,
    and Σ_i (x_i − μ̂)ᵀ (cΣ̂)⁻¹ (x_i − μ̂) = tr((cΣ̂)⁻¹ m Σ̂) = m d / c (Bishop 2006, §2.3.4).

    Args:
        fn: the learner's function; called on six hidden (m, d, c), c on both sides of 1
            (including the unbiased estimate's c = m/(m − 1)).
    Raises:
        CheckFailure: not one number, or off by more than 1e-5 relative; the usual wrong
            derivations are named (½, m or d missing, the sign, Σ for Σ⁻¹ in the quadratic
            form, the quadratic form left out or its baseline forgotten).
    """
    g = gen(111)
    cases = []
    for d in (1, 2, 2, 3, 5, 7):
        m = int(torch.randint(5, 5000, (1,), generator=g))
        c = [m / (m - 1), 0.3 + torch.rand(1, generator=g).item() * 0.6,
             1.2 + 2 * torch.rand(1, generator=g).item()][len(cases) % 3]
        cases.append((m, d, c))
    check_closed_form(fn, "loglik_gap", cases, _loglik_gap_exact, [
        (lambda m, d, c: 2 * _loglik_gap_exact(m, d, c), "the gap is twice too large: the ½ of log N is missing.",
         "log N(x; μ, Σ) = −½[d log 2π + log det Σ + (x − μ)ᵀ Σ⁻¹ (x − μ)]."),
        (lambda m, d, c: _loglik_gap_exact(m, d, c) / m, "that is the gap per data point: the log-likelihood sums over all m points.",
         "multiply by m: every point contributes the same log det term, and the quadratic forms sum to m d / c."),
        (lambda m, d, c: _loglik_gap_exact(m, d, c) / d, "the gap is d times too small: log det(cΣ) = d log c + log det Σ.",
         "scaling a d × d matrix by c multiplies its determinant by c^d; the trace of I_d is d."),
        (lambda m, d, c: -_loglik_gap_exact(m, d, c), "the sign is flipped: the maximum-likelihood fit has the larger log-likelihood.",
         "return ℓ(μ̂, Σ̂) − ℓ(μ̂, c Σ̂), which is ≥ 0."),
        (lambda m, d, c: m * d / 2 * (c - 1 - math.log(c)), "the quadratic form uses c Σ̂ instead of its inverse.",
         "(x − μ)ᵀ (cΣ̂)⁻¹ (x − μ) = (1/c)(x − μ)ᵀ Σ̂⁻¹ (x − μ): the sum over the points is m d / c, not m d c."),
        (lambda m, d, c: m * d / 2 * math.log(c), "only the log-determinant changed: the quadratic form changes too.",
         "with c Σ̂ the quadratic forms sum to m d / c instead of m d (Σ_i (x_i − μ̂)ᵀ Σ̂⁻¹ (x_i − μ̂) = tr(Σ̂⁻¹ m Σ̂) = m d)."),
        (lambda m, d, c: m * d / 2 * (math.log(c) + 1 / c), "the gap misses −m d / 2: the quadratic forms of the fit itself.",
         "at Σ̂ the quadratic forms sum to m d; at c Σ̂ to m d / c: the difference is m d (1/c − 1)."),
    ], hint="ℓ(μ̂, Σ̂) − ℓ(μ̂, cΣ̂) = ½[m d log c + m d / c − m d]: log det(cΣ̂) = d log c + log det Σ̂, "
            "and the quadratic forms sum to tr((cΣ̂)⁻¹ m Σ̂) = m d / c.")
    passed("loglik_gap = (m d / 2)(log c + 1/c − 1) on six hidden (m, d, c).")


@fallback_for("loglik_gap", prediction=True)
def _loglik_gap(m: int, d: int, c: float) -> float:
    """The course's version of exercise ``loglik_gap`` (for ``try_yours``)."""
    return _loglik_gap_exact(m, d, c)


@exercise("vae_utils.gaussian.sample_gaussian", "vae_utils.gaussian.sqrtm_psd")
def sample_gaussian(fn) -> None:
    """Check ``fn(mu, Sigma, n) -> (n, d)`` samples x = mu + L z with L Lᵀ = Sigma, z ~ N(0, I).

    Compares the sample mean and covariance of 100,000 draws with mu and Sigma.
    """
    d, n = 3, 100_000
    mu = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    Sigma = _hidden_cov(d, 202)
    with torch.random.fork_rng():
        manual_seed(303)
        x = as_tensor(call(fn, mu.clone(), Sigma.clone(), n, name="sample_gaussian"), "the samples")
    expect_shape(x, (n, d), "the samples", "one row per sample: z has shape (n, d), and x = mu + z @ L.T.")
    m = x.mean(dim=0)
    C = torch.cov(x.T)
    if (m - mu).abs().max() > 0.05 * (1 + Sigma.diagonal().max().sqrt()):
        fail(f"the sample mean {m.numpy().round(2)} is far from mu {mu.numpy()}.",
             "add mu to every sample: x = mu + z @ L.T.")
    scale = Sigma.abs().max()
    if (C - Sigma).abs().max() < 0.05 * scale:
        passed("samples have mean mu and covariance Sigma (checked on 100,000 draws).")
        return
    if (C - Sigma @ Sigma).abs().max() < 0.05 * (Sigma @ Sigma).abs().max():
        fail("the sample covariance is Sigma @ Sigma, not Sigma: you scaled z by Sigma.",
             "scale z by a square root L of Sigma (torch.linalg.cholesky(Sigma)), not by Sigma itself.")
    L = torch.linalg.cholesky(Sigma)
    if (C - L.T @ L).abs().max() < 0.05 * scale:
        fail("the sample covariance is L.T @ L, not L @ L.T = Sigma.",
             "with z as rows (n, d), multiply by the transpose: x = mu + z @ L.T.")
    fail(f"the sample covariance is off from Sigma by up to {(C - Sigma).abs().max().item():.3g}.",
         "x = mu + z @ L.T with z = torch.randn(n, d) and L = torch.linalg.cholesky(Sigma).")


@exercise("vae_utils.gaussian.gaussian_log_prob")
def gaussian_log_prob(fn) -> None:
    """Check ``fn(x, mu, Sigma) -> (N,)``: log N(x; mu, Sigma) in nats for x of shape (N, d)."""
    g = gen(404)
    d = 4
    mu = torch.randn(d, generator=g, dtype=torch.float64)
    Sigma = _hidden_cov(d, 405)
    x = mu + torch.randn(6, d, generator=g, dtype=torch.float64) * 2
    out = as_tensor(call(fn, x.clone(), mu.clone(), Sigma.clone(), name="gaussian_log_prob"), "the log-density")
    expect_shape(out, (6,), "the log-density", "one number per row of x: sum over the d coordinates.")
    expected = ref.gaussian_log_prob(x, mu, Sigma)
    if torch.allclose(out, expected.exp(), rtol=1e-6):
        fail("you returned the density, not its logarithm.", "return log N(x; mu, Sigma), in nats.")
    diff = out - expected
    if torch.allclose(diff, diff[0].expand_as(diff), atol=1e-6) and diff[0].abs() > 1e-6:
        fail(f"every value is off by the same constant {diff[0].item():.4g}: the normaliser is wrong.",
             "the normaliser is -0.5 * (d * log(2π) + log det Sigma).")
    expect_close(out, expected, "the log-density", atol=1e-6,
                 hint="log N = -0.5 * (d log 2π + log det Sigma + (x-mu)ᵀ Sigma⁻¹ (x-mu)); "
                      "note the inverse of Sigma in the quadratic form.")
    passed("gaussian_log_prob matches log N(x; mu, Sigma).")


# --- match_samples (judge) --------------------------------------------------------------------
# The models a cloud of samples can come from, each fitted to the same data (mean mu, ML
# covariance Sigma), and the covariance its samples have.
MODELS = {
    "full": "the maximum-likelihood Gaussian N(mu, Sigma)",
    "diagonal": "N(mu, diag(Sigma)): the variances of Sigma, its correlations set to 0",
    "isotropic": "N(mu, s² I) with s² = tr(Sigma) / d: one variance for every coordinate",
    "no_square_root": "a sampler with a bug: x = mu + z @ Sigma.T, Sigma itself in place of L",
}
_PANELS = {"A": "diagonal", "B": "no_square_root", "C": "full"}  # "isotropic" draws none


def _model_cov(model: str, Sigma: torch.Tensor) -> torch.Tensor:
    d = Sigma.shape[0]
    if model == "full":
        return Sigma
    if model == "diagonal":
        return torch.diag(Sigma.diagonal())
    if model == "isotropic":
        return Sigma.diagonal().mean() * torch.eye(d, dtype=Sigma.dtype)
    return Sigma @ Sigma.T  # x = mu + z @ Sigma.T has covariance Sigma Sigma^T


def mystery_samples(mu, Sigma, n: int = 4000) -> dict[str, torch.Tensor]:
    """Three clouds of n samples, panels ``"A"``, ``"B"``, ``"C"``, each drawn from one of the
    models in ``MODELS`` fitted to data with mean ``mu`` and covariance ``Sigma`` (lesson 1's
    judge exercise ``match_samples``: which model drew which panel). Deterministic."""
    mu = torch.as_tensor(mu, dtype=torch.float64)
    Sigma = torch.as_tensor(Sigma, dtype=torch.float64)
    g = torch.Generator().manual_seed(1001)
    out = {}
    for panel, model in _PANELS.items():
        z = torch.randn(n, len(mu), generator=g, dtype=torch.float64)
        L = Sigma if model == "no_square_root" else torch.linalg.cholesky(_model_cov(model, Sigma))
        out[panel] = mu + z @ L.T
    return out


_CLUES = {  # what a cloud of the claimed model would show, to measure against the panel
    "full": "samples of the full fit have covariance Sigma: compare torch.cov(panels['{p}'].T) with Sigma.",
    "diagonal": "samples of the diagonal fit have the data's spread along each axis but no "
                "correlation: look at torch.corrcoef(panels['{p}'].T).",
    "isotropic": "samples of the isotropic fit spread equally along both axes: compare the two "
                 "standard deviations of panels['{p}'].",
    "no_square_root": "with Sigma in place of L the covariance is Sigma @ Sigma.T, whose spread is "
                      "far wider than the data's: compare panels['{p}'].std(0) with the data's.",
}


@exercise()
def match_samples(fn) -> None:
    """Check ``fn() -> {"A": model, "B": model, "C": model}``: which model of ``MODELS`` drew each
    panel of ``mystery_samples`` (a choice; no inputs, so no hidden variant).

    Raises:
        CheckFailure: not a dict of the three panels, a model name not in ``MODELS``, or panels
            matched wrongly: says how many, and for each a clue to measure, not the answer.
    """
    answer = call(fn, name="match_samples")
    if not isinstance(answer, dict) or set(answer) != set(_PANELS):
        fail(f"match_samples should return a dict with the keys 'A', 'B', 'C', got {answer!r}.",
             "one entry per panel, e.g. {'A': 'full', 'B': ..., 'C': ...}.")
    unknown = [v for v in answer.values() if v not in MODELS]
    if unknown:
        fail(f"{unknown[0]!r} is not one of the models {sorted(MODELS)}.",
             "write each model's name exactly as in the list of the exercise.")
    wrong = [p for p in sorted(_PANELS) if answer[p] != _PANELS[p]]
    if wrong:
        if len(set(answer.values())) < len(answer):
            extra = " Two panels got the same model, but each panel comes from a different one."
        else:
            extra = ""
        clues = " ".join(f"Panel {p} is not {answer[p]!r}: " + _CLUES[answer[p]].replace("{p}", p)
                         for p in wrong)
        fail(f"{len(wrong)} of the 3 panels {'is' if len(wrong) == 1 else 'are'} matched to the wrong "
             f"model.{extra}", clues)
    passed("all three panels matched to the models that drew them.")
