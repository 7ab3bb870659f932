"""The course's widgets in a real browser: JupyterLab driven by headless Chromium.

The other widget tests call the drawing functions and the slider callbacks in Python; these
check what a learner sees. One JupyterLab server on 127.0.0.1 with a token and one Chromium
page (Debian's ``chromium`` package, driven by playwright) open
``tests/browser_assets/latent_widget.ipynb`` and run all its cells, which show the latent
explorer (lesson 6) and the Gaussian explorer (lesson 1). Each test types a new value into
one slider's readout (z1 of the latent explorer, ρ of the Gaussian explorer) and checks that
the image of that widget, and only that one, is redrawn and that no widget failed to render.
A last test opens lesson 1 as committed, without running it, and checks that its explorer
shows as a picture. Screenshots go to ``test-artifacts/``.

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
LESSON_1 = "01_noise_in_a_gaussian.ipynb"
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
    shutil.copy(REPO / "notebooks" / LESSON_1, work / LESSON_1)  # as committed, not run

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
    # Every cell stays in the page, also those scrolled out of view: the second widget is
    # found without scrolling to it first.
    tracker = news.parent / "notebook-extension"
    tracker.mkdir()
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))

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


# The data: URL of the image in the Output of the widget that has a slider labelled `label`
# (each widget is shown by its own cell), or null.
_IMAGE_SRC_JS = """label => {
  for (const cell of document.querySelectorAll('.jp-CodeCell')) {
    const labels = [...cell.querySelectorAll('.widget-slider .widget-label')]
      .map(l => l.textContent.trim());
    if (labels.includes(label)) {
      const img = cell.querySelector('.widget-output img');
      return img ? img.src : null;
    }
  }
  return null;
}"""


class _Lab:
    """The notebook open in Chromium, all its cells run."""

    def __init__(self, page, console_errors):
        self.page = page
        self.console_errors = console_errors

    def fail(self, msg, shot_name="browser_failure.png"):
        shot = ARTIFACTS / shot_name
        self.page.screenshot(path=str(shot), full_page=True)
        body = self.page.locator("body").inner_text()
        pytest.fail(f"{msg}\nscreenshot: {shot}\nserver log: {ARTIFACTS / 'jupyterlab.log'}\n"
                    f"console errors: {self.console_errors[-10:]}\n"
                    f"page text (end):\n{body[-2000:]}")

    def image_src(self, label):
        return self.page.evaluate(f"({_IMAGE_SRC_JS})", label)

    def wait_for_image(self, label, old=None, timeout=REDRAW_MS):
        """Wait until the widget with slider `label` shows an image other than `old`."""
        self.page.wait_for_function(
            f"([label, old]) => {{ const src = ({_IMAGE_SRC_JS})(label);"
            " return !!src && src !== old; }",
            arg=[label, old], timeout=timeout)

    def readout(self, label):
        """The editable value next to the slider labelled `label`."""
        page = self.page
        label_re = re.compile(rf"^\s*{re.escape(label)}\s*$")
        return (page.locator(".widget-slider")
                .filter(has=page.locator(".widget-label", has_text=label_re))
                .locator(".widget-readout"))

    def show(self, label):
        """Scroll so that the whole widget with slider `label` is in view, for a screenshot."""
        output = (self.page.locator(".jp-CodeCell").filter(has=self.readout(label))
                  .locator(".jp-Cell-outputArea"))
        output.evaluate("e => e.scrollIntoView({block: 'end'})")
        self.page.wait_for_timeout(300)  # let the new image paint before the screenshot


@pytest.fixture(scope="module")
def lab(lab_server, chromium_path):
    """Chromium with the widget notebook open in JupyterLab and all its cells run.

    Shared by the tests of this module: the notebook trains its VAE once.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    base, token, notebook = lab_server
    pw = sync_playwright().start()
    browser = None
    try:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True,
                                     args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        console_errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and console_errors.append(m.text))
        page.on("pageerror", lambda e: console_errors.append(str(e)))
        lab = _Lab(page, console_errors)

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
            lab.fail(f"JupyterLab did not open {notebook} with an idle kernel: {e}")
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
                lab.fail(f"unexpected dialog: {dialog.inner_text()!r}")
            slider.wait_for(timeout=RUN_MS)
            lab.wait_for_image("z1")
        except PlaywrightTimeout as e:
            lab.fail(f"the latent explorer did not render: {e}")
        try:
            lab.wait_for_image("ρ")
        except PlaywrightTimeout as e:
            lab.fail(f"the Gaussian explorer did not render: {e}")
        t_run = time.monotonic()
        print(f"\nnotebook open, kernel idle: {t_open - t0:.1f} s; "
              f"cells run, both widgets shown: {t_run - t_open:.1f} s")
        yield lab
    finally:
        if browser is not None:
            browser.close()
        pw.stop()


