"""Build the course website (`make site`): static HTML from the committed notebooks.

    python scripts/build_site.py [--out build/site] [--strict]

1. Stages the sources into build/site-src/ with the repository's layout: docs/site/*
   (Sphinx configuration, landing page), README.md, notebooks/*.ipynb, docs/teaching.md.
   The notebooks are copied as they are: their saved outputs are the pages' outputs,
   nothing is executed.
2. Puts @jupyter-widgets/html-manager (the script that draws the notebooks' widgets from
   their saved state) into the site, so the widgets need no CDN. It is fetched once with
   `npm pack` into build/vendor/; without npm, the site loads it from a CDN when read online.
3. Runs Sphinx (MyST-NB, sphinx-book-theme) into the output folder.

Needs `pip install -e ".[site]"`.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STAGE = REPO / "build" / "site-src"
VENDOR = REPO / "build" / "vendor"
HTML_MANAGER = "@jupyter-widgets/html-manager@1.0.15"  # ipywidgets 8 (controls 5, output 6)
HTML_MANAGER_FILES = (".js", ".txt", ".woff2", ".woff", ".ttf", ".eot", ".svg")


def stage() -> None:
    if STAGE.exists():
        shutil.rmtree(STAGE)
    shutil.copytree(REPO / "docs" / "site", STAGE,
                    ignore=shutil.ignore_patterns("__pycache__", "_build"))
    shutil.copy2(REPO / "README.md", STAGE / "README.md")
    (STAGE / "notebooks").mkdir()
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        shutil.copy2(nb, STAGE / "notebooks" / nb.name)
    (STAGE / "docs").mkdir()
    shutil.copy2(REPO / "docs" / "teaching.md", STAGE / "docs" / "teaching.md")


def html_manager() -> Path | None:
    """The folder with html-manager's embed.js and its fonts, fetched once; None without npm."""
    name = HTML_MANAGER.rsplit("@", 1)[1]
    folder = VENDOR / f"html-manager-{name}"
    if (folder / "embed.js").exists():
        return folder
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: the widgets' script will be loaded from a CDN", file=sys.stderr)
        return None
    VENDOR.mkdir(parents=True, exist_ok=True)
    # `npm pack` downloads the one package tarball (checked against the registry's
    # integrity hash); its dist/ holds a self-contained bundle, no dependencies to install.
    try:
        tgz = subprocess.run([npm, "pack", HTML_MANAGER, "--silent"], cwd=VENDOR, check=True,
                             capture_output=True, text=True, timeout=120,
                             ).stdout.strip().splitlines()[-1]
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, IndexError) as e:
        print(f"npm pack {HTML_MANAGER} failed ({e}): the widgets' script will be loaded "
              "from a CDN", file=sys.stderr)
        return None
    tmp = folder.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    with tarfile.open(VENDOR / tgz) as tar:
        for member in tar.getmembers():
            p = Path(member.name)
            if (member.isfile() and p.parent.as_posix() == "package/dist"
                    and p.name != "embed-amd.js" and not p.name.startswith("libembed")
                    and p.suffix in HTML_MANAGER_FILES):
                with tar.extractfile(member) as f:
                    (tmp / p.name).write_bytes(f.read())
    (VENDOR / tgz).unlink()
    tmp.rename(folder)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "site")
    parser.add_argument("--strict", action="store_true",
                        help="fail on any Sphinx warning (a broken link, a missing image); "
                             "tests/test_site.py builds this way")
    args = parser.parse_args()
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401
    except ImportError as e:
        sys.exit(f"{e.name} is missing: pip install -e \".[site]\"")

    t0 = time.monotonic()
    stage()
    manager = html_manager()
    if manager is not None:
        shutil.copytree(manager, STAGE / "_static" / "html-manager")
    out = args.out.resolve()
    if out.exists():
        shutil.rmtree(out)
    # -E: read every page afresh (a few seconds; warnings are never hidden by a cache);
    # -n: warn on broken references; -W --keep-going: every warning fails the build.
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", "-n",
           *(["-W", "--keep-going"] if args.strict else []),
           "-d", str(REPO / "build" / "site-doctrees"), str(STAGE), str(out)]
    rc = subprocess.run(cmd).returncode
    if rc == 0:
        print(f"site built in {time.monotonic() - t0:.1f} s: {out / 'index.html'}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
