"""Training speed of ``train_vae`` against the usual per-sample DataLoader loop.

    python benchmarks/train_speed.py                      # every available device
    python benchmarks/train_speed.py --device cuda --rounds 5 --epochs 5

Two training loops train the same model, ``VAE(latent_dim=20)`` (784-400-20 MLP), with the
same loss (``negative_elbo``), optimizer (Adam, learning rate 1e-3) and batch size (128)
on the training split of ``load_mnist`` (the 4,000 embedded digits unless full MNIST is
present):

* **DataLoader recipe** — the loop of the pytorch/examples VAE (``vae/main.py`` in
  https://github.com/pytorch/examples), written out in this file: a ``Dataset`` that
  returns one image at a time, a ``DataLoader(batch_size=128, shuffle=True)`` that
  collates each batch from 128 separate items, a ``.to(device)`` copy of every batch
  (from pinned memory on CUDA, as the recipe asks for), and a ``loss.item()`` read after
  every step to accumulate the epoch's loss — one host/device synchronization per batch.
  Two differences from the recipe, both in its favour: the Dataset indexes a tensor that
  is already decoded (the recipe converts a PIL image with ``ToTensor`` per item), and
  ``num_workers`` is 0 by default (the recipe's choice on CPU; on CUDA it uses one worker
  process, which ``--workers 1`` reproduces).
* **train_vae** — ``vae_utils.train.train_vae``: the data tensor is moved to the device
  once, each epoch indexes it with a random permutation, and the losses are read back once
  per epoch.

The two are measured alternately (recipe, train_vae, recipe, train_vae, … for ``--rounds``
rounds) after one warm-up run of each, so that a change in the machine's load affects both
alike; each run trains a fresh model for ``--epochs`` epochs and is timed from start to
end (synchronizing the device before the clock is read). The table gives the median
images/s of each loop, the spread (min–max) over rounds, and the ratio of the medians.

Last, the time of one 60,000-image epoch of ``train_vae`` (the digits repeated to 60,000)
is the median of ``--repeats`` one-epoch runs after a warm-up; the repeated data already
sits on the device, as it does after the first epoch of any ``train_vae`` run.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch.utils.data import DataLoader, Dataset

from vae_utils.data import load_mnist
from vae_utils.train import train_vae
from vae_utils.vae import VAE, negative_elbo

BATCH_SIZE = 128
LR = 1e-3          # the pytorch/examples VAE's learning rate, used by both loops here
EPOCH_IMAGES = 60_000


class OneImageAtATime(Dataset):
    """A map-style Dataset over an image tensor: item ``i`` is ``(image_i, 0)``, the
    (image, label) pair a torchvision dataset yields; the DataLoader collates the items."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        return self.images[i], 0


def dataloader_recipe(model: VAE, images: torch.Tensor, *, epochs: int, device: torch.device,
                      workers: int = 0, seed: int = 0) -> list[float]:
    """Train ``model`` the pytorch/examples way; returns the mean loss of each epoch."""
    torch.manual_seed(seed)
    cuda = device.type == "cuda"
    loader = DataLoader(OneImageAtATime(images), batch_size=BATCH_SIZE, shuffle=True,
                        num_workers=workers, pin_memory=cuda)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    losses = []
    for _ in range(epochs):
        total = 0.0
        for xb, _ in loader:
            xb = xb.to(device)
            opt.zero_grad()
            loss, _, _ = negative_elbo(model, xb)
            loss.backward()
            total += loss.item() * len(xb)
            opt.step()
        losses.append(total / len(images))
    return losses


def ours(model: VAE, images: torch.Tensor, *, epochs: int, device: torch.device,
         seed: int = 0) -> list[float]:
    hist = train_vae(model, images, epochs=epochs, batch_size=BATCH_SIZE, lr=LR,
                     device=device, progress=False, seed=seed)
    return hist["train_loss"]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def timed(fn, device: torch.device, **kwargs) -> tuple[float, list[float]]:
    """Seconds one call of ``fn(VAE(20), **kwargs)`` takes, and what it returned."""
    model = VAE(latent_dim=20)
    synchronize(device)
    t0 = time.perf_counter()
    out = fn(model, device=device, **kwargs)
    synchronize(device)
    return time.perf_counter() - t0, out


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def available_devices() -> list[str]:
    devs = ["cpu"]
    if torch.cuda.is_available():
        devs.append("cuda")
    if mps_available():
        devs.append("mps")
    return devs


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return f"Apple MPS ({platform.machine()})"
    name = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name or 'CPU'}, {platform.machine()}"


