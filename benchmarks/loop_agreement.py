"""Lesson 6's two training loops on the short recipe, several seeds: how far apart two seeds land.

    python benchmarks/loop_agreement.py                     # seeds 0 1 2 3, 30 epochs
    python benchmarks/loop_agreement.py --seeds 0 1 --epochs 30 --threads 1

Lesson 6 trains the learner's model with the learner's loop and ``VAE`` with ``train_vae`` on
one recipe and seed — 30 epochs of the 4,000 embedded grayscale training digits, batch 128,
Adam at a constant 2e-3, dynamic binarization — and asserts that their test −ELBOs agree within
a tolerance. The two runs draw their random numbers in different orders, so they differ as two
seeds do; this script measures that spread. For each seed it trains the course's version of
the learner's exercises (``vae_utils.checks._lesson6``: ``_MyVAE``, ``_vae_loss``, ``_train`` —
the lesson's worked solutions) and ``VAE`` with ``train_vae``, and scores both by the
one-sample −ELBO of the 1,000 fixed-binarized test digits under one noise draw (seed 123).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from vae_utils.checks._lesson6 import _MyVAE, _train, _vae_loss
from vae_utils.data import load_mnist
from vae_utils.train import train_vae
from vae_utils.vae import VAE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gray = load_mnist("train", binarize=False, source="embedded")[0]
    test_x = load_mnist("test", source="embedded")[0]

    def score(m) -> float:
        torch.manual_seed(123)
        with torch.no_grad():
            return _vae_loss(m, test_x)[0].item()

    found = {"loop": [], "train_vae": []}
    for s in args.seeds:
        torch.manual_seed(s)
        mine, t0 = _MyVAE(), time.perf_counter()
        _train(mine, gray, _vae_loss, args.epochs, batch_size=128, lr=2e-3)
        t_mine = time.perf_counter() - t0
        fast, t0 = VAE(latent_dim=20), time.perf_counter()
        train_vae(fast, gray, epochs=args.epochs, batch_size=128, lr=2e-3, lr_schedule="constant",
                  seed=s, progress=False, device="cpu")
        t_fast = time.perf_counter() - t0
        found["loop"].append(score(mine))
        found["train_vae"].append(score(fast))
        print(f"seed {s}: test −ELBO plain loop {found['loop'][-1]:.2f} nats ({t_mine:.1f} s), "
              f"train_vae {found['train_vae'][-1]:.2f} nats ({t_fast:.1f} s)", flush=True)
    runs = found["loop"] + found["train_vae"]
    if len(runs) > 2:
        sd = statistics.stdev(runs)
        print(f"all {len(runs)} runs: mean {statistics.mean(runs):.2f}, standard deviation {sd:.2f} nats; "
              f"a difference of two seeds: sd ≈ √2 × {sd:.2f} = {2 ** 0.5 * sd:.2f} nats")
        print("mean difference, plain loop − train_vae, paired by seed: "
              f"{statistics.mean(a - b for a, b in zip(found['loop'], found['train_vae'])):+.2f} nats")


if __name__ == "__main__":
    main()
