"""Grades a one-line patch cannot buy (vae_utils.checks.grading): the hidden tests run a private
copy of the checks on inputs drawn from the course's secret, and code in the notebook that
changes the checks, the guard, sys.modules or builtins scores 0 — tried in nbgrader's real
autograde of lesson 1, with the feedback students receive read back."""
import json
import math
import re
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from vae_utils import checks, gaussian
from vae_utils.checks import _common, grading
from vae_utils.checks._common import CheckFailure, TamperingDetected

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SECRET = "a course secret for the tests: 7c1e"


def sample_gaussian(mu, Sigma, n):
    L = torch.linalg.cholesky(Sigma)
    return mu + torch.randn(n, len(mu), dtype=Sigma.dtype) @ L.T


def loglik_gap(m, d, c):
    return m * d / 2 * (math.log(c) + 1 / c - 1)


def test_hidden_seeds_come_from_the_secret_and_the_exercise():
    a = grading.hidden_seed("sample_gaussian", SECRET)
    assert a == grading.hidden_seed("sample_gaussian", SECRET.encode())
    assert a != grading.hidden_seed("sample_gaussian", SECRET + "x")
    assert a != grading.hidden_seed("gaussian_log_prob", SECRET)
    assert 0 <= a < 2 ** 56 and a not in (_common.DEFAULT_SEED, _common.HIDDEN_SEED)
    if grading._secret() is None:   # without a secret: a fresh random seed each time
        assert len({grading.hidden_seed("x") for _ in range(3)}) == 3


def test_the_hidden_test_passes_an_answer_and_says_nothing_of_its_inputs(capsys):
    grading.hidden_test("sample_gaussian", sample_gaussian)
    assert capsys.readouterr().out.startswith("✓ sample_gaussian also passes the grader's hidden tests.")
    visible = []

    def tuned(m, d, c):       # right on the inputs it has seen, wrong elsewhere
        return dict(visible).get((m, d, c), 0.0)

    def recorder(m, d, c):
        visible.append(((m, d, c), loglik_gap(m, d, c)))
        return loglik_gap(m, d, c)

    checks.loglik_gap(recorder)
    checks.loglik_gap(tuned)                      # the visible check passes a tuned answer
    with pytest.raises(CheckFailure) as failure:
        grading.hidden_test("loglik_gap", tuned)
    message = str(failure.value)
    assert "fails the grader's hidden tests" in message
    assert not re.search(r"\d\.\d", message), message   # no number of a hidden input


def test_the_hidden_test_catches_the_course_library_and_stubs():
    with pytest.raises(CheckFailure, match="calls the course's own vae_utils.gaussian.sample_gaussian"):
        grading.hidden_test("sample_gaussian", lambda mu, Sigma, n: gaussian.sample_gaussian(mu, Sigma, n))

    def stub(mu, Sigma, n):
        raise NotImplementedError

    with pytest.raises(CheckFailure, match="not implemented yet"):
        grading.hidden_test("sample_gaussian", stub)


def test_a_check_replaced_in_the_package_is_caught(monkeypatch):
    monkeypatch.setattr(checks, "weight_cv2", lambda *a, **k: None)
    with pytest.raises(TamperingDetected, match=r"vae_utils\.checks\.weight_cv2 was replaced"):
        grading.hidden_test("loglik_gap", loglik_gap)
    monkeypatch.undo()
    monkeypatch.setattr(checks, "_common", object())
    with pytest.raises(TamperingDetected, match=r"vae_utils\.checks\._common was replaced"):
        grading.hidden_test("loglik_gap", loglik_gap)


def test_a_course_function_rewritten_in_place_is_caught(monkeypatch):
    monkeypatch.setattr(_common.call, "__code__", (lambda fn, *a, name=None, **k: fn(*a, **k)).__code__)
    with pytest.raises(TamperingDetected, match=r"vae_utils\.checks\._common\.call was replaced"):
        grading.hidden_test("loglik_gap", loglik_gap)


def test_the_library_wrapped_under_its_own_name_is_still_caught(monkeypatch):
    # An answer cell that swaps the course function for a wrapper, then calls the original.
    original = gaussian.sample_gaussian
    monkeypatch.setattr(gaussian, "sample_gaussian", lambda mu, Sigma, n: original(mu, Sigma, n))
    with pytest.raises(CheckFailure, match="was replaced|calls the course's own"):
        grading.hidden_test("sample_gaussian", lambda mu, Sigma, n: gaussian.sample_gaussian(mu, Sigma, n))


def test_switching_the_guard_off_inside_an_answer_is_caught():
    def sample_gaussian(mu, Sigma, n):
        sys.setprofile(None)
        return gaussian.sample_gaussian(mu, Sigma, n)

    for run in (checks.sample_gaussian, lambda fn: grading.hidden_test("sample_gaussian", fn)):
        with pytest.raises(TamperingDetected, match=r"replaced the check's guard \(sys\.setprofile\)"):
            run(sample_gaussian)
    assert sys.getprofile() is None


