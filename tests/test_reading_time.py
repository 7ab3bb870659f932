"""The lesson-length estimate (scripts/reading_time.py) counts what it says it counts."""
import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from reading_time import EXERCISE_KINDS, counts, exercise_kind, minutes  # noqa: E402

LESSONS = sorted((ROOT / "notebooks").glob("0[1-9]*.ipynb"))


def test_counts_and_minutes(tmp_path):
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell("def f(x):\n\n    return x")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "sample_gaussian_answer"}
    derive = nbformat.v4.new_code_cell("def g(x):\n    return x")
    derive.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "elbo_gap_answer"}
    written = nbformat.v4.new_markdown_cell("Because the weights have heavy tails.")
    written.metadata["nbgrader"] = {"solution": True, "grade": True, "grade_id": "why", "points": 2}
    check = nbformat.v4.new_code_cell("checks.f(f)\nchecks.f(f, seed=2)")
    check.metadata["nbgrader"] = {"solution": False, "grade": True}
    figure = nbformat.v4.new_code_cell("plot()")
    figure.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "AAAA", "text/plain": "F"})]
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nTwo words $x$ and $y$\n\n$$a = b$$\n\n- one"),
                nbformat.v4.new_code_cell("a = 1\nb = 2\n\n"), answer, derive, written, check, figure]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    c = counts(path)
    assert c == {"words": 5, "inline": 2, "equations": 1, "code_lines": 3, "figures": 1,
                 "implement": 1, "derive": 1, "judge": 0, "justify": 1}
    assert minutes(c) == pytest.approx(5 / 140 + 2 * 0.1 + 1.5 + 3 / 8 + 1 + 10 + 15 + 8)


def test_an_exercise_without_a_kind_is_an_error():
    cell = nbformat.v4.new_code_cell("def new(): ...")
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "brand_new_answer"}
    with pytest.raises(KeyError, match="EXERCISE_KINDS"):
        exercise_kind(cell)


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_exercise_has_a_kind(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        kind = exercise_kind(cell)  # raises for an exercise missing from EXERCISE_KINDS
        assert kind in (None, "implement", "derive", "judge", "justify")
    assert set(EXERCISE_KINDS.values()) <= {"implement", "derive", "judge"}


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_states_its_estimate(path):
    first = "".join(json.loads(path.read_text())["cells"][0]["source"])
    stated = re.search(r"[Aa]bout (\d+) min", first)
    assert stated, f"{path.name}: the first cell states no length ('About N minutes')"
    est = minutes(counts(path))
    assert abs(int(stated.group(1)) - est) <= max(5, 0.15 * est), (path.name, stated.group(1), round(est))


def test_the_course_map_states_the_total():
    nb = json.loads((ROOT / "notebooks" / "00_start_here.ipynb").read_text())
    text = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    stated = re.search(r"\*\*The whole course:\*\* about (\d+) hours", text)
    assert stated, "lesson 0's course map states no total ('The whole course: about N hours')"
    total = sum(minutes(counts(p)) for p in LESSONS) / 60
    assert abs(int(stated.group(1)) - total) <= max(1, 0.1 * total), (stated.group(1), round(total, 1))
