"""Serial against parallel autograde of the same submissions of lesson 1, in one run.

    python benchmarks/autograde_speed.py [--submissions 40] [--jobs 2]

Builds a course folder with lesson 1 (scripts/classroom.py), generates the assignment, and
hands in ``--submissions`` copies of the worked solutions. Then, on the same machine in the
same run:

* **serial**: ``nbgrader autograde lesson1``, nbgrader's own loop over the submissions, with
  its SQLite gradebook and torch's default threads;
* **parallel**: ``vae_utils.classroom.autograde(..., jobs=JOBS)`` — one ``nbgrader autograde
  --student`` process per submission on a Dask LocalCluster of JOBS single-threaded workers —
  with the gradebook in a private PostgreSQL server (tests/postgres_cluster.py).

Prints the wall time of each, the serial cost per submission, the ratio, whether the scores
agree, and the load average (``os.getloadavg``) before and after each phase: on a shared
machine the ratio is only as good as the load was steady.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
import classroom as course_tools  # noqa: E402  (scripts/classroom.py)
import postgres_cluster  # noqa: E402

from vae_utils import classroom  # noqa: E402

LESSON = ROOT / "notebooks" / "01_noise_in_a_gaussian.ipynb"


def _course(path: Path, n: int, db_url: str | None = None) -> None:
    (source,) = course_tools.new_course(path, [LESSON]).values()
    if db_url:
        with open(path / "nbgrader_config.py", "a") as f:
            f.write(f"\nc.CourseDirectory.db_url = {db_url!r}\n")
    course_tools.generate(path, "lesson1")
    nb = json.loads(source.read_text())
    for i in range(n):
        course_tools.submit(path, "lesson1", f"s{i:03d}", nb, LESSON.name)


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--submissions", type=int, default=40)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args(argv)
    reason = postgres_cluster.why_not()
    if reason:
        sys.exit(f"cannot start PostgreSQL: {reason}")
    import torch
    print(f"started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}; "
          f"torch {torch.__version__}, default threads {torch.get_num_threads()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        serial = tmp / "serial"
        _course(serial, args.submissions)
        load0 = _load()
        t0 = time.perf_counter()
        course_tools.nbgrader(serial, "autograde", "lesson1")
        t_serial = time.perf_counter() - t0
        load1 = _load()
        print(f"serial   nbgrader autograde lesson1, {args.submissions} submissions: {t_serial:7.1f} s, "
              f"load {load0} -> {load1}", flush=True)
        from nbgrader.api import Gradebook
        with Gradebook(f"sqlite:///{serial / 'gradebook.db'}", "where-the-noise-lives") as gb:
            serial_scores = {s.student.id: s.score for s in gb.find_assignment("lesson1").submissions}
        shutil.rmtree(serial / "autograded")
        with postgres_cluster.private_postgres() as url:
            par = tmp / "parallel"
            _course(par, args.submissions, url)
            load2 = _load()
            t0 = time.perf_counter()
            results = classroom.autograde(par, "lesson1", jobs=args.jobs, progress=False)
            t_par = time.perf_counter() - t0
            load3 = _load()
    same = {r.student: r.score for r in results} == serial_scores
    n = args.submissions
    print(f"load average (1/5/15 min): serial {load0} -> {load1}; parallel {load2} -> {load3}")
    print(f"serial   nbgrader autograde lesson1, {n} submissions: {t_serial:7.1f} s  "
          f"({t_serial / n:.2f} s per submission)")
    print(f"parallel vae_utils.classroom autograde --jobs {args.jobs}:       {t_par:7.1f} s  "
          f"({t_par / n:.2f} s per submission)")
    print(f"ratio serial / parallel: {t_serial / t_par:.2f}; scores identical: {same}; "
          f"all {len(results)} graded: {all(r.ok for r in results)}")


if __name__ == "__main__":
    main()
