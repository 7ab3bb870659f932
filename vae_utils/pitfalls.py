"""Lesson 6c, section 1b: three broken training runs of the lesson-6 VAE to diagnose.

Each run is the lesson-6 recipe (``VAE(latent_dim=20)``, Adam at 2e-3 on the cosine schedule,
batches of 128, seed 0) with one bug, the kind found in a first VAE. The lesson shows each
run's log and pictures in an order that does not say which bug is which; the learner matches
runs to bugs (``vae_utils.checks.diagnose_runs``) before sections 2–4 explain them. A healthy
run of the same recipe is trained beside them for reference.

The bugs, as the training loop would contain them:

* **mean instead of sum** — ``F.binary_cross_entropy(..., reduction="mean") + kl.mean()``:
  the reconstruction divided by 784 and the KL by 20, i.e. recon + (784/20) · KL up to a
  constant factor; trained here as ``train_vae(..., beta=784 / 20)``, which is that objective
  times 784 (Adam's steps do not depend on a constant factor of the loss, up to its ε).
* **logvar read as log sigma** — the encoder's log σ² used as log σ where the sample is drawn,
  ``z = mu + torch.exp(logvar) * eps``, while the KL reads it rightly as log σ²: the code is
  sampled with σ², not σ (``train_logvar_as_log_sigma``).
* **Bernoulli on grayscale** — the Bernoulli likelihood scores the grayscale intensities
  themselves (no binarization): ``train_vae(..., dynamic_binarization=False)`` on grayscale
  digits. Its "recon" is a cross-entropy, not a log-likelihood.

Every log has the same columns, written the same way: the epoch's mean over the training images
of the loop's own reconstruction term and KL, per image in nats (summed over pixels and latent
units), and their sum. Each run is one training run, seed 0.
"""
from __future__ import annotations

import torch
from torch import Tensor

from . import validate
from .estimators import kl_normal_std_normal
from .train import DEFAULT_BATCH_SIZE, DEFAULT_LR, cosine_lr, evaluate, train_vae
from .vae import VAE

__all__ = ["BUGS", "train_logvar_as_log_sigma", "broken_runs"]

# The names a diagnosis chooses from: the three bugs of the runs and two that none of them has.
BUGS = ("KL term left out", "mean instead of sum", "Bernoulli on grayscale", "KL sign flipped",
        "logvar read as log sigma")

# Which run has which bug (the order the lesson shows them in); vae_utils.checks grades against it.
_KEY = {"run 1": "Bernoulli on grayscale", "run 2": "mean instead of sum", "run 3": "logvar read as log sigma"}


def train_logvar_as_log_sigma(model: VAE, train_x: Tensor, *, epochs: int, seed: int = 0,
                              batch_size: int = DEFAULT_BATCH_SIZE, lr: float = DEFAULT_LR) -> dict[str, list]:
    """Train ``model`` on the lesson-6 recipe with one bug: σ = exp(logvar) where the code is
    sampled (logvar, the encoder's log σ², read as log σ), the KL computed rightly from log σ².

    A plain PyTorch loop (lesson 6): Adam on the cosine schedule (``cosine_lr``), each epoch a
    fresh dynamic binarization of the grayscale ``train_x`` and a fresh shuffle, one sample
    z = mu + exp(logvar) ε per image, loss recon + KL summed over pixels and latent units and
    averaged over the batch. CPU only (the lesson trains it on the CPU).

    Args:
        model: a Bernoulli ``VAE``; trained in place, on the CPU.
        train_x: grayscale images (N, 1, 28, 28), float in [0, 1].
        epochs: passes over the data, ≥ 1.
        seed: seeds the shuffles, the binarization and the sampling noise.
    Returns:
        history: per-epoch lists ``epoch``, ``train_loss``, ``train_recon``, ``train_kl`` (nats per
        image, means over the epoch's images of the loop's own terms, as ``train_vae`` reports).
    Raises:
        ValueError: bad images or a non-positive ``epochs`` or ``batch_size`` (``vae_utils.validate``).
    """
    epochs, batch_size = validate.count(epochs, "epochs"), validate.count(batch_size, "batch_size")
    data = validate.images(train_x, "train_x", like=model)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist: dict[str, list] = {"epoch": [], "train_loss": [], "train_recon": [], "train_kl": []}
    model.train()
    for epoch in range(1, epochs + 1):
        for group in opt.param_groups:
            group["lr"] = cosine_lr(lr, epoch, epochs)
        x_all = torch.bernoulli(data)                      # dynamic binarization, as train_vae
        sums = torch.zeros(2)
        for idx in torch.randperm(len(data)).split(batch_size):
            x = x_all[idx]
            mu, logvar = model.encode(x)
            z = mu + torch.exp(logvar) * torch.randn_like(mu)   # the bug: exp(logvar) is σ², not σ
            recon = -model.likelihood(z).log_prob(x).mean()
            kl = kl_normal_std_normal(mu, logvar).mean()
            opt.zero_grad()
            (recon + kl).backward()
            opt.step()
            sums += torch.stack([recon.detach(), kl.detach()]) * len(x)
        recon_e, kl_e = (sums / len(data)).tolist()
        hist["epoch"].append(epoch)
        hist["train_recon"].append(recon_e)
        hist["train_kl"].append(kl_e)
        hist["train_loss"].append(recon_e + kl_e)
    return hist


def broken_runs(train_x: Tensor, test_x: Tensor, *, epochs: int = 20, device="cpu") -> dict[str, dict]:
    """The three broken runs of lesson 6c's section 1b and a healthy run for reference.

    Args:
        train_x: the grayscale training digits (N, 1, 28, 28), ``load_mnist("train", binarize=False)``.
        test_x: binarized test digits, scored by ``evaluate`` (the course's −ELBO: logvar read
            as log σ², terms summed) after training.
        epochs: epochs of every run (the same for all four).
        device: where ``train_vae`` trains; the models come back on the CPU, in eval mode.
    Returns:
        ``{"reference": run, "run 1": run, "run 2": run, "run 3": run}``; each run a dict with
        ``model`` (a ``VAE``), ``history`` (per-epoch ``train_recon``, ``train_kl``,
        ``train_loss``), ``test`` (``evaluate`` on ``test_x``) and ``fed`` (12 training images
        as the run's loss receives them: a binarization of the first 12 digits, or the
        intensities themselves).
    """
    def run(bug):
        torch.manual_seed(0)
        model = VAE(latent_dim=20)
        kw = dict(epochs=epochs, device=device, progress=False, seed=0)
        if bug == "logvar read as log sigma":
            hist = train_logvar_as_log_sigma(model, train_x, epochs=epochs, seed=0)
        elif bug == "mean instead of sum":
            hist = train_vae(model, train_x, beta=784 / 20, **kw)
        elif bug == "Bernoulli on grayscale":
            hist = train_vae(model, train_x, dynamic_binarization=False, **kw)
        else:
            hist = train_vae(model, train_x, **kw)
        model = model.cpu().eval()
        g = torch.Generator().manual_seed(1)
        fed = train_x[:12] if bug == "Bernoulli on grayscale" else torch.bernoulli(train_x[:12], generator=g)
        return {"model": model, "history": hist, "test": evaluate(model, test_x), "fed": fed}

    out = {"reference": run(None)}
    out.update({name: run(bug) for name, bug in _KEY.items()})
    return out
