"""The feedback students receive (``nbgrader generate_feedback``): a graded cell's error shows its
message, never a traceback, which would quote the hidden tests' code (nbgrader's
``ClearHiddenTests`` clears the cell's source, not its outputs). Enabled in docs/nbgrader_config.py."""
from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

_GRADER_WORDS = ("HIDDEN TESTS", "hidden_test", "__builtins__", "grading")


class HideGraderTracebacks(Preprocessor):
    """Replace the traceback of every error in a graded cell by its message.

    A check's own failure (a message starting with ✗) keeps its lines; any other error shows
    its type and message, or only its type where the message names the grader's code.
    """

    enabled = Bool(True, help="nbconvert runs a preprocessor only when it is enabled").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            for out in cell.get("outputs", []):
                if out.get("output_type") != "error":
                    continue
                evalue = str(out.get("evalue", ""))
                if evalue.startswith("✗"):
                    out["traceback"] = evalue.splitlines()
                elif any(word in evalue for word in _GRADER_WORDS):
                    out["traceback"] = [f"✗ the grader's tests stopped with {out.get('ename')}: this check scores 0."]
                else:
                    out["traceback"] = [f"✗ {out.get('ename')}: {evalue}"]
        return cell, resources