def bench_device(dev_name: str, images: torch.Tensor, args) -> dict:
    device = torch.device(dev_name)
    n = len(images)
    print(f"\n{dev_name}: {device_name(device)}", flush=True)

    # Warm-up: allocator, kernels, DataLoader machinery.
    timed(dataloader_recipe, device, images=images, epochs=1, workers=args.workers)
    timed(ours, device, images=images, epochs=1)

    rate = {"recipe": [], "train_vae": []}
    for r in range(args.rounds):
        s_dl, loss_dl = timed(dataloader_recipe, device, images=images, epochs=args.epochs,
                              workers=args.workers, seed=r)
        s_tv, loss_tv = timed(ours, device, images=images, epochs=args.epochs, seed=r)
        rate["recipe"].append(n * args.epochs / s_dl)
        rate["train_vae"].append(n * args.epochs / s_tv)
        print(f"  round {r + 1}/{args.rounds}: recipe {rate['recipe'][-1]:9,.0f} images/s "
              f"(last-epoch −ELBO {loss_dl[-1]:6.1f}), train_vae {rate['train_vae'][-1]:9,.0f} "
              f"images/s (−ELBO {loss_tv[-1]:6.1f})", flush=True)

    # One 60k-image epoch of train_vae, the data already on the device.
    reps = -(-EPOCH_IMAGES // n)
    big = images.repeat(reps, 1, 1, 1)[:EPOCH_IMAGES].to(device)
    timed(ours, device, images=big, epochs=1)  # warm-up
    epoch_s = [timed(ours, device, images=big, epochs=1, seed=i)[0] for i in range(args.repeats)]
    print("  60k-image epoch of train_vae: " + ", ".join(f"{s:.3f}" for s in epoch_s) + " s",
          flush=True)
    del big

    med = {k: statistics.median(v) for k, v in rate.items()}
    return {"device": dev_name, "name": device_name(device), "rate": rate, "median": med,
            "ratio": med["train_vae"] / med["recipe"], "epoch60k": statistics.median(epoch_s),
            "epoch60k_all": epoch_s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cpu", "cuda", "mps", "all"], default="all",
                    help="device to measure (default: all available)")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds per device")
    ap.add_argument("--epochs", type=int, default=5, help="epochs over the training digits per run")
    ap.add_argument("--repeats", type=int, default=3, help="timed 60k-image epochs per device")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader num_workers of the recipe")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()
    for name in ("rounds", "epochs", "repeats"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if args.workers < 0:
        ap.error("--workers must be at least 0")
    if args.threads is not None:
        if args.threads < 1:
            ap.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)

    if args.device == "all":
        devices = available_devices()
    else:
        devices = [args.device]
        if args.device == "cuda" and not torch.cuda.is_available():
            ap.error("--device cuda: no CUDA GPU is available")
        if args.device == "mps" and not mps_available():
            ap.error("--device mps: Apple MPS is not available")

    images, _ = load_mnist("train")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"{platform.system()} {platform.machine()}; {len(images)} training digits, batch "
          f"{BATCH_SIZE}, Adam lr {LR}; {args.rounds} rounds × {args.epochs} epochs, "
          f"recipe num_workers={args.workers}; devices: {', '.join(devices)}")
    results = [bench_device(d, images, args) for d in devices]

    print("\n| device | recipe images/s (min–max) | train_vae images/s (min–max) | ratio of medians "
          "(per round min–max) | 60k-image epoch |")
    print("|---|---|---|---|---|")
    for res in results:
        cells = []
        for k in ("recipe", "train_vae"):
            v = res["rate"][k]
            cells.append(f"{res['median'][k]:,.0f} ({min(v):,.0f}–{max(v):,.0f})")
        per_round = [t / b for b, t in zip(res["rate"]["recipe"], res["rate"]["train_vae"])]
        print(f"| {res['device']}: {res['name']} | {cells[0]} | {cells[1]} | "
              f"{res['ratio']:.2f}× ({min(per_round):.2f}–{max(per_round):.2f}) | {res['epoch60k']:.3f} s |")


if __name__ == "__main__":
    main()
