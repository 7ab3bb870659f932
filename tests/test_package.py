"""What a hub or a learner gets from `pip install` (not editable): the built sdist and wheel.

The sdist is built from this folder and the wheel from the sdist (python -m build), so both
are checked. The wheel is then installed into a fresh virtual environment that borrows only
the third-party dependencies of the test environment (no pip download), and from a temporary
directory — far from this checkout — the installed package must import every module, load
both splits of the embedded digits, and run lesson 1 under nbval.
"""
import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("build", reason="the packaging test needs `build`: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parent.parent
# Every module of the source tree: a new one that the build leaves out fails here.
MODULES = ["checks"] + sorted(p.stem for p in (ROOT / "vae_utils").glob("*.py") if p.stem != "__init__")


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    run = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return wheel, sdist


def test_wheel_and_sdist_hold_every_module_and_the_digits(dists):
    wheel, sdist = dists
    names = set(zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as t:
        snames = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    for member in [f"vae_utils/{m}.py" for m in MODULES if m != "checks"] + [
            "vae_utils/checks/__init__.py", "vae_utils/checks/_common.py",
            "vae_utils/datasets/mnist5k.npz", "vae_utils/weights/vae_mlp20.pt",
            "vae_utils/weights/vae_mlp2.pt"]:
        assert member in names, f"{member} missing from {wheel.name}"
        assert member in snames, f"{member} missing from {sdist.name}"


@pytest.fixture(scope="module")
def installed(dists, tmp_path_factory):
    """A fresh venv with the wheel installed; third-party packages come from this environment."""
    wheel, _ = dists
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # Dependencies (torch, jupyter, nbval, ...) from the test environment's site-packages. A
    # path listed in a .pth file is not itself a site directory, so the editable install of
    # this checkout that lives there is not activated: only the wheel provides vae_utils.
    (site / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # --target, not --prefix: pip would first uninstall the editable install of this environment.
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                    "--target", str(site), str(wheel)], check=True)
    return py, site


def _clean_env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VAE_COURSE_DATA")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def test_installed_package_imports_everything_and_loads_the_digits(installed, tmp_path):
    py, site = installed
    code = (
        "import importlib, vae_utils\n"
        f"for m in {MODULES!r}: importlib.import_module('vae_utils.' + m)\n"
        "from vae_utils.data import load_mnist, data_dir\n"
        "xtr, _ = load_mnist('train'); xte, _ = load_mnist('test')\n"
        "from vae_utils.setup_check import check_setup\n"
        "r = check_setup(verbose=False)\n"
        "print(vae_utils.__file__, tuple(xtr.shape), tuple(xte.shape), data_dir(), r['ok'], r['problems'])\n"
    )
    run = subprocess.run([str(py), "-c", code], cwd=tmp_path, capture_output=True, text=True, env=_clean_env())
    assert run.returncode == 0, run.stderr[-3000:]
    path, rest = run.stdout.split(" ", 1)
    assert Path(path).is_relative_to(site), f"vae_utils imported from {path}, not from the wheel"
    assert "(4000, 1, 28, 28) (1000, 1, 28, 28) None True []" in rest, rest


def test_a_lesson_runs_against_the_installed_package(installed, tmp_path):
    py, _ = installed
    nb = tmp_path / "01_noise_in_a_gaussian.ipynb"
    nb.write_bytes((ROOT / "notebooks" / nb.name).read_bytes())
    run = subprocess.run([str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                          "--nbval-current-env", nb.name], cwd=tmp_path, capture_output=True, text=True,
                         env=_clean_env())
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert " passed" in run.stdout


def test_the_package_docstring_maps_every_module():
    import vae_utils
    for m in MODULES:
        assert f"``vae_utils.{m}``" in vae_utils.__doc__, f"vae_utils/__init__.py's module map lacks {m}"
