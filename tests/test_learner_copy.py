"""A self-learner's working copies (scripts/learner_copy.py, run by `make lab`): exercises open
exactly as nbgrader opens them, other outputs kept, and work already there never replaced."""
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from learner_copy import make_copies, open_exercises  # noqa: E402

LESSONS = [p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))
           if any(c.metadata.get("nbgrader", {}).get("solution")
                  for c in nbformat.read(p, as_version=4).cells)]


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_the_copy_opens_the_exercises_as_nbgrader_does(path):
    pytest.importorskip("nbgrader")
    from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions
    lesson = nbformat.read(path, as_version=4)
    ours = open_exercises(lesson, path.name)
    theirs, res = ClearSolutions().preprocess(nbformat.read(path, as_version=4), {"language": "python"})
    theirs, _ = ClearHiddenTests().preprocess(theirs, res)
    assert "learner-copy-note" in ours.cells[0].metadata["tags"]
    assert f"../notebooks/{path.name}" in ours.cells[0].source
    mine = [c.source.rstrip() for c in ours.cells[1:] if c.cell_type == "code"]
    assert mine == [c.source.rstrip() for c in theirs.cells if c.cell_type == "code"]
    assert not any("BEGIN SOLUTION" in s or "HIDDEN TESTS" in s for s in mine)
    n_open = sum("raise NotImplementedError()" in s for s in mine)
    assert n_open == sum(bool(c.metadata.get("nbgrader", {}).get("solution")) for c in lesson.cells) > 0
    for before, after in zip(lesson.cells, ours.cells[1:]):
        graded = before.metadata.get("nbgrader", {})
        if before.cell_type == "code":
            assert after.outputs == ([] if graded.get("solution") or graded.get("grade") else before.outputs)


def test_existing_work_is_never_replaced(tmp_path):
    written, kept = make_copies(tmp_path)
    assert [p.name for p in written] == [p.name for p in LESSONS] and kept == []
    mine = tmp_path / LESSONS[0].name
    mine.write_text("my own work")
    (tmp_path / LESSONS[1].name).unlink()
    written, kept = make_copies(tmp_path)
    assert [p.name for p in written] == [LESSONS[1].name]
    assert mine.read_text() == "my own work" and len(kept) == len(LESSONS) - 1


def test_the_command_says_what_it_did(tmp_path):
    run = lambda: subprocess.run([sys.executable, str(ROOT / "scripts" / "learner_copy.py"), "--out", str(tmp_path)],
                                 capture_output=True, text=True, check=True).stdout
    assert "exercises open" in run()
    assert f"Kept your {len(LESSONS)} existing copies" in run()
