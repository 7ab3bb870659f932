import gzip
import shutil

import numpy as np
import pytest
import torch

from vae_utils import data
from vae_utils.data import load_mnist


def test_embedded_shapes_dtypes_and_split():
    xtr, ytr = load_mnist("train", source="embedded")
    xte, yte = load_mnist("test", source="embedded")
    assert xtr.shape == (4000, 1, 28, 28) and xte.shape == (1000, 1, 28, 28)
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert set(torch.unique(xtr).tolist()) == {0.0, 1.0}
    assert torch.equal(torch.bincount(yte), torch.full((10,), 100))
    assert torch.equal(torch.bincount(ytr), torch.full((10,), 400))
    # No image is in both splits (compare the raw 8-bit images).
    gtr, _ = load_mnist("train", binarize=False, source="embedded")
    gte, _ = load_mnist("test", binarize=False, source="embedded")
    train_rows = {r.tobytes() for r in (gtr * 255).round().to(torch.uint8).reshape(4000, -1).numpy()}
    assert not any(r.tobytes() in train_rows for r in (gte * 255).round().to(torch.uint8).reshape(1000, -1).numpy())


def test_grayscale_range_and_binarize_threshold():
    gray, _ = load_mnist("test", binarize=False, source="embedded")
    binary, _ = load_mnist("test", binarize=True, source="embedded")
    assert gray.min() == 0.0 and gray.max() == 1.0
    assert len(torch.unique(gray)) > 100  # real 8-bit grayscale, not already binary
    assert torch.equal(binary, (gray * 255 > 127).float())


def test_labels_match_the_images():
    # Class means differ: a 1 has far fewer ink pixels than a 0 (a real property of MNIST).
    x, y = load_mnist("train", source="embedded")
    ink = x.mean(dim=(1, 2, 3))
    assert ink[y == 1].mean() < 0.6 * ink[y == 0].mean()


@pytest.mark.parametrize("kw,match", [({"split": "validation"}, "split"), ({"source": "web"}, "source")])
def test_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        load_mnist(**kw)


def test_packaged_digits_are_found_without_a_data_folder(monkeypatch):
    # An installed package has no course folder: the digits come from the package itself.
    monkeypatch.delenv("VAE_COURSE_DATA", raising=False)
    monkeypatch.setattr(data, "data_dir", lambda: None)
    assert data.embedded_path().parent.name == "datasets"
    x, _ = load_mnist("test")
    assert x.shape == (1000, 1, 28, 28)
    with pytest.raises(FileNotFoundError, match="VAE_COURSE_DATA"):
        load_mnist("test", source="full")


def test_missing_and_corrupt_embedded_file(tmp_path, monkeypatch):
    # A data folder without mnist5k.npz falls back to the package's copy.
    assert load_mnist("test", root=tmp_path)[0].shape == (1000, 1, 28, 28)
    # A copy in the data folder takes precedence, and is checked like the packaged one.
    bad = tmp_path / "mnist5k.npz"
    shutil.copy(data.embedded_path(), bad)
    raw = bytearray(bad.read_bytes())
    raw[1000] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"mnist5k\.npz.*corrupt.*delete it"):
        load_mnist(root=tmp_path)
    # The packaged file gone: the message says how to get it back.
    monkeypatch.setattr(data, "embedded_path", lambda: tmp_path / "nowhere" / "mnist5k.npz")
    with pytest.raises(FileNotFoundError, match=r"mnist5k\.npz.*pip install --force-reinstall"):
        load_mnist(root=tmp_path / "empty")


def _write_idx(path, array, compress):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def _fake_full_mnist(root, compress=False):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in (("train", 6), ("test", 3)):
        imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        img_name, lab_name = data.IDX_FILES[split]
        _write_idx(raw / img_name, imgs, compress)
        _write_idx(raw / lab_name, labels, compress)
        arrays[split] = (imgs, labels)
    return arrays


@pytest.mark.parametrize("compress", [False, True])
def test_full_mnist_idx_files_are_used_when_present(tmp_path, compress):
    arrays = _fake_full_mnist(tmp_path, compress)
    for split in ("train", "test"):
        x, y = load_mnist(split, binarize=False, root=tmp_path)  # source="auto"
        imgs, labels = arrays[split]
        assert x.shape == (len(imgs), 1, 28, 28)
        assert torch.equal((x[:, 0] * 255).round().to(torch.uint8), torch.from_numpy(imgs))
        assert torch.equal(y, torch.from_numpy(labels.astype(np.int64)))
    # The embedded digits can still be asked for explicitly.
    assert load_mnist("test", source="embedded", root=tmp_path)[0].shape[0] == 1000


def test_full_mnist_missing_or_truncated_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.*data/README.md"):
        load_mnist(source="full", root=tmp_path)
    _fake_full_mnist(tmp_path)
    img = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    img.write_bytes(img.read_bytes()[:-10])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.*truncated"):
        load_mnist("test", source="full", root=tmp_path)


# --- issue 13: IDX edge cases -----------------------------------------------------------------

def test_idx_header_cut_short(tmp_path):
    """Defect 10: a header cut at 6 bytes failed inside numpy."""
    _fake_full_mnist(tmp_path)
    img = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    img.write_bytes(img.read_bytes()[:6])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte is truncated inside its header "
                                         r"\(6 of 16 bytes\).*fetch it again"):
        load_mnist("test", source="full", root=tmp_path)


def test_idx_extra_bytes_are_not_called_truncated(tmp_path):
    _fake_full_mnist(tmp_path)
    img = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    img.write_bytes(img.read_bytes() + b"\0" * 10)
    with pytest.raises(ValueError, match=r"has 10 bytes more than its header announces") as e:
        load_mnist("test", source="full", root=tmp_path)
    assert "truncated" not in str(e.value)


def test_idx_images_not_28x28_and_labels_outside_0_9(tmp_path):
    _fake_full_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    _write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((3, 14, 14)), False)
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte holds images of 14×14 pixels, expected 28×28"):
        load_mnist("test", source="full", root=tmp_path)
    _write_idx(raw / "train-labels-idx1-ubyte", np.array([0, 1, 12, 3, 4, 5]), False)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte holds labels outside the digits 0–9 \(up to 12\)"):
        load_mnist("train", source="full", root=tmp_path)
