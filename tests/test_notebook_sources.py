"""What a reader sees in the committed notebooks' code: no test plumbing."""
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
