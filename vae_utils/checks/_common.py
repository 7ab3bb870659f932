"""Shared plumbing of the exercise checks: calling the learner's code and explaining failures."""
from __future__ import annotations

import math
from typing import Any, Callable

import torch


class CheckFailure(AssertionError):
    """An exercise check failed; the message explains what was expected and gives a hint."""


def passed(message: str) -> None:
    print(f"✓ {message}")


def fail(message: str, hint: str | None = None) -> None:
    text = f"✗ {message}"
    if hint:
        text += f"\n  Hint: {hint}"
    # Raised from here, so the learner sees this message, not a traceback from deep inside.
    raise CheckFailure(text)


def call(fn: Callable, *args, name: str | None = None, **kwargs) -> Any:
    """Call the learner's function; turn NotImplementedError and crashes into clear failures."""
    name = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        fail(f"expected a function to check, got {type(fn).__name__}.",
             f"pass the function itself, e.g. checks.{name}({name}), not its result.")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        fail(f"{name} is not implemented yet.", "replace `raise NotImplementedError` with your code.")
    except CheckFailure:
        raise
    except Exception as e:  # noqa: BLE001 - report any crash in the learner's code plainly
        fail(f"{name} raised {type(e).__name__}: {e}",
             "run it yourself on a small input and look at the shapes of the intermediate results.")


def as_tensor(value: Any, what: str) -> torch.Tensor:
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except Exception:  # noqa: BLE001
        fail(f"{what} should be a tensor or array of numbers, got {type(value).__name__}.")


def expect_shape(t: torch.Tensor, shape: tuple, what: str, hint: str | None = None) -> None:
    if tuple(t.shape) != tuple(shape):
        fail(f"{what} has shape {tuple(t.shape)}, expected {tuple(shape)}.", hint)


def expect_close(actual: torch.Tensor, expected: torch.Tensor, what: str, *, atol: float = 1e-6,
                 rtol: float = 1e-6, hint: str | None = None) -> None:
    actual = torch.as_tensor(actual, dtype=torch.float64)
    expected = torch.as_tensor(expected, dtype=torch.float64)
    if not torch.all(torch.isfinite(actual)):
        fail(f"{what} contains NaN or inf.", hint or "work in log space where numbers get tiny.")
    err = (actual - expected).abs()
    tol = atol + rtol * expected.abs()
    if torch.any(err > tol):
        i = int(torch.argmax(err - tol))
        a, e = actual.reshape(-1)[i].item(), expected.reshape(-1)[i].item()
        fail(f"{what} is off: got {a:.6g} where {e:.6g} was expected "
             f"(largest difference {err.max().item():.3g}).", hint)


def expect_finite_number(x: Any, what: str) -> float:
    try:
        v = float(x)
    except Exception:  # noqa: BLE001
        fail(f"{what} should be a number, got {type(x).__name__}.")
    if not math.isfinite(v):
        fail(f"{what} is {v}.", "work in log space (log-sum-exp) where numbers get tiny or huge.")
    return v
