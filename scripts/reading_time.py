"""How long each lesson takes to work through, from what it contains (a stated estimate).

For every notebook: words of prose, display equations, lines of code a learner reads (not
blank lines, not the exercises' check cells) and exercises. The minutes are

    prose words / 200  +  display equations × 0.5  +  code lines / 10  +  exercises × 6

(the notebooks' own run time, under a minute each, is left out)
— 200 words a minute for technical prose, half a minute per displayed equation, ten lines of
code a minute, six minutes per exercise. These rates are assumptions, stated where a lesson
quotes the result; the counts are exact.

    python scripts/reading_time.py              # a table for every lesson
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS_PER_MIN, MIN_PER_EQUATION, LINES_PER_MIN, MIN_PER_EXERCISE = 200, 0.5, 10, 6


def counts(path: Path) -> dict:
    nb = json.loads(path.read_text())
    words = equations = lines = exercises = 0
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        grade = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "markdown":
            equations += len(re.findall(r"\$\$.+?\$\$", src, re.S))
            prose = re.sub(r"\$\$.+?\$\$", " ", src, flags=re.S)
            words += len(re.findall(r"[^\s|#*`>-]+", prose))
        elif cell["cell_type"] == "code":
            if grade.get("grade") and not grade.get("solution"):
                continue  # a check cell: run, not read
            exercises += bool(grade.get("solution"))
            lines += sum(1 for line in src.splitlines() if line.strip())
    return {"words": words, "equations": equations, "code_lines": lines, "exercises": exercises}


def minutes(c: dict) -> float:
    return (c["words"] / WORDS_PER_MIN + c["equations"] * MIN_PER_EQUATION + c["code_lines"] / LINES_PER_MIN
            + c["exercises"] * MIN_PER_EXERCISE)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path)
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    print(f"{'notebook':40s} {'words':>6s} {'eqs':>4s} {'code':>5s} {'ex':>3s} {'minutes':>8s}")
    for p in paths:
        c = counts(p)
        print(f"{p.name:40s} {c['words']:6d} {c['equations']:4d} {c['code_lines']:5d} {c['exercises']:3d} "
              f"{minutes(c):8.0f}")


if __name__ == "__main__":
    main()
