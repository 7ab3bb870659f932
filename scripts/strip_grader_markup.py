"""Make the lessons in ``notebooks/`` reading versions: no grader markup a learner would see.

Each graded check cell keeps its visible line, ``checks.<exercise>(<exercise>)``; nbgrader's
``### BEGIN HIDDEN TESTS`` … ``### END HIDDEN TESTS`` block goes, and so does the ✓ line the
hidden test printed beside the visible one in the committed output — nothing is re-executed.
The hidden tests are added back where nbgrader needs them, in the grader's source
(``vae_utils.checks.grading.add_hidden_tests``, called by ``scripts/classroom.py`` and
``make student``). Running it again changes nothing; tests/test_notebook_sources.py fails on a
lesson it has not been run on.

    python scripts/strip_grader_markup.py                 # every notebook in notebooks/
    python scripts/strip_grader_markup.py notebooks/06e_….ipynb
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from vae_utils.checks.grading import reading_version  # noqa: E402


def strip(path: Path) -> bool:
    """Rewrite ``path`` as its reading version; True when it changed."""
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    after = nbformat.writes(nbformat.from_dict(reading_version(nb))) + "\n"
    if nbformat.writes(nb) + "\n" == after:
        return False
    path.write_text(after, encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    changed = [p for p in paths if strip(p)]
    print(f"{len(changed)} of {len(paths)} notebooks changed" + (": " + ", ".join(p.name for p in changed) if changed else ""))


if __name__ == "__main__":
    main()
