"""The checks every public function of vae_utils runs on its arguments — one place, one voice.

A learner experimenting in a notebook passes numpy integers, float64 arrays, one image
without its batch dimension, pixels in 0–255, a NaN. Whatever the function, the answer is
the same kind of ``ValueError``: it names the argument, says what was wrong, and gives the
fix. The conventions, for the whole package:

* **Integers** (sample counts, batch sizes, epochs, grid sizes) may be any integer type:
  ``int``, a numpy integer (``np.logspace(1, 4, 7).astype(int)`` yields those) or a 0-dim
  integer tensor. ``True``/``False`` and floats are refused. → ``count``
* **Numbers** (learning rate, σ, ρ) must be finite reals: a NaN is named, never passed on
  to blame some later matrix. → ``number``
* **Data are batches.** Images are (N, 1, 28, 28) — or flat (N, 784) — with N ≥ 1. One
  data point without its batch dimension is *refused*, naming the argument, with the one
  call that fixes it (``x[None]``, ``x.reshape(1, 1, 28, 28)``): a (28, 28) image could as
  well be 28 data points of 28 numbers, and a silent guess is what this module exists to
  prevent. Functions made for one image (``widgets.interpolate``) say so and take one.
  → ``images``, ``data_batch``
* **dtype and device follow the model.** Floating-point data of another precision (float64
  from numpy) are converted to the model's dtype, and data on another device are moved to
  the model's device; results live there too. Integer images are refused with the
  conversion that fixes them (``x.float() / 255``), because the right scale is not
  knowable. → ``images``, ``latent_codes``, ``data_batch``
* **NaN and empty batches raise** instead of returning NaN.

These checks read values back from the device (a sync on a GPU) only where they look at
values (NaN, pixel range); shape, dtype and device checks are free and run on every call.
"""
from __future__ import annotations

import itertools
import math
import numbers

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["count", "number", "images", "latent_codes", "data_batch", "model_device_dtype",
           "IMAGE_SHAPE"]

IMAGE_SHAPE = (1, 28, 28)


# --- numbers --------------------------------------------------------------------------------

def _describe(value) -> str:
    return f"{value!r} ({type(value).__name__})"


def count(value, name: str, *, minimum: int = 1) -> int:
    """An integer argument ≥ ``minimum``: sample counts, batch sizes, epochs, grid sizes.

    Args:
        value: ``int``, numpy integer, or 0-dim integer tensor (not ``bool``).
        name: the argument's name, for the message.
        minimum: smallest allowed value.
    Returns:
        The value as a Python ``int``.
    Raises:
        ValueError: not an integer (a float, a bool, a tensor of several numbers), or < minimum.
    """
    kind = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer ≥ {minimum}")
    if isinstance(value, Tensor):
        if value.dim() != 0:
            raise ValueError(f"{name} must be {kind}, got a tensor of shape {tuple(value.shape)}; "
                             f"pass one number.")
        if value.dtype == torch.bool or value.is_floating_point() or value.is_complex():
            raise ValueError(f"{name} must be {kind}, got a {value.dtype} tensor ({value.item()!r}); "
                             f"pass an integer, e.g. {name}=int({value.item()!r}).")
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be {kind}, got {value!r}; pass a number, not True/False.")
    if not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and math.isfinite(value):
            fix = (f"pass int({name})" if float(value).is_integer()
                   else f"round it, e.g. {name}={max(minimum, round(value))}")
            raise ValueError(f"{name} must be {kind}, got {_describe(value)}; {fix}.")
        raise ValueError(f"{name} must be {kind}, got {_describe(value)}.")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{name} must be {kind}, got {value}; use {minimum} or more.")
    return value


