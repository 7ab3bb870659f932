"""Checks for lesson 6c's exercises: which bug broke each of three training runs (a diagnosis),
which latent units a Gaussian decoder's noise collapses, and the output noise σ that the
likelihood itself prefers."""
from __future__ import annotations

import torch

from ._common import as_tensor, call, choice_dict, exercise, expect_close, expect_shape, fail, fallback_for, gen, passed

__all__ = ["diagnose_runs", "unit_kl", "best_sigma"]

# What gives each bug away, for the hint of a wrong match (none of it says which run is which).
_SYMPTOMS = {
    "KL term left out": "a KL far above the reference's, and a recon far below it",
    "KL sign flipped": "a KL that keeps growing, epoch after epoch, and a training −ELBO that rises with it",
}


@exercise()
def diagnose_runs(fn) -> None:
    """Check ``fn() -> {"run 1": bug, "run 2": bug, "run 3": bug}``: the bug of each of lesson 6c's
    three broken runs (section 1b), each a name from ``vae_utils.pitfalls.BUGS``. A choice with
    one right answer, so no hidden inputs: the written justification is graded by hand."""
    from ..pitfalls import _KEY, BUGS
    out = choice_dict(call(fn, name="diagnose_runs"), _KEY, tuple(BUGS), "diagnose_runs", kind="bug",
                      distinct="runs", distinct_hint="compare the runs with each other as well as with the reference.")
    right = sum(out[k] == v for k, v in _KEY.items())
    if right < len(_KEY):
        decoys = [v for v in out.values() if v in _SYMPTOMS]
        hint = ("For each run ask three things: does the KL say the code carries information about x; "
                "do its training −ELBO and the course's test −ELBO tell the same story as the reference's; "
                "and what does its loss receive — the images in the row \"what the loss scores\".")
        if decoys:
            hint = (f"no run shows the symptom of {decoys[0]!r} — that would be {_SYMPTOMS[decoys[0]]}. " + hint)
        fail(f"{right} of 3 runs matched.", hint)
    passed("diagnose_runs: all three runs matched to their bugs. Sections 2–4 measure each bug in turn.")


@exercise("vae_utils.checks._lesson6c._unit_kl")
def unit_kl(fn) -> None:
    """Check ``fn(data_var, obs_sigma) -> kl``: the KL of each latent unit at the ELBO's optimum
    of a linear VAE with decoder N(W z + b, obs_sigma² I), for data whose covariance has
    eigenvalues ``data_var`` (D,): ½ log(s²/σ²) where s² > σ², and 0 (a collapsed unit)
    elsewhere (Lucas et al. 2019; Tipping & Bishop 1999)."""
    g = gen(71)
    obs_sigma = 0.4 + 1.2 * float(torch.rand((), generator=g, dtype=torch.float64))
    ratio = torch.exp(torch.linspace(-2.0, 2.0, 9, dtype=torch.float64)
                      + 0.1 * torch.rand(9, generator=g, dtype=torch.float64))
    data_var = obs_sigma ** 2 * ratio[torch.randperm(9, generator=g)]  # both sides of σ²
    out = call(fn, data_var.clone(), obs_sigma, name="unit_kl")
    got = as_tensor(out, "unit_kl's result")
    expect_shape(got, (9,), "unit_kl's result",
                 "one KL per unit: a tensor of the shape of data_var, not a count or a total.")
    s2, v = data_var, obs_sigma ** 2
    ref = (0.5 * torch.log(s2 / v)).clamp(min=0.0)

    def same(t):
        return bool(torch.allclose(got, t, rtol=1e-6, atol=1e-9))

    if same(0.5 * torch.log(s2 / v)):
        fail("some units get a negative KL: a KL divergence is never negative.",
             "a unit whose data variance s² is below σ² collapses (q = prior, KL 0): clamp at 0.")
    if same((0.5 * torch.log(s2 / obs_sigma)).clamp(min=0.0)):
        fail("you compared s² with σ, not with the decoder's variance σ².",
             "obs_sigma is a standard deviation: the decoder's variance is obs_sigma ** 2.")
    if same(torch.log(s2 / v).clamp(min=0.0)):
        fail("your KL is twice the optimum's: the factor ½ is missing.",
             "KL = ½ log(s²/σ²): the log of a ratio of variances, halved (a ratio of standard deviations needs no ½).")
    if same(0.5 * torch.log1p(s2 / v)):
        fail("½ log(1 + s²/σ²) is the information of a code that copies x (a channel's capacity), "
             "not the optimum's KL; it is never 0, so no unit collapses.",
             "at the optimum q(z|x) is the exact posterior with w² = max(0, s² − σ²): then KL = ½ log(s²/σ²) or 0.")
    if same(torch.log(s2 / obs_sigma).clamp(min=0.0)):
        fail("log(data_var / σ) mixes a variance (data_var holds s², not s) with a standard deviation.",
             "compare variances and halve: KL = ½ log(data_var / obs_sigma ** 2).")
    if bool((got[s2 < v].abs() > 1e-9).any()):
        fail("units whose data variance s² is below σ² should collapse (KL 0).",
             "where s² ≤ σ² the optimum has w = 0: the decoder ignores the unit and q(z|x) = p(z).")
    expect_close(got, ref, "the KL per unit", rtol=1e-6, atol=1e-9,
                 hint="with w² = s² − σ², the posterior has variance v = σ²/s² and mean a·x with a²s² = 1 − v; "
                      "KL = ½ (a²s² + v − log v − 1).")
    n_active = int((ref > 0).sum())
    passed(f"unit_kl: ½ log(s²/σ²) where s² > σ², 0 elsewhere — {n_active} of 9 units active at σ = {obs_sigma:.2f}.")


