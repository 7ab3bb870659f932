"""Student versions (make student = nbgrader's generate_assignment on the committed notebooks):
solutions and hidden tests removed, nbgrader metadata on every exercise, and every student
notebook runs top to bottom with all exercises unsolved — only the graded check cells fail,
each saying "not implemented yet"."""
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason="nbgrader makes the student versions: pip install -e '.[test]'")
from nbclient import NotebookClient  # noqa: E402

from vae_utils.checks.grading import VISIBLE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_student.py"), "--out", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return out


def _solutions(cell_source):
    return re.findall(r"### BEGIN SOLUTION\n(.*?)\n\s*### END SOLUTION", cell_source, flags=re.S)


def _lesson(path):
    return int(path.name[:2])


def _nbgrader(cell):
    return cell.metadata.get("nbgrader", {})


def test_every_notebook_has_a_student_version(student_dir):
    assert sorted(p.name for p in student_dir.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("src", NOTEBOOKS, ids=lambda p: p.name)
def test_every_exercise_carries_nbgrader_metadata(src):
    nb = nbformat.read(src, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    ids = [_nbgrader(c)["grade_id"] for c in code if _nbgrader(c)]
    assert len(ids) == len(set(ids)), f"grade_id used twice in {src.name}"
    for i, cell in enumerate(code):
        if "### BEGIN SOLUTION" not in cell.source:
            assert not _nbgrader(cell).get("solution"), cell.source
            continue
        name = re.search(r"^(?:def|class) (\w+)\b", cell.source, re.M).group(1)  # a function, or a module class
        assert _nbgrader(cell) == {"grade": False, "grade_id": f"{name}_answer", "locked": False,
                                   "schema_version": 3, "solution": True, "task": False}
        check = code[i + 1]
        meta = _nbgrader(check)
        assert meta["grade"] and meta["locked"] and not meta["solution"] and meta["points"] > 0
        assert meta["grade_id"] == f"{name}_check"
        # The locked cell imports checks itself and runs the visible test; the hidden test is
        # added to the grader's source only (vae_utils.checks.grading.add_hidden_tests).
        assert check.source == VISIBLE.format(name=name)


@pytest.mark.parametrize("src", NOTEBOOKS, ids=lambda p: p.name)
def test_no_solution_code_hidden_test_or_output_survives(src, student_dir):
    instructor = nbformat.read(src, as_version=4)
    student = nbformat.read(student_dir / src.name, as_version=4)
    assert len(student.cells) == len(instructor.cells)
    for ci, cs in zip(instructor.cells, student.cells):
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "hidden_test", "__builtins__"):
            assert marker not in cs.source
        if cs.cell_type != "code":
            continue
        assert cs.outputs == [] and cs.execution_count is None
        for block in _solutions(ci.source):
            for line in block.splitlines():
                line = line.strip()
                if len(line) > 12 and line not in ("raise NotImplementedError()",):
                    assert line not in cs.source, f"solution line survived in {src.name}: {line!r}"
        if _solutions(ci.source):
            assert "raise NotImplementedError()" in cs.source


@pytest.mark.parametrize("src", NOTEBOOKS, ids=lambda p: p.name)
def test_student_version_runs_top_to_bottom(src, student_dir):
    """Only graded check cells may fail, and each says "not implemented yet"; lesson text that
    needs a learner's function runs on the course's version with a note."""
    nb = nbformat.read(student_dir / src.name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(student_dir)}}).execute()
    graded = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if _nbgrader(cell).get("grade"):
            graded += 1
            assert errors and errors[0].ename == "CheckFailure", cell.source
            assert "not implemented yet" in errors[0].evalue
        else:
            assert not errors, f"{src.name}: a lesson cell fails in the student version:\n{cell.source}\n" \
                               f"{errors[0].ename}: {errors[0].evalue}"
    text = json.dumps([c.get("outputs", []) for c in nb.cells])
    if "checks.try_yours(" in src.read_text():  # a lesson cell that uses an exercise's answer
        # the course's version stands in, or (a prediction) the answer waits for the learner's
        assert "is not written yet: this cell uses the course's version" in text or "make your prediction" in text


def test_at_least_three_exercises_per_lesson(student_dir):
    counts = Counter()
    for p in student_dir.glob("*.ipynb"):
        nb = nbformat.read(p, as_version=4)
        counts[_lesson(p)] += sum("raise NotImplementedError()" in c.source for c in nb.cells if c.cell_type == "code")
    assert all(counts[lesson] >= 3 for lesson in range(1, 7)), dict(counts)
