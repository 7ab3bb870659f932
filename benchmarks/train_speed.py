"""Training speed and time to quality of ``train_vae`` against the usual DataLoader loop.

    python benchmarks/train_speed.py                      # every available device, all parts
    python benchmarks/train_speed.py --device cuda
    python benchmarks/train_speed.py --parts quality      # only the time-to-quality part

Three parts, each on every device present (CPU always, CUDA and Apple MPS when available;
a device that is absent gets a "not measured" row in the tables):

1. **Time to quality** (``--parts quality``). The DataLoader recipe of the pytorch/examples
   VAE trains ``VAE(latent_dim=20)`` (784-400-20 MLP) for 100 epochs, Adam lr 1e-3, batch 128,
   on the grayscale training digits (``load_mnist("train", binarize=False)``, as the
   recipe's ``ToTensor`` gives them); its wall time and its test −log p(x) are measured
   (importance sampling with the encoder as proposal, k = 500, on the test digits binarized
   at a fixed threshold, ``load_mnist("test")``). Then ``train_vae`` with its defaults (the
   recommended recipe: cosine schedule, dynamic binarization) on the same grayscale digits,
   for an increasing number of epochs (``--ladder``), each a fresh run with its full
   schedule, until its test −log p(x) is at most the recipe's; the time to quality is the
   training time of the shortest such run. ``--recipe-data binary`` (or ``both``) also
   trains the recipe on the binarized digits, the data of the lessons.
2. **Throughput** (``--parts speed``). Both loops train with the same loss, optimizer (Adam,
   lr 1e-3, constant), batch size (128) and binarized digits, alternately (recipe,
   train_vae, recipe, … for ``--rounds`` rounds of ``--epochs`` epochs) after one warm-up run
   of each, so that a change in the machine's load affects both alike; the table gives the
   median images/s of each loop, the spread over rounds and the ratio of the medians.
3. **A 60,000-image epoch** of ``train_vae`` (``--parts epoch``): the binarized training
   digits repeated to 60,000 (or full MNIST's 60,000 when present), batch 128; the median
   of ``--repeats`` one-epoch runs after a warm-up. The data already sit on the device, as
   after the first epoch of any run; CUDA-graph capture is included in each run's time.

The **DataLoader recipe** is the loop of ``vae/main.py`` in https://github.com/pytorch/examples,
written out in this file: a ``Dataset`` that returns one image at a time, a
``DataLoader(batch_size=128, shuffle=True)`` that collates each batch from 128 separate
items, a ``.to(device)`` copy of every batch (from pinned memory on CUDA, as the recipe asks
for), and a ``loss.item()`` read after every step — one host/device synchronization per
batch. Differences from the recipe, all in its favour: the Dataset indexes a tensor that is
already decoded (the recipe converts a PIL image with ``ToTensor`` per item),
``num_workers`` is 0 by default (the recipe's choice on CPU; on CUDA it uses one worker
process, which ``--workers 1`` reproduces), and the loss skips the course's range check.
**train_vae** (``vae_utils.train``) moves the data tensor to the device once, indexes it
with a random permutation per epoch, reads the losses back once per epoch, and on CUDA
replays the step captured in a CUDA graph.

With full MNIST in ``data/MNIST/raw/`` every part uses its 60,000 / 10,000 digits (a
100-epoch recipe run then takes about 15 times longer than on the 4,000 embedded digits).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch.utils.data import DataLoader, Dataset

from vae_quality import available_devices, test_nll  # benchmarks/vae_quality.py, next to this file
from vae_utils.data import load_mnist
from vae_utils.train import train_vae
from vae_utils.vae import VAE, negative_elbo

BATCH_SIZE = 128
LR = 1e-3            # the pytorch/examples VAE's learning rate
RECIPE_EPOCHS = 100  # … and its number of epochs (its --epochs default is 10; 100 is the reference)
EPOCH_IMAGES = 60_000
LADDER = (5, 10, 20, 30, 50, 75, 100, 150)
DEVICES = ("cpu", "cuda", "mps")


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
            loss, _, _ = negative_elbo(model, xb, check_input=False)
            loss.backward()
            total += loss.item() * len(xb)
            opt.step()
        losses.append(total / len(images))
    return losses


def ours(model: VAE, images: torch.Tensor, *, epochs: int, device: torch.device,
         seed: int = 0, **kwargs) -> list[float]:
    hist = train_vae(model, images, epochs=epochs, device=device, progress=False, seed=seed, **kwargs)
    return hist["train_loss"]


def ours_constant(model: VAE, images: torch.Tensor, *, epochs: int, device: torch.device,
                  seed: int = 0) -> list[float]:
    """train_vae with the recipe's hyper-parameters (constant lr 1e-3, batch 128)."""
    return ours(model, images, epochs=epochs, device=device, seed=seed, batch_size=BATCH_SIZE,
                lr=LR, lr_schedule="constant")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def timed(fn, device: torch.device, model: VAE | None = None, **kwargs) -> tuple[float, list[float]]:
    """Seconds one call of ``fn(model, **kwargs)`` takes (a fresh ``VAE(20)`` by default), and
    what it returned."""
    model = VAE(latent_dim=20) if model is None else model
    synchronize(device)
    t0 = time.perf_counter()
    out = fn(model, device=device, **kwargs)
    synchronize(device)
    return time.perf_counter() - t0, out


def mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


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


def time_to_quality(device: torch.device, data: dict, args) -> dict:
    """The recipe's 100-epoch time and test NLL; the shortest train_vae run that matches it."""
    test_x = data["test"]
    timed(dataloader_recipe, device, images=data["gray"][:1024], epochs=1, workers=args.workers)  # warm-up
    timed(ours, device, images=data["gray"][:1024], epochs=1)
    recipe = {}
    kinds = ["gray", "binary"] if args.recipe_data == "both" else [args.recipe_data]
    for kind in kinds:
        model = VAE(latent_dim=20)
        secs, losses = timed(dataloader_recipe, device, model=model, images=data[kind],
                             epochs=RECIPE_EPOCHS, workers=args.workers)
        recipe[kind] = {"seconds": secs, "nll": test_nll(model, test_x, args.k)}
        print(f"  recipe, {RECIPE_EPOCHS} epochs on {kind} digits: {secs:.1f} s, last-epoch −ELBO "
              f"{losses[-1]:.2f}, test −log p(x) {recipe[kind]['nll']:.2f} nats", flush=True)
    target = min(r["nll"] for r in recipe.values())
    ladder = []
    for epochs in args.ladder:
        model = VAE(latent_dim=20)
        secs, _ = timed(ours, device, model=model, images=data["gray"], epochs=epochs)
        ladder.append({"epochs": epochs, "seconds": secs, "nll": test_nll(model, test_x, args.k)})
        print(f"  train_vae, {epochs} epochs (recommended recipe, cosine over {epochs}): {secs:.1f} s, "
              f"test −log p(x) {ladder[-1]['nll']:.2f} nats", flush=True)
        if ladder[-1]["nll"] <= target:
            break
    for kind, r in recipe.items():
        hit = next((run for run in ladder if run["nll"] <= r["nll"]), None)
        r["train_vae"] = hit
        r["speedup"] = r["seconds"] / hit["seconds"] if hit else None
    return recipe


def throughput(device: torch.device, images: torch.Tensor, args) -> dict:
    n = len(images)
    timed(dataloader_recipe, device, images=images, epochs=1, workers=args.workers)  # warm-up
    timed(ours_constant, device, images=images, epochs=1)
    rate = {"recipe": [], "train_vae": []}
    for r in range(args.rounds):
        s_dl, loss_dl = timed(dataloader_recipe, device, images=images, epochs=args.epochs,
                              workers=args.workers, seed=r)
        s_tv, loss_tv = timed(ours_constant, device, images=images, epochs=args.epochs, seed=r)
        rate["recipe"].append(n * args.epochs / s_dl)
        rate["train_vae"].append(n * args.epochs / s_tv)
        print(f"  round {r + 1}/{args.rounds}: recipe {rate['recipe'][-1]:9,.0f} images/s "
              f"(last-epoch −ELBO {loss_dl[-1]:6.1f}), train_vae {rate['train_vae'][-1]:9,.0f} "
              f"images/s (−ELBO {loss_tv[-1]:6.1f})", flush=True)
    med = {k: statistics.median(v) for k, v in rate.items()}
    return {"rate": rate, "median": med, "ratio": med["train_vae"] / med["recipe"]}


