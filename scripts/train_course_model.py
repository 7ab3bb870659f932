"""Train the VAEs that the course ships (``vae_utils.pretrained``) with the lesson-6 recipe.

    python scripts/train_course_model.py                    # mlp20, mlp2 and conv20
    python scripts/train_course_model.py --models conv20    # one of them
    python scripts/train_course_model.py --models conv20 --threads 1   # one torch thread
    python scripts/train_course_model.py --models mog2 twolevel --threads 1   # lesson 6e's two

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

Lesson 6e's models (``vae_utils.beyond.BEYOND_MODELS``: ``mog2``, the 2-D VAE with a learned
mixture prior, and ``twolevel``, the VAE with two latent levels) train the same way with
``train_elbo_mc`` (the recipe with a Monte Carlo KL term, which any prior allows) and seed 0;
they are written to ``vae_utils/weights/beyond_<name>.pt`` with the same JSON record, which
``vae_utils.beyond.BEYOND_RECORDS`` quotes.
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

from vae_utils.beyond import BEYOND_MODELS, beyond_weights_path, parameter_count, train_elbo_mc
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


def train_toy_models(names: tuple = ()) -> None:
    """Lesson 6e's flow and VAE on the 2-D ring of Gaussians: ``vae_utils/weights/toy2d_*.pt``
    and a JSON record each (seconds, threads, load, exact or IS test log-likelihood)."""
    from vae_utils.estimators import log_marginal_is
    from vae_utils.toy2d import TOY_MODELS, TOY_STEPS, ring_of_gaussians, toy_data, toy_weights_path, train_toy
    data = toy_data()
    torch.manual_seed(1)
    test = ring_of_gaussians().sample((5000,))
    for name, cls in TOY_MODELS.items():
        if names and name not in names:
            continue
        torch.manual_seed(TRAIN_SEED)
        model = cls()
        loss = (lambda x: -model.log_prob(x).mean()) if name == "flow" else model.negative_elbo
        load_start, t0 = load_average(), time.perf_counter()
        train_toy(loss, model.parameters(), data, steps=TOY_STEPS, seed=TRAIN_SEED)
        seconds, load_end = time.perf_counter() - t0, load_average()
        model.eval()
        torch.manual_seed(2)
        with torch.no_grad():
            ll = (model.log_prob(test) if name == "flow" else
                  log_marginal_is(model, test, model.approximate_posterior(test), 100)).mean().item()
        path = toy_weights_path(name)
        torch.save({k: v.detach().float().contiguous() for k, v in model.state_dict().items()}, path)
        record = {"model": f"toy2d_{name}", "steps": TOY_STEPS, "train_seconds": round(seconds, 1),
                  "torch_threads": torch.get_num_threads(), "cpu": cpu_model(), "cpu_cores": os.cpu_count(),
                  "load_average_start": load_start, "load_average_end": load_end, "torch": torch.__version__,
                  "date": datetime.date.today().isoformat(), "test_log_px": round(ll, 3),
                  "test_log_px_estimator": "exact" if name == "flow" else "IS, encoder proposal, K = 100"}
        path.with_suffix(".json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
        print(f"toy2d {name}: trained in {seconds:.1f} s ({torch.get_num_threads()} threads, load "
              f"{load_start} → {load_end}); test log p(x) {ll:.3f} nats; {path}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", choices=list(PRETRAINED) + list(BEYOND_MODELS) + ["toy2d", "toy2d_flow", "toy2d_vae"],
                    default=list(PRETRAINED), help="models to train (default: the three VAEs of lessons 6-6d)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (default: torch's choice); the record notes it")
    args = ap.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    train_x, _ = load_mnist("train", binarize=False, source="embedded")
    test_x, _ = load_mnist("test", source="embedded")
    for name in args.models:
        if name.startswith("toy2d"):
            train_toy_models(tuple(name.split("_")[1:]))
            continue
        torch.manual_seed(TRAIN_SEED)
        beyond = name in BEYOND_MODELS
        if beyond:
            cls, kwargs = BEYOND_MODELS[name]
            model = cls(**kwargs)
        else:
            kwargs = PRETRAINED[name]
            model = VAE(**kwargs)
        load_start, t0 = load_average(), time.perf_counter()
        if beyond:   # the recipe with a Monte Carlo KL (a learned prior has no closed form); CPU
            hist = train_elbo_mc(model, train_x, seed=TRAIN_SEED, progress=False)
            hist["device"] = "cpu"
        else:
            hist = train_vae(model, train_x, device=args.device, seed=TRAIN_SEED, progress=False)
        seconds, load_end = time.perf_counter() - t0, load_average()
        model.cpu().eval()
        state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items()}
        path = beyond_weights_path(name) if beyond else weights_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(state, path)
        torch.manual_seed(0)
        if beyond:
            from vae_utils.beyond import negative_elbo_mc
            with torch.no_grad():
                neg_elbo = sum(negative_elbo_mc(model, xb)[0].item() * len(xb)
                               for xb in test_x.split(1000)) / len(test_x)
        else:
            neg_elbo = evaluate(model, test_x)["loss"]
        nll = test_nll(model, test_x)
        record = {
            "model": name, "vae_kwargs": kwargs,
            "parameters": parameter_count(model),
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
