"""Grade a class: every collected submission of an assignment autograded concurrently.

Instructors' command (needs the ``teach`` extra: nbgrader, Dask distributed, psycopg)::

    python -m vae_utils.classroom autograde lesson6 --jobs 8 \\
        --db-url postgresql+psycopg://grader@localhost/course

It runs in the course folder (``nbgrader_config.py``, ``source/``, ``submitted/``) and starts
one ``nbgrader autograde ASSIGNMENT --student ID`` process per submission — nbgrader's own
command, so the gradebook, the restored locked cells, the late penalties and
``nbgrader export`` / ``generate_feedback`` work as after a serial run. The processes are
dispatched with Dask distributed: a ``LocalCluster`` of ``--jobs`` single-threaded workers by
default, or the cluster whose scheduler ``--scheduler tcp://host:8786`` names (its workers
must see the course folder at the same path, e.g. on a shared volume, and have the course
installed). ``--jobs 1`` without a scheduler grades one submission after another.

Concurrent graders need a database that takes concurrent writers: PostgreSQL through
``c.CourseDirectory.db_url`` (or ``--db-url``). With nbgrader's default SQLite gradebook the
command refuses more than one job.

Each grading process, and the kernel it starts, is limited to ``--threads`` threads
(``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, … set in its environment), so N jobs on N cores
do not compete for the same cores. The rest of the environment is passed through, so a
``VAE_COURSE_SECRET`` set by the instructor reaches every autograde process.

A submission whose process fails, whose kernel dies or that runs past ``--submission-timeout``
is reported with its student id; the others go on. After grading, every submission is
reported with its score and the flags an instructor should look at:

* ``missing notebook X`` — a notebook of the assignment was not submitted (for example
  renamed; the unknown files are listed);
* ``deleted cell G`` — a cell nbgrader tracks (answer or check, by ``grade_id``) is absent:
  a deleted check scores 0;
* ``altered cell G`` — a locked cell whose checksum differs from the gradebook's (nbgrader
  restores its source before grading, so the alteration earned nothing, but someone tried);
* ``timed-out cell G`` — a cell stopped after ``Execute.timeout`` seconds;
* ``dead kernel`` — the kernel died (for example out of memory, or ``os._exit``);
* ``autograde failed`` / ``submission timeout`` — the process exited with an error or was
  killed after ``--submission-timeout`` seconds.

``python -m vae_utils.classroom offline-feedback ASSIGNMENT --mathjax-url URL`` points the
feedback HTML of ``nbgrader generate_feedback`` at a MathJax the students can reach offline.

``python -m vae_utils.classroom timeout NOTEBOOK...`` prints each notebook's slowest cell,
read from the execution times nbclient records in executed notebooks — how the course's
``Execute.timeout`` was chosen (docs/teaching.md).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import glob
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


@dataclass
class Result:
    """One submission after grading. ``score`` and ``max_score`` are nbgrader's (points)."""
    student: str
    score: float | None = None
    max_score: float | None = None
    seconds: float = 0.0
    returncode: int | None = None
    flags: list[str] = field(default_factory=list)
    log_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


# ---------------------------------------------------------------- the course folder, by nbgrader

