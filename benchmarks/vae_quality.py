"""Time to train the lesson-6 VAE and the test log-likelihood it reaches.

    python benchmarks/vae_quality.py                 # the default recipe, seeds 0 1 2
    python benchmarks/vae_quality.py --epochs 100 --lr 1e-3 --seeds 0

Trains ``VAE(latent_dim=20)`` with ``train_vae`` on the training split of ``load_mnist``
(the embedded 4,000 digits unless full MNIST is present), then estimates −log p(x) on the
test split by importance sampling with the encoder as proposal (k samples per digit).
Prints one line per seed and the mean.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from vae_utils.data import load_mnist
from vae_utils.estimators import log_marginal_is
from vae_utils.train import DEFAULT_EPOCHS, DEFAULT_LR, DEFAULT_BATCH_SIZE, evaluate, train_vae
from vae_utils.vae import VAE


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    ap.add_argument("--lr", type=float, default=DEFAULT_LR)
    ap.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    ap.add_argument("--k", type=int, default=500, help="importance samples per test digit")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--arch", default="mlp", choices=["mlp", "conv"])
    args = ap.parse_args()

    train_x, _ = load_mnist("train")
    test_x, _ = load_mnist("test")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}; "
          f"train {len(train_x)}, test {len(test_x)} digits; epochs {args.epochs}, lr {args.lr}, "
          f"batch {args.batch_size}, arch {args.arch}, k {args.k}")
    nll, secs = [], []
    for seed in args.seeds:
        torch.manual_seed(seed)
        model = VAE(latent_dim=20, arch=args.arch)
        t0 = time.perf_counter()
        hist = train_vae(model, train_x, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                         device=args.device, progress=False, seed=seed)
        t_train = time.perf_counter() - t0
        dev = next(model.parameters()).device
        torch.manual_seed(1000 + seed)
        t0 = time.perf_counter()
        with torch.no_grad():
            parts = []
            for i in range(0, len(test_x), 250):
                xb = test_x[i:i + 250].to(dev)
                parts.append(log_marginal_is(model, xb, model.approximate_posterior(xb), args.k).cpu())
            log_px = torch.cat(parts)
            neg_elbo = evaluate(model, test_x)["loss"]
        t_eval = time.perf_counter() - t0
        nll.append(-log_px.mean().item())
        secs.append(t_train)
        print(f"seed {seed}: train {t_train:6.1f} s on {hist['device']}, final train −ELBO "
              f"{hist['train_loss'][-1]:6.2f}, test −ELBO {neg_elbo:6.2f}, test −log p(x) (IS, k={args.k}) "
              f"{nll[-1]:6.2f} nats  [eval {t_eval:.1f} s]", flush=True)
    print(f"mean over {len(args.seeds)} seeds: train {statistics.mean(secs):.1f} s, "
          f"test −log p(x) {statistics.mean(nll):.2f} nats")


if __name__ == "__main__":
    main()
