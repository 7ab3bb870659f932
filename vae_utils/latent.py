"""The latent space of a trained VAE: the aggregate posterior, densities on a grid, and the
digit classes that decoded images resemble (lesson 6a).

* ``aggregate_posterior`` — q(z) = (1/N) Σₙ q(z|xₙ), the distribution of the codes the
  encoder gives the training digits, as a ``torch.distributions`` mixture;
* ``density_grid`` — a 2-D density evaluated on a grid, for contour plots;
* ``plot_aggregate_posterior`` — the prior and the aggregate posterior drawn together, with
  digits decoded from samples of each;
* ``nearest_neighbour`` — the closest image of a reference set (pixels, Euclidean): reads a
  decoded image as the label of its most similar training digit, and measures how close
  generated images come to copying training digits;
* ``best_reconstructed`` — chooses interpolation endpoints that decode as themselves.
"""
from __future__ import annotations

import contextlib

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, MixtureSameFamily, Normal

from . import validate
from .plotting import OKABE_ITO, show_images

__all__ = ["aggregate_posterior", "density_grid", "mass_levels", "plot_aggregate_posterior",
           "nearest_neighbour", "best_reconstructed", "NOISE_SOURCES", "noise_strips"]

PRIOR_COLOR = OKABE_ITO["BLUE"]             # the prior p(z), as in the lesson's loss curves
AGGREGATE_COLOR = OKABE_ITO["VERMILLION"]   # the aggregate posterior q(z)


def aggregate_posterior(mu: Tensor, logvar: Tensor) -> MixtureSameFamily:
    """The aggregate posterior q(z) = (1/N) Σₙ N(z; μₙ, diag σₙ²) of N encoded data points.

    Sampling it picks one of the N data points uniformly and draws z ~ q(z|xₙ); its density
    is the average of the N encoder Gaussians. It is what the prior p(z) would have to be
    for the encoder's codes to look like prior samples (Hoffman & Johnson 2016, "ELBO
    surgery"; Tomczak & Welling 2018, "VAE with a VampPrior").

    Args:
        mu: encoder means, shape (N, d), floating point, N ≥ 1.
        logvar: encoder log-variances log σ², same shape (not σ, not log σ).
    Returns:
        ``MixtureSameFamily`` with event shape (d,), equal weights 1/N; ``log_prob`` in nats.
    Raises:
        ValueError: shapes differ, are not (N, d), N = 0, or values are not finite.
    """
    mu, logvar = torch.as_tensor(mu).detach(), torch.as_tensor(logvar).detach()
    if mu.shape != logvar.shape or mu.dim() != 2 or len(mu) == 0:
        raise ValueError(f"mu and logvar must both have shape (N, d) with N ≥ 1, got "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}.")
    if not (torch.isfinite(mu).all() and torch.isfinite(logvar).all()):
        raise ValueError("mu and logvar must be finite (a NaN or inf came out of the encoder).")
    # Checked above: torch's argument validation would only repeat it, reading values back
    # from the device at every log_prob (once per chunk of density_grid).
    components = Independent(Normal(mu, torch.exp(0.5 * logvar), validate_args=False), 1,
                             validate_args=False)
    weights = Categorical(logits=torch.zeros(len(mu), dtype=mu.dtype, device=mu.device),
                          validate_args=False)
    return MixtureSameFamily(weights, components, validate_args=False)


