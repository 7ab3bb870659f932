"""`make lab` opens the course without nbgrader's machinery, even in the .venv that `make test`
filled with nbgrader (which enables its Lab and server extensions when it is installed).

The test starts JupyterLab with the very command `make lab` runs (read from `make -n lab`),
and, as the control, the same command without the course's environment."""
import json
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytest.importorskip("nbgrader", reason="without nbgrader there is no nbgrader extension to switch off")
if shutil.which("make") is None:
    pytest.skip("`make` is not installed", allow_module_level=True)


def _lab_command() -> str:
    out = subprocess.run(["make", "-n", "-s", "lab", "LAB_STAMP=", f"BIN={Path(sys.executable).parent}"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    (line,) = [ln for ln in out.splitlines() if " lab " in ln and "jupyter" in ln]
    return line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""


def _what_lab_serves(command: str) -> dict:
    """Start Lab with ``command``; return its page config and the status of nbgrader's pages."""
    port, token = _free_port(), "course-test"
    cmd = f"{command} --no-browser --port={port} --ServerApp.token={token} --ServerApp.open_browser=False"
    if "--allow-root" not in cmd:
        cmd += " --allow-root"
    proc = subprocess.Popen(cmd, shell=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited: {proc.stderr.read().decode()[-2000:]}")
            try:
                if _get(f"{base}/api/status?token={token}")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(1)
        else:
            pytest.fail("JupyterLab did not start within 120 s")
        status, page = _get(f"{base}/lab?token={token}")
        assert status == 200
        config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                      page, re.S).group(1))
        return {"disabled": config.get("disabledExtensions", []),
                "federated": [e["name"] for e in config.get("federated_extensions", [])],
                "formgrader": _get(f"{base}/formgrader?token={token}")[0],
                "assignments": _get(f"{base}/assignments?token={token}")[0]}
    finally:
        import os
        import signal
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_make_lab_switches_off_nbgrader_for_the_learners_lab():
    command = _lab_command()
    assert "VAE_CHECKS_KEEP_GOING=1" in command     # working copies run on past a failed check
    course = _what_lab_serves(command)
    assert "@jupyter/nbgrader" in course["federated"]           # installed (by `make test`) ...
    assert "@jupyter/nbgrader" in course["disabled"]            # ... and off: no menu, Validate, Create Assignment
    assert course["formgrader"] == 404 and course["assignments"] == 404   # server extensions not loaded
    # The control: the same Lab without the course's environment shows nbgrader.
    plain = _what_lab_serves(shlex.join(shlex.split(command)[2:]))
    assert "@jupyter/nbgrader" not in plain["disabled"]
    assert plain["formgrader"] != 404
