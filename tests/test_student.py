"""Student versions (make student): solutions removed, every exercise a stub that its check
reports as not implemented, and at least three exercises per lesson 1–6."""
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbgrader", reason="nbgrader makes the student versions: pip install -e '.[test]'")

from vae_utils.checks._common import CheckFailure  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_student.py"), "--out", str(out)],
                   check=True, capture_output=True, text=True)
    return out


def _solutions(cell_source):
    return re.findall(r"### BEGIN SOLUTION\n(.*?)\n\s*### END SOLUTION", cell_source, flags=re.S)


def _lesson(path):
    return int(path.name[:2])


def test_every_notebook_has_a_student_version(student_dir):
    assert sorted(p.name for p in student_dir.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("src", NOTEBOOKS, ids=lambda p: p.name)
def test_no_solution_code_and_no_outputs_survive(src, student_dir):
    instructor = nbformat.read(src, as_version=4)
    student = nbformat.read(student_dir / src.name, as_version=4)
    assert len(student.cells) == len(instructor.cells)
    for ci, cs in zip(instructor.cells, student.cells):
        assert "BEGIN SOLUTION" not in cs.source and "END SOLUTION" not in cs.source
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


def _namespace(nb):
    """Run the notebook's import cell (the first code cell), IPython magics dropped."""
    ns = {}
    first = next(c for c in nb.cells if c.cell_type == "code")
    code = "\n".join(line for line in first.source.splitlines() if not line.lstrip().startswith("%"))
    exec(compile(code, "imports", "exec"), ns)  # noqa: S102 - the course's own notebook
    return ns


def _exercises(nb):
    """(exercise cell, the check cell after it) pairs of a student notebook."""
    cells = [c for c in nb.cells if c.cell_type == "code"]
    pairs = []
    for i, c in enumerate(cells):
        if "raise NotImplementedError()" in c.source:
            check = next((d for d in cells[i + 1:] if "checks." in d.source), None)
            pairs.append((c, check))
    return pairs


@pytest.mark.parametrize("src", [p for p in NOTEBOOKS if _lesson(p) >= 1], ids=lambda p: p.name)
def test_each_exercise_is_reported_not_implemented_by_its_check(src, student_dir):
    nb = nbformat.read(student_dir / src.name, as_version=4)
    pairs = _exercises(nb)
    if not pairs:
        pytest.skip(f"{src.name} has no exercises")
    ns = _namespace(nb)
    for exercise, check in pairs:
        assert check is not None, f"exercise without a check cell in {src.name}:\n{exercise.source}"
        exec(compile(exercise.source, "exercise", "exec"), ns)  # noqa: S102
        with pytest.raises(CheckFailure, match="not implemented yet"):
            exec(compile(check.source, "check", "exec"), ns)  # noqa: S102


def test_at_least_three_exercises_per_lesson(student_dir):
    counts = Counter()
    for p in student_dir.glob("*.ipynb"):
        nb = nbformat.read(p, as_version=4)
        counts[_lesson(p)] += sum("raise NotImplementedError()" in c.source for c in nb.cells if c.cell_type == "code")
    assert all(counts[lesson] >= 3 for lesson in range(1, 7)), dict(counts)
