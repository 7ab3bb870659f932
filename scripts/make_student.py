"""Generate the student versions of the course notebooks: ``make student``.

Every notebook in ``notebooks/`` goes through nbgrader's own ``generate_assignment`` (in a
scratch course folder, without a gradebook): each solution region between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` becomes ``raise NotImplementedError()``,
hidden tests between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` are removed,
and all outputs are cleared. The results go to ``build/student/`` (override with ``--out``).

For the whole nbgrader workflow (release, collect, autograde), see docs/teaching.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from classroom import ROOT, make_student_versions  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    args = ap.parse_args(argv)
    try:
        import nbgrader  # noqa: F401
    except ImportError:
        sys.exit("nbgrader is needed to make student versions: run `make student`, or "
                 "`pip install \"vae-utils[teach]\"` first.")
    with tempfile.TemporaryDirectory() as work:
        written = make_student_versions(args.out, Path(work))
    total = 0
    for p in written:
        n = p.read_text().count("raise NotImplementedError()")
        total += n
        print(f"{p.name:40s} {n} exercise(s)")
    print(f"{len(written)} student notebooks written to {args.out} ({total} exercises)")


if __name__ == "__main__":
    main()
