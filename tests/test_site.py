"""The course website in a real browser: built as `make site` builds it, read in Chromium.

Builds the site from the committed notebooks (scripts/build_site.py, into a temporary
folder), serves it on 127.0.0.1 and opens the landing page, three lessons and a search in
headless Chromium (the set-up of tests/test_browser.py). Each lesson must show rendered
equations (MathJax output, no raw ``$$`` or ``\\frac``), its figures loaded, its widgets
drawn from their saved state, a link to its notebook, and no error: no console error, no
failed request, no traceback. Nothing is fetched from outside 127.0.0.1: the site is read
as it would be offline. Screenshots of the landing page and lesson 6 go to
``test-artifacts/``.

Needs ``pip install -e ".[site,browser]"`` and Chromium; skipped otherwise.
"""
from __future__ import annotations

import functools
import http.server
import importlib.util
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from test_browser import CHROMIUM_ARGS, chromium_path  # noqa: F401  (fixture, reused)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
BUILD_S = 60          # the bound for `make site` on a laptop CPU
PAGE_MS = 30_000      # load a page, typeset its equations, draw its widgets

# Four lessons: the one with a Gaussian explorer widget, the one with the most equations,
# lesson 6 (figures; its only widgets are training progress bars) and lesson 6a (figures, the
# latent explorer, whose sliders are drawn from their saved state).
LESSONS = {
    "notebooks/01_noise_in_a_gaussian.html": {"widgets": True},
    "notebooks/05_jensen_and_elbo.html": {"widgets": False},
    "notebooks/06_vae.html": {"widgets": False},   # its widgets are progress bars, no sliders
    "notebooks/06a_vae_latent_space.html": {"widgets": True},
}

# TeX left as text, outside code and outside MathJax's output: `$$`, `$...$`, Sphinx's
# `\(...\)` and `\[...\]` delimiters, or a TeX command.
RAW_TEX = re.compile(r"\$\$|\$[^$\s][^$\n]*\$|\\[()[\]]|\\(frac|sum|int|log|mathbb|mathcal|mathrm|"
                     r"sqrt|mu|sigma|Sigma|theta|phi|left|right|begin|end|operatorname)\b")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site into a temporary folder, failing on any Sphinx warning; its path."""
    for module, extra in (("myst_nb", "site"), ("sphinx_book_theme", "site"),
                          ("sphinx-mathjax-offline", "site")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f'{module} is not installed: pip install -e ".[{extra}]"')
    out = tmp_path_factory.mktemp("site") / "site"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "build_site.py"),
                           "--out", str(out), "--strict"], cwd=REPO, capture_output=True, text=True,
                          timeout=10 * BUILD_S)
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, f"the site build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    print(f"\nsite built in {elapsed:.1f} s")
    assert elapsed < BUILD_S, f"the site took {elapsed:.0f} s to build (bound: {BUILD_S} s)"
    if not _site_has_widget_script(out):
        pytest.skip("the site has no copy of the widgets' script (npm is needed to fetch it "
                    "once) and would load it from a CDN, which this offline test cannot")
    return out


@pytest.fixture(scope="module")
def server(site):
    """The built site on a free port of 127.0.0.1; yields its base URL."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            # A page closed while a file was still being sent; anything else is reported.
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                super().handle_error(request, client_address)

    httpd = Server(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(chromium_path):  # noqa: F811
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = None
    try:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True,
                                     args=CHROMIUM_ARGS)
        yield browser
    finally:
        if browser is not None:
            browser.close()
        pw.stop()


class _Page:
    """One page of the site, with everything that went wrong while it loaded."""

    def __init__(self, browser, base, path):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.path = path
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.outside: list[str] = []
        page = self.page
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("response", lambda r: r.status >= 400 and self.failed.append(f"{r.status} {r.url}"))

        def local_only(route):
            url = route.request.url
            if url.startswith(base) or url.startswith("data:"):
                route.continue_()
            else:
                self.outside.append(url)
                route.abort()

        page.route("**/*", local_only)
        page.goto(f"{base}/{path}", wait_until="load", timeout=PAGE_MS)

    def fail(self, msg):
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / ("site_failure_" + re.sub(r"\W+", "_", self.path) + ".png")
        self.page.screenshot(path=str(shot), full_page=True)
        pytest.fail(f"{self.path}: {msg}\nscreenshot: {shot}\nconsole errors: {self.errors[-10:]}")

    def assert_clean(self):
        """No console error, no failed or outside request, no traceback on the page."""
        body = self.page.locator("body").inner_text()
        problems = []
        if self.errors:
            problems.append(f"console errors: {self.errors[:5]}")
        if self.failed:
            problems.append(f"failed requests: {self.failed[:5]}")
        if self.outside:
            problems.append(f"requests outside the site: {self.outside[:5]}")
        for text in ("Traceback (most recent call last)", "Error displaying widget",
                     "FloatSlider(", "interactive(children="):
            if text in body:
                problems.append(f"the page shows {text!r}")
        n_tb = self.page.locator(".output.traceback, .output.error").count()
        if n_tb:
            problems.append(f"{n_tb} error outputs")
        if problems:
            self.fail("; ".join(problems))


