"""Is this machine ready for the course? (notebook 00, "Start here")."""
from __future__ import annotations

import importlib
import sys

__all__ = ["check_setup"]

_PACKAGES = [  # (import name, minimum version, why the course needs it)
    ("torch", "2.4", "tensors, distributions and the VAE"),
    ("numpy", "1.24", "arrays"),
    ("matplotlib", "3.7", "figures"),
    ("ipywidgets", "8.0", "sliders and interactive figures"),
    ("tqdm", "4.60", "progress bars"),
]


# Every module of the course package: a partial install (a wheel built without a subpackage,
# an old copy on the path) shows up here by name instead of at some lesson's first cell.
_COURSE_MODULES = ["validate", "data", "gaussian", "lvm", "estimators", "vae", "train", "pretrained",
                   "plotting", "widgets", "checks"]


def _version_tuple(v: str) -> tuple[int, ...]:
    parts = []
    for p in v.split("+")[0].split("."):
        digits = "".join(ch for ch in p if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def check_setup(verbose: bool = True) -> dict:
    """Check Python, packages, every module of ``vae_utils``, the compute device and the data;
    print advice for anything missing (lesson 0, "Start here").

    Returns:
        dict with keys ``ok`` (bool), ``problems`` (list of str), ``versions`` (dict),
        ``device`` (str) and ``data`` (str: which MNIST source ``load_mnist`` uses).
    """
    problems, versions = [], {"python": sys.version.split()[0]}
    if sys.version_info < (3, 10):
        problems.append(f"Python {versions['python']} is too old: the course needs Python ≥ 3.10.")
    for name, minimum, why in _PACKAGES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            problems.append(f"{name} is missing ({why}): run `make lab` again in a clone of the "
                            f"course, or `pip install {name}`.")
            continue
        versions[name] = getattr(mod, "__version__", "?")
        if _version_tuple(versions[name]) < _version_tuple(minimum):
            problems.append(f"{name} {versions[name]} is older than {minimum} ({why}): "
                            f"`pip install -U {name}`.")
    try:
        importlib.import_module("jupyterlab_widgets")
    except ImportError:
        problems.append("jupyterlab_widgets is missing: sliders will show as text. "
                        "`pip install jupyterlab_widgets` in the environment that runs JupyterLab.")
    missing = []
    for name in _COURSE_MODULES:
        try:
            importlib.import_module(f"vae_utils.{name}")
        except Exception as e:  # noqa: BLE001 - report every missing piece, do not crash
            missing.append(name)
            problems.append(f"vae_utils.{name} cannot be imported ({type(e).__name__}: {e}): the "
                            f"course package is incomplete; reinstall it (`pip install --force-reinstall "
                            f"vae-utils`, or `make lab` in a clone).")
    device = "unknown"
    if "train" not in missing:
        try:
            from .train import pick_device
            device = str(pick_device("auto"))
        except Exception as e:  # noqa: BLE001 - report, do not crash the start page
            problems.append(f"could not pick a compute device: {e}")
    data = "unknown"
    if "data" not in missing:
        try:
            from .data import _embedded_file, _full_available, data_dir, embedded_path, load_mnist
            x, _ = load_mnist("test")
            if _full_available(data_dir()):
                data = f"full MNIST in {data_dir()} ({len(x)} test images)"
            else:
                used = _embedded_file(data_dir())
                where = "" if used == embedded_path() else f"; the copy in {used.parent}"
                data = f"embedded 5,000 digits ({len(x)} test images, checksum verified{where})"
        except Exception as e:  # noqa: BLE001
            problems.append(f"the digits could not be loaded: {e}")
    ok = not problems
    if verbose:
        print("Python " + versions["python"] + "  |  " +
              ", ".join(f"{k} {v}" for k, v in versions.items() if k != "python"))
        print(f"compute device: {device}" + ("" if device != "cpu" else
              "  (no GPU found: every lesson runs on the CPU, lesson 6 trains in seconds)"))
        print(f"data: {data}")
        if ok:
            print("✓ ready: open lesson 1.")
        else:
            print("✗ fix these first:")
            for p in problems:
                print("  - " + p)
    return {"ok": ok, "problems": problems, "versions": versions, "device": device, "data": data}
