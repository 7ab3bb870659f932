"""A private PostgreSQL server for tests and benchmarks, from Debian's ``postgresql`` package.

``private_postgres()`` runs ``initdb`` in a new temporary folder (trust authentication, one
user ``grader``), starts the server with ``pg_ctl`` on a free localhost port with its socket
in that folder, creates the database ``gradebook`` and yields its SQLAlchemy URL
(``postgresql+psycopg://grader@127.0.0.1:PORT/gradebook``); on exit it stops the server and
deletes the folder. PostgreSQL refuses to run as root: as root, the server runs as the
``postgres`` account the Debian package creates (``runuser -u postgres``).

``why_not()`` says why no server can be started here (None when one can).
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def why_not() -> str | None:
    if _bindir() is None:
        return "PostgreSQL's initdb was not found (install Debian's `postgresql` package)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[test]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` account to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def private_postgres():
    reason = why_not()
    if reason:
        raise RuntimeError(reason)
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="vae-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def run(*cmd):
        subprocess.run([*prefix, *map(str, cmd)], check=True, capture_output=True, text=True, cwd=root)

    started = False
    try:
        run(bindir / "initdb", "-D", data, "-U", "grader", "--auth=trust", "-E", "UTF8", "--no-instructions")
        run(bindir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "60", "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off", "start")
        started = True
        run(bindir / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "grader", "gradebook")
        yield f"postgresql+psycopg://grader@127.0.0.1:{port}/gradebook"
    except subprocess.CalledProcessError as e:
        raise RuntimeError(f"{' '.join(map(str, e.cmd))} failed:\n{e.stdout}\n{e.stderr}") from None
    finally:
        if started:
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, cwd=root)
        shutil.rmtree(root, ignore_errors=True)