def test_a_replaced_setprofile_or_builtin_is_caught(monkeypatch):
    monkeypatch.setattr(sys, "setprofile", lambda f: None)
    with pytest.raises(TamperingDetected, match="sys.setprofile"):
        checks.sample_gaussian(sample_gaussian)
    monkeypatch.undo()
    import builtins
    monkeypatch.setattr(builtins, "divmod", lambda a, b: (0, 0))   # one the test runner does not need
    assert "builtins.divmod was replaced" in grading.tampering()
    monkeypatch.undo()
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    assert "torch.allclose was replaced" in grading.tampering()
    monkeypatch.undo()
    assert grading.tampering() == []


def test_the_private_copy_leaves_no_trace_in_sys_modules():
    before = set(sys.modules)
    with grading.private_checks() as private:
        assert private.__name__.startswith("_vae_utils_private_") and private is not checks
        assert private.sample_gaussian is not checks.sample_gaussian
        assert private.sample_gaussian.__wrapped__.__code__ == checks.sample_gaussian.__wrapped__.__code__
    assert set(sys.modules) - before == set()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_graders_source_adds_one_hidden_test_per_check_and_the_reading_version_removes_it(path):
    lesson = nbformat.read(path, as_version=4)
    source = grading.add_hidden_tests(lesson)
    assert grading.add_hidden_tests(source) == source                      # idempotent
    assert grading.reading_version(source)["cells"] == lesson["cells"]      # and undone
    names = [grading._check_name(c) for c in lesson.cells if grading._check_name(c)]
    text = json.dumps(source["cells"])
    assert text.count(grading.BEGIN) == len(names)
    for name in names:
        assert grading.HIDDEN_CALL.format(name=name) in "\n".join(c.source for c in source.cells)


# --- the real thing: nbgrader's autograde of lesson 1, with a secret ---------------------------
sys.path.insert(0, str(ROOT / "scripts"))
import classroom  # noqa: E402

LESSON = ROOT / "notebooks" / "01_noise_in_a_gaussian.ipynb"
EXERCISES = ("loglik_gap", "sample_gaussian", "gaussian_log_prob", "match_samples")

FAKE = '''
class _AlwaysPasses:
    def __getattr__(self, name):
        return lambda *args, **kwargs: print("✓ passed")
'''
# Each attack is appended to the first answer cell; (submission base, attack, exercises that
# should still earn their points).
ATTACKS = {
    # the first: rebind the name and the package attribute
    "rebinds_checks": ("stubs", FAKE + "import vae_utils, vae_utils.checks\n"
                                       "checks = vae_utils.checks = _AlwaysPasses()", set()),
    # one check replaced by a do-nothing function, every exercise of the lesson
    "patches_the_checks": ("stubs", "import vae_utils.checks\n" + "".join(
        f"vae_utils.checks.{e} = lambda *a, **k: None\n" for e in EXERCISES), set()),
    # the guard switched off inside answers that call the course's own implementation
    "switches_the_guard_off": ("library", "", {"loglik_gap", "match_samples"}),
    # sys.modules entries
    "fakes_sys_modules": ("stubs", FAKE + "import sys, types\n_pkg = types.ModuleType('vae_utils')\n"
                                          "_pkg.checks = _AlwaysPasses()\nsys.modules['vae_utils'] = _pkg\n"
                                          "sys.modules['vae_utils.checks'] = _pkg.checks", set()),
    # builtins: an __import__ that hands out the do-nothing object
    "patches_builtins": ("stubs", FAKE + "class _Package:\n    checks = _AlwaysPasses()\n\n"
                                         "import builtins\n_real_import = builtins.__import__\n"
                                         "def _import(name, *args, **kwargs):\n"
                                         "    if name.startswith('vae_utils'):\n"
                                         "        return _Package\n"
                                         "    return _real_import(name, *args, **kwargs)\n"
                                         "builtins.__import__ = _import", set()),
    # an answer tuned to the visible inputs (the numbers below are recorded from them)
    "tuned_to_the_visible_inputs": ("solutions", "", {"sample_gaussian", "gaussian_log_prob", "match_samples"}),
}
LIBRARY_WITHOUT_GUARD = {
    "sample_gaussian": "import sys\nfrom vae_utils.gaussian import sample_gaussian as course_sampler\n\n"
                       "def sample_gaussian(mu, Sigma, n):\n    sys.setprofile(None)\n"
                       "    return course_sampler(mu, Sigma, n)",
    "gaussian_log_prob": "import sys\nfrom vae_utils import gaussian\n\ndef gaussian_log_prob(x, mu, Sigma):\n"
                         "    sys.setprofile(None)\n    return gaussian.gaussian_log_prob(x, mu, Sigma)",
}


def _tuned_loglik_gap() -> str:
    seen = []
    checks.loglik_gap(lambda m, d, c: seen.append((m, d, c)) or loglik_gap(m, d, c))
    table = {case: loglik_gap(*case) for case in seen}
    return f"_SEEN = {table!r}\n\ndef loglik_gap(m, d, c):\n    return _SEEN.get((m, d, c), 0.0)"


