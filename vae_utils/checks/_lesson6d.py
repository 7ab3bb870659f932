"""Checks for lesson 6d's exercises: σ of a Gaussian decoder chosen by held-out importance
sampling (judge), counting a network's parameters (predict, then measure), and one N(0, 1)
pushed onto a mixture of separated modes."""
from __future__ import annotations

import math

import torch
from torch import nn

from ._common import as_tensor, call, exercise, expect_shape, fail, fallback_for, gen, passed

__all__ = ["sigma_choice", "count_parameters", "mixture_map"]


# --- sigma_choice -------------------------------------------------------------------------
# Lesson 6d, §1: the mean over 200 held-out (test) and 200 training digits, 20 of each class in
# each set, of the stochastic lower bound L_100 of log p(x) (importance sampling, the encoder as
# proposal, K = 100, the same draws of z for every σ) of the Gaussian-decoder VAE trained there
# with σ = 0.1 (50 epochs, seed 0), with its decoder mean kept and σ set to each value of the
# grid; nats per image, as the committed notebook measures them. The notebook asserts, after the
# exercise, that its own measurement has the same best σ on the held-out digits.
SIGMA_GRID = (0.05, 0.07, 0.1, 0.14, 0.2)
SIGMA_HELDOUT = {0.05: -204.7, 0.07: 396.0, 0.1: 576.2, 0.14: 529.5, 0.2: 366.3}
SIGMA_TRAINING = {0.05: 549.9, 0.07: 780.6, 0.1: 764.3, 0.14: 625.6, 0.2: 413.6}


def sigma_argmax(bounds: dict) -> float:
    """The σ of ``{σ: mean bound}`` with the highest bound."""
    return max(bounds, key=bounds.get)


@exercise()
def sigma_choice(fn) -> None:
    """Check ``fn() -> float``: the pixel noise σ of lesson 6d's Gaussian decoder, one of
    0.05, 0.07, 0.1, 0.14, 0.2, chosen by the held-out bound on log p(x) the lesson measures:
    the σ of the grid with the highest mean bound on the held-out digits. The answer is a
    choice, the same for every ``seed``.

    Raises:
        CheckFailure: not a number of the grid; the σ the training digits prefer, where it
            differs; or any other σ, with how far its held-out bound is below the best.
    """
    out = call(fn, name="sigma_choice")
    try:
        sigma = float(out)
    except (TypeError, ValueError):
        fail(f"sigma_choice() should return one number, σ, got {out!r}.", "return e.g. 0.3.")
    match = [s for s in SIGMA_GRID if math.isclose(s, sigma, rel_tol=1e-6)]
    if not match:
        fail(f"σ = {sigma:g} is not on the lesson's grid.", f"choose σ from {', '.join(map(str, SIGMA_GRID))}.")
    sigma = match[0]
    best = sigma_argmax(SIGMA_HELDOUT)
    if sigma == best:
        passed(f"sigma_choice: σ = {best:g} has the highest bound on the held-out digits of the grid's five σ.")
        return
    gap = SIGMA_HELDOUT[best] - SIGMA_HELDOUT[sigma]
    if sigma == sigma_argmax(SIGMA_TRAINING):
        fail(f"σ = {sigma:g} has the highest bound on the training digits; on the held-out digits another "
             f"σ is higher, by {gap:.0f} nats per image.",
             "choose by the digits the model has not fitted: read the held-out column.")
    fail(f"on the held-out digits the bound at σ = {sigma:g} is {gap:.0f} nats per image below the best of "
         f"the grid.", "read the held-out column of the table for its largest entry.")


# --- count_parameters ---------------------------------------------------------------------
def _layer_modules(layers) -> list[nn.Module]:
    """torch modules for a layer list (the check's reference counts their tensors)."""
    mods = []
    for spec in layers:
        if spec[0] == "linear":
            mods.append(nn.Linear(spec[1], spec[2]))
        else:
            mods.append(nn.Conv2d(spec[1], spec[2], spec[3]))
    return mods


def _count_with(layers, linear, conv) -> int:
    return sum(linear(*s[1:]) if s[0] == "linear" else conv(*s[1:]) for s in layers)


