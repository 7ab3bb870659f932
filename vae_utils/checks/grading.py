"""The grader's side of the checks: hidden tests on inputs drawn from the course's secret, run by a
private copy of the checks, after looking for code in the notebook that changed what they rely on.

What learners read (``notebooks/``, their ``my_work/`` copies, nbgrader's student versions)
has one visible line per check cell, ``checks.<exercise>(<exercise>)``. What the instructor
feeds to nbgrader (its ``source/`` folder) adds, inside nbgrader's hidden-test markers::

    ### BEGIN HIDDEN TESTS
    <one line: is ``__import__`` the interpreter's own?>
    <import hidden_test from this module; if that fails, say sys.modules was tampered with>
    hidden_test("<exercise>", <exercise>)
    ### END HIDDEN TESTS

``add_hidden_tests`` writes that block (``python -m vae_utils.checks.grading source …`` from a
shell). ``hidden_test``

1. looks for tampering — builtins replaced, ``sys.setprofile``/``sys.getprofile`` replaced,
   ``sys.modules`` entries of the course package that are not its modules, a function of
   ``vae_utils`` (a check, the guard, a course function) whose code differs from its file,
   a function of ``torch`` or ``math`` replaced — and fails with a message naming it;
2. loads a **private copy** of ``vae_utils`` from its files (new module objects under a random
   name, registered only while the check runs), so no assignment to ``vae_utils.checks``,
   to one of its functions or to ``checks`` in the notebook reaches the check that grades;
3. runs that copy's check of the exercise on inputs drawn from a seed derived from the
   course's secret (``VAE_COURSE_SECRET``, set by the instructor where autograde runs) and
   the exercise's name, with the guard against calling the course's own implementation
   watching the interpreter's own ``sys.setprofile``. It always raises on a failure, and its
   message does not show the hidden inputs.

Without ``VAE_COURSE_SECRET`` the hidden tests draw a fresh random seed per check and say so:
grades stay right (an answer tuned to the visible inputs still fails) but a re-run of
autograde uses other inputs. Refusing instead would give a whole class 0 for a forgotten
variable.

Limits (stated in docs/teaching.md): everything runs in the student's kernel, so code that
was written after reading this module — one that replaces this module's own ``sys.modules``
entry, patches the import machinery, IPython's cell execution or ``torch`` internals beyond
its public functions, or reads the secret from the kernel's environment — is not caught
here. Such code stays in the submitted answer cells, for the instructor to see.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import importlib
import importlib.util
import io
import math
import os
import re
import secrets
import sys
from pathlib import Path

from . import _common

SECRET_ENV = "VAE_COURSE_SECRET"
PACKAGE_DIR = Path(__file__).resolve().parent.parent       # …/vae_utils
_TYPE = ().__class__.__class__                               # `type`, however the name is bound
_BUILTIN = [].append.__class__                               # builtin_function_or_method
_MODULE = _TYPE(sys)
_HEAP_TYPE = 1 << 9                                          # Py_TPFLAGS_HEAPTYPE

BEGIN, END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
# The first line of the hidden block: the `import` on the next line goes through the real
# `__import__` (a function implemented in C, found in the cell's own builtins), not a wrapper.
IMPORT_GUARD = ('_vae_b = (lambda: 0).__builtins__; assert ().__class__.__class__(_vae_b) is {}.__class__ '
                'and ().__class__.__class__(_vae_b["__import__"]) is [].append.__class__ '
                'and _vae_b["__import__"].__name__ == "__import__", '
                '"✗ builtins.__import__ was replaced by code in this notebook: the hidden tests score 0."')
# Then the grader's module, from the real import system: if the course's sys.modules entries
# were replaced, the import fails, and the cell says so.
IMPORT_GRADER = ('try:\n    from vae_utils.checks.grading import hidden_test\nexcept Exception:\n'
                 '    raise AssertionError("✗ the course\'s modules in sys.modules were replaced by code in this '
                 'notebook: the hidden tests score 0.") from None')
HIDDEN_CALL = 'hidden_test("{name}", {name})'
VISIBLE = "from vae_utils import checks\n\nchecks.{name}({name})"
_HIDDEN_REGION = re.compile(r"\n?^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n.*?^[ \t]*### END HIDDEN TESTS[^\n]*(?:\n|$)",
                            re.S | re.M)

# Builtins a check relies on, by kind; each must still be the interpreter's own.
_FUNCTIONS = ("abs all any ascii bin callable chr compile delattr dir divmod eval exec format getattr "
              "globals hasattr hash hex id isinstance issubclass iter len locals max min next oct ord pow "
              "print repr round setattr sorted sum vars __import__ __build_class__").split()
_CLASSES = ("bool int float complex str bytes bytearray list tuple dict set frozenset type object range "
            "slice zip map filter enumerate reversed super property classmethod staticmethod memoryview "
            "BaseException Exception AssertionError NotImplementedError ValueError TypeError RuntimeError "
            "KeyError IndexError AttributeError ImportError ModuleNotFoundError StopIteration "
            "ArithmeticError ZeroDivisionError OverflowError LookupError").split()


# --- the secret ------------------------------------------------------------------------------
_secret_cache: list = []


def _secret() -> bytes | None:
    """The course secret, read once; inside a kernel it is then removed from ``os.environ``, so
    a later cell's ``os.environ`` does not show it."""
    if not _secret_cache:
        value = os.environ.get(SECRET_ENV) or None
        if value is not None and "ipykernel" in sys.modules:
            os.environ.pop(SECRET_ENV, None)
        _secret_cache.append(value.encode() if value else None)
    return _secret_cache[0]


