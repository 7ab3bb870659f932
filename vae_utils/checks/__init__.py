"""Automatic checks for the course's exercises (classroom assignments).

Each exercise in a notebook is followed by a cell such as::

    checks.sample_gaussian(sample_gaussian)

A check calls the learner's function on inputs it chooses, compares the result with a
reference computed by ``vae_utils`` (never a hard-coded answer), and either prints a line
starting with ✓ or raises an ``AssertionError`` that says what is wrong — expected shape,
how far off a value is — and gives a hint. Checks never pass a stub that raises
``NotImplementedError``: that error is reported as "not implemented yet".

A failed check shows its message alone (no traceback); in a learner's working copy opened in
``make lab``'s JupyterLab it prints the message and lets the notebook run on.

A check passes only code the learner wrote: the grader's copy of each check cell also runs it
on hidden inputs drawn from the course's secret, with a private copy of the checks that code
in the notebook cannot reach by name (``grading``), and the course's own implementation of
the exercise cannot be called from the learner's function while it is checked (``_common``
says how).

``try_yours(fn, *args)`` runs a learner's exercise function in the lesson text and uses the
course's version, with a one-line note, while the exercise is not solved yet.

One module per lesson; all checks are importable from ``vae_utils.checks``.
"""
from ._common import try_yours  # noqa: F401
from ._lesson1 import *  # noqa: F401,F403
from ._lesson2 import *  # noqa: F401,F403
from ._lesson3 import *  # noqa: F401,F403
from ._lesson4 import *  # noqa: F401,F403
from ._lesson5 import *  # noqa: F401,F403
from ._lesson6 import *  # noqa: F401,F403
from ._lesson6b import *  # noqa: F401,F403
from ._lesson6c import *  # noqa: F401,F403
from ._lesson6d import *  # noqa: F401,F403
from ._lesson6e import *  # noqa: F401,F403
