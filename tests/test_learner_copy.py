"""A self-learner's working copies (scripts/learner_copy.py, run by `make lab`): exercises open
exactly as nbgrader opens them, other outputs kept, work already there never replaced, and a
copy that runs top to bottom with its exercises unsolved."""
import json
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
    assert n_open == sum(bool(c.metadata.get("nbgrader", {}).get("solution")) for c in lesson.cells
                         if c.cell_type == "code") > 0
    written = [i for i, c in enumerate(lesson.cells)  # answers in words, graded by hand
               if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")]
    for i in written:  # opened as nbgrader opens them, not left showing the worked answer
        assert ours.cells[i + 1].source.strip() == theirs.cells[i].source.strip() != lesson.cells[i].source.strip()
    for before, after in zip(lesson.cells, ours.cells[1:]):
        graded = before.metadata.get("nbgrader", {})
        if before.cell_type == "code":
            reveals = "reveals-prediction" in before.metadata.get("tags", [])
            assert after.outputs == ([] if graded.get("solution") or graded.get("grade") or reveals
                                     else before.outputs)


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


# --- A learner's copy runs top to bottom with its exercises unsolved ---------------------------
RUN_THROUGH = ["01_noise_in_a_gaussian.ipynb", "04_importance_sampling.ipynb"]


@pytest.mark.parametrize("name", RUN_THROUGH)
def test_a_copy_runs_top_to_bottom_with_every_exercise_unsolved(name, tmp_path, monkeypatch):
    """As `make lab` starts it (VAE_CHECKS_KEEP_GOING=1, and the notebook's path in the kernel's
    JPY_SESSION_NAME, as Jupyter's server sets it for a notebook's kernel): each
    unsolved check reports ✗ with its hint in two lines, nothing raises, and every later cell
    runs."""
    from nbclient import NotebookClient
    monkeypatch.setenv("VAE_CHECKS_KEEP_GOING", "1")
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / name))   # what Jupyter's server sets
    make_copies(tmp_path)
    nb = nbformat.read(tmp_path / name, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=False,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    graded = [c for c in code if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) >= 3
    for cell in graded:
        (out,) = cell.outputs
        assert out.output_type == "stream" and out.name == "stderr", out
        lines = out.text.splitlines()
        assert len(lines) == 2 and lines[0].startswith("✗ ") and "is not implemented yet" in lines[0]
        assert lines[1].startswith("  Hint: ")
    # The lesson's own measurements after the exercises ran: on the course's version, or (a
    # prediction) waiting for the learner's, with a note.
    text = json.dumps([c.outputs for c in code])
    assert "solve the exercise above to see yours" in text or "make your prediction" in text


def test_without_keep_going_a_failed_check_shows_its_message_and_no_traceback():
    """Elsewhere (nbgrader's student version, Validate, autograde) a failed check still raises —
    the cell ends in an error, which nbgrader scores 0 — but IPython shows only its message."""
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def weight_cv2(m, s, m_q, s_q):\n    raise NotImplementedError()"),
                nbformat.v4.new_code_cell("from vae_utils import checks\n\nchecks.weight_cv2(weight_cv2)")]
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    (out,) = nb.cells[1].outputs
    assert out.output_type == "error" and out.ename == "CheckFailure"
    assert out.traceback == ["✗ weight_cv2 is not implemented yet.",
                             "  Hint: replace `raise NotImplementedError` with your code."]


def test_only_a_notebook_kernel_of_the_course_lab_keeps_going(monkeypatch):
    from vae_utils.checks._common import keep_going
    for var in ("VAE_CHECKS_KEEP_GOING", "JPY_SESSION_NAME"):
        monkeypatch.delenv(var, raising=False)
    assert not keep_going()
    monkeypatch.setenv("VAE_CHECKS_KEEP_GOING", "1")       # a terminal of `make lab`: nbval, scripts
    assert not keep_going()
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/course/notebooks/04_importance_sampling.ipynb")
    assert keep_going()
    monkeypatch.setenv("VAE_CHECKS_KEEP_GOING", "0")       # a hub's Lab: nbgrader's student version
    assert not keep_going()
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/course/my_work/04_importance_sampling.ipynb")
    assert keep_going()                                    # a working copy opened in any Lab


def test_the_tag_of_a_cell_that_reveals_a_prediction_is_the_checks_own():
    from learner_copy import REVEAL_TAG
    from vae_utils.checks._common import REVEAL_TAG as theirs
    assert REVEAL_TAG == theirs
