"""Closed forms and figures behind lessons 3 and 4: the cost of naive Monte Carlo and of
importance sampling on the linear-Gaussian model, and the pictures that show it.

The estimators themselves stay in the notebooks (and in ``estimators``); this module holds the
closed forms the lessons compare them with, the parameter sweeps, and the figure assembly, so
each cell a learner reads stays short. Every number is float64 and every log-probability in
nats.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import torch
from torch import Tensor
from torch.distributions import MultivariateNormal

from .lvm import LinearGaussianLVM
from .plotting import OKABE_ITO

__all__ = ["random_linear_gaussian", "naive_cv2", "median_n10", "loglinear_fit",
           "proposal_cv2", "shifted_proposal", "running_mean_var", "samples_text",
           "plot_likelihood_in_sigma", "plot_error_and_bias", "plot_wasted_samples",
           "plot_n10_sweeps", "plot_running", "plot_proposal_ellipses", "plot_proposal_costs"]



# ----------------------------------------------------------------------------- models --

def random_linear_gaussian(d: int, k: int, sigma: float, seed: int, n_points: int | None = None):
    """A linear-Gaussian model with standard-normal W (d, k) and b (d,) drawn from
    ``torch.Generator().manual_seed(seed)`` (lessons 3 and 4's sweeps).

    Returns:
        The ``LinearGaussianLVM``, or ``(model, x)`` with ``n_points`` data points x of shape
        (n_points, d) drawn from the same generator after W and b.
    Raises:
        ValueError: from ``LinearGaussianLVM`` (sigma ≤ 0).
    """
    g = torch.Generator().manual_seed(seed)
    model = LinearGaussianLVM(torch.randn(d, k, generator=g, dtype=torch.float64),
                              torch.randn(d, generator=g, dtype=torch.float64), sigma)
    if n_points is None:
        return model
    x, _ = model.sample(n_points, generator=g)
    return model, x


# ------------------------------------------------------------------- closed forms --

def naive_cv2(model: LinearGaussianLVM, x: Tensor) -> Tensor:
    """Exact CV² = Var[p(x|z)] / p(x)², z ~ p(z): the relative variance of one term of naive
    Monte Carlo (lesson 3, section 5).

    Uses N(x; m, σ²I)² = (4πσ²)^(−d/2) N(x; m, σ²/2 I), so E_p(z)[p(x|z)²] is the marginal of
    the same model with noise σ/√2, times (4πσ²)^(−d/2); CV² = E[p(x|z)²]/p(x)² − 1.

    Args:
        model: a ``LinearGaussianLVM``; x: data, shape (B, d).
    Returns:
        Tensor (B,), float64, ≥ 0. The relative standard error of p̂(x) with N samples is
        √(CV²/N), so N = CV²/0.1² samples give 10 %.
    Source: Owen 2013, "Monte Carlo theory, methods and examples", ch. 2 (simple Monte Carlo).
    """
    twin = LinearGaussianLVM(model.W, model.b, model.sigma / math.sqrt(2))
    log_second_moment = -0.5 * model.d * math.log(4 * math.pi * model.sigma ** 2) + twin.log_marginal(x)
    return torch.expm1(log_second_moment - 2 * model.log_marginal(x))


def median_n10(k: int, sigma: float, d: int = 10, n_models: int = 3, n_points: int = 200) -> float:
    """Median over data points of the exact N_10% = CV²/0.1² of naive Monte Carlo (lesson 3, §7).

    ``n_models`` models ``random_linear_gaussian(d, k, sigma, seed=100 k + i)``, ``n_points``
    data points from each. The seeds do not depend on sigma, so a sweep over sigma redraws the
    same W, b, z and noise ε with only σ changed.

    Returns:
        float, a number of samples.
    """
    n10 = [naive_cv2(*random_linear_gaussian(d, k, sigma, 100 * k + i, n_points)) / 0.1 ** 2
           for i in range(n_models)]
    return torch.cat(n10).median().item()


def loglinear_fit(x, y, *, log_x: bool = False) -> tuple[float, float]:
    """Least-squares line through (x, log10 y), or (log10 x, log10 y) with ``log_x``.

    Returns:
        (slope, intercept) as floats: y ≈ 10^intercept · 10^(slope·x) (or · x^slope).
    Raises:
        ValueError: fewer than two points, or a y ≤ 0 (no logarithm).
    """
    x = torch.as_tensor(x, dtype=torch.float64)
    y = torch.as_tensor(y, dtype=torch.float64)
    if len(x) < 2 or len(x) != len(y):
        raise ValueError(f"need at least two (x, y) pairs of equal length, got {len(x)} and {len(y)}.")
    if torch.any(y <= 0) or (log_x and torch.any(x <= 0)):
        raise ValueError("values must be positive to take their logarithm.")
    X = torch.stack([x.log10() if log_x else x, torch.ones_like(x)], dim=1)
    slope, intercept = torch.linalg.lstsq(X, y.log10()[:, None]).solution[:, 0].tolist()
    return slope, intercept


def proposal_cv2(shift: float, c: float, k: int = 1) -> float:
    """Exact CV² of importance weights w = p(z|x)/q(z) for a Gaussian posterior N(m, Σ) and the
    proposal q = N(m + shift·L e₁, c² Σ), L Lᵀ = Σ (lesson 4, section 3).

    In whitened coordinates u = L⁻¹(z − m) the posterior is N(0, I_k) and q is N(shift·e₁, c² I_k);
    completing the square in each coordinate gives

        1 + CV² = ∫ p(z|x)²/q(z) dz = (c²/√(2c² − 1))^k · exp(shift²/(2c² − 1))   if c² > ½,

    and +∞ otherwise (the integrand's tails do not decay).

    Args:
        shift: offset of q's centre, in posterior standard deviations (any real).
        c: q's spread relative to the posterior's, > 0; k: latent dimension, ≥ 1.
    Returns:
        float CV² ≥ 0, or ``math.inf``. N(1 + CV²)⁻¹ is the large-N effective sample size.
    Raises:
        ValueError: c ≤ 0 or k < 1.
    Source: Owen 2013, "Monte Carlo theory, methods and examples", §9.1 (variance of IS).
    """
    if not c > 0 or int(k) != k or k < 1:
        raise ValueError(f"need c > 0 and an integer k ≥ 1, got c = {c}, k = {k}.")
    if c ** 2 <= 0.5:
        return math.inf
    a = 2 * c ** 2 - 1
    return math.expm1(k * math.log(c ** 2 / math.sqrt(a)) + shift ** 2 / a)


def shifted_proposal(post: MultivariateNormal, shift: float = 0.0, c: float = 1.0) -> MultivariateNormal:
    """The proposal N(m + shift·L e₁, c² Σ) for a posterior N(m, Σ) = ``post`` with any batch
    shape (lesson 4): its centre moved by ``shift`` posterior standard deviations along the
    first axis of the Cholesky factor L, its spread scaled by c > 0."""
    L = post.scale_tril
    return MultivariateNormal(post.mean + shift * L[..., :, 0], scale_tril=c * L)


def running_mean_var(w: Tensor) -> tuple[Tensor, Tensor]:
    """Running mean and (population) variance of the weights w (n,) after 1, 2, …, n samples.

    Returns:
        (mean_n, var_n), each (n,): mean_n[i] = mean(w[:i+1]), var_n[i] = mean(w[:i+1]²) − mean_n[i]².
    """
    counts = torch.arange(1, len(w) + 1, dtype=w.dtype)
    mean_n = w.cumsum(0) / counts
    return mean_n, (w ** 2).cumsum(0) / counts - mean_n ** 2


def samples_text(cv2: float, rel_error: float = 0.01) -> str:
    """N = CV²/rel_error² as text: "1 (exact)" for CV² = 0, "∞" for infinite CV²."""
    if cv2 == 0:
        return "1 (exact)"
    return "∞" if not math.isfinite(cv2) else f"{cv2 / rel_error ** 2:,.0f}"


# ------------------------------------------------------------------------ figures --

def plot_likelihood_in_sigma(sigma_grid, exact_ll, mc_ll, sigma_true: float, *, ax=None):
    """Lesson 3, §4: log p(X; σ) against σ, exact (line) and naive MC (dots). Returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(sigma_grid, exact_ll, color=OKABE_ITO["BLACK"], label="exact")
    ax.plot(sigma_grid, mc_ll, "o", color=OKABE_ITO["ORANGE"], label="naive MC, N = 500 per point")
    ax.axvline(sigma_true, color=OKABE_ITO["BLUE"], linestyle="--", label="σ that generated X")
    ax.set_xlabel("σ, the model's noise standard deviation")
    ax.set_ylabel("log p(X; σ)  (nats)")
    ax.set_title("p(X) is a function of the parameters:\nlargest near the σ that generated the data", fontsize=11)
    ax.legend(fontsize=9)
    return ax


def plot_error_and_bias(n_grid, rmse, bias, bias_se, cv2: float):
    """Lesson 3, §5: relative RMS error of p̂(x) and mean error of log p̂(x) against N, with the
    predictions CV/√N and −CV²/(2N). Returns the two axes."""
    ns = torch.as_tensor(n_grid, dtype=torch.float64)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax = axes[0]
    ax.loglog(n_grid, rmse, "o", color=OKABE_ITO["ORANGE"], label="measured, 300 repeats")
    ax.loglog(n_grid, (cv2 / ns).sqrt(), color=OKABE_ITO["BLACK"], label="CV/√N (slope −½)")
    ax.axhline(0.1, color=OKABE_ITO["BLUE"], linestyle=":", label="10 % error")
    ax.set_xlabel("number of samples N")
    ax.set_ylabel("relative RMS error of p̂(x)")
    ax.set_title("The error of p̂(x) falls like 1/√N", fontsize=11)
    ax.legend()
    ax = axes[1]
    ax.errorbar(n_grid, bias, yerr=[2 * s for s in bias_se], fmt="o", color=OKABE_ITO["ORANGE"],
                capsize=3, label="measured mean ± 2 s.e.")
    ax.plot(n_grid, -cv2 / (2 * ns), color=OKABE_ITO["BLACK"], label="−CV²/(2N), delta method")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("number of samples N")
    ax.set_ylabel("mean of log p̂(x) − log p(x)  (nats)")
    ax.set_title("…but log p̂(x) is biased low", fontsize=11)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return axes


def plot_wasted_samples(model: LinearGaussianLVM, x: Tensor, z: Tensor, share: Tensor, lim: float = 3.5):
    """Lesson 3, §6: left, p(x|z) over the latent plane (k = 2) with prior samples z (first 500
    drawn) and the posterior mean; right, the share of p̂(x) carried by the largest terms.

    Args:
        model: a ``LinearGaussianLVM`` with k = 2; x: one data point (1, d); z: prior samples
            (N, 2); share: cumulative share of the sorted terms (N,), as fractions.
    Returns:
        The two axes.
    Raises:
        ValueError: a model with k ≠ 2 (the plane cannot be drawn).
    """
    if model.k != 2:
        raise ValueError(f"the latent plane needs k = 2, got k = {model.k}.")
    grid = torch.linspace(-lim, lim, 281, dtype=torch.float64)
    zz = torch.stack(torch.meshgrid(grid, grid, indexing="xy"), dim=-1)
    lik = model.likelihood(zz).log_prob(x).exp()
    lik = lik / lik.max()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    ax = axes[0]
    im = ax.imshow(lik, extent=(-lim, lim, -lim, lim), origin="lower", cmap="Greys", vmin=0, vmax=1)
    ax.contour(grid, grid, lik, levels=[0.01], colors=[OKABE_ITO["VERMILLION"]], linewidths=1.2)
    ax.plot([], [], color=OKABE_ITO["VERMILLION"], label="p(x|z) = 1 % of its peak")
    ax.scatter(z[:500, 0], z[:500, 1], s=4, color=OKABE_ITO["BLUE"], label="500 samples z ~ p(z)")
    ax.plot(*model.posterior(x).mean[0], "x", color=OKABE_ITO["ORANGE"], markersize=10,
            markeredgewidth=2.5, label="posterior mean")
    ax.set_xlabel("z₁ (prior standard deviations)")
    ax.set_ylabel("z₂ (prior standard deviations)")
    ax.set_title("p(x|z) is large only in a small patch", fontsize=11)
    fig.colorbar(im, ax=ax, label="p(x|z) / its peak")
    ax.legend(loc="lower left", fontsize=9)
    ax = axes[1]
    n = len(share)
    ax.semilogx(100 * torch.arange(1, n + 1) / n, 100 * share, color=OKABE_ITO["VERMILLION"])
    ax.axvline(10, color="grey", linestyle=":")
    ax.set_xlabel(f"largest terms kept (% of the {n:,} samples)")
    ax.set_ylabel("share of p̂(x) (%)")
    ax.set_title(f"The largest 10 % of the terms carry {share[n // 10 - 1].item():.0%} of the estimate", fontsize=11)
    fig.tight_layout()
    return axes


def plot_n10_sweeps(ks, n10_k, fit_k: tuple[float, float], sigmas, n10_s: dict, slopes: dict,
                    *, d: int = 10, sigma: float = 0.5):
    """Lesson 3, §7: N_10% against the latent dimension k (log scale, with the fitted line
    ``fit_k`` = (slope, intercept) of log10 N on k, measured at noise ``sigma`` and observed
    dimension ``d``), and against σ for several k (log–log, σ increasing to the right, so each
    fitted slope reads as drawn). Returns the two axes."""
    slope, intercept = fit_k
    per_dim = 10 ** slope
    colours = (OKABE_ITO["SKY"], OKABE_ITO["BLUE"], OKABE_ITO["PURPLE"], OKABE_ITO["GREEN"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.9))
    ax = axes[0]
    ax.semilogy(ks, n10_k, "o", color=OKABE_ITO["VERMILLION"], label="median over 600 data points")
    ax.semilogy(ks, [10 ** (intercept + slope * k) for k in ks], color=OKABE_ITO["BLACK"],
                label=f"fit: {10 ** intercept:.0f} × {per_dim:.1f}$^k$")
    ax.set_xlabel("latent dimension k")
    ax.set_ylabel("samples for 10 % error, N$_{10\\%}$")
    ax.set_title(f"This model (d = {d}, σ = {sigma}): naive MC needs\n"
                 f"≈ ×{per_dim:.1f} more samples per latent dimension", fontsize=11)
    ax.legend()
    ax = axes[1]
    for (k, values), colour in zip(n10_s.items(), colours):
        ax.loglog(sigmas, values, "o-", color=colour, label=f"k = {k}: slope {slopes[k]:.2f}")
    ax.set_xlabel("noise standard deviation σ")
    ax.set_ylabel("samples for 10 % error, N$_{10\\%}$")
    ax.set_title("…and about σ$^{-k}$ more as the noise σ shrinks (leftwards)", fontsize=11)
    ax.legend()
    fig.tight_layout()
    return axes


def plot_running(running: dict, cv2: dict, colors: dict):
    """Lesson 4, §3: running estimate p̂/p and running variance of w/p against the number of
    samples, one line per proposal; the exact CV² dotted where finite.

    Args:
        running: name → (mean_n, var_n) from ``running_mean_var``; cv2: name → exact CV²;
            colors: name → colour.
    Returns:
        The two axes.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for name, (mean_n, var_n) in running.items():
        n_axis = torch.arange(1, len(mean_n) + 1).numpy()
        axes[0].semilogx(n_axis, mean_n.numpy(), color=colors[name], label=name, linewidth=1.3)
        if cv2[name] == 0:
            continue                                    # variance 0: nothing to draw on a log scale
        axes[1].loglog(n_axis[9:], var_n.numpy()[9:], color=colors[name], linewidth=1.3)
        if math.isfinite(cv2[name]):
            axes[1].axhline(cv2[name], color=colors[name], linestyle=":", linewidth=1)
    axes[0].set_ylim(0, 2)
    axes[1].set_ylim(0.01, 100)
    for ax in axes:
        ax.set_xlabel("number of samples n")
    axes[0].set_ylabel("running estimate p̂(x) / p(x)")
    axes[0].set_title("The posterior is exact from the first sample", fontsize=11)
    axes[0].legend(fontsize=9)
    axes[1].set_ylabel("running variance of w / p(x)")
    axes[1].set_title("Running variance against CV² (dotted): slow for c = 0.8, unbounded for c = 0.6",
                      fontsize=11)
    fig.tight_layout()
    return axes


def plot_proposal_ellipses(proposals: dict, colors: dict, centre: Tensor, zoom: float = 0.8):
    """Lesson 4, §3: each 2-D proposal (batch (1,)) as its two-standard-deviation ellipse, on
    the prior's scale and zoomed around ``centre`` (the posterior mean, (2,)). A proposal named
    "prior …" is drawn dashed. Returns the two axes."""
    t = torch.linspace(0, 2 * math.pi, 200, dtype=torch.float64)
    circle = 2 * torch.stack([t.cos(), t.sin()])                  # radius 2, (2, 200)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax in axes:
        for name, q in proposals.items():
            L = q.scale_tril[0] if isinstance(q, MultivariateNormal) else torch.diag(q.stddev[0])
            pts = q.mean[0][:, None] + L @ circle
            prior = name.startswith("prior")
            ax.plot(pts[0], pts[1], color=colors[name], label=name, linestyle="--" if prior else "-",
                    linewidth=2.2 if name == "posterior" else 1.4)
        ax.set_xlabel("z₁ (prior standard deviations)")
        ax.set_ylabel("z₂ (prior standard deviations)")
        ax.set_aspect("equal")
    axes[0].set_xlim(-3.2, 3.2)
    axes[0].set_ylim(-3.2, 3.2)
    axes[0].set_title("The prior is far wider than the posterior", fontsize=11)
    axes[1].set_xlim(centre[0] - zoom, centre[0] + zoom)
    axes[1].set_ylim(centre[1] - zoom, centre[1] + zoom)
    axes[1].set_title("Zoom: proposals around the posterior p(z|x)", fontsize=11)
    axes[1].legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return axes


def plot_proposal_costs(table: dict, cv2: dict, colors: dict, n: int):
    """Lesson 4, §5: per proposal, the exact samples for 1 % error (log bars; ∞ hatched) and
    the median measured ESS of N = n samples beside N/(1 + CV²).

    Args:
        table: name → (samples for 1 %, measured spread, median ESS); cv2: name → exact CV²;
            colors: name → colour; n: samples per run.
    Returns:
        The two axes.
    """
    names = list(table)
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
    ax = axes[0]
    for i, nm in enumerate(names):
        n1 = table[nm][0]
        if cv2[nm] == 0:
            ax.text(1.3, i, "1 sample is exact", va="center", fontsize=9)
        elif not math.isfinite(n1):                              # infinite: a hatched bar to the edge
            ax.barh(i, 1e8, color="white", edgecolor=colors[nm], hatch="//")
            ax.text(1.3, i, "∞: infinite variance", va="center", fontsize=9, backgroundcolor="white")
        else:
            ax.barh(i, n1, color=colors[nm])
            ax.text(n1 * 1.3, i, f"{n1:,.0f}", va="center", fontsize=9)
    ax.set_yticks(range(len(names)), names)
    ax.set_xscale("log")
    ax.set_xlim(1, 1e8)
    ax.set_ylim(len(names) - 0.5, -0.5)                          # first row on top
    ax.set_xlabel("samples for 1 % relative error (exact)")
    finite = [table[nm][0] for nm in names if 0 < cv2[nm] < math.inf and not nm.startswith("prior")]
    prior = [table[nm][0] for nm in names if nm.startswith("prior")]
    if finite and prior:
        ratios = [prior[0] / v for v in finite]
        ax.set_title(f"The prior needs {min(ratios):.0f}–{max(ratios):.0f}× more samples than "
                     f"proposals near p(z|x)", fontsize=11)
    ax = axes[1]
    ax.barh(range(len(names)), [table[nm][2] for nm in names], color=[colors[nm] for nm in names])
    ax.plot([n / (1 + cv2[nm]) for nm in names], range(len(names)), "k|", markersize=14, label="N / (1 + CV²)")
    ax.set_yticks(range(len(names)), [""] * len(names))
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel(f"median effective sample size of N = {n:,}")
    ax.set_title("ESS tracks N/(1 + CV²) — and looks fine for c = 0.6", fontsize=11)
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    return axes


def candidate_proposals(model: LinearGaussianLVM, post: MultivariateNormal) -> dict:
    """Three proposals for lesson 4's exercise ``chosen_proposal``, with the batch shape of
    ``post`` (the exact posterior N(m, Σ)): "A" the prior; "B" N(m, 0.68² Σ), narrower than
    the posterior by more than 1/√2 (infinite weight variance); "C" N(m + 0.3·L e₁, 2.2² Σ),
    shifted and wider than the posterior (CV² = 1.73 for k = 2)."""
    return {"A": model.prior.expand(post.batch_shape),
            "B": shifted_proposal(post, 0.0, 0.68),
            "C": shifted_proposal(post, 0.3, 2.2)}
