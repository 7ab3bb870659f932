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


def test_a_prediction_is_never_filled_in_by_the_course(capsys):
    """try_yours substitutes the course's version for an unsolved exercise, except for a
    prediction: that would show the answer before the learner predicts."""
    from vae_utils.checks._common import _FALLBACKS, _PREDICTIONS, fallback_for

    @fallback_for("_test_prediction", prediction=True)
    def _course(a):
        return a + 1

    @fallback_for("_test_exercise")
    def _course2(a):
        return a + 2

    try:
        def _test_prediction(a):
            raise NotImplementedError()

        def _test_exercise(a):
            raise NotImplementedError()

        assert checks.try_yours(_test_prediction, 1) is None
        assert "make your prediction" in capsys.readouterr().out
        assert checks.try_yours(_test_exercise, 1) == 3
        assert "course's version" in capsys.readouterr().out

        def _test_prediction(a):  # noqa: F811 - the learner's prediction, once written
            return 10 * a
        assert checks.try_yours(_test_prediction, 2) == 20
    finally:
        for name in ("_test_prediction", "_test_exercise"):
            _FALLBACKS.pop(name, None)
            _PREDICTIONS.discard(name)
