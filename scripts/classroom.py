"""The course as nbgrader assignments: one course folder, one assignment per lesson.

Used by ``make student`` (scripts/make_student.py), by the round-trip test
(tests/test_nbgrader_roundtrip.py) and by ``python scripts/classroom.py time`` (the autograde
times in docs/teaching.md). Everything runs nbgrader's own command line,
``python -m nbgrader …``, in a course folder laid out as nbgrader expects::

    <course>/nbgrader_config.py
    <course>/source/lesson1/01_noise_in_a_gaussian.ipynb      (the instructor notebook)
    <course>/release/lesson1/…                                (after generate_assignment)
    <course>/submitted/<student>/lesson1/…                    (what students hand in)
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from vae_utils.checks.grading import add_hidden_tests  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"

CONFIG = ROOT / "docs" / "nbgrader_config.py"   # the file instructors copy


def assignment_of(notebook: Path) -> str:
    """``01_noise_in_a_gaussian.ipynb`` → ``lesson1``; ``06b_…`` → ``lesson6b``."""
    prefix = notebook.name.split("_", 1)[0]
    return "lesson" + prefix.lstrip("0")


def graded_notebooks() -> list[Path]:
    """The lessons whose notebooks carry graded exercises (nbgrader metadata)."""
    out = []
    for nb in sorted(NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        if any(c["metadata"].get("nbgrader", {}).get("grade") for c in cells):
            out.append(nb)
    return out


def nbgrader(course: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader <args>`` in the course folder; raise with its output if it fails (``check``)."""
    # nbgrader calls the `alembic` command of its own environment: put that environment's
    # scripts first on PATH, as an activated virtual environment would.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course,
                         capture_output=True, text=True, env=env)
    if check and run.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}")
    return run


def new_course(course: Path, notebooks: list[Path], assignment: str | None = None) -> dict[str, Path]:
    """Lay out a course folder with the given instructor notebooks as sources.

    Each notebook becomes assignment ``lessonN`` unless ``assignment`` names one for all; its
    graded check cells get their hidden tests (``vae_utils.checks.grading.add_hidden_tests``).
    Returns {assignment: source notebook path}.
    """
    course.mkdir(parents=True, exist_ok=True)
    shutil.copy(CONFIG, course / "nbgrader_config.py")
    sources = {}
    for nb in notebooks:
        name = assignment or assignment_of(nb)
        dst = course / "source" / name / nb.name
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps(add_hidden_tests(json.loads(nb.read_text(encoding="utf-8"))),
                                  indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        sources[name] = dst
    return sources


def generate(course: Path, assignment: str, *, db: bool = True) -> Path:
    """``nbgrader generate_assignment``: the student version in ``release/<assignment>/``."""
    nbgrader(course, "generate_assignment", assignment, "--force", *([] if db else ["--no-db"]))
    return course / "release" / assignment


def submit(course: Path, assignment: str, student: str, notebook: dict | Path, name: str) -> None:
    """Place a student's notebook (a dict in nbformat JSON, or a file) in ``submitted/``."""
    dst = course / "submitted" / student / assignment / name
    dst.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(notebook, dict):
        dst.write_text(json.dumps(notebook, indent=1))
    else:
        shutil.copy(notebook, dst)
    (dst.parent / "timestamp.txt").write_text("2026-11-24 12:00:00.000000 UTC")


def autograde(course: Path, assignment: str, student: str | None = None) -> None:
    """``nbgrader autograde`` (students missing from the gradebook are created: nbgrader 0.9's
    default, ``Autograde.create_student``)."""
    nbgrader(course, "autograde", assignment, "--force", *(["--student", student] if student else []))


def export(course: Path) -> list[dict]:
    """``nbgrader export``: one row per (assignment, student) with ``score`` and ``max_score``."""
    out = course / "grades.csv"
    nbgrader(course, "export", "--to", str(out))
    with open(out) as f:
        return list(csv.DictReader(f))


def set_answer(notebook: dict, exercise: str, code: str) -> dict:
    """The notebook with the answer cell of ``exercise`` (grade_id ``<exercise>_answer``) replaced."""
    nb = json.loads(json.dumps(notebook))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == f"{exercise}_answer":
            cell["source"] = code
            return nb
    raise KeyError(f"no answer cell for {exercise}")


def points(notebook: Path) -> dict[str, float]:
    """{exercise: points} from the graded check cells (grade_id ``<exercise>_check``)."""
    cells = json.loads(notebook.read_text())["cells"]
    return {c["metadata"]["nbgrader"]["grade_id"].removesuffix("_check"): c["metadata"]["nbgrader"]["points"]
            for c in cells if c["metadata"].get("nbgrader", {}).get("grade")}


def make_student_versions(out: Path, work: Path) -> list[Path]:
    """Every course notebook through ``nbgrader generate_assignment --no-db``, into ``out``."""
    notebooks = sorted(NOTEBOOKS.glob("*.ipynb"))
    new_course(work, notebooks, assignment="course")
    release = generate(work, "course", db=False)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for nb in notebooks:
        shutil.copy(release / nb.name, out / nb.name)
        written.append(out / nb.name)
    return written


def time_autograde(work: Path) -> list[tuple[str, float, str]]:
    """Seconds to autograde one submission (the worked solutions) of each graded lesson, and the
    1-minute load average before -> after."""
    rows = []
    for nb in graded_notebooks():
        course = work / assignment_of(nb)
        (name,) = new_course(course, [nb])
        generate(course, name)
        submit(course, name, "timing", nb, nb.name)
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        autograde(course, name, "timing")
        rows.append((nb.name, time.perf_counter() - t0, f"{load:.1f} -> {os.getloadavg()[0]:.1f}"))
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("time", help="measure the autograde time of one submission per lesson")
    t.add_argument("--work", type=Path, default=ROOT / "build" / "autograde-timing")
    args = ap.parse_args(argv)
    if args.cmd == "time":
        shutil.rmtree(args.work, ignore_errors=True)
        import torch
        print(f"{os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads")
        print("| lesson | autograde, one submission (s) | load average (1 min), before -> after |\n|---|---|---|")
        for name, sec, load in time_autograde(args.work):
            print(f"| {name} | {sec:.1f} | {load} |", flush=True)


if __name__ == "__main__":
    main()