def hidden_seed(name: str, secret: bytes | str | None = None) -> int:
    """The seed of exercise ``name``'s hidden tests: HMAC-SHA256(secret, name), 56 bits.

    Args:
        name: the exercise (``"sample_gaussian"``).
        secret: the course secret; by default ``$VAE_COURSE_SECRET``. Without one, a fresh
            random seed (``secrets.randbits``) — different on every call.
    Returns:
        A non-negative int below 2**56, the ``seed`` the exercise's check runs under.
    """
    if secret is None:
        secret = _secret()
    if secret is None:
        return secrets.randbits(56)
    if isinstance(secret, str):
        secret = secret.encode()
    digest = hmac.new(secret, b"vae_utils hidden tests\0" + name.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:7], "big")


# --- tampering -------------------------------------------------------------------------------
def _name_of(obj) -> str:
    return _TYPE.__dict__["__name__"].__get__(obj) if _TYPE(obj) is _TYPE else getattr(obj, "__name__", "")


def _builtins_problems(real_builtins, frame_builtins) -> list[str]:
    problems = []
    table = real_builtins.__dict__
    if frame_builtins is not table:
        problems.append("the notebook's __builtins__ was replaced")
    for name in _FUNCTIONS:
        f = table.get(name)
        if _TYPE(f) is not _BUILTIN or f.__name__ != name or f.__self__ is not real_builtins:
            problems.append(f"builtins.{name} was replaced")
    for name in _CLASSES:
        c = table.get(name)
        if _TYPE(c) is not _TYPE or _TYPE.__dict__["__flags__"].__get__(c) & _HEAP_TYPE or _name_of(c) != name:
            problems.append(f"builtins.{name} was replaced")
    return problems


def _code_differs(live, private) -> bool:
    """Whether a live function (or class) of the package differs from the private copy's."""
    if _TYPE(private) is _TYPE:
        if _TYPE(live) is not _TYPE or _name_of(live) != _name_of(private):
            return True
        for attr, value in vars(private).items():
            if hasattr(value, "__code__") or isinstance(value, (staticmethod, classmethod)):
                f_priv = getattr(value, "__func__", value)
                f_live = getattr(live.__dict__.get(attr), "__func__", live.__dict__.get(attr))
                if _code_differs(f_live, f_priv):
                    return True
        return False
    code = getattr(private, "__code__", None)
    if code is None:
        return False
    try:
        if live.__code__ != code:
            return True
    except AttributeError:
        return True
    wrapped = getattr(private, "__wrapped__", None)
    return wrapped is not None and _code_differs(getattr(live, "__wrapped__", None), wrapped)


def _package_problems(real_sys, private_root: str) -> list[str]:
    problems = []
    modules = real_sys.modules
    for name in sorted(n for n in list(modules) if n == "vae_utils" or n.startswith("vae_utils.")):
        m = modules[name]
        file = getattr(m, "__file__", None) if _TYPE(m) is _MODULE else None
        if not isinstance(file, str) or not Path(file).resolve().is_relative_to(PACKAGE_DIR):
            problems.append(f"sys.modules[{name!r}] is not the course's module")
            continue
        parent, _, child = name.rpartition(".")
        if parent and modules.get(parent) is not None and getattr(modules[parent], child, m) is not m:
            problems.append(f"{name} was replaced by another object")
        private = modules.get(private_root + name[len("vae_utils"):])
        if private is None:
            continue
        for attr, value in vars(private).items():
            if attr.startswith("__") or not (callable(value) and str(getattr(value, "__module__", "")).startswith(private_root)):
                continue
            if _code_differs(getattr(m, attr, None), value):
                problems.append(f"{name}.{attr} was replaced")
    return problems


