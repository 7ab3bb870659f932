"""Interactive figures. Each widget's drawing is a plain function, tested on its own; the
widget only wires sliders to it (ipywidgets 8)."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import validate
from .gaussian import gaussian_log_prob, sample_gaussian

__all__ = ["draw_gaussian", "gaussian_explorer", "decode_mean", "draw_latent", "interpolate",
           "latent_explorer", "interpolation_explorer"]

TITLE_SIZE = 12  # points: readable at the size JupyterLab shows a widget's figure


def _explorer(children, draw, what: str):
    """An ipywidgets ``VBox`` of ``children`` that also carries a static picture of itself.

    ``draw()`` makes a matplotlib figure of the current view. Besides the live widget, the
    display data holds that figure as ``image/png`` and a one-line ``text/plain``: a viewer
    that cannot run or restore widgets (GitHub, nbviewer without widget state, an untrusted
    notebook in JupyterLab) shows the picture instead of the widget's text form.
    """
    import base64
    import io

    import ipywidgets as W

    class Explorer(W.VBox):
        def snapshot_png(self) -> bytes:
            fig = draw()
            buf = io.BytesIO()
            fig.savefig(buf, format="png", bbox_inches="tight")
            plt.close(fig)
            return buf.getvalue()

        def _repr_mimebundle_(self, **kwargs):
            data = super()._repr_mimebundle_(**kwargs)
            if not data:
                return data
            data["image/png"] = base64.b64encode(self.snapshot_png()).decode("ascii")
            data["text/plain"] = f"{what} (run the cell to move the controls)"
            return data

    return Explorer(children)


def draw_gaussian(mu1: float = 0.0, mu2: float = 0.0, sigma1: float = 1.0, sigma2: float = 1.0,
                  rho: float = 0.0, *, n: int = 300, seed: int = 0, ax=None):
    """Draw n samples of a 2-D Gaussian and its density contours (lesson 1).

    Σ = [[σ₁², ρσ₁σ₂], [ρσ₁σ₂, σ₂²]]; samples x = μ + L z with the Cholesky factor L.

    Args:
        mu1, mu2: the mean μ.
        sigma1, sigma2: standard deviations, > 0.
        rho: correlation, in (−1, 1).
        n: number of samples, ≥ 0; seed: seeds z, so moving a slider moves the same points
            (both any integer type).
    Returns:
        (ax, samples): the matplotlib axes and the samples, tensor (n, 2).
    Raises:
        ValueError: a NaN or infinite setting, sigma ≤ 0 or |rho| ≥ 1 (Σ would not be
            positive definite) — each named by its argument.
    """
    mu1, mu2 = validate.number(mu1, "mu1"), validate.number(mu2, "mu2")
    sigma1 = validate.number(sigma1, "sigma1", minimum=0, why="it is a standard deviation")
    sigma2 = validate.number(sigma2, "sigma2", minimum=0, why="it is a standard deviation")
    rho = validate.number(rho, "rho", minimum=-1, maximum=1,
                          why="|rho| = 1 would make Σ singular")
    n, seed = validate.count(n, "n", minimum=0), validate.count(seed, "seed", minimum=0)
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
    ax.set_title(f"μ = ({mu1:.1f}, {mu2:.1f}), σ = ({sigma1:.1f}, {sigma2:.1f}), ρ = {rho:.2f}",
                 fontsize=TITLE_SIZE)
    # Below the axes, where no sample can be: inside, it hid the samples whenever μ moved there.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=10, frameon=False)
    return ax, x


def gaussian_explorer(n: int = 300, seed: int = 0):
    """Sliders for μ₁, μ₂, σ₁, σ₂, ρ that redraw samples and density contours (lesson 1).

    Returns an ipywidgets ``VBox`` (sliders above an ``Output``); display it in a notebook.
    Its display data also holds a static picture of the current view, for viewers that do
    not run widgets.
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

    def draw():
        fig, ax = plt.subplots(figsize=(5, 5.6))
        draw_gaussian(**{k: s.value for k, s in sliders.items()}, n=n, seed=seed, ax=ax)
        fig.tight_layout()
        return fig

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            fig = draw()
            display(fig)
            plt.close(fig)

    for s in sliders.values():
        s.observe(redraw, names="value")
    redraw()
    return _explorer([W.HBox(list(sliders.values())[:3]), W.HBox(list(sliders.values())[3:]), out],
                     draw, "Gaussian explorer: sliders for μ₁, μ₂, σ₁, σ₂ and ρ over samples and contours")