def _wait_for_math(page):
    """MathJax has typeset the page; returns (containers, errors, raw TeX left in the text)."""
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                           timeout=PAGE_MS)
    page.evaluate("() => MathJax.startup.promise")
    return page.evaluate(r"""() => {
      const article = document.querySelector('article') || document.body;
      const copy = article.cloneNode(true);
      copy.querySelectorAll('pre, code, .highlight, .cell_output, mjx-container, script, style')
          .forEach(e => e.remove());
      return [article.querySelectorAll('mjx-container').length,
              article.querySelectorAll('mjx-merror, [data-mjx-error]').length,
              copy.textContent];
    }""")


def _wait_for_images(page):
    """Every image of the article has loaded; returns [(naturalWidth, src)]."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('article img')].every(i => i.complete)",
        timeout=PAGE_MS)
    return page.evaluate("() => [...document.querySelectorAll('article img')]"
                         ".map(i => [i.naturalWidth, i.src.slice(0, 80)])")


def _site_has_widget_script(site):
    return (site / "_static" / "html-manager" / "embed.js").exists()


@pytest.mark.parametrize("path", list(LESSONS))
def test_lesson_page_renders(browser, server, site, path):
    p = _Page(browser, server, path)
    page = p.page
    n_math, n_math_errors, text = _wait_for_math(page)
    if n_math == 0:
        p.fail("no equation was typeset by MathJax")
    if n_math_errors:
        p.fail(f"{n_math_errors} equations failed to typeset")
    raw = sorted({m.group(0)[:40] for m in RAW_TEX.finditer(text)})
    if raw:
        p.fail(f"raw TeX left in the text: {raw[:10]}")

    if LESSONS[path]["widgets"] and _site_has_widget_script(site):
        # The html-manager draws the widgets from the notebook's saved state: sliders at
        # their saved values and the figure their Output widget last showed.
        try:
            page.locator(".widget-slider").first.wait_for(timeout=PAGE_MS)
            page.wait_for_function(
                "() => [...document.querySelectorAll('.widget-output img')]"
                ".some(i => i.complete && i.naturalWidth > 0)", timeout=PAGE_MS)
        except Exception as e:  # playwright's TimeoutError
            p.fail(f"the widgets were not drawn from their saved state: {e}")

    images = _wait_for_images(page)
    if not images:
        p.fail("no figure on the page")
    broken = [src for width, src in images if width == 0]
    if broken:
        p.fail(f"{len(broken)} of {len(images)} images did not load: {broken[:3]}")

    link = page.locator("a.nb-source-link").first
    href = link.get_attribute("href")
    notebook = Path(path).with_suffix(".ipynb").name
    assert href and href.endswith(notebook), href
    response = page.request.get(f"{server}/notebooks/{notebook}")
    assert response.ok and response.json()["nbformat"] == 4

    if path == "notebooks/06a_vae_latent_space.html":
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "site_lesson6a.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")
        explorer = page.locator(".cell_output").filter(has=page.locator(".widget-slider")).first
        if explorer.count():
            explorer.scroll_into_view_if_needed()
            shot = ARTIFACTS / "site_lesson6a_latent_explorer.png"
            page.screenshot(path=str(shot))
            print(f"screenshot: {shot}")
    print(f"\n{path}: {n_math} equations, {len(images)} images")
    p.assert_clean()
    page.close()


def test_landing_page_maps_the_course(browser, server):
    p = _Page(browser, server, "index.html")
    page = p.page
    body = page.locator("article").inner_text()
    assert "Questions learners ask" in body
    assert "A generative model is a distribution" in body   # the question table
    # The course map: each lesson's row links to its page.
    lesson_links = page.evaluate(
        "() => [...document.querySelectorAll('article table a')].map(a => a.getAttribute('href'))")
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        if (REPO / "README.md").read_text().count(f"notebooks/{nb.name}"):
            assert f"notebooks/{nb.stem}.html" in lesson_links, (nb.name, lesson_links)
    assert page.locator("nav a", has_text="Teaching with").count() > 0
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "site_landing.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"\nscreenshot: {shot}")
    p.assert_clean()
    page.close()


def test_search_finds_a_lesson(browser, server):
    p = _Page(browser, server, "search.html?q=importance+sampling")
    page = p.page
    results = page.locator("#search-results ul.search li a")
    try:
        results.first.wait_for(timeout=PAGE_MS)
    except Exception as e:  # playwright's TimeoutError
        p.fail(f"the search found nothing: {e}")
    hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any("04_importance_sampling" in h for h in hrefs), hrefs
    p.assert_clean()
    page.close()
