"""Time to train the lesson-6 VAE with the recommended recipe, and the test log-likelihood it reaches.

    python benchmarks/vae_quality.py                 # the recommended recipe, seeds 0 1 2, every device
    python benchmarks/vae_quality.py --epochs 100 --lr 1e-3 --lr-schedule constant --data binary --seeds 0

Trains ``VAE(latent_dim=20)`` with ``train_vae`` — by default exactly the recommended call,
``train_vae(VAE(latent_dim=20), load_mnist("train", binarize=False)[0], seed=s)``: 150
epochs, batch 128, Adam lr 2e-3 on a cosine schedule, dynamic binarization of the grayscale
digits — on the training split of ``load_mnist`` (the 4,000 embedded digits unless full
MNIST is present), then estimates −log p(x) on the test split by importance sampling with
the encoder as proposal (k samples per digit). The test digits are always the fixed
binarization of ``load_mnist("test")`` (pixel > 127 → 1), the digits the lessons evaluate
on, so figures stay comparable across recipes; they are *not* dynamically binarized test
digits, so they are not comparable with published MNIST log-likelihoods (and the embedded
set has 4,000, not 60,000, training digits).

Measures every device present (``--device all``, the default) and prints one line per seed
and device, then a table; a device that is absent is listed as "not measured".
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from vae_utils.data import load_mnist
from vae_utils.estimators import log_marginal_is
from vae_utils.train import (DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_LR_SCHEDULE,
                             evaluate, train_vae)
from vae_utils.vae import VAE

DEVICES = ("cpu", "cuda", "mps")


def test_nll(model: VAE, test_x: torch.Tensor, k: int = 500, seed: int = 1000) -> float:
    """Mean −log p(x) over ``test_x``, nats: importance sampling with the encoder q(z|x) as
    proposal, ``k`` samples per digit, batches of 250 digits, random numbers seeded."""
    torch.manual_seed(seed)
    dev = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.no_grad():
        parts = [log_marginal_is(model, xb, model.approximate_posterior(xb), k).cpu()
                 for xb in test_x.to(dev).split(250)]
    model.train(was_training)
    return -torch.cat(parts).mean().item()


def available_devices() -> list[str]:
    devs = ["cpu"]
    if torch.cuda.is_available():
        devs.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devs.append("mps")
    return devs


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    ap.add_argument("--lr", type=float, default=DEFAULT_LR)
    ap.add_argument("--lr-schedule", default=DEFAULT_LR_SCHEDULE, choices=["cosine", "constant"])
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--data", default="gray", choices=["gray", "binary"],
                    help="training digits: grayscale (dynamically binarized by train_vae, the "
                         "default) or the fixed binarization of load_mnist('train')")
    ap.add_argument("--k", type=int, default=500, help="importance samples per test digit")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--device", default="all", help="'all' (every device present), 'auto', 'cpu', 'cuda', 'mps'")
    ap.add_argument("--arch", default="mlp", choices=["mlp", "conv"])
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            ap.error("--threads must be at least 1")
        torch.set_num_threads(args.threads)

    train_x, _ = load_mnist("train", binarize=args.data == "binary")
    test_x, _ = load_mnist("test")
    devices = available_devices() if args.device == "all" else [args.device]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}; "
          f"train {len(train_x)} {args.data} digits, test {len(test_x)} binarized digits; epochs {args.epochs}, "
          f"lr {args.lr} ({args.lr_schedule}), batch {args.batch_size}, arch {args.arch}, k {args.k}; "
          f"devices: {', '.join(devices)}", flush=True)
    rows = []
    for device in devices:
        nll, secs = [], []
        for seed in args.seeds:
            torch.manual_seed(seed)
            model = VAE(latent_dim=20, arch=args.arch)
            t0 = time.perf_counter()
            hist = train_vae(model, train_x, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                             lr_schedule=args.lr_schedule, device=device, progress=False, seed=seed)
            synchronize(next(model.parameters()).device)
            t_train = time.perf_counter() - t0
            t0 = time.perf_counter()
            nll.append(test_nll(model, test_x, args.k, seed=1000 + seed))
            torch.manual_seed(seed)
            neg_elbo = evaluate(model, test_x)["loss"]
            t_eval = time.perf_counter() - t0
            secs.append(t_train)
            graph = ", CUDA graph" if hist["cuda_graph"] else ""
            print(f"seed {seed}: train {t_train:6.1f} s on {hist['device']}{graph} (dynamic binarization "
                  f"{'on' if hist['dynamic_binarization'] else 'off'}), final train −ELBO "
                  f"{hist['train_loss'][-1]:6.2f}, test −ELBO {neg_elbo:6.2f}, test −log p(x) (IS, k={args.k}) "
                  f"{nll[-1]:6.2f} nats  [eval {t_eval:.1f} s]", flush=True)
        rows.append((hist["device"], secs, nll))
        print(f"{hist['device']}: mean over {len(args.seeds)} seeds: train {statistics.mean(secs):.1f} s, "
              f"test −log p(x) {statistics.mean(nll):.2f} nats", flush=True)

    print(f"\n| device | train time, seeds {' / '.join(map(str, args.seeds))} | test −log p(x), IS k={args.k} (mean) |")
    print("|---|---|---|")
    for dev, secs, nll in rows:
        print(f"| {dev} | {' / '.join(f'{s:.1f}' for s in secs)} s | "
              f"{' / '.join(f'{v:.2f}' for v in nll)} nats ({statistics.mean(nll):.2f}) |")
    if args.device == "all":
        for d in DEVICES:
            if d not in available_devices():
                print(f"| {d} | not measured | not measured |")


if __name__ == "__main__":
    main()
