"""Beyond the plain VAE (lesson 6e): a learned prior, two latent levels, and the training
loop both need.

* ``MixturePriorVAE`` — lesson 6's MLP VAE whose prior p(z) is a learned mixture of K
  diagonal Gaussians instead of N(0, I) (Tomczak & Welling 2018 compare such a mixture with
  the VampPrior, a mixture over learned pseudo-inputs);
* ``TwoLevelVAE`` — two stochastic layers, z₂ → z₁ → x, with a bottom-up encoder
  q(z₁|x) q(z₂|z₁) (Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders",
  §5, the two-stochastic-layer model);
* ``negative_elbo_mc`` and ``train_elbo_mc`` — the one-sample −ELBO with the KL term
  estimated by Monte Carlo, log q(z|x) − log p(z), which needs no closed form and so trains
  any prior; the loop follows lesson 6's recipe (``vae_utils.train``);
* ``load_beyond`` — the shipped weights of both models, written by
  ``scripts/train_course_model.py``.

Both models follow the course's protocol (``prior``, ``likelihood(z)``,
``approximate_posterior(x)``), so ``log_marginal_is`` scores them unchanged. All log
densities are in nats.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.distributions import (Bernoulli, Categorical, Distribution, Independent, MixtureSameFamily,
                                 Normal, constraints)

from . import validate
from .train import cosine_lr, progress_bar
from .vae import VAE
from .validate import IMAGE_SHAPE

__all__ = ["MixturePriorVAE", "TwoLevelVAE", "negative_elbo_mc", "train_elbo_mc", "BEYOND_MODELS",
           "BEYOND_RECORDS", "beyond_weights_path", "load_beyond", "parameter_count"]


def parameter_count(model: nn.Module) -> int:
    """Number of trainable numbers (weights, biases, prior parameters) of ``model``."""
    return sum(p.numel() for p in model.parameters())


# --- a learned mixture prior ----------------------------------------------------------------
class MixturePriorVAE(VAE):
    """Lesson 6's MLP VAE with a learned mixture-of-Gaussians prior (lesson 6e).

    p(z) = Σ_k π_k N(z; m_k, diag exp(ℓ_k)),  π = softmax(``prior_logits``),

    with K components whose weights, means ``prior_means`` (K, d) and log-variances
    ``prior_logvars`` (K, d) are trained with the encoder and decoder on the same ELBO.
    Encoder, decoder and likelihood are ``VAE``'s (``arch="mlp"``, Bernoulli pixels).

    Args:
        latent_dim: d ≥ 1.
        hidden: width of the MLP's hidden layer, ≥ 1.
        n_components: K ≥ 1. The means start at 0.5 · randn (torch's global generator), the
            variances at 1, the weights equal.
    Raises:
        ValueError: a non-positive ``latent_dim``, ``hidden`` or ``n_components``.
    Source: Tomczak & Welling 2018, "VAE with a VampPrior", AISTATS, §2.2 (the mixture of
    Gaussians prior, eq. 6, against which the VampPrior is compared).
    """

    def __init__(self, latent_dim: int = 2, hidden: int = 400, n_components: int = 10):
        super().__init__(latent_dim, "mlp", hidden)
        k = validate.count(n_components, "n_components")
        self.n_components = k
        self.prior_logits = nn.Parameter(torch.zeros(k))
        self.prior_means = nn.Parameter(0.5 * torch.randn(k, self.latent_dim))
        self.prior_logvars = nn.Parameter(torch.zeros(k, self.latent_dim))

    @property
    def prior(self) -> MixtureSameFamily:
        """p(z): ``MixtureSameFamily`` of K diagonal Gaussians, event shape (d,); its
        ``log_prob`` is differentiable in the prior's parameters."""
        comp = Independent(Normal(self.prior_means, torch.exp(0.5 * self.prior_logvars),
                                  validate_args=False), 1, validate_args=False)
        return MixtureSameFamily(Categorical(logits=self.prior_logits, validate_args=False), comp,
                                 validate_args=False)


# --- two latent levels --------------------------------------------------------------------
def _diag_normal(mu: Tensor, logvar: Tensor) -> Independent:
    return Independent(Normal(mu, torch.exp(0.5 * logvar), validate_args=False), 1, validate_args=False)


class _TwoLevelPrior(Distribution):
    """p(z₁, z₂) = N(z₂; 0, I) · N(z₁; μ(z₂), diag σ²(z₂)) over z = (z₁, z₂), event (d₁ + d₂,)."""

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, model: "TwoLevelVAE"):
        self.model = model
        super().__init__(torch.Size(), torch.Size([model.latent_dim]), validate_args=False)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        m = self.model
        ref = m.top_prior_loc
        z2 = torch.randn(*sample_shape, m.d2, dtype=ref.dtype, device=ref.device)
        mu1, logvar1 = m.top_down(z2)
        z1 = mu1 + torch.exp(0.5 * logvar1) * torch.randn_like(mu1)
        return torch.cat([z1, z2], dim=-1)

    def sample(self, sample_shape=torch.Size()) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, z: Tensor) -> Tensor:
        m = self.model
        z1, z2 = z[..., :m.d1], z[..., m.d1:]
        mu1, logvar1 = m.top_down(z2)
        top = _diag_normal(torch.zeros_like(z2), torch.zeros_like(z2)).log_prob(z2)
        return top + _diag_normal(mu1, logvar1).log_prob(z1)