def density_grid(dist: Distribution, extent: float = 3.5, n: int = 61) -> tuple[Tensor, Tensor, Tensor]:
    """A 2-D density on an n × n grid over [−extent, extent]², for contour plots.

    Args:
        dist: a distribution over z with event shape (2,) (``log_prob`` of (M, 2) → (M,)).
        extent: half-width of the square, > 0.
        n: grid points per axis, ≥ 2.
    Returns:
        (z1, z2, density), each of shape (n, n), on the CPU (for matplotlib): the grid
        coordinates (``meshgrid``, "xy" indexing) and exp(log_prob) there, per unit area. The
        grid is built on the distribution's device (that of its ``mean``; a GPU model's
        aggregate posterior is scored where it lives) and its dtype.
    Raises:
        ValueError: extent ≤ 0, n < 2, or dist not over 2-D z.
    """
    extent = validate.number(extent, "extent", minimum=0)
    if extent == 0:
        raise ValueError("extent must be > 0.")
    n = validate.count(n, "n", minimum=2)
    if tuple(dist.event_shape) != (2,):
        raise ValueError(f"dist must be over 2-D z (event shape (2,)), got {tuple(dist.event_shape)}.")
    device, dtype = _where(dist)
    t = torch.linspace(-extent, extent, n, device=device, dtype=dtype)
    z1, z2 = torch.meshgrid(t, t, indexing="xy")
    points = torch.stack([z1, z2], dim=-1).reshape(-1, 2)
    with torch.no_grad():                               # chunks: a mixture's log_prob is (points × components)
        dens = torch.cat([dist.log_prob(c).exp() for c in points.split(1000)]).reshape(n, n)
    return z1.cpu(), z2.cpu(), dens.cpu()


def _where(dist: Distribution) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of a distribution's parameters (its mean's); the CPU and
    the default dtype when it has none."""
    try:
        mean = dist.mean
    except Exception:  # noqa: BLE001 - a distribution without a mean
        return torch.device("cpu"), torch.get_default_dtype()
    if isinstance(mean, Tensor) and mean.is_floating_point():
        return mean.device, mean.dtype
    return torch.device("cpu"), torch.get_default_dtype()


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device):
    """Random numbers seeded by ``seed`` on the CPU and on ``device`` inside; the generators
    of every device as they were afterwards (``torch.random.fork_rng``). Unlike
    ``torch.manual_seed``, it seeds no other GPU and leaves the user's CUDA generator alone."""
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.default_generator.manual_seed(seed)
        for i in cuda:
            torch.cuda.default_generators[i].manual_seed(seed)
        yield


def mass_levels(density: Tensor, cell_area: float, masses=(0.5, 0.9)) -> list[float]:
    """Density levels whose contours enclose the given probability masses (highest-density
    regions), from a density on a regular grid: the region {density ≥ level} holds ``mass``.

    Contours drawn at these levels compare distributions of different peak heights fairly
    (a contour at a fraction of the peak would not). For N(0, I) in 2-D the level for mass m
    is (1 − m) / (2π).

    Args:
        density: values on a grid (any shape), per unit area, ≥ 0.
        cell_area: area of one grid cell, > 0.
        masses: probabilities in (0, 1), any order.
    Returns:
        Levels, one per mass, in increasing order (as ``contour`` wants them).
    Raises:
        ValueError: a mass outside (0, 1), or a grid holding less mass than asked for.
    """
    d = torch.as_tensor(density).flatten().double().sort(descending=True).values
    held = torch.cumsum(d, 0) * cell_area
    levels = []
    for m in masses:
        m = validate.number(m, "mass", minimum=0, maximum=1)
        if not 0 < m < 1 or held[-1] < m:
            raise ValueError(f"mass {m} must lie in (0, 1) and below the mass the grid holds "
                             f"({held[-1].item():.3f}); widen the grid.")
        levels.append(d[int(torch.searchsorted(held, torch.tensor(m, dtype=held.dtype)))].item())
    return sorted(levels)


def _contours(ax, dist, colour, label, extent):
    z1, z2, d = density_grid(dist, extent, n=101)
    cell = (2 * extent / 100) ** 2
    ax.contour(z1.numpy(), z2.numpy(), d.numpy(), levels=mass_levels(d, cell, (0.5, 0.9)),
               colors=colour, linewidths=1.6)
    ax.plot([], [], color=colour, label=label)


