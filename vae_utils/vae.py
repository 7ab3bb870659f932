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
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, Normal

from . import validate
from .estimators import kl_normal_std_normal
from .validate import IMAGE_SHAPE

__all__ = ["VAE", "negative_elbo"]

_ARCHS = ("mlp", "conv")


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
            ``hidden`` / ``obs_sigma`` (integers of any integer type, numpy's included).

    Shapes: ``encode`` takes x (N, 1, 28, 28) (or (N, 784)) float in [0, 1] and returns
    (mu, logvar), each (N, d). ``decode`` takes z (..., d) and returns Bernoulli logits
    (..., 1, 28, 28). Inputs of another float dtype (float64 from numpy) are converted to
    the model's dtype and moved to its device (``vae_utils.validate``); outputs live there.
    """

    def __init__(self, latent_dim: int = 20, arch: str = "mlp", hidden: int = 400, *,
                 likelihood: str = "bernoulli", obs_sigma: float = 0.1):
        super().__init__()
        if arch not in _ARCHS:
            raise ValueError(f"arch must be one of {_ARCHS}, got {arch!r}.")
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian', got {likelihood!r}.")
        self.likelihood_name = likelihood
        # σ as a tensor buffer too (not saved in the state_dict), so it moves with the model: a
        # Python float would become torch.tensor(σ, device=...) in every likelihood(z) call, a
        # host-to-device copy, which CUDA-graph capture forbids.
        self.register_buffer("_obs_scale", torch.tensor(1.0), persistent=False)
        self.obs_sigma = validate.number(obs_sigma, "obs_sigma", minimum=0)
        latent_dim, hidden = validate.count(latent_dim, "latent_dim"), validate.count(hidden, "hidden")
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

    @property
    def obs_sigma(self) -> float:
        """The Gaussian likelihood's pixel noise σ (a float; settable, > 0)."""
        return self._obs_sigma

    @obs_sigma.setter
    def obs_sigma(self, value: float) -> None:
        self._obs_sigma = validate.number(value, "obs_sigma", minimum=0)
        with torch.no_grad():
            self._obs_scale.fill_(self._obs_sigma)

    def __setstate__(self, state):
        # A whole VAE pickled before σ had its buffer: give it one, where its parameters are.
        sigma = state.pop("obs_sigma", None)
        super().__setstate__(state)
        if "_obs_scale" not in self._buffers:
            device = next(self.parameters()).device
            self.register_buffer("_obs_scale", torch.tensor(1.0, device=device), persistent=False)
        if sigma is not None:
            self.obs_sigma = sigma

    # --- the network -----------------------------------------------------------------
    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder: x (N, 1, 28, 28) or (N, 784) → (mu, logvar), each (N, latent_dim); logvar = log σ².

        x's values are not read (no device sync): ``negative_elbo`` checks them.
        Raises ValueError: x not a batch of images (``vae_utils.validate.images``)."""
        x = validate.images(x, like=self, check_values=False)
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode(self, z: Tensor) -> Tensor:
        """Decoder: z (..., latent_dim) → logits f(z) (..., 1, 28, 28) (Bernoulli logits; for the
        Gaussian likelihood the pixel means are sigmoid(f(z))).

        Raises ValueError: z's last dimension is not latent_dim."""
        z = validate.latent_codes(z, latent_dim=self.latent_dim, like=self)
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
        """p(z) = N(0, I), event shape (latent_dim,). Its parameters are constants, so torch's
        argument validation (a device sync) is skipped."""
        return Independent(Normal(self.prior_loc, self.prior_scale, validate_args=False), 1,
                           validate_args=False)

    def likelihood(self, z: Tensor) -> Independent:
        """p(x|z) over images: batch shape z.shape[:-1], event (1, 28, 28).

        Independent Bernoulli pixels with logits f(z), or — for ``likelihood="gaussian"`` —
        independent Normal pixels N(sigmoid(f(z)), obs_sigma²).

        Built without argument validation: the Bernoulli then also scores grayscale pixels
        in [0, 1] (the cross-entropy ``negative_elbo``'s docstring describes), and the
        training loop, which calls this every step, never waits for a device sync. σ is a
        tensor on the model's device (no Python number is made into a tensor per call)."""
        out = self.decode(z)
        if self.likelihood_name == "gaussian":
            return Independent(Normal(torch.sigmoid(out), self._obs_scale, validate_args=False), 3,
                               validate_args=False)
        return Independent(Bernoulli(logits=out, validate_args=False), 3, validate_args=False)

    def approximate_posterior(self, x: Tensor) -> Independent:
        """q(z|x) = N(mu, diag σ²) from the encoder; batch (N,), event (latent_dim,).

        Built without argument validation, which would read values back from the device (a
        sync) when it is built and at every ``log_prob`` — once per chunk of an importance-
        sampling estimate. σ = exp(½ logvar) is positive by construction; x is checked by
        the estimators (``vae_utils.validate``)."""
        mu, logvar = self.encode(x)
        return Independent(Normal(mu, torch.exp(0.5 * logvar), validate_args=False), 1,
                           validate_args=False)

    @torch.no_grad()
    def sample(self, n: int, *, mean: bool = True) -> Tensor:
        """n images from the model: z ~ p(z), then the decoder's mean E[x|z] (``mean=True``)
        or a sample x ~ p(x|z). Shape (n, 1, 28, 28), on the model's device.

        Raises ValueError: n is not a positive integer."""
        n = validate.count(n, "n")
        p = self.likelihood(self.prior.sample((n,)))
        return p.mean if mean else p.sample()


def negative_elbo(model: VAE, x: Tensor, *, check_input: bool = True,
                  free_bits: float = 0.0) -> tuple[Tensor, Tensor, Tensor]:
    """The VAE training loss, −ELBO, with one reparameterized sample z ~ q(z|x) (lesson 6).

    −ELBO(x) = −E_q[log p(x|z)] + KL(q(z|x) ‖ p(z))
             =        recon      +        kl
    recon = −``model.likelihood(z).log_prob(x)`` for one z = μ + σ ε, ε ~ N(0, I): the
    model's own p(x|z) scores x (course protocol), so a Bernoulli, a Gaussian or any other
    decoder likelihood trains the same way. kl is the closed form ``kl_normal_std_normal``.
    Both are *summed* over pixels and latent dimensions and *averaged* over the batch, so
    they stay in the ratio the ELBO prescribes (no hidden β).

    Args:
        model: a ``VAE`` — or any model with ``encode(x) → (mu, logvar)`` (a diagonal
            Gaussian q(z|x)), a N(0, I) prior, and ``likelihood(z)`` with event shape
            (1, 28, 28).
        x: a batch of images (N, 1, 28, 28) or (N, 784), N ≥ 1, float, values in [0, 1];
            converted to the model's dtype and moved to its device. Binary images make
            recon a true negative log-likelihood; grayscale values give the cross-entropy
            instead, which is not the log-density of any distribution over grayscale images.
        check_input: check x for NaN and for values outside [0, 1]. The check reads values
            back from the device; ``train_vae`` checks its data once and then skips it per batch.
        free_bits: λ ≥ 0, nats per latent unit (lesson 6c). With λ > 0 the returned ``loss``
            is the free-bits objective recon + Σ_j max(λ, KL_j), KL_j = unit j's KL averaged
            over the batch: a unit's first λ nats cost nothing, so the KL no longer pulls a
            unit below λ towards the prior (a remedy for posterior collapse). It is ≥ −ELBO.
            0 (default): loss = recon + kl, the −ELBO.
    Returns:
        (loss, recon, kl): scalar tensors on the model's device, nats per image. recon and kl
        are always the ELBO's two terms, so recon + kl is a one-sample estimate of
        −ELBO ≥ −log p(x), not −log p(x) itself; loss = recon + kl unless ``free_bits`` > 0.
    Raises:
        ValueError: not a batch of images (one image without its batch dimension included;
            the message gives ``x.reshape(1, 1, 28, 28)``), an empty batch, an integer dtype,
            NaN, or values outside [0, 1] (``vae_utils.validate.images``); ``free_bits``
            negative or not a finite number.
    Source: Kingma & Welling 2014, eq. 10 and appendix B; free bits: Kingma et al. 2016,
    "Improved Variational Inference with Inverse Autoregressive Flow", appendix C.8.
    """
    free_bits = validate.number(free_bits, "free_bits", minimum=0, strict=False)
    x = validate.images(x, like=model, check_values=check_input)
    mu, logvar = model.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # reparameterization: z = μ + σ ε
    recon = -model.likelihood(z).log_prob(x).mean()
    if not free_bits:
        kl = kl_normal_std_normal(mu, logvar).mean()
        return recon + kl, recon, kl
    # KL_j of each unit: the closed form over a last dimension of size 1, then the batch mean.
    kl_per_unit = kl_normal_std_normal(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(dim=0)
    # max(λ, KL_j) as torch.maximum with λ filled in on the device: clamp(min=λ) would give the
    # same values, but its backward makes a tensor of a Python number at every step.
    floor = torch.full_like(kl_per_unit, free_bits)
    return recon + torch.maximum(kl_per_unit, floor).sum(), recon, kl_per_unit.sum()