def epoch_60k(device: torch.device, images: torch.Tensor, args) -> list[float]:
    reps = -(-EPOCH_IMAGES // len(images))
    big = images.repeat(reps, 1, 1, 1)[:EPOCH_IMAGES].to(device)
    timed(ours_constant, device, images=big, epochs=1)  # warm-up
    secs = [timed(ours_constant, device, images=big, epochs=1, seed=i)[0] for i in range(args.repeats)]
    print("  60k-image epoch of train_vae: " + ", ".join(f"{s:.3f}" for s in secs) + " s", flush=True)
    return secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cpu", "cuda", "mps", "all"], default="all",
                    help="device to measure (default: all available)")
    ap.add_argument("--parts", nargs="+", choices=["quality", "speed", "epoch"],
                    default=["quality", "speed", "epoch"], help="what to measure (default: all)")
    ap.add_argument("--recipe-data", choices=["gray", "binary", "both"], default="gray",
                    help="digits the DataLoader recipe trains on (default: gray, as pytorch/examples)")
    ap.add_argument("--ladder", type=int, nargs="+", default=list(LADDER),
                    help="train_vae epoch counts tried, in order, for the time to quality")
    ap.add_argument("--k", type=int, default=500, help="importance samples per test digit")
    ap.add_argument("--rounds", type=int, default=5, help="alternating throughput rounds per device")
    ap.add_argument("--epochs", type=int, default=5, help="epochs per throughput run")
    ap.add_argument("--repeats", type=int, default=3, help="timed 60k-image epochs per device")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader num_workers of the recipe")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()
    for name in ("rounds", "epochs", "repeats", "k"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if any(e < 1 for e in args.ladder):
        ap.error("--ladder epochs must be at least 1")
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

    data = {"binary": load_mnist("train")[0], "gray": load_mnist("train", binarize=False)[0],
            "test": load_mnist("test")[0]}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"{platform.system()} {platform.machine()}; {len(data['gray'])} training, "
          f"{len(data['test'])} test digits; batch {BATCH_SIZE}; parts: {', '.join(args.parts)}; "
          f"recipe num_workers={args.workers}; devices: {', '.join(devices)}", flush=True)
    results = {}
    for d in devices:
        device = torch.device(d)
        print(f"\n{d}: {device_name(device)}", flush=True)
        res = {"name": device_name(device)}
        if "quality" in args.parts:
            res["quality"] = time_to_quality(device, data, args)
        if "speed" in args.parts:
            res["speed"] = throughput(device, data["binary"], args)
        if "epoch" in args.parts:
            res["epoch"] = epoch_60k(device, data["binary"], args)
        results[d] = res

    absent = [d for d in DEVICES if d not in results]
    if "quality" in args.parts:
        print(f"\n| device | DataLoader recipe, {RECIPE_EPOCHS} epochs: time | its test −log p(x) | "
              f"train_vae to that −log p(x): epochs | time | its −log p(x) | time ratio |")
        print("|---|---|---|---|---|---|---|")
        for d, res in results.items():
            for kind, r in res["quality"].items():
                hit = r["train_vae"]
                cells = (f"{hit['epochs']} | {hit['seconds']:.1f} s | {hit['nll']:.2f} | {r['speedup']:.1f}×"
                         if hit else f"not reached in {args.ladder[-1]} epochs | – | – | –")
                print(f"| {d}: {res['name']} ({kind} digits) | {r['seconds']:.1f} s | {r['nll']:.2f} nats | {cells} |")
        for d in absent:
            print(f"| {d} | not measured | not measured | not measured | not measured | not measured | not measured |")
    if "speed" in args.parts:
        print("\n| device | recipe images/s (min–max) | train_vae images/s (min–max) | ratio of medians "
              "(per round min–max) |")
        print("|---|---|---|---|")
        for d, res in results.items():
            sp = res["speed"]
            cells = [f"{sp['median'][k]:,.0f} ({min(v):,.0f}–{max(v):,.0f})" for k, v in sp["rate"].items()]
            per_round = [t / b for b, t in zip(sp["rate"]["recipe"], sp["rate"]["train_vae"])]
            print(f"| {d}: {res['name']} | {cells[0]} | {cells[1]} | "
                  f"{sp['ratio']:.2f}× ({min(per_round):.2f}–{max(per_round):.2f}) |")
        for d in absent:
            print(f"| {d} | not measured | not measured | not measured |")
    if "epoch" in args.parts:
        print("\n| device | 60k-image epoch of train_vae, batch 128: median (min–max) |")
        print("|---|---|")
        for d, res in results.items():
            e = res["epoch"]
            print(f"| {d}: {res['name']} | {statistics.median(e):.3f} s ({min(e):.3f}–{max(e):.3f}) |")
        for d in absent:
            print(f"| {d} | not measured |")


if __name__ == "__main__":
    main()
