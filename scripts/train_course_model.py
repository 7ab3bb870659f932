"""Train the VAEs that the course ships (``vae_utils.pretrained``) with the lesson-6 recipe.

    python scripts/train_course_model.py                    # mlp20 and mlp2
    python scripts/train_course_model.py --models mlp20     # one of them

Each model is ``VAE(**PRETRAINED[name])`` trained by ``train_vae`` with its defaults (the
recommended recipe: 150 epochs, batch 128, Adam lr 2e-3 on a cosine schedule, dynamic
binarization) and seed 0 on the 4,000 embedded grayscale training digits
(``load_mnist("train", binarize=False, source="embedded")``), so the result does not depend
on whether full MNIST is present. Its float32 ``state_dict`` is written to
``vae_utils/weights/vae_<name>.pt``; the script prints the training time, the test −ELBO and
the test −log p(x) (importance sampling with the encoder as proposal, k = 500) on the 1,000
embedded test digits, binarized at a fixed threshold (``load_mnist("test")``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from vae_utils.data import load_mnist
from vae_utils.pretrained import PRETRAINED, TRAIN_SEED, weights_path
from vae_utils.train import evaluate, train_vae
from vae_utils.vae import VAE

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from vae_quality import test_nll  # noqa: E402 - the benchmark's measurement, the same numbers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", choices=list(PRETRAINED), default=list(PRETRAINED))
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    train_x, _ = load_mnist("train", binarize=False, source="embedded")
    test_x, _ = load_mnist("test", source="embedded")
    for name in args.models:
        torch.manual_seed(TRAIN_SEED)
        model = VAE(**PRETRAINED[name])
        t0 = time.perf_counter()
        hist = train_vae(model, train_x, device=args.device, seed=TRAIN_SEED, progress=False)
        seconds = time.perf_counter() - t0
        model.cpu().eval()
        state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
        path = weights_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        torch.manual_seed(0)
        neg_elbo = evaluate(model, test_x)["loss"]
        print(f"{name}: trained in {seconds:.1f} s on {hist['device']}; test −ELBO {neg_elbo:.2f}, "
              f"test −log p(x) (IS, k=500) {test_nll(model, test_x):.2f} nats; "
              f"{path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)


if __name__ == "__main__":
    main()
