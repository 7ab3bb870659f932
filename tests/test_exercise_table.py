"""The graded exercises ask for judgement, not only re-typing (scripts/exercise_table.py)."""
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from exercise_table import exercises, shares, table  # noqa: E402

LESSONS = [p for p in sorted((ROOT / "notebooks").glob("0[1-9]*.ipynb"))]


def test_a_third_of_the_course_points_are_for_judgement():
    judgement, total = shares(table())["all"]
    assert total > 0 and judgement / total >= 1 / 3, f"judgement {judgement} of {total} points"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_asks_for_judgement(path):
    rows = exercises(path)
    assert any(r["kind"] in ("judge", "justify") and r["points"] > 0 for r in rows), rows


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_every_written_answer_is_graded_by_hand_with_points(path):
    """A justification is a manually graded nbgrader cell with points, and docs/teaching.md says
    how to grade it."""
    guide = (ROOT / "docs" / "teaching.md").read_text()
    for r in exercises(path):
        if r["grading"] == "manual":
            assert r["points"] > 0
            assert f"`{r['exercise']}`" in guide, f"docs/teaching.md does not say how to grade {r['exercise']}"


def test_the_table_counts_kinds_and_points(tmp_path):
    nb = nbformat.v4.new_notebook()
    check = nbformat.v4.new_code_cell("checks.paired_verdict(paired_verdict)")
    check.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "paired_verdict_check", "points": 2}
    impl = nbformat.v4.new_code_cell("checks.sample_gaussian(sample_gaussian)")
    impl.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "sample_gaussian_check", "points": 4}
    words = nbformat.v4.new_markdown_cell("Because …")
    words.metadata["nbgrader"] = {"grade": True, "solution": True, "grade_id": "why_this", "points": 3}
    nb.cells = [check, impl, words]
    path = tmp_path / "07x_test.ipynb"
    nbformat.write(nb, path)
    rows = exercises(path)
    assert [(r["exercise"], r["kind"], r["points"], r["grading"]) for r in rows] == [
        ("paired_verdict", "judge", 2, "auto"), ("sample_gaussian", "implement", 4, "auto"),
        ("why_this", "justify", 3, "manual")]
    assert shares(rows) == {"7x": (5, 9), "all": (5, 9)}


def test_a_check_of_an_unknown_exercise_is_an_error(tmp_path):
    nb = nbformat.v4.new_notebook()
    check = nbformat.v4.new_code_cell("checks.f(f)")
    check.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "brand_new_check", "points": 1}
    nb.cells = [check]
    nbformat.write(nb, tmp_path / "08_x.ipynb")
    with pytest.raises(KeyError, match="EXERCISE_KINDS"):
        exercises(tmp_path / "08_x.ipynb")


def test_the_teaching_guide_s_points_table_matches_the_notebooks():
    """docs/teaching.md's "Points per exercise" table: one row per lesson, each total the sum of
    the points in that lesson's graded cells, and every graded exercise named in its row."""
    import re
    guide = (ROOT / "docs" / "teaching.md").read_text()
    rows = {}
    for line in guide.splitlines():
        m = re.match(r"\| (\w+) — .*\| `lesson\w+` \| (.*) \| (\d+) \|$", line)
        if m:
            assert m.group(1) not in rows, f"two rows for lesson {m.group(1)}"
            rows[m.group(1)] = (m.group(2), int(m.group(3)))
    by_lesson = shares(table())
    assert set(rows) == set(by_lesson) - {"all"}
    for lesson, (exercises_text, total) in rows.items():
        assert total == by_lesson[lesson][1], f"lesson {lesson}: the guide says {total} points"
        for r in (r for r in table() if r["lesson"] == lesson):
            assert f"`{r['exercise']}`" in exercises_text, f"lesson {lesson}: {r['exercise']} not in its row"
