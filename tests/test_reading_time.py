"""The lesson-length estimate (scripts/reading_time.py) counts what it says it counts."""
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from reading_time import counts, minutes  # noqa: E402


def test_counts_and_minutes(tmp_path):
    nb = nbformat.v4.new_notebook()
    answer = nbformat.v4.new_code_cell("def f(x):\n\n    return x")
    answer.metadata["nbgrader"] = {"solution": True, "grade": False}
    check = nbformat.v4.new_code_cell("checks.f(f)\nchecks.f(f, seed=2)")
    check.metadata["nbgrader"] = {"solution": False, "grade": True}
    nb.cells = [nbformat.v4.new_markdown_cell("# Title\n\nTwo words $x$ and\n\n$$a = b$$\n\n- one"),
                nbformat.v4.new_code_cell("a = 1\nb = 2\n\n"), answer, check]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    c = counts(path)
    assert c == {"words": 6, "equations": 1, "code_lines": 4, "exercises": 1}
    assert minutes(c) == 6 / 200 + 0.5 + 4 / 10 + 6


def test_every_lesson_states_a_length_close_to_the_estimate():
    import re
    for path in sorted((ROOT / "notebooks").glob("0[1-9]*.ipynb")):
        first = "".join(json.loads(path.read_text())["cells"][0]["source"])
        stated = re.search(r"[Aa]bout (\d+) min", first)
        assert stated, f"{path.name}: the first cell states no length ('About N minutes')"
        est = minutes(counts(path))
        assert abs(int(stated.group(1)) - est) <= max(5, 0.15 * est), (path.name, stated.group(1), round(est))
