"""How long each lesson takes to work through, from what it contains (a stated estimate).

For every notebook: words of prose, display equations, lines of code a learner reads (not
blank lines, not the exercises' check cells) and exercises. The minutes are

    prose words / 200  +  display equations × 0.5  +  code lines / 10  +  exercises × 6

(the notebooks' own run time, under a minute each, is left out)
— 200 words a minute for technical prose, half a minute per displayed equation, ten lines of
code a minute, six minutes per exercise. These rates are assumptions, stated where a lesson
quotes the result; the counts are exact.

    python scripts/reading_time.py              # a table for every lesson
    python scripts/reading_time.py --write      # and restate each lesson's time in its first cell
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS_PER_MIN, MIN_PER_EQUATION, LINES_PER_MIN, MIN_PER_EXERCISE = 200, 0.5, 10, 6


OLD_STATEMENTS = [  # earlier wordings of a lesson's time, replaced by --write
    r"\*\*Time:\*\* about \d+ minutes.*?laptop CPU\.",
    r"About \d+ minutes to read and run, measured rather than guessed:.*?exercises take\.",
    r"About \d+ minutes;.*?CPU\.",
]


def counts(path: Path) -> dict:
    nb = json.loads(path.read_text())
    words = equations = lines = exercises = 0
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        grade = cell["metadata"].get("nbgrader", {})
        if cell["cell_type"] == "markdown":
            src = re.sub(OLD_STATEMENTS[0], " ", src, flags=re.S)  # the statement does not count itself
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




def statement(c: dict) -> str:
    return (f"**Time:** about {minutes(c):.0f} minutes with the exercises — an estimate from the "
            f"lesson's own counts: {c['words']:,} words of prose at {WORDS_PER_MIN} a minute, "
            f"{c['code_lines']} lines of code at {LINES_PER_MIN} a minute, {c['exercises']} exercises at "
            f"{MIN_PER_EXERCISE} minutes each (`scripts/reading_time.py`). Running it takes under a "
            f"minute on a laptop CPU.")


def write_statement(path: Path) -> None:
    """Put this lesson's time statement in its first cell, in place of an earlier one."""
    nb = json.loads(path.read_text())
    first = "".join(nb["cells"][0]["source"])
    for old in OLD_STATEMENTS:
        first, n = re.subn(old, "", first, flags=re.S)
        if n:
            break
    else:
        raise SystemExit(f"{path.name}: no time statement found in the first cell")
    first = first.rstrip() + "\n\n" + statement(counts(path))
    lines = first.split("\n")
    nb["cells"][0]["source"] = [line + "\n" for line in lines[:-1]] + [lines[-1]]
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--write", action="store_true", help="restate each lesson's time in its first cell")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    print(f"{'notebook':40s} {'words':>6s} {'eqs':>4s} {'code':>5s} {'ex':>3s} {'minutes':>8s}")
    for p in paths:
        c = counts(p)
        print(f"{p.name:40s} {c['words']:6d} {c['equations']:4d} {c['code_lines']:5d} {c['exercises']:3d} "
              f"{minutes(c):8.0f}")
        if args.write and not p.name.startswith("00"):
            write_statement(p)


if __name__ == "__main__":
    main()
