"""Shared by the derive-then-measure exercises of lessons 1–4: compare a learner's closed form,
evaluated on several hidden inputs, with the exact one, and name the wrong derivation it matches."""
from __future__ import annotations

import math
from typing import Callable, Sequence

from ._common import call, fail


def number(value, what: str) -> float:
    """One float from a Python number or a one-element tensor/array; a clear failure otherwise."""
    try:
        numel = value.numel() if hasattr(value, "numel") else getattr(value, "size", 1)
        if numel != 1:
            fail(f"{what} should be one number, got {numel} values.", "return a single float.")
        return float(value)
    except (TypeError, ValueError):
        fail(f"{what} should be a number, got {type(value).__name__}.", "return a single float.")


def _same(a: float, b: float, rtol: float) -> bool:
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= rtol * abs(b) + 1e-300


def check_closed_form(fn: Callable, name: str, cases: Sequence[tuple], exact: Callable,
                      wrong: Sequence[tuple[Callable, str, str]], *, hint: str, rtol: float = 1e-5) -> list[float]:
    """Call ``fn(*case)`` for every case and compare with ``exact(*case)``.

    Args:
        cases: argument tuples (the hidden inputs).
        exact: the right closed form, same signature.
        wrong: (formula, diagnosis, hint) for each usual wrong derivation; when the learner's
            values match a formula on every case, the check fails with its diagnosis.
        hint: the hint when no known mistake matches.
    Returns:
        The learner's values, one per case (all right).
    Raises:
        CheckFailure: a value that is not one number, NaN, or off from the exact one by more than rtol (1e-5 relative: float32 arithmetic passes).
    """
    got = [number(call(fn, *case, name=name), f"{name}{_short(case)}") for case in cases]
    want = [float(exact(*case)) for case in cases]
    if all(_same(g, w, rtol) for g, w in zip(got, want)):
        return got
    for formula, diagnosis, wrong_hint in wrong:
        values = [float(formula(*case)) for case in cases]
        if all(_same(g, v, rtol) for g, v in zip(got, values)) and \
                not all(_same(v, w, rtol) for v, w in zip(values, want)):
            fail(diagnosis, wrong_hint)
    i = next(i for i, (g, w) in enumerate(zip(got, want)) if not _same(g, w, rtol))
    fail(f"{name}{_short(cases[i])} = {got[i]:.6g}, expected {want[i]:.6g}.", hint)


def _short(case: tuple) -> str:
    parts = []
    for v in case:
        if hasattr(v, "tolist"):
            v = v.tolist()
        if isinstance(v, float):
            parts.append(f"{v:.4g}")
        elif isinstance(v, list):
            parts.append("[" + ", ".join(f"{u:.3g}" for u in v) + "]")
        else:
            parts.append(repr(v))
    return "(" + ", ".join(parts) + ")"