# --- lesson 6a: the VAE's latent space -----------------------------------------------------

def decode_mean(model, z) -> torch.Tensor:
    """Decoder mean E[x|z] (the mean of ``model.likelihood(z)``) for latent codes z (..., d)
    → images (..., 1, 28, 28) in [0, 1]."""
    z = torch.as_tensor(z, dtype=torch.float32)
    dev = next(model.parameters()).device
    with torch.no_grad():
        return model.likelihood(z.to(dev)).mean.cpu()


def draw_latent(model, z, *, ax=None, title: str | None = None):
    """Draw the decoder mean for ONE latent code z (d,) as a 28×28 image (lesson 6a).

    Returns (ax, image) where image is a (28, 28) tensor in [0, 1].
    Raises:
        ValueError: z does not have shape (latent_dim,).
    """
    z = torch.as_tensor(z, dtype=torch.float32)
    if z.shape != (model.latent_dim,):
        raise ValueError(f"z must have shape ({model.latent_dim},) for this model, got {tuple(z.shape)}.")
    img = decode_mean(model, z[None])[0, 0]
    if ax is None:
        _, ax = plt.subplots(figsize=(2.6, 2.6))
    ax.imshow(img.numpy(), cmap="gray_r", vmin=0, vmax=1)
    ax.set_axis_off()
    shown = ", ".join(f"{v:.1f}" for v in z[:4].tolist()) + (", …" if len(z) > 4 else "")
    ax.set_title(title or f"z = ({shown})", fontsize=TITLE_SIZE)
    return ax, img


def interpolate(model, x_a, x_b, steps: int = 10) -> torch.Tensor:
    """Decode the straight line between the encoder means of two images (lesson 6a).

    z_t = (1 − t) μ(x_a) + t μ(x_b), t = 0 … 1.

    Args:
        model: a ``VAE``.
        x_a, x_b: one image each, shape (1, 28, 28), (28, 28) or (784,), float in [0, 1].
        steps: points on the line, ≥ 2 (any integer type).
    Returns:
        Decoder means (steps, 1, 28, 28), in [0, 1], on the CPU.
    Raises:
        ValueError: an image of another size, not floating point, NaN or outside [0, 1]
            (0–255 pixels: the message says to divide by 255); steps < 2.
    """
    steps = validate.count(steps, "steps", minimum=2)
    x_a = validate.images(x_a, "x_a", like=model, one=True)
    x_b = validate.images(x_b, "x_b", like=model, one=True)
    dev = next(model.parameters()).device
    with torch.no_grad():
        mu_a, _ = model.encode(x_a)
        mu_b, _ = model.encode(x_b)
    t = torch.linspace(0, 1, steps, device=dev)[:, None]
    return decode_mean(model, (1 - t) * mu_a + t * mu_b)


