"""How long each lesson takes to work through, from what it contains (a stated estimate).

For every notebook the script counts exactly: words of prose, inline formulas ($…$),
display equations ($$…$$), lines of code a learner reads (not blank lines, not the
exercises' answer or check cells), figures (PNG outputs), and exercises by kind. The minutes
are

    prose words / 140  +  inline formulas × 0.1  +  display equations × 1.5
    +  code lines / 8  +  figures × 1
    +  implement × 10  +  derive × 15  +  judge × 10  +  written justification × 8

(the notebooks' own run time, under a minute each, is left out). The rates:

- **Prose, 140 words a minute.** Silent reading of English non-fiction averages 238 words a
  minute (Brysbaert 2019, "How many words do we read per minute? A review and meta-analysis
  of reading rate", J. Memory and Language 109, 104047) — reading once, for the gist. A
  learner here must keep each step to follow the next; Carver's reading "gears" put reading
  to learn at about 200 and reading to memorise at about 138 words a minute (Carver 1992,
  "Reading rate: theory, research, and practical implications", J. Reading 36(2), 84–95).
  The lessons are read at the slower of the two.
- **Mathematics, counted apart from the words:** six seconds per inline formula (a symbol to
  decode and relate to the sentence around it) and a minute and a half per display equation
  (a step of a derivation to follow). These are this course's assumptions, not measurements.
- **Code, 8 lines a minute** to read and predict what a cell prints; **a minute per figure**
  to read its axes, legend and finding. Assumptions.
- **Exercises by kind:** 10 minutes to implement what the lesson derived, 15 to derive a
  formula on paper and enter it, 10 for a judgement (diagnose, choose, predict) and 8 more
  for a written justification graded by hand. Assumptions, chosen so that a derivation
  counts for more than re-typing; the kind of each exercise is listed in ``EXERCISE_KINDS``
  and a test keeps that list complete.

    python scripts/reading_time.py              # a table for every lesson and the total
    python scripts/reading_time.py --write      # and restate each lesson's time in its first
                                                # cell, and the course's total in lesson 0
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORDS_PER_MIN = 140
MIN_PER_INLINE, MIN_PER_EQUATION = 0.1, 1.5
LINES_PER_MIN, MIN_PER_FIGURE = 8, 1.0
MIN_PER_EXERCISE = {"implement": 10, "derive": 15, "judge": 10, "justify": 8}

# The kind of every graded exercise, by its answer cell's nbgrader grade_id (without the
# "_answer" suffix). Written justifications (manually graded cells) count as "justify".
EXERCISE_KINDS = {
    # lesson 1
    "loglik_gap": "derive", "sample_gaussian": "implement", "gaussian_log_prob": "implement",
    "match_samples": "judge",
    # lesson 2
    "inverse_cdf_gumbel": "derive", "marginal_moments": "derive", "sample_mixture": "implement",
    "posterior_variance": "derive", "choose_k": "judge",
    # lesson 3
    "mc_marginal": "implement", "log_mean_exp": "implement", "samples_needed_exact": "derive",
    "chosen_n_samples": "judge",
    # lesson 4
    "weight_cv2": "derive", "effective_sample_size": "implement", "make_proposal": "implement",
    "chosen_proposal": "judge",
    # lesson 5 and 5b
    "best_q_prediction": "judge", "elbo_gap": "derive", "elbo_diagnosis": "judge",
    "gradient_choice": "judge", "weight_second_moment": "derive", "iwae_choice": "judge",
    # lesson 6
    "MyVAE": "implement", "vae_loss": "implement", "train": "implement", "predicted_test_loss": "judge", "active_units": "implement",
    "noise_sources": "judge",
    # lessons 6b-6d
    "predicted_ess_fraction": "derive", "defensive_elbo": "derive", "likelihood_report": "judge",
    "diagnose_runs": "judge", "unit_kl": "derive", "best_sigma": "derive",
    "count_parameters": "derive", "mixture_map": "derive", "sigma_choice": "judge",
    # lesson 6e
    "mixture_log_prob": "implement", "paired_verdict": "judge", "optimal_discriminator": "derive",
    "shared_covariance_logits": "derive", "samples_for_se": "derive",
}

OLD_STATEMENTS = [  # earlier wordings of a lesson's time, replaced by --write
    r"\*\*Time:\*\* about \d+ minutes with the exercises — an estimate from the lesson's own "
    r"counts \(.*?`scripts/reading_time.py`\.",
    r"\*\*Time:\*\* about \d+ minutes.*?laptop CPU\.",
    r"About \d+ minutes to read and run, measured rather than guessed:.*?exercises take\.",
    r"About \d+ minutes;.*?CPU\.",
]
COURSE_TOTAL = r"\*\*The whole course:\*\* about [\d.]+ hours[^\n]*"  # to the end of its line

_DISPLAY = re.compile(r"\$\$.+?\$\$", re.S)
_INLINE = re.compile(r"\$[^$\n]+\$")
_WORD = re.compile(r"[^\s|#*`>-]+")


def exercise_kind(cell: dict) -> str | None:
    """The kind of exercise an answer cell asks for, or None for any other cell.

    Raises:
        KeyError: an answer cell whose grade_id is not listed in ``EXERCISE_KINDS``.
    """
    grade = cell["metadata"].get("nbgrader", {})
    if not grade.get("solution"):
        return None
    if cell["cell_type"] == "markdown":  # a written answer, graded by hand
        return "justify"
    name = grade.get("grade_id", "").removesuffix("_answer")
    if name not in EXERCISE_KINDS:
        raise KeyError(f"exercise {name!r} has no kind: add it to EXERCISE_KINDS in "
                       f"scripts/reading_time.py (implement, derive or judge)")
    return EXERCISE_KINDS[name]


def counts(path: Path) -> dict:
    nb = json.loads(path.read_text())
    c = {"words": 0, "inline": 0, "equations": 0, "code_lines": 0, "figures": 0,
         **{kind: 0 for kind in MIN_PER_EXERCISE}}
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        grade = cell["metadata"].get("nbgrader", {})
        kind = exercise_kind(cell)
        if kind:
            c[kind] += 1
            continue  # the answer is the exercise's time, not reading
        if cell["cell_type"] == "markdown":
            for old in OLD_STATEMENTS + [COURSE_TOTAL]:  # a time statement does not count itself
                src = re.sub(old, " ", src, flags=re.S)
            c["equations"] += len(_DISPLAY.findall(src))
            src = _DISPLAY.sub(" ", src)
            c["inline"] += len(_INLINE.findall(src))
            c["words"] += len(_WORD.findall(_INLINE.sub(" ", src)))
        elif cell["cell_type"] == "code":
            c["figures"] += sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
            if grade.get("grade"):
                continue  # a check cell: run, not read
            c["code_lines"] += sum(1 for line in src.splitlines() if line.strip())
    return c


def minutes(c: dict) -> float:
    return (c["words"] / WORDS_PER_MIN + c["inline"] * MIN_PER_INLINE + c["equations"] * MIN_PER_EQUATION
            + c["code_lines"] / LINES_PER_MIN + c["figures"] * MIN_PER_FIGURE
            + sum(c[kind] * m for kind, m in MIN_PER_EXERCISE.items()))


def _exercises(c: dict) -> str:
    parts = [f"{c[k]} to {k}" if k != "justify" else f"{c[k]} written justification{'s' * (c[k] != 1)}"
             for k in MIN_PER_EXERCISE if c[k]]
    return ", ".join(parts) if parts else "no exercises"


def statement(c: dict) -> str:
    return (f"**Time:** about {minutes(c):.0f} minutes with the exercises — an estimate from the "
            f"lesson's own counts ({c['words']:,} words of prose, {c['inline']} inline formulas, "
            f"{c['equations']} displayed equation{'s' * (c['equations'] != 1)}, {c['code_lines']} lines of code, {c['figures']} "
            f"figure{'s' * (c['figures'] != 1)}; exercises: {_exercises(c)}) at the rates stated and sourced in "
            f"`scripts/reading_time.py`.")


def _set_source(cell: dict, text: str) -> None:
    lines = text.split("\n")
    cell["source"] = [line + "\n" for line in lines[:-1]] + [lines[-1]]


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
    _set_source(nb["cells"][0], first.rstrip() + "\n\n" + statement(counts(path)))
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def write_total(path: Path, total_minutes: float) -> None:
    """State the course's total in lesson 0's course map (the cell holding the map's table)."""
    nb = json.loads(path.read_text())
    text = (f"**The whole course:** about {total_minutes / 60:.0f} hours with the exercises, by "
            f"the estimate each lesson states in its first cell (`scripts/reading_time.py` gives "
            f"the counts and the sourced rates).")
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "## The course map" in src:
            src, n = re.subn(COURSE_TOTAL, text, src, flags=re.S)
            if not n:
                src = src.rstrip() + "\n\n" + text
            _set_source(cell, src)
            break
    else:
        raise SystemExit(f"{path.name}: no course map found")
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebooks", nargs="*", type=Path)
    ap.add_argument("--write", action="store_true",
                    help="restate each lesson's time in its first cell and the total in lesson 0")
    args = ap.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    print(f"{'notebook':40s} {'words':>6s} {'$':>4s} {'$$':>3s} {'code':>5s} {'fig':>4s} "
          f"{'impl':>4s} {'der':>4s} {'judge':>5s} {'just':>4s} {'minutes':>8s}")
    total = 0.0
    for p in paths:
        c = counts(p)
        m = minutes(c)
        total += m * (not p.name.startswith("00"))
        print(f"{p.name:40s} {c['words']:6d} {c['inline']:4d} {c['equations']:3d} {c['code_lines']:5d} "
              f"{c['figures']:4d} {c['implement']:4d} {c['derive']:4d} {c['judge']:5d} {c['justify']:4d} "
              f"{m:8.0f}")
        if args.write and not p.name.startswith("00"):
            write_statement(p)
    print(f"{'lessons 1 on, together':40s} {total:57.0f} minutes = {total / 60:.1f} hours")
    if args.write and not args.notebooks:
        write_total(ROOT / "notebooks" / "00_start_here.ipynb", total)


if __name__ == "__main__":
    main()
