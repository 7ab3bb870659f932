"""VAEs trained once with the lesson-6 recipe and shipped with the course (lesson 6).

A lesson that needs a well-trained model, but cannot afford to train it within its time
budget on a laptop CPU, loads one of these instead; the lesson shows the one line that
retrains it. The weights are ``state_dict`` files (float32, loadable with
``torch.load(..., weights_only=True)``) in ``vae_utils/weights/``, written by

    python scripts/train_course_model.py            # both models, about 35 s on an idle 2-core CPU

which calls ``train_vae(VAE(...), load_mnist("train", binarize=False, source="embedded")[0],
seed=0)`` — the recommended recipe (``vae_utils.train``: 150 epochs, Adam 2e-3 on a cosine
schedule, batch 128, dynamic binarization) on the 4,000 embedded grayscale digits.
"""
from __future__ import annotations

from pathlib import Path

import torch

from .train import pick_device
from .vae import VAE

__all__ = ["PRETRAINED", "load_pretrained", "weights_path"]

# name → VAE(...) keyword arguments. The shipped files scored (1,000 embedded test digits,
# fixed binarization): mlp20 test −ELBO 92.50, −log p(x) 86.97 nats (IS, k = 500); mlp2
# 154.54 and 150.27 nats (benchmarks/README.md).
PRETRAINED: dict[str, dict] = {
    "mlp20": {"latent_dim": 20, "arch": "mlp", "hidden": 400},  # the quality model of lesson 6
    "mlp2": {"latent_dim": 2, "arch": "mlp", "hidden": 400},    # a 2-D latent space to draw
}
TRAIN_SEED = 0


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
    2-D latent space. Both were trained with ``train_vae``'s defaults (seed 0) on the 4,000
    embedded grayscale digits by ``scripts/train_course_model.py``.

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
            f"`git checkout -- vae_utils/weights/`, or retrain them (about 16 s each on an idle "
            f"2-core CPU) with `python scripts/train_course_model.py --models {name}`.")
    model = VAE(**PRETRAINED[name])
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model.to(pick_device(device)).eval()
