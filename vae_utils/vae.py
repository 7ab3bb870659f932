"""The variational autoencoder of lesson 6 — one more latent-variable model of the course.

Generative model (decoder):   z ~ p(z) = N(0, I),   x | z ~ Bernoulli(sigmoid(f_θ(z)))  per pixel.
Approximate posterior (encoder):   q_φ(z|x) = N(μ_φ(x), diag exp(logvar_φ(x))).

The encoder outputs log σ² (``logvar``), not σ and not log σ. The model follows the
course's protocol (``prior``, ``likelihood(z)``, ``approximate_posterior(x)``), so the
estimators of lessons 3–5 apply to it unchanged.

Source: Kingma & Welling 2014, "Auto-Encoding Variational Bayes", §3 and appendix C.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, Normal

from .estimators import kl_normal_std_normal

__all__ = ["VAE", "negative_elbo"]

IMAGE_SHAPE = (1, 28, 28)
_ARCHS = ("mlp", "conv")


def _check_images(x, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (N, 1, 28, 28), got {type(x).__name__}.")
    if x.dim() < 2 or tuple(x.shape[-3:]) != IMAGE_SHAPE and tuple(x.shape[-1:]) != (784,):
        raise ValueError(f"{name} must have shape (N, 1, 28, 28) (or (N, 784)), got {tuple(x.shape)}.")
    if not torch.is_floating_point(x):
        raise ValueError(f"{name} must be floating point with values in [0, 1], got dtype {x.dtype}; "
                         f"use load_mnist(), which returns float32 images.")
    return x.reshape(*x.shape[: -3 if tuple(x.shape[-3:]) == IMAGE_SHAPE else -1], *IMAGE_SHAPE)


def _check_pixel_range(x: Tensor, name: str = "x") -> None:
    """Raise if pixel values leave [0, 1]. Reads two numbers back from the device (a sync on GPU).
    NaN passes on purpose: training then stops with an error that names the epoch."""
    if x.numel() == 0:
        return
    lo, hi = x.min().item(), x.max().item()
    if lo < 0 or hi > 1:
        raise ValueError(f"{name} must have values in [0, 1] (pixel intensities), got range "
                         f"[{lo:.3g}, {hi:.3g}]; divide 8-bit images by 255.")


class VAE(nn.Module):
    """Variational autoencoder for 28×28 binary images (lesson 6).

    Args:
        latent_dim: dimension d of z (2 for pictures of the latent space, 20 for quality).
        arch: ``"mlp"`` (784-``hidden``-d fully connected, as in Kingma & Welling 2014) or
            ``"conv"`` (two stride-2 convolutions; transposed convolutions to decode).
        hidden: width of the hidden layer.
        likelihood: ``"bernoulli"`` (default; binary pixels, decoder outputs logits) or
            ``"gaussian"`` (p(x|z) = N(sigmoid(f(z)), obs_sigma² I) per pixel; real-valued pixels).
        obs_sigma: the fixed pixel noise σ of the Gaussian likelihood, > 0.
    Raises:
        ValueError: unknown ``arch`` or ``likelihood``, or a non-positive ``latent_dim`` /
            ``hidden`` / ``obs_sigma``.

    Shapes: ``encode`` takes x (N, 1, 28, 28) float in [0, 1] and returns (mu, logvar), each
    (N, d). ``decode`` takes z (..., d) and returns Bernoulli logits (..., 1, 28, 28).
    """

    def __init__(self, latent_dim: int = 20, arch: str = "mlp", hidden: int = 400, *,
                 likelihood: str = "bernoulli", obs_sigma: float = 0.1):
        super().__init__()
        if arch not in _ARCHS:
            raise ValueError(f"arch must be one of {_ARCHS}, got {arch!r}.")
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}.")
        if not (isinstance(obs_sigma, (int, float)) and obs_sigma > 0):
            raise ValueError(f"obs_sigma must be a positive number, got {obs_sigma!r}.")
        self.likelihood_name, self.obs_sigma = likelihood, float(obs_sigma)
        for name, v in (("latent_dim", latent_dim), ("hidden", hidden)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}.")
        self.latent_dim, self.arch, self.hidden = latent_dim, arch, hidden
        if arch == "mlp":
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU())
            self.decoder = nn.Sequential(
                nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, 784),
                nn.Unflatten(-1, IMAGE_SHAPE))
        else:
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(),   # 32 × 14 × 14
                nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.ReLU(),  # 64 × 7 × 7
                nn.Flatten(), nn.Linear(64 * 7 * 7, hidden), nn.ReLU())
            self.decoder = nn.Sequential(
                nn.Linear(latent_dim, hidden), nn.ReLU(),
                nn.Linear(hidden, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(-1, (64, 7, 7)),
                nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),  # 32 × 14 × 14
                nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1))              # 1 × 28 × 28
        self.to_mu = nn.Linear(hidden, latent_dim)
        self.to_logvar = nn.Linear(hidden, latent_dim)
        # Buffers, so the prior moves with the model between devices.
        self.register_buffer("prior_loc", torch.zeros(latent_dim))
        self.register_buffer("prior_scale", torch.ones(latent_dim))

    # --- the network -----------------------------------------------------------------
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder: x (N, 1, 28, 28) → (mu, logvar), each (N, latent_dim); logvar = log σ²."""
        x = _check_images(x)
        h = self.encoder(x.reshape(-1, *IMAGE_SHAPE))
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        """Decoder: z (..., latent_dim) → Bernoulli logits (..., 1, 28, 28)."""
        if not isinstance(z, Tensor) or z.dim() < 1 or z.shape[-1] != self.latent_dim:
            shape = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"z must be a tensor of shape (..., {self.latent_dim}), got {shape}.")
        batch = z.shape[:-1]
        return self.decoder(z.reshape(-1, self.latent_dim)).reshape(*batch, *IMAGE_SHAPE)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
        """z = μ + σ ⊙ ε, ε ~ N(0, I), σ = exp(½ logvar): a sample of q(z|x) that gradients
        flow through (Kingma & Welling 2014, §2.4)."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x → (logits of p(x|z) for one z ~ q(z|x), mu, logvar)."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    # --- the course's latent-variable-model protocol ---------------------------------------
    @property
    def prior(self) -> Independent:
        """p(z) = N(0, I), event shape (latent_dim,)."""
        return Independent(Normal(self.prior_loc, self.prior_scale), 1)

    def likelihood(self, z: Tensor) -> Independent:
        """p(x|z) over images: batch shape z.shape[:-1], event (1, 28, 28).

        Independent Bernoulli pixels with logits f(z), or — for ``likelihood="gaussian"`` —
        independent Normal pixels N(sigmoid(f(z)), obs_sigma²)."""
        out = self.decode(z)
        if self.likelihood_name == "gaussian":
            return Independent(Normal(torch.sigmoid(out), self.obs_sigma), 3)
        return Independent(Bernoulli(logits=out), 3)

    def approximate_posterior(self, x: Tensor) -> Independent:
        """q(z|x) = N(mu, diag σ²) from the encoder; batch (N,), event (latent_dim,)."""
        mu, logvar = self.encode(x)
        return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)

    @torch.no_grad()
    def sample(self, n: int, *, mean: bool = True) -> Tensor:
        """n images from the model: z ~ p(z), then the decoder's mean E[x|z] (``mean=True``)
        or a sample x ~ p(x|z). Shape (n, 1, 28, 28)."""
        p = self.likelihood(self.prior.sample((n,)))
        return p.mean if mean else p.sample()


def negative_elbo(model: VAE, x: Tensor, *, check_input: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """The VAE training loss, −ELBO, with one reparameterized sample z ~ q(z|x) (lesson 6).

    −ELBO(x) = −E_q[log p(x|z)] + KL(q(z|x) ‖ p(z))
             =        recon      +        kl
    recon is the negative log-likelihood −log p(x|z) summed over the 784 pixels (Bernoulli,
    or Gaussian for ``VAE(likelihood="gaussian")``), with one z = μ + σ ε; kl is the closed form ``kl_normal_std_normal``. Both are *summed* over
    pixels and latent dimensions and *averaged* over the batch, so they stay in the ratio
    the ELBO prescribes (no hidden β).

    Args:
        model: a ``VAE``.
        x: images (N, 1, 28, 28), float, values in [0, 1]. Binary images make recon a true
            negative log-likelihood; grayscale values give the cross-entropy instead, which
            is not the log-density of any distribution over grayscale images.
        check_input: check that x lies in [0, 1]. The check reads values back from the
            device; ``train_vae`` checks its data once and then skips it per batch.
    Returns:
        (loss, recon, kl): scalar tensors, nats per image, loss = recon + kl.
        This is a one-sample estimate of −ELBO ≥ −log p(x), not −log p(x) itself.
    Raises:
        ValueError: wrong shape or dtype, or values outside [0, 1].
    Source: Kingma & Welling 2014, eq. 10 and appendix B.
    """
    x = _check_images(x)
    if check_input:
        _check_pixel_range(x)
    logits, mu, logvar = model(x)
    if getattr(model, "likelihood_name", "bernoulli") == "gaussian":
        recon = -Normal(torch.sigmoid(logits), model.obs_sigma).log_prob(x).sum() / x.shape[0]
    else:
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
    kl = kl_normal_std_normal(mu, logvar).mean()
    return recon + kl, recon, kl