# The usual wrong derivations: (test, message, hint), each a different count of one layer.
_COUNT_MISTAKES = (
    (lambda n_in, n_out: n_in * n_out, lambda c_in, c_out, k: c_in * c_out * k * k,
     "the biases are missing.",
     "every output unit of a Linear layer, and every output channel of a convolution, has one bias."),
    (lambda n_in, n_out: n_in * n_out + n_in, lambda c_in, c_out, k: c_in * c_out * k * k + c_in,
     "one bias per *input* was counted; there is one per output.",
     "y = W x + b: b has as many entries as y (n_out for Linear, c_out channels for a convolution)."),
    (lambda n_in, n_out: n_in * n_out + n_out, lambda c_in, c_out, k: c_in * c_out * k + c_out,
     "a convolution's kernel was counted as k weights; a k × k kernel has k² of them.",
     "a convolution has c_in · c_out · k² weights: one k × k kernel per (input, output) channel pair."),
    (lambda n_in, n_out: n_in * n_out + n_out, lambda c_in, c_out, k: c_out * k * k + c_out,
     "each output channel's kernel was counted over one input channel; it spans all c_in of them.",
     "a convolution has c_in · c_out · k² weights: one k × k kernel per (input, output) channel pair."),
    (lambda n_in, n_out: n_in * n_out + n_out, lambda c_in, c_out, k: c_in * c_out * k * k + c_in * c_out,
     "a convolution got one bias per (input, output) channel pair; it has one per output channel.",
     "the bias of a convolution is a vector of length c_out."),
)


@exercise("vae_utils.checks._lesson6d._count_parameters")
def count_parameters(fn) -> None:
    """Check ``fn(layers) -> int``: the number of weights and biases of a stack of layers,
    each ``("linear", n_in, n_out)`` (``nn.Linear``) or ``("conv", c_in, c_out, k)`` (a k × k
    ``nn.Conv2d`` or ``nn.ConvTranspose2d``, with bias). The reference counts the tensors of
    the torch modules themselves, ``sum(p.numel() for p in module.parameters())``."""
    g = gen(6401)

    def ri(lo, hi):
        return int(torch.randint(lo, hi + 1, (1,), generator=g))

    linear = [("linear", ri(50, 900), ri(10, 500)) for _ in range(3)]
    conv = [("conv", ri(1, 3), ri(4, 32), ri(3, 5)), ("conv", ri(8, 32), ri(8, 64), ri(2, 4))]
    mixed = [conv[0], ("linear", ri(100, 2000), ri(20, 200)), ("linear", ri(10, 40), ri(50, 300)), conv[1]]
    for kind, layers in (("fully connected", linear), ("convolutional", conv), ("mixed", mixed)):
        expected = sum(p.numel() for m in _layer_modules(layers) for p in m.parameters())
        out = call(fn, [tuple(s) for s in layers], name="count_parameters")
        try:
            got = float(out)
        except (TypeError, ValueError, RuntimeError):
            fail(f"count_parameters should return one number, got {type(out).__name__}.",
                 "add up the weights and biases of every layer and return the total.")
        if got == expected:
            continue
        for lin_f, conv_f, message, hint in _COUNT_MISTAKES:
            if got == _count_with(layers, lin_f, conv_f):
                fail(f"on the {kind} stack {layers}: {message}", hint)
        fail(f"on the {kind} stack {layers}: got {out}, expected {expected}.",
             "Linear(n_in, n_out): n_in · n_out weights + n_out biases; "
             "a k × k convolution: c_in · c_out · k² weights + c_out biases.")
    passed("count_parameters counts the weights and biases of fully connected and convolutional layers.")


@fallback_for("count_parameters", prediction=True)
def _count_parameters(layers) -> int:
    """The course's version of exercise ``count_parameters`` (for ``try_yours``)."""
    return sum(s[1] * s[2] + s[2] if s[0] == "linear" else s[1] * s[2] * s[3] ** 2 + s[2]
               for s in layers)


# --- mixture_map --------------------------------------------------------------------------
def _std_normal_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