def _append(nb, exercise, code):
    nb = json.loads(json.dumps(nb))
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == f"{exercise}_answer":
            cell["source"] = "".join(cell["source"]) + "\n\n" + code
    return nb


@pytest.fixture(scope="module")
def autograded(tmp_path_factory):
    """Autograde the attacks on lesson 1 with a course secret; generate the feedback."""
    import os
    pytest.importorskip("nbgrader", reason="the autograde test needs nbgrader: pip install -e '.[test]'")
    course = tmp_path_factory.mktemp("course")
    (assignment, source), = classroom.new_course(course, [LESSON]).items()
    release = classroom.generate(course, assignment)
    instructor = json.loads(source.read_text())
    student = json.loads((release / source.name).read_text())
    library = instructor
    for exercise, code in LIBRARY_WITHOUT_GUARD.items():
        library = classroom.set_answer(library, exercise, code)
    bases = {"solutions": instructor, "stubs": student, "library": library}
    subs = {"solutions": instructor, "stubs": student}
    for kind, (base, attack, _) in ATTACKS.items():
        nb = bases[base]
        if kind == "tuned_to_the_visible_inputs":
            nb = classroom.set_answer(nb, "loglik_gap", _tuned_loglik_gap())
        subs[kind] = _append(nb, "loglik_gap", attack) if attack else nb
    for kind, nb in subs.items():
        classroom.submit(course, assignment, kind, nb, source.name)
    saved = os.environ.get(grading.SECRET_ENV)
    os.environ[grading.SECRET_ENV] = SECRET
    try:
        classroom.autograde(course, assignment)
        classroom.nbgrader(course, "generate_feedback", assignment, "--force")
    finally:
        if saved is None:
            os.environ.pop(grading.SECRET_ENV, None)
        else:
            os.environ[grading.SECRET_ENV] = saved
    scores = {r["student_id"]: float(r["score"]) for r in classroom.export(course)}
    return course, assignment, source.name, scores, classroom.points(source)


def test_every_attack_scores_0_for_what_it_attacks(autograded):
    course, assignment, name, scores, points = autograded
    print(scores)
    # 11 points, 2 of them for the written answer samples_justification, graded by hand
    assert scores["solutions"] == sum(points.values()) - points["samples_justification"] == 9
    assert scores["stubs"] == 0
    for kind, (_, _, earned) in ATTACKS.items():
        assert scores[kind] == sum(points[e] for e in earned), (kind, scores[kind])


def test_the_autograded_notebooks_name_the_tampering(autograded):
    course, assignment, name, scores, points = autograded
    expected = {"rebinds_checks": r"vae_utils\.checks was replaced",
                "patches_the_checks": r"vae_utils\.checks\.\w+ was replaced",
                "switches_the_guard_off": r"replaced the check's guard \(sys\.setprofile\)",
                "patches_builtins": r"builtins\.__import__ was replaced",
                "fakes_sys_modules": r"modules in sys\.modules were replaced"}
    for kind, pattern in expected.items():
        nb = json.loads((course / "autograded" / kind / assignment / name).read_text())
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert any(re.search(pattern, o["evalue"]) for o in errors), (kind, [o["evalue"][:200] for o in errors])


def test_the_feedback_shows_no_hidden_test_and_no_secret(autograded):
    course, assignment, name, scores, points = autograded
    pages = sorted((course / "feedback").glob(f"*/{assignment}/*.html"))
    assert len(pages) == len(ATTACKS) + 2
    for page in pages:
        html = page.read_text()
        seeds = [str(grading.hidden_seed(e, SECRET)) for e in EXERCISES]
        for secret_or_hidden in (SECRET, "HIDDEN TESTS", "hidden_test", "__builtins__", *seeds):
            assert secret_or_hidden not in html, (page, secret_or_hidden)
    solved = (course / "feedback" / "solutions" / assignment / name.replace(".ipynb", ".html")).read_text()
    assert solved.count("also passes the grader&#39;s hidden tests") + \
        solved.count("also passes the grader's hidden tests") == len(EXERCISES)


def _worked(notebook):
    sys.path.insert(0, str(ROOT / "tests"))
    from test_checks_integrity import _solutions
    return _solutions(notebook)


def _all_exercises():
    sys.path.insert(0, str(ROOT / "tests"))
    from test_checks_integrity import EXERCISES
    return EXERCISES


@pytest.mark.parametrize("notebook,name", _all_exercises(), ids=[n for _, n in _all_exercises()])
def test_every_worked_solution_passes_its_hidden_test(notebook, name, capsys, monkeypatch):
    """Every lesson's hidden tests, on the secret's inputs, pass the worked solution — and find
    no tampering in a process that ran the lesson's answers."""
    fn = _worked(notebook)[name]
    monkeypatch.setattr(grading, "_secret", lambda: SECRET.encode())
    grading.hidden_test(name, fn)
    assert capsys.readouterr().out.startswith(f"✓ {name} also passes the grader's hidden tests.")