def plot_aggregate_posterior(model, q_agg: Distribution, *, n_points: int = 1000, n_images: int = 30,
                             extent: float = 4.5, seed: int = 0):
    """The prior p(z) and the aggregate posterior q(z) of a 2-D VAE, drawn together (lesson 6a).

    Left: density contours of both (the regions holding 50 % and 90 % of each one's mass,
    ``mass_levels``) over samples of each; right: decoder means of ``n_images`` samples of each. Samples are drawn
    from generators seeded by ``seed`` (the CPU's and the model's GPU's; every generator
    of torch is left as it was, a CUDA one included).

    Args:
        model: a 2-D ``VAE`` (``prior``, ``likelihood(z)``, ``latent_dim == 2``).
        q_agg: the aggregate posterior, e.g. ``aggregate_posterior(*model.encode(train_x))``.
        n_points: samples of each distribution in the scatter, ≥ 1.
        n_images: samples of each distribution decoded, ≥ 1 (10 per row).
        extent: the scatter shows [−extent, extent]².
        seed: seed of the samples.
    Returns:
        (fig, axes) with axes = (scatter, prior images, aggregate-posterior images).
    Raises:
        ValueError: a model whose latent space is not 2-D, or counts < 1.
    """
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError(f"plot_aggregate_posterior draws a 2-D latent space; this model has "
                         f"latent_dim={getattr(model, 'latent_dim', None)}.")
    n_points = validate.count(n_points, "n_points")
    n_images = validate.count(n_images, "n_images")
    device = model.prior.mean.device
    with _seeded(seed, device), torch.no_grad():
        zp, zq = model.prior.sample((n_points,)), q_agg.sample((n_points,))
        imgs = [model.likelihood(z[:n_images].to(device)).mean.cpu() for z in (zp, zq)]
        zp, zq = zp.cpu(), zq.cpu()
    fig = plt.figure(figsize=(11, 5.4))
    grid = fig.add_gridspec(2, 2, width_ratios=[1, 1.25])
    ax = fig.add_subplot(grid[:, 0])
    ax.scatter(zp[:, 0], zp[:, 1], s=4, color=PRIOR_COLOR, alpha=0.35, linewidths=0)
    ax.scatter(zq[:, 0], zq[:, 1], s=4, color=AGGREGATE_COLOR, alpha=0.35, linewidths=0)
    _contours(ax, model.prior, PRIOR_COLOR, "prior p(z) = N(0, I)", extent)
    _contours(ax, q_agg, AGGREGATE_COLOR, "aggregate posterior q(z)", extent)
    ax.plot([], [], " ", label="contours: 50 % and 90 % of the mass")
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=9, ncol=2, frameon=False)
    ax.set_title("Contours and samples of p(z) and q(z)", fontsize=10)
    ax_p, ax_q = fig.add_subplot(grid[0, 1]), fig.add_subplot(grid[1, 1])
    show_images(imgs[0], nrow=10, ax=ax_p, title="decoder mean at z ~ p(z), the prior")
    show_images(imgs[1], nrow=10, ax=ax_q, title="decoder mean at z ~ q(z), the aggregate posterior")
    fig.tight_layout()
    return fig, (ax, ax_p, ax_q)


def nearest_neighbour(images: Tensor, reference: Tensor, *, chunk_size: int = 500) -> tuple[Tensor, Tensor]:
    """For each image, the nearest image of ``reference`` (Euclidean distance over the pixels).

    Lesson 6a uses it twice: ``labels[index]`` reads a decoded image as the digit of its most
    similar training digit (a 1-nearest-neighbour classifier), and ``distance`` to the
    training set measures how closely generated images copy training images.

    Args:
        images: (N, ...) and reference: (M, ...), with the same number of pixels per image;
            any float dtype and device (compared in float64 on ``reference``'s device).
        chunk_size: images compared at once (memory: chunk_size × M distances), ≥ 1.
    Returns:
        (distance, index): float (N,) distances and int64 (N,) indices into ``reference``.
    Raises:
        ValueError: pixel counts that differ, or an empty ``reference``.
    """
    chunk_size = validate.count(chunk_size, "chunk_size")
    ref = torch.as_tensor(reference)
    ref = ref.reshape(len(ref), -1).double()          # float64: no cancellation for close pairs
    flat = torch.as_tensor(images).reshape(len(images), -1).double().to(ref.device)
    if len(ref) == 0 or flat.shape[1] != ref.shape[1]:
        raise ValueError(f"images have {flat.shape[1]} pixels each and reference {tuple(ref.shape)}: "
                         f"they must match, and reference must not be empty.")
    out = [torch.cdist(c, ref).min(dim=1) for c in flat.split(chunk_size)]
    return torch.cat([o.values for o in out]).float(), torch.cat([o.indices for o in out])