def _library_problems() -> list[str]:
    """torch's and math's public functions: each still the function its name says."""
    import torch
    problems = []
    torch_dir = str(Path(torch.__file__).resolve().parent)
    for module in (math, torch, torch.linalg, torch.nn.functional):
        for attr, f in list(vars(module).items()):
            if attr.startswith("_"):
                continue
            if _TYPE(f) is _BUILTIN:
                if f.__name__ != attr and module is math:
                    problems.append(f"{module.__name__}.{attr} was replaced")
            elif _TYPE(f) is (lambda: 0).__class__ and module is not math:
                if not str(Path(f.__code__.co_filename).resolve()).startswith(torch_dir):
                    problems.append(f"{module.__name__}.{attr} was replaced")
    for attr, f in list(vars(torch.Tensor).items()):
        if _TYPE(f) is (lambda: 0).__class__ and not str(Path(f.__code__.co_filename).resolve()).startswith(torch_dir):
            problems.append(f"torch.Tensor.{attr} was replaced")
    return problems


def tampering(frame_builtins=None, private_root: str | None = None) -> list[str]:
    """What code in this process changed that the checks rely on (empty: nothing found).

    Args:
        frame_builtins: the builtins dict of the cell that runs the check (default: the real one).
        private_root: the package name of a private copy (``private_checks``) to compare the
            course's live modules with, function by function.
    """
    try:
        real_sys = _common._real_sys()
    except _common.TamperingDetected:
        return ["sys.setprofile or sys.getprofile was replaced"]
    real_builtins = real_sys.modules.get("builtins")
    if _TYPE(real_builtins) is not _MODULE:
        return ["sys.modules['builtins'] was replaced"]
    problems = _builtins_problems(real_builtins, real_builtins.__dict__ if frame_builtins is None else frame_builtins)
    if private_root:
        problems += _package_problems(real_sys, private_root)
    problems += _library_problems()
    return problems


# --- the private copy ------------------------------------------------------------------------
@contextlib.contextmanager
def private_checks():
    """A fresh copy of ``vae_utils`` loaded from its files under a random package name; yields
    its ``checks``. Its modules are in ``sys.modules`` only while the block runs."""
    real_sys = _common._real_sys()
    root = f"_vae_utils_private_{secrets.token_hex(6)}"
    spec = importlib.util.spec_from_file_location(root, PACKAGE_DIR / "__init__.py",
                                                  submodule_search_locations=[str(PACKAGE_DIR)])
    package = importlib.util.module_from_spec(spec)
    real_sys.modules[root] = package
    try:
        spec.loader.exec_module(package)
        checks = importlib.import_module(root + ".checks")
        yield checks
    finally:
        for name in [n for n in real_sys.modules if n == root or n.startswith(root + ".")]:
            del real_sys.modules[name]


_HIDDEN_FAILED = ("✗ {name} fails the grader's hidden tests (inputs the grader draws, other than the "
                  "visible check's).\n  Hint: an answer that fits the visible inputs only, or "
                  "misses a case: try checks.{name}({name}, seed=1), seed=2, … in your copy.")


