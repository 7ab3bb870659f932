"""Training the VAE of lesson 6: device choice and a lean training loop.

The whole data set is moved to the device once, as one tensor, and each epoch visits it
in a random order by indexing that tensor with a permutation — no per-sample Dataset /
DataLoader, whose Python overhead per image dominates the cost of a small model.
"""
from __future__ import annotations

import math
import time

import torch
from torch import Tensor

from . import validate
from .vae import VAE, negative_elbo

__all__ = ["pick_device", "train_vae", "evaluate"]

# The lesson's recommended recipe (measured in benchmarks/README.md).
DEFAULT_EPOCHS = 50
DEFAULT_BATCH_SIZE = 128
DEFAULT_LR = 2e-3


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA if available, else Apple MPS, else CPU; anything else is passed to
    ``torch.device`` after checking that it is usable.

    Raises:
        ValueError: an unknown device string, or CUDA/MPS requested but not available.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda', 'mps' or a torch.device, got {device!r}.")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"device {device!r} is not a device torch knows ({e}); use 'auto', "
                         f"'cpu', 'cuda' or 'mps'.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but no CUDA GPU is available; use device='auto'.")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device='mps' was requested but Apple MPS is not available; use device='auto'.")
    return dev


def _adam(params, lr: float) -> torch.optim.Optimizer:
    """Adam with the fused kernel where this torch build has it for the device (about 28 % more
    images/s on a 2-core CPU, benchmarks/README.md), the standard one otherwise."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


@torch.no_grad()
def evaluate(model: VAE, x: Tensor, *, batch_size: int = 1000) -> dict[str, float]:
    """Mean one-sample −ELBO and its two terms over images ``x`` (N, 1, 28, 28), in eval mode.

    x (or flat (N, 784)) is converted to the model's dtype and moved to its device;
    ``batch_size`` images (any integer type, ≥ 1) are scored at a time.

    Returns:
        dict with ``loss``, ``recon``, ``kl``: floats, nats per image (loss = recon + kl).
    Raises:
        ValueError: x not a non-empty batch of images, not floating point, NaN, or outside
            [0, 1]; batch_size not a positive integer (``vae_utils.validate``).
    """
    x = validate.images(x, "x", like=model)
    batch_size = validate.count(batch_size, "batch_size")
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    totals = torch.zeros(3, device=dev)
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(dev, non_blocking=True)
        loss, recon, kl = negative_elbo(model, xb, check_input=False)
        totals += torch.stack([loss, recon, kl]) * len(xb)
    model.train(was_training)
    loss, recon, kl = (totals / len(x)).tolist()
    return {"loss": loss, "recon": recon, "kl": kl}


def train_vae(model: VAE, train_x: Tensor, *, epochs: int = DEFAULT_EPOCHS,
              batch_size: int = DEFAULT_BATCH_SIZE, lr: float = DEFAULT_LR,
              device: str | torch.device = "auto", test_x: Tensor | None = None,
              progress: bool = True, seed: int | None = 0, beta: float = 1.0,
              kl_warmup: int = 0) -> dict[str, list]:
    """Train ``model`` by minimising the one-sample −ELBO with Adam (lesson 6).

    Defaults are the lesson's recipe: Adam, learning rate 2e-3, batch 128, 50 epochs; with
    ``VAE(latent_dim=20)`` on the 4,000 embedded digits about 7 s on a 2-core CPU and about
    91 nats of test −log p(x) (benchmarks/README.md has the measurements).

    Args:
        model: a ``VAE``; moved to the chosen device in place.
        train_x: training images (N, 1, 28, 28), float in [0, 1] (binary for a valid likelihood).
        epochs: passes over the data, ≥ 1.
        batch_size: images per gradient step, ≥ 1.
        lr: Adam learning rate, > 0.
        device: ``"auto"`` (CUDA, then Apple MPS, then CPU), or a device name.
        test_x: optional held-out images, evaluated (−ELBO, recon, KL) after every epoch.
        progress: show a tqdm progress bar over epochs.
        seed: seeds the shuffling and the reparameterization noise (``None``: not seeded).
        beta: weight of the KL term in the training loss recon + beta · KL (1 = the ELBO;
            0 drops the KL, which makes the model a plain autoencoder with noisy codes).
            Higgins et al. 2017, "β-VAE".
        kl_warmup: epochs over which the KL weight rises linearly from beta/kl_warmup to
            beta ("KL annealing"; Bowman et al. 2016, §3.1); 0 = no warm-up.
    Returns:
        history: dict of per-epoch lists — ``epoch``, ``train_loss``, ``train_recon``,
        ``train_kl`` (means over the epoch's batches, nats per image), ``seconds``
        (wall-clock per epoch), and ``test_loss``, ``test_recon``, ``test_kl`` when
        ``test_x`` is given; ``beta`` (the KL weight used in each epoch); plus ``device`` (str).
        ``train_loss`` is always recon + KL, the −ELBO, whatever the KL weight.
    Raises:
        ValueError: bad shapes or hyper-parameters, an unavailable device, NaN or values
            outside [0, 1] in ``train_x`` or ``test_x`` (``vae_utils.validate``; integers of
            any integer type are accepted, float64 images are converted to the model's dtype).
        FloatingPointError: the loss became NaN or infinite (the message names the epoch).
    """
    train_x = validate.images(train_x, "train_x", like=model)
    if test_x is not None:
        test_x = validate.images(test_x, "test_x", like=model)
    epochs, batch_size = validate.count(epochs, "epochs"), validate.count(batch_size, "batch_size")
    lr = validate.number(lr, "lr", minimum=0)
    beta = validate.number(beta, "beta", minimum=0, strict=False)
    kl_warmup = validate.count(kl_warmup, "kl_warmup", minimum=0)
    dev = pick_device(device)
    if seed is not None:
        torch.manual_seed(seed)
    model.to(dev).train()
    data = train_x.to(dev)
    n = len(data)
    opt = _adam(model.parameters(), lr)
    hist: dict[str, list] = {k: [] for k in ("epoch", "train_loss", "train_recon", "train_kl", "seconds",
                                             "beta")}
    if test_x is not None:
        hist.update(test_loss=[], test_recon=[], test_kl=[])
    hist["device"] = str(dev)

    bar = range(1, epochs + 1)
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(bar, desc=f"training on {dev.type}", unit="epoch")
    for epoch in bar:
        t0 = time.perf_counter()
        perm = torch.randperm(n, device=dev)
        sums = torch.zeros(3, device=dev)
        weight = beta * min(1.0, epoch / kl_warmup) if kl_warmup else beta
        for i in range(0, n, batch_size):
            xb = data[perm[i:i + batch_size]]
            loss, recon, kl = negative_elbo(model, xb, check_input=False)  # data checked once above
            opt.zero_grad(set_to_none=True)
            (loss if weight == 1.0 else recon + weight * kl).backward()
            opt.step()
            sums += torch.stack([loss.detach(), recon.detach(), kl.detach()]) * len(xb)
        loss_e, recon_e, kl_e = (sums / n).tolist()  # one device sync per epoch
        if not all(math.isfinite(v) for v in (loss_e, recon_e, kl_e)):
            raise FloatingPointError(
                f"training diverged at epoch {epoch}: −ELBO = {loss_e} (recon {recon_e}, KL {kl_e}). "
                f"Lower the learning rate (lr={lr}) or check the data for NaN/inf values.")
        hist["epoch"].append(epoch)
        hist["beta"].append(weight)
        hist["train_loss"].append(loss_e)
        hist["train_recon"].append(recon_e)
        hist["train_kl"].append(kl_e)
        if test_x is not None:
            ev = evaluate(model, test_x)
            model.train()
            for k in ("loss", "recon", "kl"):
                hist[f"test_{k}"].append(ev[k])
        hist["seconds"].append(time.perf_counter() - t0)
        if progress:
            post = {"train": f"{loss_e:.1f}"}
            if test_x is not None:
                post["test"] = f"{hist['test_loss'][-1]:.1f}"
            bar.set_postfix(post)
    model.eval()
    return hist
