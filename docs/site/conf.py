"""Sphinx configuration of the course website (`make site`; see scripts/build_site.py).

The site is built from the committed, executed notebooks: nothing is re-executed. The
sources are staged by scripts/build_site.py into build/site-src/ with the repository's
layout (README.md, notebooks/*.ipynb, docs/teaching.md) next to this file and index.md.

Environment:
    COURSE_REPOSITORY_URL   e.g. https://github.com/OWNER/REPO — adds, on every lesson, a
                            link to the notebook on GitHub and a Binder launch button (the
                            Pages workflow sets it). Either way, each lesson links to its
                            .ipynb, copied into the site next to the page.
    COURSE_REPOSITORY_BRANCH  branch of those links (default: main).
"""
import os
import shutil
from pathlib import Path

project = "Where the noise lives"
html_show_copyright = False  # the footer says it: see extra_footer

extensions = [
    "myst_nb",                 # .ipynb and MyST Markdown, rendered from saved outputs
    "sphinx-mathjax-offline",  # MathJax 3 served from the site itself, no CDN
]

root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "README.md"]
templates_path = ["_templates"]
html_static_path = ["_static"]
html_css_files = ["course.css"]
html_js_files = [("widgets-mathjax.js", {"priority": 400})]  # before the widgets' script
html_favicon = "_static/favicon.svg"
# Light by default: the figures are drawn on white (the reader can switch).
html_context = {"default_mode": "light"}

# --- notebooks: shown as committed ------------------------------------------------------
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# ipywidgets: the notebooks store their widgets' state; @jupyter-widgets/html-manager
# draws them from it. scripts/build_site.py puts a copy of the manager in _static/ (npm);
# without one, MyST-NB's default loads it from a CDN when the page is read online.
_here = Path(__file__).resolve().parent
if (_here / "_static" / "html-manager" / "embed.js").exists():
    nb_ipywidgets_js = {"html-manager/embed.js": {}}

# --- theme ------------------------------------------------------------------------------
REPOSITORY_URL = os.environ.get("COURSE_REPOSITORY_URL", "").rstrip("/")
REPOSITORY_BRANCH = os.environ.get("COURSE_REPOSITORY_BRANCH", "main")

html_theme = "sphinx_book_theme"
html_title = "Where the noise lives"
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": False,  # each lesson has its own notebook link
    "article_header_start": ["toggle-primary-sidebar.html", "notebook-source.html"],
    "footer_content_items": ["extra-footer"],
    "extra_footer": "Code: MIT. The embedded MNIST digits: CC BY-SA 3.0.",
}
if REPOSITORY_URL:
    html_theme_options.update({
        "repository_url": REPOSITORY_URL,
        "repository_branch": REPOSITORY_BRANCH,
        "path_to_docs": "",
        "use_repository_button": True,
        # Binder builds from environment.yml, as the README says.
        "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    })


def _notebook_link(app, pagename, templatename, context, doctree):
    """`notebook_links`: [(href, label)] to the lesson's notebook; empty on other pages."""
    context["notebook_links"] = []
    if not pagename.startswith("notebooks/"):
        return
    name = pagename.split("/")[-1] + ".ipynb"
    context["notebook_links"].append((name, f"download {name}"))
    if REPOSITORY_URL:
        context["notebook_links"].append(
            (f"{REPOSITORY_URL}/blob/{REPOSITORY_BRANCH}/{pagename}.ipynb", "source on GitHub"))


def _copy_notebooks(app, exc):
    """Each lesson's .ipynb next to its page, so the site links to its own copy."""
    if exc is not None or app.builder.format != "html":
        return
    src, out = Path(app.srcdir) / "notebooks", Path(app.outdir) / "notebooks"
    for nb in sorted(src.glob("*.ipynb")):
        shutil.copy2(nb, out / nb.name)


def setup(app):
    app.connect("html-page-context", _notebook_link)
    app.connect("build-finished", _copy_notebooks)
