"""Shared plumbing of the exercise checks: calling the learner's code and explaining failures.

Two guards make a passed check mean that the learner wrote the code:

* **Fresh inputs.** Every check takes a keyword ``seed``. Its random inputs (hidden models,
  data, the noise a sampler is run under) are drawn from generators seeded with the check's
  own constants plus ``seed`` — so ``checks.sample_gaussian(sample_gaussian, seed=7)`` runs the same
  test on other numbers. The grader's copy of a check cell adds, inside nbgrader's hidden-test
  markers, the same check on a seed derived from the course's secret (``grading``): an answer
  tuned to the visible inputs fails.
* **The course's own implementation is off limits.** While a check runs the learner's
  function, calls into the ``vae_utils`` function that already solves the exercise (say
  ``vae_utils.gaussian.sample_gaussian``) are watched for with ``sys.setprofile``, which sees
  a function's code object whatever name it was imported under; a learner's function that
  calls it fails the check with a message to implement it. References the check computes
  itself, outside the learner's call, are not affected.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib
import math
import os
import sys
from typing import Any, Callable

import torch


class CheckFailure(AssertionError):
    """An exercise check failed; the message explains what was expected and gives a hint.

    In a notebook, IPython shows an exception that defines ``_render_traceback_`` as the lines
    it returns: a failed check shows its message — what is wrong, and the hint — and no
    traceback through the course's code. The cell still ends in an error, so nbgrader's
    autograde scores it 0.
    """

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines()


class TamperingDetected(CheckFailure):
    """Code in the notebook changed what a check relies on (the checks, the guard, builtins)."""


# A learner's working copy (``my_work/``, written by ``make lab``) runs top to bottom with its
# exercises unsolved: there a failed check *reports* its message instead of raising, so the
# lesson's later cells still run. That is the case in a kernel that a Jupyter server started
# for a notebook (it names the notebook in ``JPY_SESSION_NAME``) when ``make lab`` set
# ``VAE_CHECKS_KEEP_GOING=1`` or the notebook lies in a ``my_work/`` folder. Nowhere else:
# nbgrader's autograde and validate, nbval and scripts run kernels of their own, where a
# failed check raises. Graded cells never depend on it: nbgrader's hidden tests always raise.
KEEP_GOING_ENV = "VAE_CHECKS_KEEP_GOING"


def keep_going() -> bool:
    """Whether a failed check reports and lets the notebook go on (a learner's working copy)."""
    session = os.environ.get("JPY_SESSION_NAME", "").replace("\\", "/")
    if not session:
        return False
    return os.environ.get(KEEP_GOING_ENV, "") not in ("", "0") or "my_work/" in session


def passed(message: str) -> None:
    print(f"✓ {message}")


def fail(message: str, hint: str | None = None) -> None:
    text = f"✗ {message}"
    if hint:
        text += f"\n  Hint: {hint}"
    # Raised from here; CheckFailure._render_traceback_ shows this message alone in a notebook.
    raise CheckFailure(text)


# The seed offset of the running check (0 for the visible test) and the course functions that
# its exercise must not call: (dotted name, code object) pairs.
_SEED_OFFSET: contextvars.ContextVar[int] = contextvars.ContextVar("seed_offset", default=0)
_FORBIDDEN: contextvars.ContextVar[tuple] = contextvars.ContextVar("forbidden", default=())
# Set while the grader's hidden tests run a check: a failure always raises there.
_MUST_RAISE: contextvars.ContextVar[bool] = contextvars.ContextVar("must_raise", default=False)
# The seed a check uses when none is given (the visible test); the test suite runs every
# check under other values too.
DEFAULT_SEED = 0
# A second fixed seed the test suite runs every check under (tests/conftest.py). Graded hidden
# tests do not use it: they draw their inputs from the course's secret (``grading``).
HIDDEN_SEED = 2027


def report(failure: CheckFailure) -> None:
    """Show a failed check's message (on stderr, which notebooks tint red) without raising."""
    print(str(failure), file=sys.stderr)


def gen(seed: int) -> torch.Generator:
    """A CPU generator for the check's inputs: seeded with ``seed`` plus the check's offset."""
    return torch.Generator().manual_seed(seed + _SEED_OFFSET.get())


def manual_seed(seed: int) -> None:
    """Seed torch's global generator (the noise a learner's sampler draws) with the offset."""
    torch.manual_seed(seed + _SEED_OFFSET.get())


def _resolve(dotted: str):
    """``"vae_utils.gaussian.sample_gaussian"`` or ``"vae_utils.vae.VAE.reparameterize"`` → its code object."""
    parts = dotted.split(".")
    root = __name__.split(".")[0]
    if parts[0] == "vae_utils" and root != "vae_utils":
        parts[0] = root  # a private copy of the package (``grading``) watches its own copy
    for cut in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        obj = getattr(obj, "__func__", obj)
        return getattr(obj, "__code__", None)
    return None


def exercise(*library: str) -> Callable:
    """Decorate a check: add its ``seed`` keyword and forbid the listed course functions.

    Args:
        library: dotted names of the ``vae_utils`` functions that already solve the exercise.
    """
    def decorate(check: Callable) -> Callable:
        @functools.wraps(check)
        def run(fn, *, seed: int | None = None) -> None:
            if seed is None:
                seed = DEFAULT_SEED
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
            codes = tuple((name, code) for name in library if (code := _resolve(name)) is not None)
            t1, t2 = _SEED_OFFSET.set(seed), _FORBIDDEN.set(codes)
            try:
                return check(fn)
            except CheckFailure as failure:
                if not keep_going() or _MUST_RAISE.get():
                    raise
                report(failure)
                return None
            finally:
                _SEED_OFFSET.reset(t1)
                _FORBIDDEN.reset(t2)
        run.library = library
        return run
    return decorate


@contextlib.contextmanager
def _watch_for(codes: tuple):
    """Record calls into the given code objects while the block runs (any thread-local alias)."""
    hits: list[str] = []
    if not codes:
        yield hits
        return
    wanted = dict((code, name) for name, code in codes)
    real = _real_sys()
    previous = real.getprofile()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in wanted:
            hits.append(wanted[frame.f_code])
        if previous is not None:
            previous(frame, event, arg)

    real.setprofile(profile)
    if real.getprofile() is not profile:
        raise TamperingDetected(_TAMPERED.format(what="sys.setprofile does not install the check's guard"))
    try:
        yield hits
        if real.getprofile() is not profile:
            # The learner's function switched the guard off (sys.setprofile(None), or its own).
            raise TamperingDetected(_TAMPERED.format(
                what="the function under test replaced the check's guard (sys.setprofile)"))
    finally:
        real.setprofile(previous)


_TAMPERED = ("✗ {what}: code in this notebook changed how the checks work, so this check scores 0.\n"
             "  Hint: remove what changes vae_utils, sys or builtins from your answer cells, then "
             "restart the kernel and run all cells.")
_BUILTIN_FUNCTION = [].append.__class__  # builtin_function_or_method, not a name that can be rebound


def _real_sys():
    """The interpreter's own ``sys`` module, whatever the name ``sys`` was rebound to: reached
    through a function implemented in C (whose ``__self__`` cannot be forged), after checking
    that ``sys.setprofile`` and ``sys.getprofile`` are those functions."""
    for name in ("setprofile", "getprofile"):
        f = getattr(sys, name, None)
        if type(f) is not _BUILTIN_FUNCTION or f.__name__ != name or f.__self__.__name__ != "sys":
            raise TamperingDetected(_TAMPERED.format(what=f"sys.{name} was replaced"))
    real = sys.getprofile.__self__
    if real.setprofile.__self__ is not real:
        raise TamperingDetected(_TAMPERED.format(what="sys.setprofile was replaced"))
    return real


def call(fn: Callable, *args, name: str | None = None, **kwargs) -> Any:
    """Call the learner's function; turn NotImplementedError, crashes and calls of the course's
    own solution into clear failures."""
    name = name or getattr(fn, "__name__", "your function")
    if not callable(fn):
        fail(f"expected a function to check, got {type(fn).__name__}.",
             f"pass the function itself, e.g. checks.{name}({name}), not its result.")
    hits: list[str] = []

    def used_the_library() -> None:
        if hits:
            fail(f"{name} calls the course's own {hits[0]}, which already solves this exercise.",
                 f"implement {name} yourself from torch operations: that is the exercise.")

    try:
        with _watch_for(_FORBIDDEN.get()) as hits:
            out = fn(*args, **kwargs)
    except NotImplementedError:
        used_the_library()
        fail(f"{name} is not implemented yet.", "replace `raise NotImplementedError` with your code.")
    except CheckFailure:
        raise
    except Exception as e:  # noqa: BLE001 - report any crash in the learner's code plainly
        used_the_library()
        fail(f"{name} raised {type(e).__name__}: {e}",
             "run it yourself on a small input and look at the shapes of the intermediate results.")
    used_the_library()
    return out


# The course's own versions of exercises that later lesson text calls, by exercise name.
_FALLBACKS: dict[str, Callable] = {}
# Exercises that ask for a prediction: the cell that measures the answer must not show it
# (nor the course's prediction) before the learner has made theirs.
_PREDICTIONS: set[str] = set()
REVEAL_TAG = "reveals-prediction"  # cells whose outputs show a prediction's answer


def fallback_for(name: str, *, prediction: bool = False) -> Callable:
    """Register the course's version of exercise ``name`` for ``try_yours``.

    With ``prediction=True`` the exercise asks the learner to predict a number before the
    lesson measures it: ``try_yours`` then never substitutes the course's version (that would
    show the answer first); it returns ``None`` until the learner's own prediction exists.
    """
    def register(fn: Callable) -> Callable:
        _FALLBACKS[name] = fn
        if prediction:
            _PREDICTIONS.add(name)
        return fn
    return register


def try_yours(fn: Callable, *args, **kwargs) -> Any:
    """Run the learner's exercise function ``fn(*args, **kwargs)`` in the lesson's text.

    While the exercise is not solved yet (``fn`` raises ``NotImplementedError``), print a
    one-line note and use the course's version instead, so the lesson reads on. For an
    exercise that asks for a *prediction*, return ``None`` instead: the cell that measures the
    answer shows it only once the learner's prediction is written (a prediction is recorded
    before anything on the page reveals the answer). Any other error of the learner's
    function is raised as it is.

    Raises:
        ValueError: ``fn`` is not one of the exercises the lesson text uses.
    """
    name = getattr(fn, "__name__", "")
    if name not in _FALLBACKS:
        raise ValueError(f"try_yours runs one of the exercises {sorted(_FALLBACKS)}, got {name or fn!r}.")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        if name in _PREDICTIONS:
            print(f"(your {name} is not written yet: make your prediction in the exercise above "
                  f"first; this cell shows the measurement once you have)")
            return None
        print(f"(your {name} is not written yet: this cell uses the course's version; "
              f"solve the exercise above to see yours)")
        return _FALLBACKS[name](*args, **kwargs)


def choice(value, options: tuple[str, ...], what: str, example: str) -> str:
    """A learner's choice among ``options`` (case and surrounding spaces ignored), returned as
    spelled in ``options``; a failure naming ``what`` and the options otherwise."""
    if not isinstance(value, str):
        fail(f"{what} should be a string, one of {', '.join(map(repr, options))}; got {type(value).__name__}.",
             f"return e.g. {example}.")
    v = value.strip().lower()
    for o in options:
        if v == o.lower():
            return o
    fail(f"{what} is {value!r}; expected one of {', '.join(map(repr, options))}.", f"return e.g. {example}.")


def choice_dict(out: Any, keys, options: tuple[str, ...], name: str, *, kind: str,
                distinct: str | None = None, distinct_hint: str | None = None) -> dict[str, str]:
    """A matching exercise's answer ``{key: option}`` checked for its form: a dict with exactly
    ``keys``, each value one of ``options`` (case and spaces ignored) and, when ``distinct``
    names the items (e.g. ``"runs"``), no option given twice. ``kind`` names the options in
    messages ("slip", "bug", ...). Returns the answer with each value spelled as in ``options``;
    whether the matching is right is the calling check's business."""
    keys = sorted(keys)
    if not isinstance(out, dict):
        fail(f"{name}() should return a dict, got {type(out).__name__}.",
             "return {" + ", ".join(f'"{k}": "..."' for k in keys) + "}.")
    if sorted(map(str, out)) != keys or not all(isinstance(k, str) for k in out):
        fail(f"{name}() has the keys {sorted(map(str, out))}; expected exactly {keys} "
             f"(the keys should be named as in the lesson).", "one entry each, named as in the exercise.")
    got = {}
    for k in keys:
        v = out[k]
        name_of = v.strip().lower() if isinstance(v, str) else None
        match = [o for o in options if o.lower() == name_of]
        if not match:
            fail(f"{v!r} is not one of the {kind} names, for {name}()[{k!r}]; expected one of "
                 f"{', '.join(map(repr, options))}.", f"copy each {kind} name from that list.")
        got[k] = match[0]
    if distinct and len(set(got.values())) < len(got):
        fail(f"two {distinct} were given the same {kind}; each has a different one.",
             distinct_hint or f"each {kind} is used at most once.")
    return got


def hidden_model(d: int, k: int, sigma: float, seed: int, *, w_scale: float = 1.0, n_x: int | None = None):
    """A check's hidden linear-Gaussian model (lesson 2's yardstick, exact p(x) and posterior):
    W = w_scale · randn(d, k), b = randn(d), from ``gen(seed)``; with ``n_x``, also ``n_x`` data
    points drawn from it. Returns the model, or ``(model, x)`` with x of shape (n_x, d)."""
    from ..lvm import LinearGaussianLVM
    g = gen(seed)
    W = torch.randn(d, k, generator=g, dtype=torch.float64) * w_scale
    b = torch.randn(d, generator=g, dtype=torch.float64)
    model = LinearGaussianLVM(W, b, sigma)
    if n_x is None:
        return model
    x, _ = model.sample(n_x, generator=g)
    return model, x


def run_seeded(fn, *args, seed: int, name: str):
    """``call`` the learner's function under torch seed ``seed`` (plus the check's offset),
    restoring the learner's own random state afterwards."""
    with torch.random.fork_rng(devices=[]):
        manual_seed(seed)
        return call(fn, *args, name=name)


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
