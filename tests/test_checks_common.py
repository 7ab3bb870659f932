"""The checks package as a whole: one name per check, every check documented."""
import pytest
import importlib

from vae_utils import checks

pytestmark = pytest.mark.usefixtures("check_inputs")


def test_no_two_lessons_export_the_same_check_name():
    seen = {}
    for lesson in range(1, 7):
        mod = importlib.import_module(f"vae_utils.checks._lesson{lesson}")
        for name in mod.__all__:
            assert name not in seen, f"checks.{name} is exported by lessons {seen[name]} and {lesson}"
            seen[name] = lesson
            assert getattr(checks, name) is getattr(mod, name)
            assert getattr(mod, name).__doc__, f"checks.{name} needs a docstring"
    assert len(seen) >= 18  # at least three exercises per lesson