class _BottomUpPosterior(Distribution):
    """q(z₁, z₂ | x) = N(z₁; μ₁(x), σ₁²(x)) · N(z₂; μ₂(z₁), σ₂²(z₁)), batch (B,), event (d₁ + d₂,)."""

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, model: "TwoLevelVAE", mu1: Tensor, logvar1: Tensor):
        self.model, self.mu1, self.logvar1 = model, mu1, logvar1
        super().__init__(mu1.shape[:-1], torch.Size([model.latent_dim]), validate_args=False)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        shape = torch.Size(sample_shape) + self.mu1.shape
        z1 = self.mu1 + torch.exp(0.5 * self.logvar1) * torch.randn(shape, dtype=self.mu1.dtype,
                                                                     device=self.mu1.device)
        mu2, logvar2 = self.model.encode_top(z1)
        z2 = mu2 + torch.exp(0.5 * logvar2) * torch.randn_like(mu2)
        return torch.cat([z1, z2], dim=-1)

    def sample(self, sample_shape=torch.Size()) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, z: Tensor) -> Tensor:
        d1 = self.model.d1
        z1, z2 = z[..., :d1], z[..., d1:]
        mu2, logvar2 = self.model.encode_top(z1)
        return _diag_normal(self.mu1, self.logvar1).log_prob(z1) + _diag_normal(mu2, logvar2).log_prob(z2)


