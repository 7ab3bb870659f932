"""The latent explorer in a real browser: JupyterLab driven by headless Chromium.

The other widget tests call the drawing functions and the slider callbacks in Python; this one
checks what a learner sees. It starts JupyterLab on 127.0.0.1 with a token, opens
``tests/browser_assets/latent_widget.ipynb`` in Chromium (Debian's ``chromium`` package,
driven by playwright), runs all cells, types a new value into the z1 slider's readout and
checks that the decoded image is redrawn and that no widget failed to render. Screenshots
before and after go to ``test-artifacts/``.

Needs ``pip install -e ".[browser]"`` and ``apt-get install chromium``; skipped otherwise.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent / "browser_assets"
NOTEBOOK = "latent_widget.ipynb"
ARTIFACTS = REPO / "test-artifacts"

# The machine's network may be closed: without these, Chromium's background connections
# (updates, sync, QUIC probes) fail and can stall the page.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]

SERVER_START_S = 90      # until the server answers /api/status
LAB_LOAD_MS = 60_000     # JupyterLab's first load takes 20-40 s on a small, busy machine
RUN_MS = 60_000          # the notebook trains a small VAE: a few seconds, more on a busy CPU
REDRAW_MS = 30_000       # one slider move → one decoded image


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jupyter() -> str:
    exe = Path(sys.executable).with_name("jupyter")
    if exe.exists():
        return str(exe)
    found = shutil.which("jupyter")
    if not found:
        pytest.skip("jupyter is not installed next to this Python nor on PATH")
    return found


@pytest.fixture(scope="module")
def chromium_path():
    pytest.importorskip("playwright.sync_api",
                        reason='playwright is not installed: pip install -e ".[browser]"')
    path = _chromium()
    if path is None:
        pytest.skip("Chromium is not installed (Debian/Ubuntu: apt-get install chromium); "
                    "the browser test needs its binary")
    return path


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory, chromium_path):
    """A JupyterLab server on a free port of 127.0.0.1, serving a copy of the widget notebook.

    Yields (base_url, token, notebook name); the server and its kernels are stopped at the end.
    """
    root = tmp_path_factory.mktemp("lab")
    work = root / "work"
    work.mkdir()
    shutil.copy(ASSETS / NOTEBOOK, work / NOTEBOOK)

    # A clean Jupyter configuration: no user settings, workspaces or startup files.
    env = dict(os.environ)
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                     ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
        (root / sub).mkdir()
        env[var] = str(root / sub)
    env.pop("MPLBACKEND", None)  # the kernel must use the inline backend to show figures
    env["PYTHONUNBUFFERED"] = "1"
    # No "news" pop-up over the page.
    news = root / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))

    port = _free_port()
    token = secrets.token_hex(16)
    cmd = [_jupyter(), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={work}",
           # nothing fetched from the internet: no news feed, no update check
           "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")

    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "jupyterlab.log"  # kept after the test, for a failed run
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with code {proc.returncode}; log:\n"
                            + log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer on {base} within {SERVER_START_S} s; log:\n"
                            + log_path.read_text()[-3000:])
            time.sleep(0.5)
        yield base, token, NOTEBOOK
    finally:
        # SIGTERM lets the server shut its kernels down; whatever is left of the process
        # group it started is then killed.
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait(timeout=10)
        log.close()


def _widget_image_src(page) -> str | None:
    return page.evaluate(
        "() => { const i = document.querySelector('.jp-OutputArea .widget-output img');"
        " return i ? i.src : null; }")


def test_latent_slider_redraws_the_decoded_image(lab_server, chromium_path):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    base, token, notebook = lab_server
    before_png = ARTIFACTS / "browser_latent_before.png"
    after_png = ARTIFACTS / "browser_latent_after.png"
    for p in (before_png, after_png):
        p.unlink(missing_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            console_errors: list[str] = []
            page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
            page.on("pageerror", lambda e: console_errors.append(str(e)))

            def fail(msg):
                shot = ARTIFACTS / "browser_latent_failure.png"
                page.screenshot(path=str(shot), full_page=True)
                body = page.locator("body").inner_text()
                pytest.fail(f"{msg}\nscreenshot: {shot}\nserver log: {ARTIFACTS / 'jupyterlab.log'}\n"
                            f"console errors: {console_errors[-10:]}\n"
                            f"page text (end):\n{body[-2000:]}")

            t0 = time.monotonic()
            page.goto(f"{base}/lab/tree/{notebook}?token={token}", wait_until="domcontentloaded",
                      timeout=LAB_LOAD_MS)
            # The notebook is open and its kernel is connected. The status bar reads
            # "No Kernel | Initializing", "… | Connecting", "… | Unknown", then "Python 3
            # (ipykernel) | Idle". (The toolbar's execution indicator says "idle" before any
            # kernel exists; Run All at that moment asks to select a kernel.)
            kernel_idle = page.locator("#jp-main-statusbar .jp-StatusBar-TextItem",
                                       has_text=re.compile(r"^(?!No Kernel).* \| Idle$"))
            try:
                page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=LAB_LOAD_MS)
                kernel_idle.wait_for(timeout=LAB_LOAD_MS)
            except PlaywrightTimeout as e:
                fail(f"JupyterLab did not open {notebook} with an idle kernel: {e}")
            t_open = time.monotonic()

            # Run → Run All Cells, through the menu bar as a learner would.
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            try:
                slider, dialog = page.locator(".widget-slider").first, page.locator(".jp-Dialog")
                slider.or_(dialog).first.wait_for(timeout=RUN_MS)
                if dialog.count() and "Select Kernel" in dialog.inner_text():
                    # Should the kernel still not be attached, accept the preselected one.
                    print("\nJupyterLab asked for a kernel; accepting its choice")
                    dialog.locator(".jp-mod-accept").click()
                elif dialog.count():
                    fail(f"unexpected dialog: {dialog.inner_text()!r}")
                slider.wait_for(timeout=RUN_MS)
                page.wait_for_function(
                    "() => !!document.querySelector('.jp-OutputArea .widget-output img')",
                    timeout=REDRAW_MS)
            except PlaywrightTimeout as e:
                fail(f"the latent explorer did not render: {e}")
            t_run = time.monotonic()

            readout = page.locator(".widget-slider", has_text="z1").locator(".widget-readout")
            readout.scroll_into_view_if_needed()
            old_src = _widget_image_src(page)
            old_value = readout.inner_text().strip()
            page.screenshot(path=str(before_png), full_page=True)
            print(f"\nscreenshot before moving z1: {before_png}")

            # Type a new value into the readout, as a learner can instead of dragging.
            readout.click()
            page.keyboard.press("Meta+A" if sys.platform == "darwin" else "Control+A")
            page.keyboard.type("2.5")
            page.keyboard.press("Enter")
            t_typed = time.monotonic()
            try:
                page.wait_for_function(
                    "old => { const i = document.querySelector('.jp-OutputArea .widget-output img');"
                    " return !!i && i.src !== old; }",
                    arg=old_src, timeout=REDRAW_MS)
            except PlaywrightTimeout as e:
                fail(f"moving z1 to 2.5 did not redraw the image (readout {old_value!r} → "
                     f"{readout.inner_text()!r}): {e}")
            t_redraw = time.monotonic()
            print(f"\nnotebook open, kernel idle: {t_open - t0:.1f} s; cells run, widget shown: "
                  f"{t_run - t_open:.1f} s; image redrawn after typing: {t_redraw - t_typed:.1f} s")
            page.wait_for_timeout(300)  # let the new image paint before the screenshot
            page.screenshot(path=str(after_png), full_page=True)
            print(f"screenshot after moving z1: {after_png}")

            new_src = _widget_image_src(page)
            new_value = readout.inner_text().strip()
            body = page.locator("body").inner_text()
        finally:
            browser.close()

    assert old_src and old_src.startswith("data:image/png"), old_src and old_src[:60]
    assert new_src and new_src.startswith("data:image/png"), new_src and new_src[:60]
    assert new_src != old_src
    assert old_value == "0.00" and new_value == "2.50", (old_value, new_value)
    assert "Error displaying widget" not in body
    assert "FloatSlider(" not in body
