"""Explicit models on a 2-D toy whose density is known (lesson 6e).

* ``ring_of_gaussians`` — the data distribution: 8 Gaussians on a circle, an exact
  ``torch.distributions`` mixture (its ``log_prob`` is the truth the models are scored against);
* ``RealNVP2D`` — a normalizing flow of affine coupling layers: exact log p(x) by the change of
  variables, sampling by running the layers backwards (Dinh, Sohl-Dickstein & Bengio 2017);
* ``ToyVAE`` — a VAE for 2-D points with a Gaussian decoder of learned variance, following the
  course's protocol, so ``log_marginal_is`` bounds its log p(x);
* ``train_toy`` — Adam on minibatches of the toy data; ``TOY_MODELS``, ``load_toy`` — the
  shipped weights (``scripts/train_course_model.py --models toy2d``).

The lesson's GAN is written in the notebook itself. All log densities are in nats per point.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from . import validate

__all__ = ["ring_of_gaussians", "AffineCoupling", "RealNVP2D", "ToyVAE", "train_toy", "TOY_MODELS",
           "TOY_STEPS", "TOY_RECORDS", "toy_weights_path", "load_toy", "small_mlp"]


def ring_of_gaussians(n_modes: int = 8, radius: float = 2.0, sd: float = 0.2) -> MixtureSameFamily:
    """n_modes equally weighted Gaussians N(m_k, sd² I) with means m_k on a circle of ``radius``.

    Returns:
        ``MixtureSameFamily`` over R² (event shape (2,)), float32; ``log_prob`` in nats.
    Raises:
        ValueError: n_modes < 1, radius < 0 or sd ≤ 0.
    """
    n_modes = validate.count(n_modes, "n_modes")
    radius = validate.number(radius, "radius", minimum=0, strict=False)
    sd = validate.number(sd, "sd", minimum=0)
    angle = torch.arange(n_modes) * 2 * math.pi / n_modes
    means = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    return MixtureSameFamily(Categorical(logits=torch.zeros(n_modes)),
                             Independent(Normal(means, torch.full_like(means, sd)), 1))


def small_mlp(n_in: int, n_out: int, hidden: int = 32) -> nn.Sequential:
    """n_in → hidden → hidden → n_out with ReLUs: the network inside every toy model."""
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, n_out))


class AffineCoupling(nn.Module):
    """One affine coupling layer on R²: keeps one coordinate a, transforms the other,

        b' = b · exp(s(a)) + t(a),   log |det ∂(a, b')/∂(a, b)| = s(a),

    with s = tanh(·) of a small network's first output (bounded scales keep training stable) and
    t its second. ``flip`` chooses which coordinate is kept. Its inverse is b = (b' − t(a)) · exp(−s(a)).
    Source: Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP", §3.2–3.3.
    """

    def __init__(self, flip: bool, hidden: int = 32):
        super().__init__()
        self.flip = bool(flip)
        self.net = small_mlp(1, 2, hidden)

    def _split(self, v: Tensor) -> tuple[Tensor, Tensor]:
        return (v[:, 1:], v[:, :1]) if self.flip else (v[:, :1], v[:, 1:])

    def _join(self, a: Tensor, b: Tensor) -> Tensor:
        return torch.cat([b, a], 1) if self.flip else torch.cat([a, b], 1)

    def _scale_shift(self, a: Tensor) -> tuple[Tensor, Tensor]:
        s, t = self.net(a).chunk(2, dim=1)
        return torch.tanh(s), t

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (N, 2) → (y (N, 2), log |det ∂y/∂x| (N,))."""
        a, b = self._split(x)
        s, t = self._scale_shift(a)
        return self._join(a, b * s.exp() + t), s.squeeze(1)

    def inverse(self, y: Tensor) -> Tensor:
        """y (N, 2) → x (N, 2), the exact inverse of ``forward``."""
        a, b = self._split(y)
        s, t = self._scale_shift(a)
        return self._join(a, (b - t) * (-s).exp())


class RealNVP2D(nn.Module):
    """A normalizing flow on R²: x → u = f(x) through ``n_layers`` affine couplings (alternating
    the kept coordinate), u ~ N(0, I).

    log p(x) = log N(f(x); 0, I) + Σ_layers log |det ∂f_l/∂(input)|   (exact, nats);
    sampling: u ~ N(0, I), then the layers' inverses in reverse order.

    Args:
        n_layers: ≥ 1. hidden: width of each coupling's network.
    Source: Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation using Real NVP", eq. 3.
    """

    def __init__(self, n_layers: int = 6, hidden: int = 32):
        super().__init__()
        n_layers = validate.count(n_layers, "n_layers")
        self.layers = nn.ModuleList(AffineCoupling(i % 2 == 1, hidden) for i in range(n_layers))

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x) of points x (N, 2), shape (N,), nats.

        Raises ValueError: x not of shape (N, 2)."""
        if x.dim() != 2 or x.shape[1] != 2:
            raise ValueError(f"x must have shape (N, 2), got {tuple(x.shape)}.")
        log_det = torch.zeros(len(x), dtype=x.dtype, device=x.device)
        for layer in self.layers:
            x, ld = layer(x)
            log_det = log_det + ld
        return Normal(0.0, 1.0).log_prob(x).sum(1) + log_det

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """n points (n, 2): u ~ N(0, I) through the inverse layers."""
        u = torch.randn(validate.count(n, "n"), 2)
        for layer in reversed(self.layers):
            u = layer.inverse(u)
        return u


class ToyVAE(nn.Module):
    """A VAE for points x ∈ R² with a 2-D latent z (lesson 6e).

    p(z) = N(0, I); p(x|z) = N(μ(z), obs_sd² I) with μ from a small MLP and a fixed output noise
    ``obs_sd``; q(z|x) = N(μ_q(x), diag σ_q²(x)). The course's protocol (``prior``,
    ``likelihood(z)``, ``approximate_posterior(x)``), so ``log_marginal_is`` gives a stochastic lower
    bound of log p(x).

    The output noise is fixed, not learned: with a learned variance this small VAE settles, on
    the ring of Gaussians, into posterior collapse — a decoder that ignores z and one wide Gaussian
    (lesson 6c) — found when the course's toy model was first trained.

    Args:
        hidden: width of the MLPs. obs_sd: the output noise σ > 0.
    """

    def __init__(self, hidden: int = 32, obs_sd: float = 0.1):
        super().__init__()
        self.obs_sd = validate.number(obs_sd, "obs_sd", minimum=0)
        self.encoder, self.decoder = small_mlp(2, 4, hidden), small_mlp(2, 2, hidden)
        self.register_buffer("prior_loc", torch.zeros(2))

    @property
    def prior(self) -> Independent:
        """N(0, I) over z ∈ R²."""
        return Independent(Normal(self.prior_loc, torch.ones_like(self.prior_loc)), 1)

    def likelihood(self, z: Tensor) -> Independent:
        """p(x|z): batch z.shape[:-1], event (2,)."""
        mu = self.decoder(z)
        return Independent(Normal(mu, torch.full_like(mu, self.obs_sd)), 1)

    def approximate_posterior(self, x: Tensor) -> Independent:
        """q(z|x): batch (N,), event (2,)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)

    def negative_elbo(self, x: Tensor) -> Tensor:
        """One-sample −ELBO averaged over x (N, 2): −log p(x|z) − log p(z) + log q(z|x), z ~ q."""
        q = self.approximate_posterior(x)
        z = q.rsample()
        return -(self.likelihood(z).log_prob(x) + self.prior.log_prob(z) - q.log_prob(z)).mean()

    @torch.no_grad()
    def sample(self, n: int, *, mean: bool = False) -> Tensor:
        """n points: z ~ p(z), then x ~ p(x|z) (or its mean μ(z) with ``mean=True``)."""
        p = self.likelihood(self.prior.sample((validate.count(n, "n"),)))
        return p.mean if mean else p.sample()


