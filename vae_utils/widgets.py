"""Interactive figures. Each widget's drawing is a plain function, tested on its own; the
widget only wires sliders to it (ipywidgets 8)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from .gaussian import gaussian_log_prob, sample_gaussian

__all__ = ["draw_gaussian", "gaussian_explorer"]


def draw_gaussian(mu1: float = 0.0, mu2: float = 0.0, sigma1: float = 1.0, sigma2: float = 1.0,
                  rho: float = 0.0, *, n: int = 300, seed: int = 0, ax=None):
    """Draw n samples of a 2-D Gaussian and its density contours (lesson 1).

    Σ = [[σ₁², ρσ₁σ₂], [ρσ₁σ₂, σ₂²]]; samples x = μ + L z with the Cholesky factor L.

    Args:
        mu1, mu2: the mean μ.
        sigma1, sigma2: standard deviations, > 0.
        rho: correlation, in (−1, 1).
        n: number of samples; seed: seeds z, so moving a slider moves the same points.
    Returns:
        (ax, samples): the matplotlib axes and the samples, tensor (n, 2).
    Raises:
        ValueError: sigma ≤ 0 or |rho| ≥ 1 (Σ would not be positive definite).
    """
    if sigma1 <= 0 or sigma2 <= 0:
        raise ValueError(f"sigma1 and sigma2 must be positive, got {sigma1} and {sigma2}.")
    if not -1 < rho < 1:
        raise ValueError(f"rho must lie strictly between -1 and 1, got {rho}.")
    mu = torch.tensor([mu1, mu2], dtype=torch.float64)
    c = rho * sigma1 * sigma2
    Sigma = torch.tensor([[sigma1 ** 2, c], [c, sigma2 ** 2]], dtype=torch.float64)
    x = sample_gaussian(mu, Sigma, n, generator=torch.Generator().manual_seed(seed))
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5))
    lim = 6.0
    g = np.linspace(-lim, lim, 121)
    G = torch.tensor(np.stack(np.meshgrid(g, g), axis=-1))
    dens = gaussian_log_prob(G, mu, Sigma).exp().numpy()
    ax.contour(g, g, dens, levels=6, cmap="viridis")
    ax.scatter(x[:, 0], x[:, 1], s=6, color="#D55E00", alpha=0.6, label="samples x = μ + L z")
    ax.plot([mu1], [mu2], marker="+", color="black", markersize=12, label="μ")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(f"μ = ({mu1:.1f}, {mu2:.1f}), σ = ({sigma1:.1f}, {sigma2:.1f}), ρ = {rho:.2f}", fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    return ax, x


def gaussian_explorer(n: int = 300, seed: int = 0):
    """Sliders for μ₁, μ₂, σ₁, σ₂, ρ that redraw samples and density contours (lesson 1).

    Returns an ipywidgets ``VBox`` (sliders above an ``Output``); display it in a notebook.
    """
    import ipywidgets as W
    from IPython.display import display

    sliders = {
        "mu1": W.FloatSlider(value=0.0, min=-3, max=3, step=0.1, description="μ₁"),
        "mu2": W.FloatSlider(value=0.0, min=-3, max=3, step=0.1, description="μ₂"),
        "sigma1": W.FloatSlider(value=1.0, min=0.2, max=3, step=0.1, description="σ₁"),
        "sigma2": W.FloatSlider(value=1.0, min=0.2, max=3, step=0.1, description="σ₂"),
        "rho": W.FloatSlider(value=0.0, min=-0.95, max=0.95, step=0.05, description="ρ"),
    }
    out = W.Output()

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(5, 5))
            draw_gaussian(**{k: s.value for k, s in sliders.items()}, n=n, seed=seed, ax=ax)
            display(fig)
            plt.close(fig)

    for s in sliders.values():
        s.observe(redraw, names="value")
    redraw()
    return W.VBox([W.HBox(list(sliders.values())[:3]), W.HBox(list(sliders.values())[3:]), out])
