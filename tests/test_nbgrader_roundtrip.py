"""The classroom round trip, with nbgrader's own commands: generate_assignment on the committed
notebooks, five kinds of submission, autograde, export — and the scores a grader would see.

Lessons 1 and 3. The five submissions: the worked solutions; plausible wrong answers in some
exercises; answers that hand the work to the course library; the untouched student version;
and the untouched student version that rebinds ``checks`` to a do-nothing object.
"""
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader", reason="the round trip needs nbgrader: pip install -e '.[test]'")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import classroom  # noqa: E402

REBIND = '''
class _AlwaysPasses:
    def __getattr__(self, name):
        return lambda *args, **kwargs: print("✓ passed")

checks = _AlwaysPasses()
'''

# Per lesson: {submission: ({exercise: answer code}, exercises expected to earn their points)}
SUBMISSIONS = {
    "01_noise_in_a_gaussian.ipynb": {
        "wrong": ({
            "loglik_gap": "def loglik_gap(m, d, c):\n    return m * d * (math.log(c) + 1 / c - 1)",
            "gaussian_log_prob": "def gaussian_log_prob(x, mu, Sigma):\n    d = len(mu)\n"
                                 "    diff = x - mu\n    quad = (diff @ Sigma * diff).sum(dim=1)\n"
                                 "    return -0.5 * (d * math.log(2 * math.pi) + torch.logdet(Sigma) + quad)",
        }, {"sample_gaussian"}),
        "library": ({
            "sample_gaussian": "from vae_utils.gaussian import sample_gaussian as course_sampler\n\n"
                               "def sample_gaussian(mu, Sigma, n):\n    return course_sampler(mu, Sigma, n)",
            "gaussian_log_prob": "from vae_utils import gaussian\n\ndef gaussian_log_prob(x, mu, Sigma):\n"
                                 "    return gaussian.gaussian_log_prob(x, mu, Sigma)",
        }, {"loglik_gap"}),
    },
    "03_monte_carlo_marginal.ipynb": {
        "wrong": ({
            "log_mean_exp": "def log_mean_exp(a, dim=0):\n    return a.exp().mean(dim=dim).log()",
            "samples_needed_exact": "def samples_needed_exact(w, b, sigma, x, rel_error):\n"
                                    "    v, a = w ** 2 + sigma ** 2, 2 * w ** 2 + sigma ** 2\n"
                                    "    return (v / (sigma * math.sqrt(a)) - 1) / rel_error ** 2",
            "samples_needed": "def samples_needed(log_w, rel_error):\n    w = torch.exp(log_w - log_w.max())\n"
                              "    return (w.std() / w.mean() / rel_error ** 2).item()",
        }, {"mc_marginal"}),
        "library": ({
            "mc_marginal": "from vae_utils.estimators import log_marginal_mc as course_estimate\n\n"
                           "def mc_marginal(model, x, n_samples):\n"
                           "    return course_estimate(model, x, n_samples).exp()",
            "log_mean_exp": "def log_mean_exp(a, dim=0):\n"
                            "    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])",
            "samples_needed_exact": "from vae_utils import demos\nfrom vae_utils.lvm import LinearGaussianLVM\n\n"
                                    "def samples_needed_exact(w, b, sigma, x, rel_error):\n"
                                    "    model = LinearGaussianLVM([[w]], [b], sigma)\n"
                                    "    return demos.naive_cv2(model, torch.tensor([[x]])).item() / rel_error ** 2",
            "samples_needed": "from vae_utils.checks import try_yours\nfrom vae_utils.checks._lesson3 import "
                              "_samples_needed\n\ndef samples_needed(log_w, rel_error):\n"
                              "    return _samples_needed(log_w, rel_error)",
        }, {"log_mean_exp"}),
    },
}


def _with_rebinding(nb):
    nb = json.loads(json.dumps(nb))
    first = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution"))
    first["source"] = "".join(first["source"]) + "\n" + REBIND
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Autograde five submissions of lessons 1 and 3; return (scores, points per lesson)."""
    course = tmp_path_factory.mktemp("course")
    lessons = [ROOT / "notebooks" / name for name in SUBMISSIONS]
    sources = classroom.new_course(course, lessons)
    table = {}
    for assignment, source in sources.items():
        release = classroom.generate(course, assignment)
        student = json.loads((release / source.name).read_text())
        instructor = json.loads(source.read_text())
        subs = {"solutions": instructor, "stubs": student, "stubs_rebinding_checks": _with_rebinding(student)}
        for kind, (answers, _) in SUBMISSIONS[source.name].items():
            nb = instructor
            for exercise, code in answers.items():
                nb = classroom.set_answer(nb, exercise, code)
            subs[kind] = nb
        for kind, nb in subs.items():
            classroom.submit(course, assignment, kind, nb, source.name)
        classroom.autograde(course, assignment)
        table[source.name] = classroom.points(source)
    rows = classroom.export(course)
    scores = {(r["assignment"], r["student_id"]): (float(r["score"]), float(r["max_score"])) for r in rows}
    return scores, table


@pytest.mark.parametrize("lesson", list(SUBMISSIONS))
def test_scores_of_the_five_submissions(graded, lesson):
    scores, table = graded
    assignment = classroom.assignment_of(Path(lesson))
    pts = table[lesson]
    total = sum(pts.values())
    got = {kind: scores[(assignment, kind)] for kind in
           ("solutions", "wrong", "library", "stubs", "stubs_rebinding_checks")}
    print(lesson, got)
    assert all(mx == total for _, mx in got.values())
    assert got["solutions"][0] == total
    for kind in ("wrong", "library"):
        earned = sum(pts[e] for e in SUBMISSIONS[lesson][kind][1])
        assert got[kind][0] == earned < total, (kind, got[kind], earned)
    assert got["stubs"][0] == 0
    assert got["stubs_rebinding_checks"][0] == 0