@exercise("vae_utils.checks._lesson6d._mixture_map")
def mixture_map(fn) -> None:
    """Check ``fn(eps, means, sd, weights) -> x``: a deterministic map that turns eps ~ N(0, 1)
    (shape (n,)) into x distributed as the mixture Σ_k weights[k] · N(means[k], sd²).

    Any such map passes. The check draws 40,000 eps, assigns each x to its nearest mode (the
    modes are ≥ 12 sd apart) and compares the fraction of x per mode with ``weights`` and the
    standardized offsets (x − means[k]) / sd with N(0, 1) (mean, standard deviation and the
    Kolmogorov–Smirnov distance to Φ)."""
    g = gen(6402)
    K = int(torch.randint(3, 8, (1,), generator=g))
    sd = 0.3 + 0.5 * float(torch.rand(1, generator=g))
    means = (torch.arange(K, dtype=torch.float64) * (12 + 4 * torch.rand(1, generator=g, dtype=torch.float64))
             * sd - 20).double()
    weights = torch.rand(K, generator=g, dtype=torch.float64) + 0.3
    weights = weights / weights.sum()
    n = 40_000
    eps = torch.randn(n, generator=g, dtype=torch.float64).clamp(-5, 5)

    def run(seed):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # a map must not depend on the global random state
            return as_tensor(call(fn, eps.clone(), means.clone(), sd, weights.clone(), name="mixture_map"), "x")

    x = run(1)
    expect_shape(x, (n,), "x", "one x per eps: apply the map elementwise.")
    if not torch.all(torch.isfinite(x)):
        fail("x contains NaN or inf.",
             "the uniform value inside a mode's interval must stay strictly between 0 and 1 before Φ⁻¹.")
    if not torch.equal(x, run(2)):
        fail("mixture_map gives different x for the same eps: it draws random numbers of its own.",
             "all the randomness is in eps: derive x from eps alone, e.g. through u = Φ(eps).")
    k = (x[:, None] - means).abs().argmin(dim=1)
    frac = torch.bincount(k, minlength=K).double() / n
    se = (weights * (1 - weights) / n).sqrt()
    if torch.any((frac - weights).abs() > 5 * se + 1e-3):
        equal = torch.full_like(weights, 1 / K)
        if torch.all((frac - equal).abs() < 5 * (equal * (1 - equal) / n).sqrt() + 1e-3):
            fail(f"the modes get equal shares {frac.numpy().round(3)}, but the weights are "
                 f"{weights.numpy().round(3)}.",
                 "mode k takes the u = Φ(eps) in [c_{k−1}, c_k), with c the cumulative sum of the weights.")
        fail(f"the fraction of x near each mode is {frac.numpy().round(3)}; the weights are "
             f"{weights.numpy().round(3)}.",
             "make eps uniform first, u = Φ(eps); then mode k takes the u in [c_{k−1}, c_k), "
             "c the cumulative sum of the weights.")
    r = (x - means[k]) / sd
    if (r.std() - sd).abs() < 0.03:
        fail(f"x spreads around its mode with standard deviation sd² = {sd ** 2:.3g}, not sd = {sd:.3g}.",
             "x = means[k] + sd · Φ⁻¹(v): sd is a standard deviation, not a variance.")
    # Kolmogorov–Smirnov distance of each mode's offsets to N(0, 1), in units of its critical
    # value: 2.5 / √n_j is exceeded by chance with probability ≈ 1e-5 (Kolmogorov's limit law).
    worst = (0.0, 0, 0.0, 0.0, 1.0)  # (KS · √n_j / 2.5, mode, KS, mean, sd) of the worst mode
    for j in range(K):
        rj = r[k == j].sort().values
        emp = torch.arange(1, len(rj) + 1, dtype=torch.float64) / len(rj)
        ks = (emp - _std_normal_cdf(rj)).abs().max().item()
        if ks * math.sqrt(len(rj)) / 2.5 > worst[0]:
            worst = (ks * math.sqrt(len(rj)) / 2.5, j, ks, rj.mean().item(), rj.std().item())
    score, j, ks, m, s_ = worst
    if score > 1:
        fail(f"inside mode {j}, (x − mean) / sd has mean {m:.2f} and standard deviation {s_:.2f} "
             f"(Kolmogorov–Smirnov distance to N(0, 1): {ks:.3f}); in every mode it should be N(0, 1).",
             "rescale u to a fresh uniform inside its mode's interval, v = (u − c_{k−1}) / weights[k], "
             "then x = means[k] + sd · Φ⁻¹(v); reusing eps itself gives each mode a cut-off piece of N(0, 1).")
    passed(f"mixture_map pushes N(0, 1) onto {K} separated modes, each with its weight and an "
           f"N(mean, sd²) shape.")


@fallback_for("mixture_map")
def _mixture_map(eps: torch.Tensor, means: torch.Tensor, sd: float, weights: torch.Tensor) -> torch.Tensor:
    """The course's version of exercise ``mixture_map`` (for ``try_yours``): u = Φ(eps) picks
    mode k by the cumulative weights c; v = (u − c_{k−1}) / w_k is uniform on (0, 1) again, and
    x = means[k] + sd · Φ⁻¹(v)."""
    eps, means, weights = (torch.as_tensor(t, dtype=torch.float64) for t in (eps, means, weights))
    normal = torch.distributions.Normal(0.0, 1.0)
    u = normal.cdf(eps)
    c = torch.cumsum(weights, 0)
    k = torch.searchsorted(c, u, right=True).clamp(max=len(weights) - 1)
    v = ((u - (c[k] - weights[k])) / weights[k]).clamp(1e-12, 1 - 1e-12)
    return means[k] + sd * normal.icdf(v)
