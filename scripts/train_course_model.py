"""Train the VAEs that the course ships (``vae_utils.pretrained``) with the lesson-6 recipe.

    python scripts/train_course_model.py                    # mlp20, mlp2 and conv20
    python scripts/train_course_model.py --models conv20    # one of them
    python scripts/train_course_model.py --models conv20 --threads 1   # one torch thread

Each model is ``VAE(**PRETRAINED[name])`` trained by ``train_vae`` with its defaults (the
recommended recipe: 150 epochs, batch 128, Adam lr 2e-3 on a cosine schedule, dynamic
binarization) and seed 0 on the 4,000 embedded grayscale training digits
(``load_mnist("train", binarize=False, source="embedded")``), so the result does not depend
on whether full MNIST is present. Its float32 ``state_dict`` is written to
``vae_utils/weights/vae_<name>.pt``; the script prints the training time, the test −ELBO and
the test −log p(x) (importance sampling with the encoder as proposal, k = 500) on the 1,000
embedded test digits, binarized at a fixed threshold (``load_mnist("test")``).

Next to the weights it writes ``vae_<name>.json``: what the training ran on and how long it
took (wall time in seconds, device, torch threads, CPU model and core count, the load
averages of ``os.getloadavg`` at its start and end, torch version, date) and the two test
scores. ``vae_utils.pretrained.TRAINING_RECORDS`` quotes these records for the lessons.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
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


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float | None:
    """The 1-minute load average, or None where the system does not report it."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", choices=list(PRETRAINED), default=list(PRETRAINED))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice); the record notes it")
    args = ap.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    train_x, _ = load_mnist("train", binarize=False, source="embedded")
    test_x, _ = load_mnist("test", source="embedded")
    for name in args.models:
        torch.manual_seed(TRAIN_SEED)
        model = VAE(**PRETRAINED[name])
        load_start, t0 = load_average(), time.perf_counter()
        hist = train_vae(model, train_x, device=args.device, seed=TRAIN_SEED, progress=False)
        seconds, load_end = time.perf_counter() - t0, load_average()
        model.cpu().eval()
        state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
        path = weights_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        torch.manual_seed(0)
        neg_elbo = evaluate(model, test_x)["loss"]
        nll = test_nll(model, test_x)
        record = {
            "model": name, "vae_kwargs": PRETRAINED[name],
            "parameters": sum(p.numel() for p in model.parameters()),
            "epochs": hist["epoch"][-1], "train_seconds": round(seconds, 1),
            "device": str(hist["device"]), "torch_threads": torch.get_num_threads(),
            "cpu": cpu_model(), "cpu_cores": os.cpu_count(),
            "load_average_start": load_start, "load_average_end": load_end,
            "torch": torch.__version__, "date": datetime.date.today().isoformat(),
            "test_neg_elbo": round(neg_elbo, 2), "test_neg_log_px_is_k500": round(nll, 2),
        }
        path.with_suffix(".json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
        print(f"{name}: trained in {seconds:.1f} s on {hist['device']} ({torch.get_num_threads()} "
              f"threads, load {load_start} → {load_end}); test −ELBO {neg_elbo:.2f}, "
              f"test −log p(x) (IS, k=500) {nll:.2f} nats; "
              f"{path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)


if __name__ == "__main__":
    main()
