"""What a reader sees in the committed notebooks: no test plumbing in the code, no grader markup,
each check's ✓ once, no widget text forms or unfinished progress bars in the outputs."""
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nbval_instructions_are_cell_tags_not_code_comments(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        assert "NBVAL" not in cell.source, f"{path.name}: use the cell tags nbval-check-output / " \
                                           f"nbval-ignore-output, not a comment:\n{cell.source[:200]}"
    tags = [t for c in nb.cells for t in c.metadata.get("tags", [])]
    assert set(t for t in tags if t.startswith("nbval")) <= {"nbval-check-output", "nbval-ignore-output"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_grader_markup_and_each_check_prints_once(path):
    """The lessons are reading versions: a check cell is its visible line alone (the hidden
    tests live in the grader's source, vae_utils.checks.grading.add_hidden_tests). A lesson
    that still has hidden-test blocks: run `python scripts/strip_grader_markup.py`."""
    from vae_utils.checks.grading import VISIBLE, _check_name
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for marker in ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "hidden_test("):
            assert marker not in cell.source, f"{path.name}: run scripts/strip_grader_markup.py:\n{cell.source}"
        name = _check_name(cell)
        if name is None:
            continue
        assert cell.source == VISIBLE.format(name=name), cell.source
        printed = [line for out in cell.outputs if out.output_type == "stream"
                   for line in out.text.splitlines()]
        assert printed and all(line.startswith("✓ ") for line in printed), (path.name, name, printed)
        assert len(printed) == len(set(printed)) and not any(
            a[:20] == b[:20] for i, a in enumerate(printed) for b in printed[i + 1:]), (path.name, name, printed)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_assertion_only_plumbing_is_out_of_the_reader_s_way(path):
    """A code cell of several asserts and nothing else checks the lesson's own claims: its input
    is collapsed in Lab (``jupyter.source_hidden``) and removed on the site (tag
    ``remove-input``); nbval still runs it. One short assert beside its claim stays visible."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or cell.metadata.get("nbgrader"):
            continue
        lines = [l for l in cell.source.splitlines() if l.strip() and not l.strip().startswith("#")]
        if len(lines) >= 2 and all(l.lstrip().startswith("assert") for l in lines):
            assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, (path.name, i)
            assert "remove-input" in cell.metadata.get("tags", []), (path.name, i)


# --- What a reader sees in the committed outputs, before running anything -----------------
WIDGET = "application/vnd.jupyter.widget-view+json"
BOX_REPR = re.compile(r"\b(?:[VH]Box|FloatSlider|IntSlider|Output|Button)\(")
BAR = re.compile(r"(\d{1,3})%\|")


def _outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            yield i, out


def _text(out):
    if out.output_type == "stream":
        return out.text
    return out.get("data", {}).get("text/plain", "")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_output_is_a_widget_text_form_or_an_unfinished_progress_bar(path):
    for i, out in _outputs(path):
        text = _text(out)
        assert not BOX_REPR.search(text), \
            f"{path.name} cell {i}: a widget saved as its text form:\n{text[:200]}"
        for percent in BAR.findall(text):
            assert percent == "100", \
                f"{path.name} cell {i}: a progress bar saved before it finished:\n{text[:200]}"
        data = out.get("data", {})
        if WIDGET in data:
            # A viewer without widgets (GitHub, an untrusted notebook) shows the next best
            # type: a picture of the view, or the finished bar's text.
            assert "image/png" in data or BAR.search(text), \
                f"{path.name} cell {i}: a widget with no static form for viewers without widgets"


def test_the_checks_above_catch_what_they_are_for(tmp_path):
    bad = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("explore()")
    cell.outputs = [nbformat.v4.new_output("display_data", data={
        "text/plain": "training on cpu:   0%|          | 0/50 [00:00<?, ?epoch/s]",
        WIDGET: {"model_id": "x", "version_major": 2, "version_minor": 0}})]
    bad.cells = [cell]
    nbformat.write(bad, tmp_path / "bar.ipynb")
    with pytest.raises(AssertionError, match="before it finished"):
        test_no_output_is_a_widget_text_form_or_an_unfinished_progress_bar(tmp_path / "bar.ipynb")
    cell.outputs[0]["data"]["text/plain"] = "VBox(children=(HBox(children=(FloatSlider(value=0.0,"
    nbformat.write(bad, tmp_path / "box.ipynb")
    with pytest.raises(AssertionError, match="text form"):
        test_no_output_is_a_widget_text_form_or_an_unfinished_progress_bar(tmp_path / "box.ipynb")
