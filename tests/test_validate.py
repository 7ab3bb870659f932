"""The shared argument checks (vae_utils.validate): one message style everywhere."""
import numpy as np
import pytest
import torch

from vae_utils import validate


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3), torch.tensor(3),
                                   torch.tensor(3, dtype=torch.int32)])
def test_count_accepts_any_integer_type(value):
    out = validate.count(value, "n_samples")
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value,match", [
    (np.int64(0), r"n_samples must be a positive integer, got 0; use 1 or more"),
    (True, r"got True; pass a number, not True/False"),
    (np.bool_(True), r"pass a number, not True/False"),
    (3.0, r"got 3\.0 \(float\); pass int\(n_samples\)"),
    (np.float64(2.5), r"round it"),
    (torch.tensor(3.0), r"float32 tensor"),
    (torch.tensor([3]), r"tensor of shape \(1,\); pass one number"),
    ("3", r"got '3' \(str\)"),
])
def test_count_refusals_name_the_argument_and_do_not_contradict_themselves(value, match):
    with pytest.raises(ValueError, match=match) as e:
        validate.count(value, "n_samples")
    assert "np.int64" not in str(e.value)


def test_count_minimum():
    assert validate.count(0, "n", minimum=0) == 0
    with pytest.raises(ValueError, match=r"steps must be an integer ≥ 2, got 1"):
        validate.count(1, "steps", minimum=2)


def test_number():
    assert validate.number(np.float32(0.5), "lr", minimum=0) == 0.5
    assert validate.number(torch.tensor(2), "beta", minimum=0, strict=False) == 2.0
    with pytest.raises(ValueError, match=r"sigma1 must be a positive finite number, got nan"):
        validate.number(float("nan"), "sigma1", minimum=0)
    with pytest.raises(ValueError, match=r"rho must be a finite number in \(-1, 1\), got 1\.0; why"):
        validate.number(1.0, "rho", minimum=-1, maximum=1, why="why")
    with pytest.raises(ValueError, match=r"beta must be a finite number ≥ 0, got -1"):
        validate.number(-1, "beta", minimum=0, strict=False)


def test_images_shapes_dtypes_and_values():
    x = torch.rand(2, 784, dtype=torch.float64)
    out = validate.images(x)
    assert out.shape == (2, 1, 28, 28) and out.dtype == torch.float64  # no model: left as is
    from vae_utils.vae import VAE
    assert validate.images(x, like=VAE(latent_dim=2)).dtype == torch.float32
    assert validate.images(x[0].reshape(28, 28), "x_a", one=True).shape == (1, 1, 28, 28)
    with pytest.raises(ValueError, match=r"x_a must be one 28×28 image.*got shape \(2, 784\)"):
        validate.images(x, "x_a", one=True)
    with pytest.raises(ValueError, match=r"x must be a torch\.Tensor \(or numpy array\) of images, got list"):
        validate.images([[0.0] * 784])
    with pytest.raises(ValueError, match=r"\[255, 255\]; divide 8-bit images by 255"):
        validate.images(torch.full((1, 784), 255.0))


def test_latent_codes():
    assert validate.latent_codes(np.zeros((4, 3)), latent_dim=3).dtype == torch.float64
    assert validate.latent_codes(torch.tensor([[1, 0, 2]]), latent_dim=3).is_floating_point()
    with pytest.raises(ValueError, match=r"z must be a tensor of shape \(\.\.\., 3\).*got \(\)"):
        validate.latent_codes(torch.tensor(1.0), latent_dim=3)