def train_toy(loss_fn, params, data: Tensor, *, steps: int, batch_size: int = 512, lr: float = 3e-3,
              seed: int = 0) -> list[float]:
    """Adam on ``loss_fn(batch)`` for ``steps`` minibatches drawn with replacement from data (N, 2).

    Returns: the loss of every step (floats). Raises ValueError: bad counts or lr."""
    steps, batch_size = validate.count(steps, "steps"), validate.count(batch_size, "batch_size")
    lr = validate.number(lr, "lr", minimum=0)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(data[torch.randint(len(data), (batch_size,), generator=g)])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


# The shipped toy models: trained by `python scripts/train_course_model.py --models toy2d`
# on 20,000 points of ring_of_gaussians() (seed 0) with train_toy, TOY_STEPS steps each.
TOY_MODELS: dict[str, type] = {"flow": RealNVP2D, "vae": ToyVAE}
TOY_STEPS = 3000
# As the training script recorded them (vae_utils/weights/toy2d_*.json; a shared 2-core machine):
# test log p(x) of 5,000 fresh points, nats (the truth's own is about −1.70).
TOY_RECORDS: dict[str, dict] = {
    "flow": {"steps": 3000, "train_seconds": 199.6, "torch_threads": 1, "load_average_start": 4.65,
             "load_average_end": 7.93, "test_log_px": -1.892, "test_log_px_estimator": "exact"},
    "vae": {"steps": 3000, "train_seconds": 53.8, "torch_threads": 1, "load_average_start": 10.25,
            "load_average_end": 10.18, "test_log_px": -2.34,
            "test_log_px_estimator": "IS, encoder proposal, K = 100"},
}


def toy_weights_path(name: str) -> Path:
    """Path of the shipped toy model ``name`` (``"flow"`` or ``"vae"``). Raises ValueError: unknown name."""
    if name not in TOY_MODELS:
        raise ValueError(f"name must be one of {tuple(TOY_MODELS)}, got {name!r}.")
    return Path(__file__).resolve().parent / "weights" / f"toy2d_{name}.pt"


def load_toy(name: str) -> nn.Module:
    """The shipped toy ``RealNVP2D`` (``"flow"``) or ``ToyVAE`` (``"vae"``), eval mode.

    Raises: ValueError: unknown name. FileNotFoundError: weights missing (says how to retrain)."""
    path = toy_weights_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: retrain with `python scripts/train_course_model.py "
                                f"--models toy2d`.")
    model = TOY_MODELS[name]()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval()


def toy_data(n: int = 20_000, seed: int = 0) -> Tensor:
    """n training points of ``ring_of_gaussians()``, drawn with a generator seeded by ``seed``."""
    torch.manual_seed(seed)
    return ring_of_gaussians().sample((validate.count(n, "n"),))
