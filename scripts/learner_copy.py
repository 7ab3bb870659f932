"""Give a self-learner working copies of the lessons, with the exercises open: ``make lab``.

For every lesson in ``notebooks/`` with exercises and no copy yet, writes ``my_work/<lesson>.ipynb``:
the lesson as it is, except that each exercise's worked solution (the region between
``### BEGIN SOLUTION`` and ``### END SOLUTION``) becomes ``raise NotImplementedError()``,
the graders' hidden tests are removed, and the outputs of the exercise and check cells are
cleared — the same edits as nbgrader's ``generate_assignment`` (a test compares the two). So
are the outputs of the cells that measure what an exercise asked the learner to predict (tag
``reveals-prediction``): a prediction is made before the page shows its answer. Every other
output stays, so a copy reads well before it runs. Opened in ``make lab``'s
JupyterLab (or any Lab, from a ``my_work/`` folder), a check that fails prints its message
— ✗, what is wrong, the hint — and Run All goes on (``vae_utils.checks._common.keep_going``).

A copy that exists is never touched: your work survives ``make lab`` and ``git pull`` (the
folder is not tracked by git). Delete a copy to get a fresh one. The worked solutions stay
in ``notebooks/``; the first cell of each copy links to its lesson.

    python scripts/learner_copy.py            # or: make lab
    python scripts/learner_copy.py --out DIR  # copies somewhere else
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

REVEAL_TAG = "reveals-prediction"  # as vae_utils.checks._common.REVEAL_TAG (this script imports no torch)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*$", re.S | re.M)
TEXT_STUB = "YOUR ANSWER HERE"  # nbgrader's ClearSolutions.text_stub
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n.*?^[ \t]*### END HIDDEN TESTS[^\n]*(?:\n|$)", re.S | re.M)


def open_exercises(nb, lesson_name: str):
    """The learner's version of one lesson (a new notebook; ``nb`` is left as it was)."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution"):
            # An answer in words, graded by hand: opened as nbgrader's ClearSolutions opens it
            # (its whole text replaced; with BEGIN/END SOLUTION markers, only the marked part).
            cell.source = (SOLUTION.sub(lambda m: f"{m.group(1)}{TEXT_STUB}", cell.source)
                           if SOLUTION.search(cell.source) else TEXT_STUB)
            continue
        if cell.cell_type == "code" and REVEAL_TAG in cell.metadata.get("tags", []):
            cell.outputs = []  # it shows a prediction's answer: hidden until the learner has predicted
            cell.execution_count = None
            continue
        if cell.cell_type != "code" or not (meta.get("solution") or meta.get("grade")):
            continue
        if meta.get("solution"):
            cell.source = SOLUTION.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError()",
                                       cell.source)
        cell.source = HIDDEN.sub("", cell.source).rstrip("\n")
        cell.outputs = []
        cell.execution_count = None
    note = nbformat.v4.new_markdown_cell(
        f"> **Your working copy.** The exercises below are open for you to solve; this file is "
        f"yours, and `make lab` never overwrites it (delete it to start afresh). The worked "
        f"solutions are in the lesson itself: [notebooks/{lesson_name}](../notebooks/{lesson_name}).")
    note.metadata["tags"] = ["learner-copy-note"]
    nb.cells.insert(0, note)
    return nb


def make_copies(out: Path = ROOT / "my_work") -> tuple[list[Path], list[Path]]:
    """Write the missing copies into ``out``. Returns (written, kept)."""
    out.mkdir(parents=True, exist_ok=True)
    written, kept = [], []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        lesson = nbformat.read(path, as_version=4)
        if not any(c.metadata.get("nbgrader", {}).get("solution") for c in lesson.cells):
            continue  # no exercises (lesson 0): nothing to work on
        target = out / path.name
        if target.exists():
            kept.append(target)
            continue
        nb = open_exercises(lesson, path.name)
        with open(target, "x", encoding="utf-8") as f:  # "x": never replace a file
            nbformat.write(nb, f)
        written.append(target)
    return written, kept


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "my_work")
    args = ap.parse_args(argv)
    written, kept = make_copies(args.out)
    where = args.out.resolve().relative_to(ROOT) if args.out.resolve().is_relative_to(ROOT) else args.out
    if written:
        print(f"Your working copies, exercises open, in {where}/: " + ", ".join(p.name for p in written))
    if kept:
        print(f"Kept your {len(kept)} existing cop{'y' if len(kept) == 1 else 'ies'} in {where}/ unchanged.")


if __name__ == "__main__":
    sys.exit(main())