def number(value, name: str, *, minimum: float | None = None, maximum: float | None = None,
           strict: bool = True, why: str = "") -> float:
    """A finite real argument (a hyper-parameter: learning rate, σ, ρ), optionally bounded.

    Args:
        value: ``int``, ``float``, numpy scalar, or 0-dim real tensor (not ``bool``).
        name: the argument's name, for the message.
        minimum, maximum: bounds; ``None`` for none.
        strict: bounds are exclusive (``True``: σ > 0) or inclusive (``False``: β ≥ 0).
        why: appended to the message (e.g. what a value outside the bounds would break).
    Returns:
        The value as a Python ``float``.
    Raises:
        ValueError: not a real number, NaN or infinite, or outside the bounds.
    """
    lo, hi = ("(", ")") if strict else ("[", "]")
    if minimum == 0 and maximum is None:
        kind = "a positive finite number" if strict else "a finite number ≥ 0"
    elif minimum is not None and maximum is not None:
        kind = f"a finite number in {lo}{minimum:g}, {maximum:g}{hi}"
    elif minimum is not None:
        kind = f"a finite number {'>' if strict else '≥'} {minimum:g}"
    elif maximum is not None:
        kind = f"a finite number {'<' if strict else '≤'} {maximum:g}"
    else:
        kind = "a finite number"
    tail = f"; {why}" if why else ""
    if isinstance(value, Tensor) and value.dim() == 0 and not value.is_complex() and value.dtype != torch.bool:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {kind}, got {_describe(value)}{tail}.")
    value = float(value)
    ok = math.isfinite(value)
    if ok and minimum is not None:
        ok = value > minimum if strict else value >= minimum
    if ok and maximum is not None:
        ok = value < maximum if strict else value <= maximum
    if not ok:
        raise ValueError(f"{name} must be {kind}, got {value!r}{tail}.")
    return value


# --- where a model lives ----------------------------------------------------------------------

def model_device_dtype(model) -> tuple[torch.device | None, torch.dtype | None]:
    """The device and floating dtype of a model: its first parameter or buffer for a
    ``torch.nn.Module``, else the mean of its ``prior``. ``(None, None)`` when unknown."""
    if isinstance(model, nn.Module):
        for t in itertools.chain(model.parameters(), model.buffers()):
            return t.device, (t.dtype if t.is_floating_point() else None)
    try:
        mean = model.prior.mean
    except Exception:  # noqa: BLE001 - any protocol model; no mean means: don't convert
        return None, None
    if isinstance(mean, Tensor):
        return mean.device, (mean.dtype if mean.is_floating_point() else None)
    return None, None


def _follow(t: Tensor, like) -> Tensor:
    device, dtype = model_device_dtype(like) if like is not None else (None, None)
    return t.to(device=device if device is not None else t.device,
                dtype=dtype if dtype is not None else t.dtype)


def _as_tensor(x, name: str, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise ValueError(f"{name} must be a torch.Tensor (or numpy array) of {what}, got "
                     f"{type(x).__name__}; convert it with torch.as_tensor({name}).")


def _nan_rows(x: Tensor) -> Tensor:
    return torch.nonzero(torch.isnan(x).reshape(len(x), -1).any(dim=1)).flatten()


# --- data -------------------------------------------------------------------------------------

def images(x, name: str = "x", *, like=None, check_values: bool = True, one: bool = False) -> Tensor:
    """A batch of 28×28 images in [0, 1] — or, with ``one=True``, exactly one image.

    Args:
        x: tensor or numpy array, floating point, values in [0, 1] (pixel intensities);
            shape (N, 1, 28, 28) or flat (N, 784), N ≥ 1. With ``one=True``: one image of
            shape (1, 28, 28), (28, 28), (784,) or (1, 1, 28, 28).
        name: the argument's name, for the message.
        like: a model; x is converted to its dtype (float64 → float32 for the VAE) and moved
            to its device. ``None``: left where it is.
        check_values: also check for NaN and for values outside [0, 1]. Reads two numbers
            back from x's device (a sync on a GPU); done before x is moved.
    Returns:
        Tensor (N, 1, 28, 28) — (1, 1, 28, 28) with ``one=True`` — on ``like``'s device and dtype.
    Raises:
        ValueError: not a tensor or array; another shape (one image without its batch
            dimension included: the message gives ``x.reshape(1, 1, 28, 28)``); an empty
            batch; an integer or bool dtype (the message gives ``x.float() / 255``); NaN;
            values outside [0, 1] (the message gives the range and, for 0–255 data, ``/ 255``).
    """
    x = _as_tensor(x, name, "images")
    shape = tuple(x.shape)
    if one:
        if x.numel() != 784 or shape not in ((1, 1, 28, 28), (1, 28, 28), (28, 28), (784,)):
            raise ValueError(f"{name} must be one 28×28 image, of shape (1, 28, 28), (28, 28) or (784,), "
                             f"got shape {shape}; pick one image of a batch with {name}[i].")
        x = x.reshape(1, *IMAGE_SHAPE)
    else:
        if not (x.dim() == 4 and shape[1:] == IMAGE_SHAPE or x.dim() == 2 and shape[1] == 784):
            if x.numel() == 784:
                fix = (f"this is one image without a batch dimension; for a batch of one use "
                       f"{name}.reshape(1, 1, 28, 28)")
            elif x.dim() == 3 and shape[1:] == (28, 28):
                fix = f"the channel dimension is missing; use {name}.unsqueeze(1)"
            else:
                fix = "load_mnist() returns images of this shape"
            raise ValueError(f"{name} must be a batch of images of shape (N, 1, 28, 28) (or flat "
                             f"(N, 784)), got shape {shape}; {fix}.")
        if shape[0] == 0:
            raise ValueError(f"{name} is an empty batch (shape {shape}); pass at least one image.")
        x = x.reshape(-1, *IMAGE_SHAPE)
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating point with values in [0, 1], got dtype {x.dtype}; "
                         f"convert it: {name}.float() / 255 for 8-bit pixels, {name}.float() for 0/1 "
                         f"values (load_mnist() returns float32 images).")
    if check_values:
        lo, hi = (float(v) for v in torch.stack(torch.aminmax(x)).tolist())
        if math.isnan(lo) or math.isnan(hi):
            rows = _nan_rows(x).tolist()
            raise ValueError(f"{name} contains NaN, in {len(rows)} image(s) (first at index {rows[0]}); "
                             f"drop them, e.g. {name} = {name}[~{name}.isnan().flatten(1).any(1)].")
        if lo < 0 or hi > 1:
            fix = ("divide 8-bit images by 255" if hi > 1 else
                   "undo the normalisation (pixels are intensities, not standardised values)")
            raise ValueError(f"{name} must have values in [0, 1] (pixel intensities), got range "
                             f"[{lo:.3g}, {hi:.3g}]; {fix}.")
    return _follow(x, like)