@contextlib.contextmanager
def _cwd(path: Path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def course_directory(course: Path, db_url: str | None = None):
    """nbgrader's ``CourseDirectory`` of ``course`` as nbgrader's commands see it: the course's
    ``nbgrader_config.py``, the Jupyter config paths, and ``db_url`` if given."""
    from nbgrader.apps.baseapp import NbGrader
    argv = [f"--CourseDirectory.root={course}"]
    if db_url:
        argv.append(f"--CourseDirectory.db_url={db_url}")
    with _cwd(course):
        app = NbGrader()
        app.initialize(argv)
        app.load_config_file()
        return app.coursedir


def submitted_students(coursedir, assignment: str) -> list[str]:
    """Student ids with a folder ``submitted/<student>/<assignment>/``, sorted."""
    pattern = coursedir.format_path(coursedir.submitted_directory, "*", assignment)
    root = Path(coursedir.format_path(coursedir.submitted_directory, ".", ".")).resolve()
    return sorted(Path(p).resolve().relative_to(root).parts[0] for p in glob.glob(pattern)
                  if Path(p).is_dir())


def _thread_env(threads: int, extra_path: str) -> dict[str, str]:
    env = dict(os.environ)
    for var in THREAD_VARIABLES:
        env[var] = str(threads)
    # nbgrader runs its environment's `alembic`: that environment's scripts go first on PATH.
    env["PATH"] = os.pathsep.join([extra_path, env.get("PATH", "")])
    return env


@contextlib.contextmanager
def _scripts_on_path():
    """nbgrader's Gradebook runs its environment's ``alembic`` when it creates a database:
    put this environment's scripts first on PATH, as an activated virtual environment would."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), old])
    try:
        yield
    finally:
        os.environ["PATH"] = old


def _kill_tree(pid: int) -> None:
    """Kill a process and everything it started (the kernel runs in its own session)."""
    import psutil
    try:
        parent = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    procs = parent.children(recursive=True) + [parent]
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    psutil.wait_procs(procs, timeout=10)


def grade_one(course: str, assignment: str, student: str, nbgrader_args: list[str],
              threads: int = 1, timeout: float | None = None) -> dict:
    """Run ``nbgrader autograde ASSIGNMENT --student STUDENT`` in ``course``.

    Runs where it is called: on a Dask worker when dispatched. Returns a plain dict (sent back
    to the client): returncode (None when killed after ``timeout`` seconds), seconds, log tail.
    """
    cmd = [sys.executable, "-m", "nbgrader", "autograde", assignment, "--student", student,
           *nbgrader_args]
    env = _thread_env(threads, str(Path(sys.executable).parent))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=course, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace")
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        out, _ = proc.communicate()
        rc = None
    return {"student": student, "returncode": rc, "seconds": time.perf_counter() - t0,
            "log": out[-20000:]}


# ---------------------------------------------------------------- flags, from the gradebook

def _cells_by_id(nb: dict) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for cell in nb.get("cells", []):
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid:
            out.setdefault(gid, []).append(cell)
    return out


def _without_hidden_tests(source: str) -> str:
    """A locked cell's source as students receive it: nbgrader's ClearHiddenTests applied."""
    from nbformat.v4 import new_code_cell
    from nbgrader.preprocessors import ClearHiddenTests
    cell = new_code_cell(source)
    ClearHiddenTests()._remove_hidden_test_region(cell)
    return cell.source


def _handed_out_sources(coursedir, assignment: str, notebook: str) -> dict[str, str]:
    """{grade_id: source} of the released notebook (``release/<assignment>/``), if it is there."""
    path = Path(coursedir.format_path(coursedir.release_directory, ".", assignment)) / f"{notebook}.ipynb"
    if not path.exists():
        return {}
    return {gid: "".join(cs[0]["source"]) for gid, cs in _cells_by_id(json.loads(path.read_text())).items()}


def submission_flags(coursedir, gb, assignment: str, student: str, log: str = "") -> list[str]:
    """What the instructor should look at in one submission (see the module docstring).

    Compares the submitted notebooks with the gradebook's source cells, as nbgrader's
    ``OverwriteCells`` does before it restores them (a locked cell's source, type, lock and
    points; the source as handed out, i.e. without its hidden tests, counts as unaltered), and
    reads the autograded notebooks for timed-out cells and the autograde log for a dead kernel.
    """
    import nbformat

    flags = []
    submitted = Path(coursedir.format_path(coursedir.submitted_directory, student, assignment))
    autograded = Path(coursedir.format_path(coursedir.autograded_directory, student, assignment))
    expected = [nb.name for nb in gb.find_assignment(assignment).notebooks]
    found = sorted(p.stem for p in submitted.glob("*.ipynb"))
    unknown = [f + ".ipynb" for f in found if f not in expected]
    for name in expected:
        path = submitted / f"{name}.ipynb"
        if not path.exists():
            flags.append(f"missing notebook {name}.ipynb"
                         + (f" (found instead: {', '.join(unknown)})" if unknown else ""))
            continue
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as e:  # noqa: BLE001 - an unreadable notebook is a flag, not a crash
            flags.append(f"unreadable notebook {name}.ipynb: {type(e).__name__}")
            continue
        cells = _cells_by_id(nb)
        handed_out = _handed_out_sources(coursedir, assignment, name)
        source_nb = gb.find_notebook(name, assignment)
        points = {c.name: float(c.max_score) for c in source_nb.grade_cells}
        for src in source_nb.source_cells:
            got = cells.get(src.name, [])
            if not got:
                flags.append(f"deleted cell {src.name}")
                continue
            if len(got) > 1:
                flags.append(f"duplicated cell {src.name} ({len(got)} copies)")
            if src.locked:
                cell, meta = got[0], got[0]["metadata"]["nbgrader"]
                allowed = {src.source, handed_out.get(src.name, _without_hidden_tests(src.source))}
                changed = []
                if cell.source not in allowed:
                    changed.append("source")
                if cell.cell_type != src.cell_type:
                    changed.append("cell type")
                if not meta.get("locked", False):
                    changed.append("unlocked")
                if src.name in points and float(meta.get("points", -1)) != points[src.name]:
                    changed.append(f"points {meta.get('points')} instead of {points[src.name]:g}")
                if changed:
                    flags.append(f"altered cell {src.name} ({', '.join(changed)}; restored before grading)")
        graded_path = autograded / f"{name}.ipynb"
        if graded_path.exists():
            graded = nbformat.read(graded_path, as_version=4)
            for i, cell in enumerate(graded.cells):
                for out in cell.get("outputs", []):
                    if out.get("output_type") == "error" and out.get("ename") == "CellTimeoutError":
                        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
                        flags.append(f"timed-out cell {gid or f'#{i}'}")
    if "DeadKernelError" in log or "Kernel died" in log or "kernel died" in log:
        flags.append("dead kernel")
    if "UnresponsiveKernelError" in log or "kernel became unresponsive" in log:
        flags.append("unresponsive kernel")
    return flags


def _score(gb, assignment: str, student: str) -> tuple[float | None, float | None]:
    from nbgrader.api import MissingEntry
    try:
        sub = gb.find_submission(assignment, student)
    except MissingEntry:
        return None, None
    return float(sub.score), float(sub.max_score)


def _last_error(log: str) -> str:
    """The last exception line of a traceback in nbgrader's log, else its last error line."""
    import re
    exc = [ln.strip() for ln in log.splitlines() if re.match(r"^[\w.]+(Error|Exception)\b", ln.strip())]
    if exc:
        return exc[-1][:200]
    errs = [ln.split("ERROR]", 1)[1].strip() for ln in log.splitlines() if "| ERROR]" in ln]
    return errs[0][:200] if errs else ""


# ---------------------------------------------------------------- the command

def autograde(course: Path | str, assignment: str, *, jobs: int = 1, scheduler: str | None = None,
              db_url: str | None = None, threads: int = 1, force: bool = False,
              cell_timeout: int | None = None, submission_timeout: float | None = 1800,
              students: list[str] | None = None, progress: bool = True) -> list[Result]:
    """Autograde every submission of ``assignment`` in ``course``; return one Result each.

    ``jobs`` concurrent ``nbgrader autograde --student`` processes on a Dask ``LocalCluster``
    of ``jobs`` single-threaded workers, or on the cluster at ``scheduler``. ``db_url`` overrides
    ``c.CourseDirectory.db_url``; with SQLite, ``jobs > 1`` (or a scheduler) raises ValueError.
    ``cell_timeout`` overrides ``c.Execute.timeout`` (seconds per cell); ``submission_timeout``
    bounds one submission's whole autograde (seconds; None: no bound).
    """
    course = Path(course).resolve()
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    with _scripts_on_path():
        return _autograde(course, assignment, jobs, scheduler, db_url, threads, force, cell_timeout,
                          submission_timeout, students, progress)


def _autograde(course, assignment, jobs, scheduler, db_url, threads, force, cell_timeout,
               submission_timeout, students, progress):
    from nbgrader.api import Gradebook
    coursedir = course_directory(course, db_url)
    url = coursedir.db_url
    if (jobs > 1 or scheduler) and url.startswith("sqlite"):
        raise ValueError(
            f"the gradebook is SQLite ({url}), which does not take concurrent writers: grade with "
            "--jobs 1, or keep the gradebook in PostgreSQL (c.CourseDirectory.db_url = "
            "'postgresql+psycopg://USER@HOST/DB' in nbgrader_config.py, or --db-url; "
            "docs/teaching.md, 'Grading a class in parallel')")
    # Opening the gradebook once here creates its tables before any concurrent writer starts.
    with Gradebook(url, coursedir.course_id) as gb:
        from nbgrader.api import MissingEntry
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(f"assignment {assignment!r} is not in the gradebook {url}: run "
                             f"`nbgrader generate_assignment {assignment}` with this database first") from None
    if students is None:
        students = submitted_students(coursedir, assignment)
    if not students:
        raise ValueError(f"no submissions of {assignment!r} in "
                         f"{coursedir.format_path(coursedir.submitted_directory, '*', assignment)}")

    args = [f"--CourseDirectory.root={course}", f"--CourseDirectory.db_url={url}"]
    if force:
        args.append("--force")
    if cell_timeout is not None:
        args.append(f"--Execute.timeout={int(cell_timeout)}")
    runs = _dispatch(str(course), assignment, students, args, jobs, scheduler, threads,
                     submission_timeout, progress)

    results = []
    with Gradebook(url, coursedir.course_id) as gb:
        for student in students:
            run = runs[student]
            r = Result(student, seconds=run["seconds"], returncode=run["returncode"],
                       log_tail=run["log"][-4000:])
            r.score, r.max_score = _score(gb, assignment, student)
            r.flags = submission_flags(coursedir, gb, assignment, student, run["log"])
            if run["returncode"] is None:
                r.flags.append(f"submission timeout (killed after {submission_timeout:.0f} s)")
            elif run["returncode"] != 0:
                r.flags.append("autograde failed: " + (_last_error(run["log"]) or f"exit {run['returncode']}")
                               if not any(f.startswith(("dead kernel", "missing notebook")) for f in r.flags)
                               else "autograde failed")
            if "Skipping existing assignment" in run["log"]:
                r.flags.append("already autograded, skipped (use --force to grade again)")
            results.append(r)
    return results


def _dispatch(course, assignment, students, args, jobs, scheduler, threads, timeout, progress):
    """{student: grade_one(...) result}: in this process for one local job, else on Dask."""
    from tqdm.auto import tqdm
    bar = tqdm(total=len(students), desc=f"autograde {assignment}", unit="submission",
               disable=not progress)
    runs = {}
    if jobs == 1 and scheduler is None:
        for s in students:
            runs[s] = grade_one(course, assignment, s, args, threads, timeout)
            bar.update()
        bar.close()
        return runs

    import logging
    from dask.distributed import Client, LocalCluster, as_completed
    if scheduler:
        cluster, client = None, Client(scheduler)
    else:
        # One single-threaded worker process per job: each runs one grading process at a time.
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        futures = [client.submit(grade_one, course, assignment, s, args, threads, timeout,
                                 key=f"autograde-{assignment}-{s}", pure=False, retries=0)
                   for s in students]
        for fut in as_completed(futures):
            try:
                run = fut.result()
            except Exception as e:  # noqa: BLE001 - a lost worker must not lose the report
                s = fut.key.removeprefix(f"autograde-{assignment}-")
                run = {"student": s, "returncode": -1, "seconds": 0.0,
                       "log": f"[AutogradeApp | ERROR] Dask task failed: {type(e).__name__}: {e}"}
            runs[run["student"]] = run
            bar.update()
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    return runs


def write_report(results: list[Result], path: Path) -> None:
    """CSV, one row per submission: student, score, max_score, seconds, flags (``; ``-joined)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", "score", "max_score", "seconds", "flags"])
        for r in results:
            w.writerow([r.student, r.score, r.max_score, f"{r.seconds:.1f}", "; ".join(r.flags)])


def format_report(results: list[Result]) -> str:
    """The instructor's table of an autograde run: one line per submission with its student id,
    score out of the maximum ("–" where none was recorded), wall seconds and flags ("-" if
    none), under a header line."""
    def num(x):
        return "–" if x is None else f"{x:g}"
    rows = [f"{'student':20s} {'score':>11s} {'seconds':>8s}  flags"]
    for r in results:
        rows.append(f"{r.student:20s} {num(r.score) + ' / ' + num(r.max_score):>11s} "
                    f"{r.seconds:8.1f}  {'; '.join(r.flags) or '-'}")
    flagged = sum(1 for r in results if r.flags)
    failed = sum(1 for r in results if not r.ok)
    rows.append(f"{len(results)} submissions, {flagged} flagged, {failed} not graded to the end")
    return "\n".join(rows)


# ---------------------------------------------------------------- feedback that renders offline

CDN_MATHJAX = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js?config=TeX-AMS_CHTML-full,Safe"


def offline_feedback(course: Path | str, assignment: str, mathjax_url: str) -> list[Path]:
    """Point the feedback HTML of ``assignment`` (``feedback/*/<assignment>/*.html``, written by
    ``nbgrader generate_feedback``) at ``mathjax_url`` instead of cdnjs; return the files changed.

    nbgrader's feedback template loads MathJax 2.7.7 from cdnjs whatever
    ``HTMLExporter.mathjax_url`` says, so offline its equations stay LaTeX source. Run this
    between ``generate_feedback`` and ``release_feedback``, with the URL of a MathJax 2.7 copy
    the students' browsers can reach (e.g. one the hub serves). Raises ValueError if a feedback
    file loads MathJax from anywhere else (a newer nbgrader may have changed its template).
    """
    coursedir = course_directory(Path(course).resolve())
    pattern = coursedir.format_path(coursedir.feedback_directory, "*", assignment)
    changed = []
    for html in sorted(Path(p) for d in glob.glob(pattern) for p in glob.glob(os.path.join(d, "*.html"))):
        text = html.read_text()
        if CDN_MATHJAX not in text:
            if mathjax_url in text:
                continue
            raise ValueError(f"{html} does not load MathJax from {CDN_MATHJAX}; nothing replaced")
        html.write_text(text.replace(CDN_MATHJAX, mathjax_url))
        changed.append(html)
    return changed


# ---------------------------------------------------------------- how long a cell takes

def slowest_cells(notebook: Path) -> tuple[float, int, float]:
    """(slowest cell's seconds, its index, the whole notebook's seconds) of an executed notebook,
    from the ``metadata.execution`` timestamps nbclient records (``iopub.execute_input`` to
    ``shell.execute_reply``). Raises ValueError if the notebook carries no timings."""
    nb = json.loads(Path(notebook).read_text())
    slowest, where, total = 0.0, -1, 0.0
    for i, cell in enumerate(nb["cells"]):
        ex = cell.get("metadata", {}).get("execution", {})
        if cell["cell_type"] != "code" or "shell.execute_reply" not in ex:
            continue
        start = datetime.fromisoformat(ex["iopub.execute_input"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(ex["shell.execute_reply"].replace("Z", "+00:00"))
        sec = (end - start).total_seconds()
        total += sec
        if sec > slowest:
            slowest, where = sec, i
    if where < 0:
        raise ValueError(f"notebook {notebook} carries no execution times: execute it with "
                         "nbclient (jupyter nbconvert --execute, nbval or Lab) first")
    return slowest, where, total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vae_utils.classroom", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("autograde", help="autograde every submission of an assignment, concurrently")
    a.add_argument("assignment")
    a.add_argument("--course", type=Path, default=Path.cwd(), help="course folder (default: here)")
    a.add_argument("--jobs", "-j", type=int, default=1, help="concurrent grading processes (default 1)")
    a.add_argument("--scheduler", help="address of a Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                                       "(default: a LocalCluster of --jobs workers on this machine)")
    a.add_argument("--db-url", help="gradebook URL (default: c.CourseDirectory.db_url of the config)")
    a.add_argument("--threads", type=int, default=1, help="threads per grading process (default 1)")
    a.add_argument("--force", action="store_true", help="grade again submissions already autograded")
    a.add_argument("--cell-timeout", type=int, help="seconds per cell (default: c.Execute.timeout)")
    a.add_argument("--submission-timeout", type=float, default=1800,
                   help="seconds for one submission's whole autograde before it is killed (default 1800)")
    a.add_argument("--student", action="append", help="grade only this student (repeatable)")
    a.add_argument("--report", type=Path, help="also write the report as CSV here")
    f = sub.add_parser("offline-feedback", help="make generated feedback load MathJax from URL, not a CDN")
    f.add_argument("assignment")
    f.add_argument("--mathjax-url", required=True,
                   help="a MathJax 2.7 copy students can reach, e.g. "
                        "/hub/static/mathjax/MathJax.js?config=TeX-AMS_CHTML-full,Safe")
    f.add_argument("--course", type=Path, default=Path.cwd(), help="course folder (default: here)")
    t = sub.add_parser("timeout", help="slowest cell of executed notebooks (to choose Execute.timeout)")
    t.add_argument("notebooks", nargs="+", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "timeout":
        worst = 0.0
        for nb in args.notebooks:
            sec, i, total = slowest_cells(nb)
            worst = max(worst, sec)
            print(f"{nb.name:45s} slowest cell #{i}: {sec:6.2f} s   (all cells {total:6.1f} s)")
        # margin: x2 for one thread per grading job instead of two, x2.5 between machines of
        # this kind, x1.4 for a busy grader: 7x, rounded up to ten seconds
        print(f"slowest: {worst:.2f} s; with a margin of 7x, Execute.timeout = {10 * math.ceil(7 * worst / 10)}")
        return 0
    if args.cmd == "offline-feedback":
        try:
            changed = offline_feedback(args.course, args.assignment, args.mathjax_url)
        except ValueError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"{len(changed)} feedback files now load MathJax from {args.mathjax_url}")
        return 0
    try:
        results = autograde(args.course, args.assignment, jobs=args.jobs, scheduler=args.scheduler,
                            db_url=args.db_url, threads=args.threads, force=args.force,
                            cell_timeout=args.cell_timeout, submission_timeout=args.submission_timeout,
                            students=args.student)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_report(results))
    if args.report:
        write_report(results, args.report)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
