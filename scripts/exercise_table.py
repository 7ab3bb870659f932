"""The graded exercises of every lesson: kind, points, and who grades them.

Reads the nbgrader metadata of ``notebooks/*.ipynb``. Each auto-graded check cell (grade_id
``<exercise>_check``, or any graded code cell) belongs to the exercise of its name, whose kind
— implement, derive or judge — is listed in ``reading_time.EXERCISE_KINDS``; each manually
graded answer in words (a markdown cell with ``solution`` and ``grade``) is a written
justification, graded by hand. *Judgement* is the points of the judge exercises plus the
written justifications: what the learner diagnoses, chooses or predicts, and defends.

    python scripts/exercise_table.py            # the table, and each lesson's share of judgement
    python scripts/exercise_table.py --markdown # the same as a Markdown table
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from reading_time import EXERCISE_KINDS  # noqa: E402

JUDGEMENT = ("judge", "justify")


def lesson_of(path: Path) -> str:
    """``01_noise_in_a_gaussian.ipynb`` → ``1``; ``06b_vae_log_likelihood.ipynb`` → ``6b``."""
    return path.name.split("_", 1)[0].lstrip("0") or "0"


def exercises(path: Path) -> list[dict]:
    """One row per graded cell: lesson, exercise, kind, points, grading ("auto" or "manual").

    Raises:
        KeyError: a check cell whose exercise has no kind in ``EXERCISE_KINDS``.
    """
    nb = json.loads(path.read_text())
    rows = []
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if not meta.get("grade"):
            continue
        grade_id = meta.get("grade_id", "")
        if cell["cell_type"] == "markdown":
            rows.append({"lesson": lesson_of(path), "exercise": grade_id, "kind": "justify",
                         "points": meta.get("points", 0), "grading": "manual"})
            continue
        name = grade_id.removesuffix("_check")
        if name not in EXERCISE_KINDS:
            raise KeyError(f"{path.name}: check {grade_id!r} belongs to no exercise listed in "
                           f"EXERCISE_KINDS (scripts/reading_time.py)")
        rows.append({"lesson": lesson_of(path), "exercise": name, "kind": EXERCISE_KINDS[name],
                     "points": meta.get("points", 0), "grading": "auto"})
    return rows


def table(paths=None) -> list[dict]:
    paths = paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    return [row for p in paths for row in exercises(p)]


def shares(rows: list[dict]) -> dict[str, tuple[float, float]]:
    """Per lesson (and ``"all"``): (judgement points, all points)."""
    out: dict[str, list[float]] = {}
    for r in rows:
        for key in (r["lesson"], "all"):
            j, t = out.setdefault(key, [0.0, 0.0])
            out[key] = [j + r["points"] * (r["kind"] in JUDGEMENT), t + r["points"]]
    return {k: (j, t) for k, (j, t) in out.items()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args(argv)
    rows = table()
    if args.markdown:
        print("| lesson | exercise | kind | points | graded |\n|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['lesson']} | `{r['exercise']}` | {r['kind']} | {r['points']:g} | {r['grading']} |")
    else:
        for r in rows:
            print(f"{r['lesson']:>3s}  {r['exercise']:32s} {r['kind']:9s} {r['points']:4g}  {r['grading']}")
    print()
    by_lesson = shares(rows)
    for lesson, (j, t) in by_lesson.items():
        if lesson != "all":
            print(f"lesson {lesson:>3s}: judgement {j:g} of {t:g} points ({j / t:.0%})")
    j, t = by_lesson["all"]
    print(f"all lessons: judgement {j:g} of {t:g} points ({j / t:.0%})")


if __name__ == "__main__":
    main()