def hidden_test(name: str, fn) -> None:
    """The hidden test of exercise ``name`` in a graded check cell (see the module's docstring).

    Prints one ✓ line when ``fn`` passes the private check on the secret's inputs.

    Raises:
        TamperingDetected: code in the notebook changed builtins, ``sys``'s profiler functions,
            the course's modules or torch's functions; the message names what.
        CheckFailure: ``fn`` fails the check on the hidden inputs (the message names the
            exercise, not the inputs), calls the course's own solution, or is not implemented.
    """
    frame_builtins = sys._getframe(1).f_builtins
    with private_checks() as checks:
        found = tampering(frame_builtins, checks.__name__.rsplit(".", 1)[0])
        if found:
            raise _common.TamperingDetected(_common._TAMPERED.format(what="; ".join(dict.fromkeys(found))))
        check = getattr(checks, name, None)
        if check is None or not hasattr(check, "library"):
            raise ValueError(f"hidden_test runs an exercise's check; {name!r} is not one of them.")
        private = importlib.import_module(checks.__name__ + "._common")
        missing = _secret() is None
        token = private._MUST_RAISE.set(True)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                check(fn, seed=hidden_seed(name))
        except private.CheckFailure as failure:
            text = str(failure)
            if isinstance(failure, private.TamperingDetected):
                raise _common.TamperingDetected(text) from None
            if not any(s in text for s in ("calls the course's own", "is not implemented yet",
                                            "expected a function to check")):
                text = _HIDDEN_FAILED.format(name=name)   # the diagnosis would show hidden inputs
            raise _common.CheckFailure(text) from None
        finally:
            private._MUST_RAISE.reset(token)
    print(f"✓ {name} also passes the grader's hidden tests.")
    if missing:   # stdout: nbgrader scores a graded cell that writes to stderr 0
        print(f"(the grader set no {SECRET_ENV}: these hidden inputs came from a fresh random seed)")


# --- notebooks: the reading version and the grader's source -------------------------------------
def _check_name(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id", "")
    if cell.get("cell_type") == "code" and meta.get("grade") and grade_id.endswith("_check"):
        return grade_id[:-len("_check")]
    return None


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def add_hidden_tests(nb):
    """The grader's source of a lesson (a new notebook): every graded check cell ends with the
    hidden-test block that runs ``hidden_test``. Applying it twice gives the same notebook."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        name = _check_name(cell)
        if name is None:
            continue
        visible = _HIDDEN_REGION.sub("\n", _source(cell)).rstrip("\n")
        cell["source"] = f"{visible}\n{BEGIN}\n{IMPORT_GUARD}\n{IMPORT_GRADER}\n{HIDDEN_CALL.format(name=name)}\n{END}"
    return nb


def _text(out) -> str:
    return "".join(out["text"]) if isinstance(out["text"], list) else out["text"]


def reading_version(nb):
    """The lesson as learners read it (a new notebook): no hidden-test block in any cell, and
    the output line each hidden test printed next to the visible one removed, so each ✓ shows
    once. Applying it twice gives the same notebook.

    Raises:
        ValueError: a check cell whose output is not its visible lines followed by as many
            lines of the hidden test (re-execute the notebook instead).
    """
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        src = _source(cell)
        if cell.get("cell_type") != "code" or BEGIN not in src:
            continue
        cell["source"] = _HIDDEN_REGION.sub("\n", src).rstrip("\n")
        if "hidden_test(" in src:
            continue  # the grader's source (add_hidden_tests): its outputs are the visible call's
        merged = []  # a kernel may split one cell's printing into several stdout streams
        for out in cell.get("outputs", []):
            prev = merged[-1] if merged else None
            if (prev is not None and out.get("output_type") == "stream" and out.get("name") == "stdout"
                    and prev.get("output_type") == "stream" and prev.get("name") == "stdout"):
                prev["text"] = _text(prev) + _text(out)
            else:
                merged.append(out)
        if "outputs" in cell:
            cell["outputs"] = merged
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream" or out.get("name") != "stdout":
                continue
            text = "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
            lines = text.splitlines(keepends=True)
            half = len(lines) // 2
            # The visible call printed first, the hidden one the same lines on other numbers.
            if len(lines) % 2 or any(a[:12] != b[:12] for a, b in zip(lines[:half], lines[half:])):
                raise ValueError(f"the check cell {_check_name(cell) or src[:60]!r} printed {text!r}, not "
                                 "its visible lines twice: re-execute the notebook instead.")
            out["text"] = "".join(lines[:half])
    return nb


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json
    ap = argparse.ArgumentParser(description="Write the grader's source of lessons (hidden tests added) "
                                             "for nbgrader's source/<assignment>/ folder.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("source", help="copy lessons with their hidden tests added")
    s.add_argument("notebooks", nargs="+", type=Path)
    s.add_argument("--out", type=Path, required=True, help="folder, e.g. source/lesson1")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.notebooks:
        nb = add_hidden_tests(json.loads(path.read_text(encoding="utf-8")))
        (args.out / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{args.out / path.name}: {sum(_check_name(c) is not None for c in nb['cells'])} hidden tests")


if __name__ == "__main__":
    main()