class TwoLevelVAE(nn.Module):
    """A VAE with two stochastic layers, z₂ → z₁ → x (lesson 6e).

    Generative model: z₂ ~ N(0, I_{d₂}); z₁ | z₂ ~ N(μ(z₂), diag σ²(z₂)) (an MLP d₂-``hidden2``-2d₁);
    x | z₁ ~ Bernoulli(sigmoid(f(z₁))) per pixel (an MLP d₁-``hidden``-784, as ``VAE``'s decoder).
    Encoder, bottom-up: q(z₁|x) (784-``hidden``-2d₁) and q(z₂|z₁) (d₁-``hidden2``-2d₂), each a
    diagonal Gaussian given by (mu, logvar = log σ²).

    The course's protocol sees one latent vector z = (z₁, z₂) of size d₁ + d₂: ``prior`` is
    p(z₁, z₂) = p(z₂) p(z₁|z₂), ``likelihood(z)`` reads z₁ only, ``approximate_posterior(x)`` is
    q(z₁|x) q(z₂|z₁); both are distributions with ``rsample`` and ``log_prob`` (nats), so
    ``log_marginal_is`` and ``negative_elbo_mc`` apply unchanged.

    Args:
        d1, d2: sizes of z₁ (next to x) and z₂ (top), ≥ 1.
        hidden: width of the hidden layers between x and z₁, ≥ 1.
        hidden2: width of the hidden layers between z₁ and z₂, ≥ 1.
    Raises:
        ValueError: a non-positive size.
    Source: Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders", §5 and
    appendix C (two stochastic layers); Sønderby et al. 2016, "Ladder Variational
    Autoencoders", §2 (the bottom-up inference model and the inactive top layer).
    """

    def __init__(self, d1: int = 20, d2: int = 10, hidden: int = 394, hidden2: int = 100):
        super().__init__()
        self.d1, self.d2 = validate.count(d1, "d1"), validate.count(d2, "d2")
        hidden, hidden2 = validate.count(hidden, "hidden"), validate.count(hidden2, "hidden2")
        self.latent_dim = self.d1 + self.d2
        self.enc1 = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 2 * d1))
        self.enc2 = nn.Sequential(nn.Linear(d1, hidden2), nn.ReLU(), nn.Linear(hidden2, 2 * d2))
        self.dec2 = nn.Sequential(nn.Linear(d2, hidden2), nn.ReLU(), nn.Linear(hidden2, 2 * d1))
        self.dec1 = nn.Sequential(nn.Linear(d1, hidden), nn.ReLU(), nn.Linear(hidden, 784),
                                  nn.Unflatten(-1, IMAGE_SHAPE))
        self.register_buffer("top_prior_loc", torch.zeros(d2))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z₁|x): x (N, 1, 28, 28) or (N, 784) → (mu1, logvar1), each (N, d₁)."""
        x = validate.images(x, like=self, check_values=False)
        return self.enc1(x).chunk(2, dim=-1)

    def encode_top(self, z1: Tensor) -> tuple[Tensor, Tensor]:
        """q(z₂|z₁): z₁ (..., d₁) → (mu2, logvar2), each (..., d₂)."""
        return self.enc2(z1).chunk(2, dim=-1)

    def top_down(self, z2: Tensor) -> tuple[Tensor, Tensor]:
        """p(z₁|z₂): z₂ (..., d₂) → (mu1, logvar1), each (..., d₁)."""
        return self.dec2(z2).chunk(2, dim=-1)

    def decode(self, z1: Tensor) -> Tensor:
        """p(x|z₁): z₁ (..., d₁) → Bernoulli logits (..., 1, 28, 28)."""
        batch = z1.shape[:-1]
        return self.dec1(z1.reshape(-1, self.d1)).reshape(*batch, *IMAGE_SHAPE)

    @property
    def prior(self) -> Distribution:
        """p(z₁, z₂) = p(z₂) p(z₁|z₂) over z = (z₁, z₂), event shape (d₁ + d₂,)."""
        return _TwoLevelPrior(self)

    def likelihood(self, z: Tensor) -> Independent:
        """p(x|z) = p(x|z₁) for z = (z₁, z₂) (..., d₁ + d₂): batch z.shape[:-1], event (1, 28, 28).

        Raises ValueError: z's last dimension is not d₁ + d₂."""
        z = validate.latent_codes(z, latent_dim=self.latent_dim, like=self)
        return Independent(Bernoulli(logits=self.decode(z[..., :self.d1]), validate_args=False), 3,
                           validate_args=False)

    def approximate_posterior(self, x: Tensor) -> Distribution:
        """q(z₁, z₂|x) = q(z₁|x) q(z₂|z₁), batch (N,), event (d₁ + d₂,)."""
        return _BottomUpPosterior(self, *self.encode(x))

    @torch.no_grad()
    def sample(self, n: int, *, mean: bool = True) -> Tensor:
        """n images: z₂ ~ p(z₂), z₁ ~ p(z₁|z₂), then E[x|z₁] (``mean=True``) or x ~ p(x|z₁)."""
        n = validate.count(n, "n")
        p = self.likelihood(self.prior.sample((n,)))
        return p.mean if mean else p.sample()


