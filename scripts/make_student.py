"""Generate the student versions of the course notebooks: ``make student``.

For every notebook in ``notebooks/``, nbgrader's ``ClearSolutions`` preprocessor replaces
each region between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` with
``raise NotImplementedError()``, and nbconvert's ``ClearOutputPreprocessor`` removes all
outputs. The results go to ``build/student/`` (override with ``--out``).

The instructor notebooks need no nbgrader metadata for this; to run the full nbgrader
workflow (assign, collect, autograde), see docs/teaching.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor

try:
    from nbgrader.preprocessors import ClearSolutions
except ImportError:  # pragma: no cover - message for a missing optional dependency
    sys.exit("nbgrader is needed to make student versions: run `make student`, or "
             "`pip install -e \".[teach]\"` first.")

ROOT = Path(__file__).resolve().parent.parent


def make_student(src: Path, dst: Path) -> int:
    """Write the student version of notebook ``src`` to ``dst``; return the number of exercises cleared."""
    nb = nbformat.read(src, as_version=4)
    n = sum("### BEGIN SOLUTION" in c.source for c in nb.cells if c.cell_type == "code")
    resources = {"metadata": {"path": str(src.parent)}}
    nb, resources = ClearSolutions(enforce_metadata=False).preprocess(nb, resources)
    nb, resources = ClearOutputPreprocessor().preprocess(nb, resources)
    nb.metadata.pop("widgets", None)  # saved widget state belongs to the executed solutions
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)
    return n


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, default=ROOT / "notebooks")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    args = ap.parse_args(argv)
    notebooks = sorted(args.src.glob("*.ipynb"))
    if not notebooks:
        sys.exit(f"no notebooks found in {args.src}")
    total = 0
    for src in notebooks:
        n = make_student(src, args.out / src.name)
        total += n
        print(f"{src.name:40s} {n} exercise(s) cleared")
    print(f"{len(notebooks)} student notebooks written to {args.out} ({total} exercises)")


if __name__ == "__main__":
    main()
