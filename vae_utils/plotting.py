"""Figures used across the lessons: image grids, loss curves, latent scatter plots.

Colours for the ten digit classes come from the Okabe–Ito palette (Okabe & Ito 2008)
extended with two colours of Paul Tol's palette, so classes stay distinguishable for
colour-blind readers; scatter plots also print each class's label at its centre.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import validate
__all__ = ["DIGIT_COLORS", "show_images", "plot_history", "latent_scatter"]

DIGIT_COLORS = ["#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442",
                "#0072B2", "#D55E00", "#CC79A7", "#332288", "#882255"]
# The Okabe–Ito colour-blind-safe palette by name (the first eight of DIGIT_COLORS), as the
# lessons' figures use it.
OKABE_ITO = dict(zip(("BLACK", "ORANGE", "SKY", "GREEN", "YELLOW", "BLUE", "VERMILLION", "PURPLE"),
                     DIGIT_COLORS[:8]))


def _to_numpy_images(images) -> np.ndarray:
    x = torch.as_tensor(images).detach().cpu().float()
    if x.dim() == 4:
        x = x[:, 0]
    if x.dim() == 2 and x.shape[-1] == 784:
        x = x.reshape(-1, 28, 28)
    if x.dim() != 3:
        raise ValueError(f"images must have shape (N, 1, H, W), (N, H, W) or (N, 784), got {tuple(x.shape)}.")
    return x.numpy()


def show_images(images, nrow: int = 10, *, title: str | None = None, ax=None, vmax: float = 1.0):
    """Draw images as one grid, ``nrow`` images per row, black ink on white.

    Args:
        images: tensor or array (N, 1, H, W), (N, H, W) or (N, 784), values in [0, vmax].
        nrow: images per row, ≥ 1 (any integer type); title: axes title; ax: axes to draw on
            (new figure if None); vmax: the value drawn black, > 0.
    Returns:
        The matplotlib axes.
    Raises:
        ValueError: images of another shape, nrow < 1, vmax ≤ 0.
    """
    nrow = validate.count(nrow, "nrow")
    vmax = validate.number(vmax, "vmax", minimum=0)
    x = _to_numpy_images(images)
    n, h, w = x.shape
    ncol = nrow
    rows = int(np.ceil(n / ncol))
    grid = np.full((rows * (h + 2) + 2, ncol * (w + 2) + 2), 0.12 * vmax)  # light-grey frame
    for i in range(n):
        r, c = divmod(i, ncol)
        grid[2 + r * (h + 2): 2 + r * (h + 2) + h, 2 + c * (w + 2): 2 + c * (w + 2) + w] = x[i]
    if ax is None:
        _, ax = plt.subplots(figsize=(ncol * 0.6, rows * 0.6 + (0.3 if title else 0)))
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_history(history: dict, *, axes=None):
    """Plot the per-epoch −ELBO, reconstruction and KL (nats per image) of a ``train_vae``
    history, train and test when present, on three axes. Returns the axes."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(12, 3.2))
    epochs = history["epoch"]
    for ax, key, label in zip(axes, ("loss", "recon", "kl"),
                              ("−ELBO = recon + KL", "reconstruction −E_q[log p(x|z)]", "KL(q(z|x) ‖ p(z))")):
        ax.plot(epochs, history[f"train_{key}"], label="train", color="#0072B2")
        if f"test_{key}" in history:
            ax.plot(epochs, history[f"test_{key}"], label="test", color="#D55E00", linestyle="--")
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per image")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend()
    return axes


def latent_scatter(z, labels, *, ax=None, title: str | None = None, s: float = 6, seed: int = 0):
    """Scatter 2-D latent codes z (N, 2) coloured by digit label (int, 0–9), each class's label
    drawn at its median code (lesson 6a). Returns the axes.

    The points are drawn in one shuffled order (a permutation seeded by ``seed``), not class
    after class: drawn class by class, the last classes would cover the first wherever they
    overlap (the 5s used to hide the 0s), so no class could be seen under another.

    Raises:
        ValueError: z not of shape (N, 2), labels not of shape (N,), or labels that are not
            digit classes 0–9 (they would be left out of the picture).
    """
    from matplotlib.lines import Line2D

    z = torch.as_tensor(z).detach().cpu().numpy()
    labels = torch.as_tensor(labels).detach().cpu().numpy()
    if z.ndim != 2 or z.shape[1] != 2 or labels.ndim != 1 or len(z) != len(labels):
        raise ValueError(f"z must have shape (N, 2) and labels (N,), got {z.shape} and {labels.shape}.")
    bad = ~np.isin(labels, np.arange(10))
    if bad.any():
        raise ValueError(f"labels must be digit classes 0–9, but {int(bad.sum())} of {len(labels)} are "
                         f"not (e.g. {labels[bad][0].item()!r}); each class gets one of ten colours, so "
                         f"other labels would silently vanish from the plot. Map them to 0–9 first.")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    order = np.random.default_rng(seed).permutation(len(z))
    colours = np.array(DIGIT_COLORS)[labels.astype(int)]
    ax.scatter(z[order, 0], z[order, 1], s=s, c=colours[order], alpha=0.7, linewidths=0)
    for c in range(10):
        sel = labels == c
        if sel.any():
            cx, cy = np.median(z[sel], axis=0)
            ax.text(cx, cy, str(c), fontsize=13, weight="bold", ha="center", va="center",
                    color="white", bbox=dict(boxstyle="circle,pad=0.15", fc=DIGIT_COLORS[c], ec="none"))
    handles = [Line2D([], [], marker="o", linestyle="", color=DIGIT_COLORS[c], label=str(c))
               for c in range(10)]
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.legend(handles=handles, title="digit", fontsize=8, loc="center left", bbox_to_anchor=(1, 0.5))
    if title:
        ax.set_title(title, fontsize=10)
    return ax