def best_reconstructed(rec_error: Tensor, labels: Tensor, read_as: Tensor, digit: int) -> int:
    """Index of the digit of class ``digit`` reconstructed best: the lowest ``rec_error``
    among those whose reconstruction also reads as ``digit`` (``read_as``). Used to pick interpolation endpoints that decode as themselves.

    Args:
        rec_error: reconstruction error per image (N,), e.g. −log p(x|z = μ(x)) in nats.
        labels: true classes (N,); read_as: classes the reconstructions resemble (N,), e.g.
            the labels of their nearest training digits (``nearest_neighbour``).
        digit: the class wanted, 0–9.
    Returns:
        An index into the N images (int).
    Raises:
        ValueError: no image of class ``digit`` whose reconstruction reads as ``digit``.
    """
    ok = (torch.as_tensor(labels) == digit) & (torch.as_tensor(read_as) == digit)
    if not ok.any():
        raise ValueError(f"no image of class {digit} has a reconstruction that reads as {digit}.")
    err = torch.where(ok, torch.as_tensor(rec_error, dtype=torch.float64), torch.tensor(np.inf, dtype=torch.float64))
    return int(err.argmin())


NOISE_SOURCES = ("prior", "approximate posterior", "likelihood")
# Which source drew which strip of ``noise_strips``: the answer of lesson 6a's exercise
# ``noise_sources`` (read it after the exercise, not before).
_STRIP_SOURCES = {"A": "likelihood", "B": "prior", "C": "approximate posterior"}


def noise_strips(model, x, n: int = 8, seed: int = 4) -> dict[str, Tensor]:
    """Three strips of ``n`` images, each drawn by one of a VAE's three sources of noise
    (lesson 6a, §5; the exercise ``noise_sources`` asks which strip came from which):

    * the prior: decoder means E[x|z] at z ~ p(z);
    * the approximate posterior: decoder means at z ~ q(z|x) for the one image ``x``;
    * the likelihood: binary samples x ~ p(x|z) at the one code z = E_q[z|x].

    Args:
        model: a VAE with ``prior``, ``likelihood(z)`` and ``approximate_posterior(x)``.
        x: one image, shape (1, 28, 28), (28, 28), (784,) or (1, 1, 28, 28), in [0, 1].
        n: images per strip, ≥ 1. seed: the random numbers (the caller's generators are left
            as they were).
    Returns:
        {"A", "B", "C"} → images (n, 1, 28, 28) on the model's device, in [0, 1].
    Raises:
        ValueError: bad ``x`` or ``n`` (from ``vae_utils.validate``).
    """
    n = validate.count(n, "n")
    device, dtype = validate.model_device_dtype(model)
    x = validate.images(x, "x", like=model, one=True)
    with _seeded(seed, device or torch.device("cpu")), torch.no_grad():
        prior = model.likelihood(model.prior.sample((n,))).mean
        q = model.approximate_posterior(x)
        posterior = model.likelihood(q.sample((n,))[:, 0]).mean
        likelihood = model.likelihood(q.mean.expand(n, -1)).sample()
    drawn = {"prior": prior, "approximate posterior": posterior, "likelihood": likelihood}
    return {strip: drawn[source] for strip, source in _STRIP_SOURCES.items()}
