"""VAEs trained once with the lesson-6 recipe and shipped with the course (lesson 6).

A lesson that needs a well-trained model, but cannot afford to train it within its time
budget on a laptop CPU, loads one of these instead; the lesson shows the one line that
retrains it. The weights are ``state_dict`` files (float32, loadable with
``torch.load(..., weights_only=True)``) in ``vae_utils/weights/``, written by

    python scripts/train_course_model.py            # all three models (conv20 takes minutes)

which calls ``train_vae(VAE(...), load_mnist("train", binarize=False, source="embedded")[0],
seed=0)`` — the recommended recipe (``vae_utils.train``: 150 epochs, Adam 2e-3 on a cosine
schedule, batch 128, dynamic binarization) on the 4,000 embedded grayscale digits.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .train import pick_device
from .vae import VAE

__all__ = ["PRETRAINED", "TRAINING_RECORDS", "load_pretrained", "weights_path"]

# name → VAE(...) keyword arguments. The shipped files scored (1,000 embedded test digits,
# fixed binarization): mlp20 test −ELBO 92.50, −log p(x) 86.97 nats (IS, k = 500); mlp2
# 154.54 and 150.27 nats; conv20 95.98 and 89.64 nats (benchmarks/README.md, TRAINING_RECORDS).
PRETRAINED: dict[str, dict] = {
    "mlp20": {"latent_dim": 20, "arch": "mlp", "hidden": 400},  # the quality model of lesson 6
    "mlp2": {"latent_dim": 2, "arch": "mlp", "hidden": 400},    # a 2-D latent space to draw
    # The convolutional VAE of lesson 6d. Its 32/64 channels are VAE's; the fully connected
    # layer between them and z is 100 wide instead of 400, so the weights stay under 3 MB
    # (703,265 parameters, about the MLP's 652,824; at hidden=400 it would be 2.6 million).
    "conv20": {"latent_dim": 20, "arch": "conv", "hidden": 100},
}
TRAIN_SEED = 0

# How each shipped model was trained and how it scored, as scripts/train_course_model.py
# measured it (conv20: its record vae_conv20.json next to the weights; mlp20 and mlp2: the
# runs of benchmarks/README.md). train_seconds is wall time; test scores are nats per image on
# the 1,000 embedded test digits (fixed binarization): −ELBO with one sample, and −log p(x) by
# importance sampling with the encoder as proposal, k = 500 (a stochastic upper bound of
# −log p(x)). Lesson 6d quotes these; tests/test_pretrained.py checks them against the files.
TRAINING_RECORDS: dict[str, dict] = {
    # mlp20: seed 0 of `python benchmarks/vae_quality.py`, the same seeded training (its load
    # averages are those of the whole three-seed run).
    "mlp20": {"epochs": 150, "train_seconds": 16.7, "device": "cpu", "torch_threads": 2,
              "cpu": "AMD EPYC", "cpu_cores": 2, "load_average_start": 0.97, "load_average_end": 1.43,
              "test_neg_elbo": 92.50, "test_neg_log_px_is_k500": 86.97},
    # mlp2: its training time was not recorded on an idle machine (benchmarks/README.md).
    "mlp2": {"epochs": 150, "train_seconds": None, "device": "cpu", "torch_threads": None,
             "cpu": "AMD EPYC", "cpu_cores": 2, "load_average_start": None, "load_average_end": None,
             "test_neg_elbo": 154.54, "test_neg_log_px_is_k500": 150.27},
    # conv20: vae_conv20.json, written by `python scripts/train_course_model.py --models conv20
    # --threads 1` on a shared machine (other jobs running).
    "conv20": {"epochs": 150, "train_seconds": 318.7, "device": "cpu", "torch_threads": 1,
               "cpu": "AMD EPYC", "cpu_cores": 2, "load_average_start": 3.18, "load_average_end": 6.34,
               "test_neg_elbo": 95.98, "test_neg_log_px_is_k500": 89.64},
}


def weights_path(name: str) -> Path:
    """Path of the shipped ``state_dict`` of model ``name`` (it may not exist yet).

    Raises:
        ValueError: ``name`` is not one of ``PRETRAINED``.
    """
    if name not in PRETRAINED:
        raise ValueError(f"name must be one of {tuple(PRETRAINED)}, got {name!r}.")
    return Path(__file__).resolve().parent / "weights" / f"vae_{name}.pt"


def load_pretrained(name: str = "mlp20", *, device: str | torch.device = "cpu") -> VAE:
    """The shipped VAE ``name``, in eval mode, on ``device`` (lesson 6).

    ``"mlp20"``: ``VAE(latent_dim=20)``, the 784-400-20 MLP; ``"mlp2"``: the same with a
    2-D latent space; ``"conv20"``: ``VAE(latent_dim=20, arch="conv", hidden=100)``, the
    convolutional VAE of lesson 6d. All were trained with ``train_vae``'s defaults (seed 0) on
    the 4,000 embedded grayscale digits by ``scripts/train_course_model.py``;
    ``TRAINING_RECORDS[name]`` says how long that took and how they scored.

    Args:
        name: a key of ``PRETRAINED``.
        device: ``"cpu"`` (default), ``"auto"``, or a device name, as for ``train_vae``.
    Returns:
        ``VAE`` in eval mode; encode images (N, 1, 28, 28), decode z (..., latent_dim).
    Raises:
        ValueError: unknown ``name`` or device.
        FileNotFoundError: the weights file is missing (the message says how to create it).
    """
    path = weights_path(name)
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights {path} not found. They ship with the course; restore them with "
            f"`git checkout -- vae_utils/weights/`, or retrain them (seconds to a minute for an MLP, "
            f"minutes for conv20, on a 2-core CPU: benchmarks/README.md) with `python scripts/train_course_model.py --models {name}`.")
    model = VAE(**PRETRAINED[name])
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(pick_device(device)).eval()