# --- the Monte Carlo ELBO and its training loop ---------------------------------------------
def negative_elbo_mc(model, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """One-sample −ELBO with a Monte Carlo KL term (lesson 6e).

    −ELBO(x) ≈ −log p(x|z) + [log q(z|x) − log p(z)],  z ~ q(z|x) reparameterized,

    an unbiased estimate of −ELBO for any prior with a ``log_prob`` — a learned mixture, or
    p(z₁, z₂) = p(z₂) p(z₁|z₂) — where lesson 6's closed-form KL to N(0, I) does not apply.

    Args:
        model: a model of the course's protocol whose ``approximate_posterior(x)`` has
            ``rsample`` (``VAE``, ``MixturePriorVAE``, ``TwoLevelVAE``).
        x: images (N, 1, 28, 28), N ≥ 1, values in [0, 1].
    Returns:
        (loss, recon, kl): scalar tensors, nats per image averaged over the batch; loss =
        recon + kl. kl is a one-sample estimate and can be negative for one batch.
    Raises:
        ValueError: x is not a batch of images in [0, 1] (``vae_utils.validate.images``).
    Source: Kingma & Welling 2014, "Auto-Encoding Variational Bayes", eq. 6 (the generic
    SGVB estimator, before the closed-form KL of eq. 10).
    """
    x = validate.images(x, like=model)
    q = model.approximate_posterior(x)
    z = q.rsample()
    recon = -model.likelihood(z).log_prob(x).mean()
    kl = (q.log_prob(z) - model.prior.log_prob(z)).mean()
    return recon + kl, recon, kl


def train_elbo_mc(model: nn.Module, train_x: Tensor, *, epochs: int = 150, batch_size: int = 128,
                  lr: float = 2e-3, seed: int | None = 0, progress: bool = True) -> dict[str, list]:
    """Train ``model`` on ``negative_elbo_mc`` with lesson 6's recipe, on the CPU (lesson 6e).

    The recipe of ``vae_utils.train.train_vae``: Adam on a cosine schedule (``cosine_lr``)
    from ``lr``, batches of ``batch_size`` in a fresh random order each epoch, and dynamic
    binarization of grayscale digits (a fresh x ~ Bernoulli(intensity) every epoch). Only
    the loss differs: its KL is estimated by Monte Carlo, so any prior trains.

    Args:
        model: ``MixturePriorVAE``, ``TwoLevelVAE`` or any model ``negative_elbo_mc`` takes.
        train_x: images (N, 1, 28, 28) in [0, 1], grayscale or binary.
        epochs, batch_size: ≥ 1. lr: > 0. seed: seeds shuffling, binarization and noise.
        progress: a tqdm bar over epochs.
    Returns:
        history: ``epoch``, ``train_loss`` (mean one-sample −ELBO of the epoch, nats per image),
        ``seconds`` (per epoch), ``lr``.
    Raises:
        ValueError: bad images or hyper-parameters. FloatingPointError: the loss diverged.
    """
    train_x = validate.images(train_x, "train_x", like=model)
    epochs, batch_size = validate.count(epochs, "epochs"), validate.count(batch_size, "batch_size")
    lr = validate.number(lr, "lr", minimum=0)
    if seed is not None:
        torch.manual_seed(seed)
    model.train()
    grayscale = bool(((train_x > 0) & (train_x < 1)).any())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist: dict[str, list] = {"epoch": [], "train_loss": [], "seconds": [], "lr": []}
    n = len(train_x)
    bar = range(1, epochs + 1)
    if progress:
        bar = progress_bar(bar, desc="training", unit="epoch")
    import time
    for epoch in bar:
        t0 = time.perf_counter()
        lr_e = cosine_lr(lr, epoch, epochs)
        for group in opt.param_groups:
            group["lr"] = lr_e
        x = train_x[torch.randperm(n)]
        if grayscale:
            x = (torch.rand_like(x) < x).to(x.dtype)
        total = 0.0
        for i in range(0, n, batch_size):
            xb = x[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss, _, _ = negative_elbo_mc(model, xb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        if not math.isfinite(total):
            raise FloatingPointError(f"training diverged at epoch {epoch}; lower lr (lr={lr}).")
        hist["epoch"].append(epoch)
        hist["train_loss"].append(total / n)
        hist["seconds"].append(time.perf_counter() - t0)
        hist["lr"].append(lr_e)
    model.eval()
    return hist


# --- shipped weights ------------------------------------------------------------------------
# name → (class, keyword arguments). Both trained by `python scripts/train_course_model.py
# --models mog2 twolevel` with train_elbo_mc's defaults (150 epochs, seed 0) on the 4,000
# embedded grayscale training digits.
BEYOND_MODELS: dict[str, tuple[type, dict]] = {
    "mog2": (MixturePriorVAE, {"latent_dim": 2, "hidden": 400, "n_components": 10}),
    "twolevel": (TwoLevelVAE, {"d1": 20, "d2": 10, "hidden": 394, "hidden2": 100}),
}

# How the shipped files were trained and scored, as scripts/train_course_model.py printed it
# (its JSON record next to the weights); test scores on the 1,000 embedded test digits (fixed
# binarization): one-sample −ELBO and −log p(x) by importance sampling with the encoder as
# proposal, k = 500 (a stochastic upper bound of −log p(x)).
# Written on a shared 2-core machine (other jobs running: see the load averages).
BEYOND_RECORDS: dict[str, dict] = {
    "mog2": {"epochs": 150, "train_seconds": 330.5, "device": "cpu", "torch_threads": 1, "cpu": "AMD EPYC",
             "cpu_cores": 2, "load_average_start": 0.71, "load_average_end": 4.69,
             "parameters": 631238, "test_neg_elbo": 155.37, "test_neg_log_px_is_k500": 150.31},
    "twolevel": {"epochs": 150, "train_seconds": 732.6, "device": "cpu", "torch_threads": 1, "cpu": "AMD EPYC",
                 "cpu_cores": 2, "load_average_start": 6.71, "load_average_end": 15.66,
                 "parameters": 652304, "test_neg_elbo": 89.71, "test_neg_log_px_is_k500": 83.99},
}


def beyond_weights_path(name: str) -> Path:
    """Path of the shipped ``state_dict`` of model ``name`` of ``BEYOND_MODELS``.

    Raises: ValueError: unknown ``name``."""
    if name not in BEYOND_MODELS:
        raise ValueError(f"name must be one of {tuple(BEYOND_MODELS)}, got {name!r}.")
    return Path(__file__).resolve().parent / "weights" / f"beyond_{name}.pt"


def load_beyond(name: str) -> nn.Module:
    """The shipped model ``name`` (``"mog2"``: ``MixturePriorVAE``, 2-D, 10 components;
    ``"twolevel"``: ``TwoLevelVAE``, d₁ = 20, d₂ = 10), on the CPU in eval mode.

    Raises:
        ValueError: unknown ``name``.
        FileNotFoundError: the weights are missing (the message says how to retrain them).
    """
    path = beyond_weights_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"weights {path} not found: restore them with `git checkout -- "
                                f"vae_utils/weights/` or retrain with `python scripts/train_course_model.py "
                                f"--models {name}`.")
    cls, kwargs = BEYOND_MODELS[name]
    model = cls(**kwargs)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()