def latent_codes(z, name: str = "z", *, latent_dim: int, like=None) -> Tensor:
    """Latent codes z of shape (..., latent_dim), for a decoder.

    Args:
        z: tensor or numpy array (integers are converted too), shape (..., latent_dim).
        name: the argument's name, for the message.
        latent_dim: the model's latent dimension d.
        like: a model; z is converted to its dtype and moved to its device.
    Returns:
        Tensor (..., latent_dim) on ``like``'s device and dtype. Values are not read (no sync).
    Raises:
        ValueError: not a tensor or array, a bool or complex dtype, or a last dimension ≠ d.
    """
    z = _as_tensor(z, name, "latent codes")
    if z.dim() == 0 or z.shape[-1] != latent_dim:
        fix = f"one code is a vector of length {latent_dim}, a batch of codes (N, {latent_dim})"
        raise ValueError(f"{name} must be a tensor of shape (..., {latent_dim}) — codes of this model's "
                         f"latent dimension — got {tuple(z.shape)}; {fix}.")
    if z.dtype == torch.bool or z.is_complex():
        raise ValueError(f"{name} must hold real numbers, got dtype {z.dtype}; use {name}.float().")
    if not z.is_floating_point():
        z = z.to(torch.get_default_dtype())
    return _follow(z, like)


def data_batch(x, name: str = "x", *, like=None) -> Tensor:
    """A batch of data points (B, *event_shape), B ≥ 1, for a model of the course's protocol.

    The event shape is the model's business: ``vae_utils.estimators`` compares it with the
    likelihood's ``event_shape`` once the model has been called, and names ``x`` when they
    disagree (one data point without its batch dimension included).

    Args:
        x: tensor, numpy array or nested list of numbers, at least one dimension.
        name: the argument's name, for the message.
        like: a model; x is converted to its floating dtype and moved to its device.
    Returns:
        Tensor (B, *event_shape) on ``like``'s device and dtype.
    Raises:
        ValueError: not numbers, a scalar, an empty batch, or NaN/inf values.
    """
    if not isinstance(x, Tensor):
        try:
            x = torch.as_tensor(x)
        except Exception as e:  # noqa: BLE001 - ragged lists, strings, ...
            raise ValueError(f"{name} must be a tensor or array of numbers, got {type(x).__name__} "
                             f"({e}).") from None
    if x.dim() == 0:
        raise ValueError(f"{name} must be a batch of shape (B, *event_shape), got a scalar; for one "
                         f"data point of one number use {name}.reshape(1, 1).")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)}); pass at least one data point.")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        rows = torch.nonzero(~torch.isfinite(x).reshape(len(x), -1).all(dim=1)).flatten().tolist()
        raise ValueError(f"{name} contains NaN or inf, in {len(rows)} data point(s) (first at index "
                         f"{rows[0]}); remove them first.")
    return _follow(x, like)