def _type_into_readout(lab, label, value, before_png, after_png, what):
    """Type `value` into the readout of slider `label`, as a learner can instead of dragging,
    and wait for that widget's image to be redrawn.

    Returns (old_src, new_src, old_readout, new_readout, page text).
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = lab.page
    for p in (before_png, after_png):
        p.unlink(missing_ok=True)
    readout = lab.readout(label)
    lab.show(label)
    old_src = lab.image_src(label)
    old_value = readout.inner_text().strip()
    page.screenshot(path=str(before_png), full_page=True)
    print(f"\nscreenshot before moving {label}: {before_png}")

    readout.click()
    page.keyboard.press("Meta+A" if sys.platform == "darwin" else "Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")
    t_typed = time.monotonic()
    try:
        lab.wait_for_image(label, old_src)
    except PlaywrightTimeout as e:
        lab.fail(f"moving {label} to {value} did not redraw {what} (readout {old_value!r} → "
                 f"{readout.inner_text()!r}): {e}", after_png.name.replace("_after", "_failure"))
    print(f"{what} redrawn after typing {label} = {value}: {time.monotonic() - t_typed:.1f} s")
    lab.show(label)
    page.screenshot(path=str(after_png), full_page=True)
    print(f"screenshot after moving {label}: {after_png}")
    return (old_src, lab.image_src(label), old_value, readout.inner_text().strip(),
            page.locator("body").inner_text())


def _assert_no_broken_widget(body):
    assert "Error displaying widget" not in body
    assert "FloatSlider(" not in body


def test_latent_slider_redraws_the_decoded_image(lab):
    gaussian_src = lab.image_src("ρ")
    old_src, new_src, old_value, new_value, body = _type_into_readout(
        lab, "z1", "2.5", ARTIFACTS / "browser_latent_before.png",
        ARTIFACTS / "browser_latent_after.png", "the decoded image")

    assert old_src and old_src.startswith("data:image/png"), old_src and old_src[:60]
    assert new_src and new_src.startswith("data:image/png"), new_src and new_src[:60]
    assert new_src != old_src
    assert old_value == "0.00" and new_value == "2.50", (old_value, new_value)
    assert lab.image_src("ρ") == gaussian_src, "moving z1 redrew the Gaussian explorer"
    _assert_no_broken_widget(body)


def test_gaussian_rho_redraws_samples_and_contours(lab):
    latent_src = lab.image_src("z1")
    old_src, new_src, old_value, new_value, body = _type_into_readout(
        lab, "ρ", "0.8", ARTIFACTS / "browser_gaussian_before.png",
        ARTIFACTS / "browser_gaussian_after.png", "the Gaussian figure")

    assert old_src and old_src.startswith("data:image/png"), old_src and old_src[:60]
    assert new_src and new_src.startswith("data:image/png"), new_src and new_src[:60]
    assert new_src != old_src
    assert old_value == "0.00" and new_value == "0.80", (old_value, new_value)
    # The Gaussian explorer's own image changed, not the latent explorer's.
    assert latent_src and old_src != latent_src
    assert lab.image_src("z1") == latent_src, "moving ρ redrew the latent explorer"
    _assert_no_broken_widget(body)


def test_a_committed_lesson_reads_well_before_it_runs(lab, lab_server):
    # A learner who opens lesson 1 before running it (a notebook from a fresh clone is not
    # trusted, so JupyterLab does not draw its saved widgets) sees a picture of the Gaussian
    # explorer, not the widget's VBox(...) text.
    base, token, _ = lab_server
    page = lab.page.context.browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(f"{base}/lab/tree/{LESSON_1}?token={token}", wait_until="domcontentloaded",
                  timeout=LAB_LOAD_MS)
        lesson = page.get_by_label(LESSON_1).locator(".jp-Notebook")
        cell = lesson.locator(".jp-CodeCell").filter(has_text="gaussian_explorer()").last
        cell.locator(".jp-OutputArea-output img").wait_for(timeout=LAB_LOAD_MS)
        cell.scroll_into_view_if_needed()
        shot = ARTIFACTS / "browser_lesson1_unrun.png"
        cell.screenshot(path=str(shot))
        print(f"\nlesson 1 before running, the explorer's cell: {shot}")
        src = cell.locator(".jp-OutputArea-output img").first.get_attribute("src")
        assert src and src.startswith("data:image/png")
        body = lesson.inner_text()
        assert "VBox(" not in body and "Error displaying widget" not in body
    finally:
        page.close()