@fallback_for("unit_kl", prediction=True)
def _unit_kl(data_var, obs_sigma: float) -> torch.Tensor:
    """The course's version of exercise ``unit_kl``: a prediction, so ``try_yours`` never shows it."""
    data_var = torch.as_tensor(data_var)
    return (0.5 * torch.log(data_var / obs_sigma ** 2)).clamp(min=0.0)


@exercise("vae_utils.checks._lesson6c._best_sigma")
def best_sigma(fn) -> None:
    """Check ``fn(x, mu) -> sigma``: for each row n, the σ > 0 that maximises
    Σ_j log N(x_nj | mu_nj, σ²), i.e. σ*² = ‖x_n − mu_n‖² / D (the mean squared residual)."""
    g = gen(72)
    n, d = 7, 60
    x = torch.rand(n, d, generator=g, dtype=torch.float64)
    scale = torch.exp(torch.linspace(-3.0, 0.0, n, dtype=torch.float64))[torch.randperm(n, generator=g)]
    # residuals with a nonzero mean, so that a standard deviation of the residuals differs from σ*
    mu = x - scale[:, None] * (0.3 + torch.randn(n, d, generator=g, dtype=torch.float64))
    out = call(fn, x.clone(), mu.clone(), name="best_sigma")
    got = as_tensor(out, "best_sigma's result")
    r = x - mu
    ref = r.pow(2).mean(dim=1).sqrt()
    if got.numel() == 1:
        fail("best_sigma returned one number for the whole batch; each image has its own σ*.",
             "average the squared residuals over the pixels only (dim=1), not over the batch.")
    expect_shape(got, (n,), "best_sigma's result", "one σ per row of x: shape (N,).")

    def same(t):
        return bool(torch.allclose(got, t, rtol=1e-6, atol=0.0))

    if same(ref ** 2):
        fail("you returned σ*², the variance; best_sigma returns the standard deviation σ*.",
             "take the square root of the mean squared residual.")
    if same(r.pow(2).sum(dim=1).sqrt()) or same(r.pow(2).sum(dim=1)):
        fail("the 1/D is missing: σ*² is the *mean* squared residual per pixel, not the sum.",
             "setting d/dσ [−‖x − μ‖²/(2σ²) − D log σ] = ‖x − μ‖²/σ³ − D/σ to 0 gives σ² = ‖x − μ‖²/D.")
    if same(r.std(dim=1)) or same(r.std(dim=1, unbiased=False)):
        fail("that is the standard deviation of the residuals around their own mean; the Gaussian is "
             "centred on μ, so σ* measures the residual x − μ itself.",
             "σ* = sqrt(mean((x − mu)²)) over the pixels — no mean subtracted, no Bessel correction.")
    if same(r.abs().mean(dim=1)):
        fail("that is the mean absolute residual (the optimum of a Laplace likelihood, not a Gaussian one).",
             "square the residuals, average over pixels, then take the square root.")
    if same(r.pow(2).sum(dim=1).div(d - 1).sqrt()):
        fail("you divided by D − 1; the maximum-likelihood σ* divides by D.",
             "σ*² = ‖x − μ‖² / D: no Bessel correction (μ is given, not estimated).")
    expect_close(got, ref, "σ*", rtol=1e-6, atol=0.0,
                 hint="σ*² = ‖x − μ‖² / D, per row: ((x - mu) ** 2).mean(dim=1).sqrt().")
    passed(f"best_sigma: σ*² = ‖x − μ‖²/D, per image (here σ* from {ref.min():.3f} to {ref.max():.3f}).")


@fallback_for("best_sigma", prediction=True)
def _best_sigma(x, mu) -> torch.Tensor:
    """The course's version of exercise ``best_sigma``: a prediction, so ``try_yours`` never shows it."""
    return (torch.as_tensor(x) - torch.as_tensor(mu)).pow(2).mean(dim=1).sqrt()

