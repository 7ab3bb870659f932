"""A class graded in parallel: ``vae_utils.classroom.autograde`` with a PostgreSQL gradebook.

Twelve submissions of lesson 1 (right, wrong and unsolved answers, a deleted and an altered
check cell, a renamed notebook, an answer that loops forever and one that kills its kernel)
are autograded twice: once serially by ``nbgrader autograde lesson1`` itself with its SQLite
gradebook, once by ``python -m vae_utils.classroom autograde lesson1 --jobs 4`` on a Dask
LocalCluster with the gradebook in a private PostgreSQL server (tests/postgres_cluster.py:
initdb + pg_ctl from Debian's ``postgresql`` package, on a free localhost port; skipped with
the reason where it cannot start). Every parallel score must equal the serial one; each
submission's answer cell appends a line to a log, so a submission lost or graded twice shows.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader", reason="needs nbgrader: pip install -e '.[test]'")
pytest.importorskip("distributed", reason="needs Dask distributed: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import classroom as course_tools  # noqa: E402  (scripts/classroom.py)
import postgres_cluster  # noqa: E402

from vae_utils import classroom  # noqa: E402

pytestmark = pytest.mark.classroom

LESSON = ROOT / "notebooks" / "01_noise_in_a_gaussian.ipynb"
CELL_TIMEOUT = 20   # s; lesson 1's slowest cell takes 1.4 s on the idle 2-core machine
# Each graded run appends "<student> <torch threads>" to the file named by this variable.
RUNS = '''import os, torch
with open(os.environ["VAE_TEST_RUNS_LOG"], "a") as _f:
    _f.write(f"{STUDENT} {torch.get_num_threads()}\\n")
'''


def _cell(nb, grade_id):
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def submissions(instructor, student):
    """{student id: (notebook, file name)}: twelve submissions, some of them odd."""
    right = instructor
    wrong = course_tools.set_answer(instructor, "gaussian_log_prob",
                                    "def gaussian_log_prob(x, mu, Sigma):\n    return -((x - mu) ** 2).sum(dim=1)")
    loop = course_tools.set_answer(instructor, "sample_gaussian",
                                   "def sample_gaussian(mu, Sigma, n):\n    while True:\n        pass")
    crash = course_tools.set_answer(instructor, "sample_gaussian", "import os\nos._exit(1)")
    deleted = json.loads(json.dumps(instructor))
    deleted["cells"].remove(_cell(deleted, "sample_gaussian_check"))
    altered = json.loads(json.dumps(student))
    _cell(altered, "gaussian_log_prob_check")["source"] = "print('✓ all good')"
    subs = {"s01": right, "s02": right, "s03": right, "s04": wrong, "s05": wrong,
            "s06": student, "s07": student, "s08": deleted, "s09": altered, "s10": loop,
            "s11": crash, "s12": right}
    out = {}
    for sid, nb in subs.items():
        nb = json.loads(json.dumps(nb))
        first = _cell(nb, "loglik_gap_answer")
        first["source"] = RUNS.replace("{STUDENT}", sid) + "".join(first["source"])
        out[sid] = (nb, "lesson1.ipynb" if sid == "s12" else LESSON.name)
    return out


def _make_course(path, db_url=None):
    (source,) = course_tools.new_course(path, [LESSON]).values()
    if db_url:
        with open(path / "nbgrader_config.py", "a") as f:
            f.write(f"\nc.CourseDirectory.db_url = {db_url!r}\n")
    release = course_tools.generate(path, "lesson1")
    return json.loads(source.read_text()), json.loads((release / LESSON.name).read_text())


def _runs(log):
    return sorted(log.read_text().split("\n")[:-1]) if log.exists() else []


def test_sqlite_refuses_jobs(tmp_path):
    course_tools.new_course(tmp_path, [LESSON])
    with pytest.raises(ValueError, match="SQLite .* does not take concurrent writers"):
        classroom.autograde(tmp_path, "lesson1", jobs=2)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, monkeypatch_module):
    reason = postgres_cluster.why_not()
    if reason:
        pytest.skip(f"cannot start PostgreSQL: {reason}")
    tmp = tmp_path_factory.mktemp("parallel")
    # Serial: nbgrader's own autograde, one process, SQLite gradebook.
    serial = tmp / "serial"
    instructor, student = _make_course(serial)
    subs = submissions(instructor, student)
    for sid, (nb, name) in subs.items():
        course_tools.submit(serial, "lesson1", sid, nb, name)
    monkeypatch_module.setenv("VAE_TEST_RUNS_LOG", str(tmp / "serial-runs.log"))
    course_tools.nbgrader(serial, "autograde", "lesson1", f"--Execute.timeout={CELL_TIMEOUT}", check=False)
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{serial / 'gradebook.db'}", "where-the-noise-lives") as gb:
        serial_scores = {sid: gb.find_submission("lesson1", sid).score for sid in subs}
    # Parallel: four jobs on Dask, PostgreSQL gradebook.
    with postgres_cluster.private_postgres() as url:
        par = tmp / "parallel"
        _make_course(par, url)
        for sid, (nb, name) in subs.items():
            course_tools.submit(par, "lesson1", sid, nb, name)
        monkeypatch_module.setenv("VAE_TEST_RUNS_LOG", str(tmp / "parallel-runs.log"))
        results = classroom.autograde(par, "lesson1", jobs=4, cell_timeout=CELL_TIMEOUT,
                                      submission_timeout=300, progress=False)
        with Gradebook(url, "where-the-noise-lives") as gb:
            n_submissions = len(gb.find_assignment("lesson1").submissions)
    return subs, serial_scores, results, n_submissions, _runs(tmp / "serial-runs.log"), \
        _runs(tmp / "parallel-runs.log")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_parallel_scores_equal_serial(graded):
    subs, serial, results, n_submissions, _, _ = graded
    by_student = {r.student: r for r in results}
    print(classroom.format_report(results))
    assert sorted(r.student for r in results) == sorted(subs)          # none lost, none twice
    assert n_submissions == len(subs)
    assert {s: r.score for s, r in by_student.items()} == serial
    assert all(r.max_score == 11 for r in results)   # 2 of them for a written answer graded by hand
    # the scores themselves: right 9; wrong gaussian_log_prob (3 points) 6; unsolved 0; the
    # deleted sample_gaussian check (2) 7; the altered check is restored, so unsolved: 0; the
    # loop times out in the sample_gaussian check: 7; the killed kernel and the renamed file: 0
    assert serial == {"s01": 9, "s02": 9, "s03": 9, "s04": 6, "s05": 6, "s06": 0, "s07": 0,
                      "s08": 7, "s09": 0, "s10": 7, "s11": 0, "s12": 0}


def test_each_submission_ran_once_with_one_thread(graded):
    subs, _, _, _, serial_runs, parallel_runs = graded
    ran = sorted(s for s in subs if s != "s12")       # s12's notebook is misnamed: never run
    assert [line.split()[0] for line in parallel_runs] == ran
    assert [line.split()[0] for line in serial_runs] == ran
    assert {line.split()[1] for line in parallel_runs} == {"1"}    # OMP_NUM_THREADS=1 in each kernel


def test_flags_by_student_and_cell(graded):
    _, _, results, _, _, _ = graded
    flags = {r.student: r.flags for r in results}
    assert all(not flags[s] for s in ("s01", "s02", "s03", "s04", "s05", "s06", "s07")), flags
    assert flags["s08"] == ["deleted cell sample_gaussian_check"]
    assert flags["s09"] == ["altered cell gaussian_log_prob_check (source; restored before grading)"]
    assert flags["s10"] == ["timed-out cell sample_gaussian_check"]
    assert flags["s11"][0] == "dead kernel" and not next(r for r in results if r.student == "s11").ok
    assert flags["s12"][0] == "missing notebook 01_noise_in_a_gaussian.ipynb (found instead: lesson1.ipynb)"