def latent_explorer(model, images=None, *, n_sliders: int = 6, seed: int = 0):
    """Sliders over the VAE's latent code, the decoded image redrawn live (lesson 6a).

    One slider per latent dimension for the first ``n_sliders`` dimensions (the others keep
    their value), a "random z ~ p(z)" button, and "encode digit #" to start from the encoder
    mean μ(x) of ``images[i]`` (default: the test digits).

    Args:
        model: a ``VAE``.
        images: images (N, 1, 28, 28) in [0, 1] to encode; default the test digits.
        n_sliders: sliders shown, ≥ 1 (any integer type); at most ``latent_dim`` are used.
        seed: seeds the "random z" button.
    Returns:
        An ipywidgets ``VBox``; ``.z`` holds the current code (tensor, latent_dim).
    Raises:
        ValueError: n_sliders or seed not an integer of the right range; images not a
            non-empty batch of images in [0, 1] (``vae_utils.validate``).
    """
    import ipywidgets as W
    from IPython.display import display

    n_sliders = validate.count(n_sliders, "n_sliders")
    seed = validate.count(seed, "seed", minimum=0)
    if images is None:
        from .data import load_mnist
        images, _ = load_mnist("test")
    images = validate.images(images, "images")
    k = min(n_sliders, model.latent_dim)
    state = {"z": torch.zeros(model.latent_dim), "hold": False}
    gen = torch.Generator().manual_seed(seed)
    sliders = [W.FloatSlider(value=0.0, min=-3.0, max=3.0, step=0.1, description=f"z{j + 1}",
                             continuous_update=True) for j in range(k)]
    random_btn = W.Button(description="random z ~ p(z)")
    index = W.BoundedIntText(value=0, min=0, max=len(images) - 1, description="digit #")
    encode_btn = W.Button(description="encode this digit")
    out = W.Output()

    def draw():
        fig, ax = plt.subplots(figsize=(3.2, 3.2))
        draw_latent(model, state["z"], ax=ax)
        return fig

    def redraw():
        with out:
            out.clear_output(wait=True)
            fig = draw()
            display(fig)
            plt.close(fig)

    def set_z(z):
        state["z"][:] = z.detach().cpu().float()
        state["hold"] = True
        for j, s in enumerate(sliders):
            s.value = float(max(s.min, min(s.max, round(state["z"][j].item(), 1))))
        state["hold"] = False
        redraw()

    def on_random(_):
        set_z(torch.randn(model.latent_dim, generator=gen))

    def on_encode(_):
        dev = next(model.parameters()).device
        with torch.no_grad():
            mu, _ = model.encode(images[index.value:index.value + 1].to(dev))
        set_z(mu[0])

    def on_slider(change, j):
        if state["hold"]:
            return
        state["z"][j] = change["new"]
        redraw()

    for j, s in enumerate(sliders):
        s.observe(lambda change, j=j: on_slider(change, j), names="value")
    random_btn.on_click(on_random)
    encode_btn.on_click(on_encode)
    redraw()
    box = _explorer([W.HBox([W.VBox(sliders), out]), W.HBox([random_btn, index, encode_btn])], draw,
                    f"Latent explorer: sliders for z1…z{k}, the decoder mean of z drawn live")
    box.z = state["z"]
    box.randomize, box.encode = on_random, on_encode  # for tests and scripted use
    return box


def interpolation_explorer(model, x_a, x_b):
    """A slider t ∈ [0, 1] moving along z_t = (1 − t) μ(x_a) + t μ(x_b), decoded live (lesson 6a)."""
    import ipywidgets as W
    from IPython.display import display

    path = interpolate(model, x_a, x_b, steps=21)
    t = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t")
    out = W.Output()

    def draw():
        fig, axes = plt.subplots(1, 3, figsize=(7, 2.8))
        for ax, img, title in zip(axes, (path[0], path[round(t.value * 20)], path[-1]),
                                  ("x_a (t = 0)", f"t = {t.value:.2f}", "x_b (t = 1)")):
            ax.imshow(img[0].numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.set_axis_off()
            ax.set_title(title, fontsize=TITLE_SIZE)
        return fig

    def redraw(_=None):
        with out:
            out.clear_output(wait=True)
            fig = draw()
            display(fig)
            plt.close(fig)

    t.observe(redraw, names="value")
    redraw()
    return _explorer([t, out], draw, "Interpolation explorer: a slider t from x_a to x_b, decoded live")
