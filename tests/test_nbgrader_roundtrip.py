"""The classroom round trip, with nbgrader's own commands: generate_assignment on the committed
notebooks, several kinds of submission, autograde, export — and the scores a grader would see.

Lessons 1 and 3: the worked solutions; plausible wrong answers in some exercises; answers that
hand the work to the course library (lesson 3: and a standard error that is the spread of the terms;
lesson 1: a wrong choice in the judge exercise); the untouched student version; and the untouched student
version that rebinds ``checks`` to a do-nothing object. Lesson 6, where the learner builds the
VAE: the worked solutions; a module whose decoder returns the wrong shape; a loss with the KL's
sign flipped; a loop that never steps the optimizer; and the two untouched student versions.
Each wrong submission loses exactly the points of the exercise it breaks, although the lesson's
own cells that train the learner's model then fail or train nonsense.
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
        }, {"sample_gaussian", "match_samples"}),
        "library": ({
            "sample_gaussian": "from vae_utils.gaussian import sample_gaussian as course_sampler\n\n"
                               "def sample_gaussian(mu, Sigma, n):\n    return course_sampler(mu, Sigma, n)",
            "gaussian_log_prob": "from vae_utils import gaussian\n\ndef gaussian_log_prob(x, mu, Sigma):\n"
                                 "    return gaussian.gaussian_log_prob(x, mu, Sigma)",
        }, {"loglik_gap", "match_samples"}),
        "misjudged": ({
            "match_samples": "def match_samples():\n    return {'A': 'full', 'B': 'isotropic', 'C': 'diagonal'}",
        }, {"loglik_gap", "sample_gaussian", "gaussian_log_prob"}),
    },
    "03_monte_carlo_marginal.ipynb": {
        "wrong": ({
            "log_mean_exp": "def log_mean_exp(a, dim=0):\n    return a.exp().mean(dim=dim).log()",
            "samples_needed_exact": "def samples_needed_exact(w, b, sigma, x, rel_error):\n"
                                    "    v, a = w ** 2 + sigma ** 2, 2 * w ** 2 + sigma ** 2\n"
                                    "    return (v / (sigma * math.sqrt(a)) - 1) / rel_error ** 2",
            "chosen_n_samples": "def chosen_n_samples():\n    return 3_000   # CV / 0.05², CV not squared",
        }, {"mc_marginal"}),
        "library": ({
            "mc_marginal": "from vae_utils.estimators import log_marginal_mc as course_estimate\n\n"
                           "def mc_marginal(model, x, n_samples):\n"
                           "    return course_estimate(model, x, n_samples).exp(), torch.zeros(x.shape[0])",
            "log_mean_exp": "def log_mean_exp(a, dim=0):\n"
                            "    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])",
            "samples_needed_exact": "from vae_utils import demos\nfrom vae_utils.lvm import LinearGaussianLVM\n\n"
                                    "def samples_needed_exact(w, b, sigma, x, rel_error):\n"
                                    "    model = LinearGaussianLVM([[w]], [b], sigma)\n"
                                    "    return demos.naive_cv2(model, torch.tensor([[x]])).item() / rel_error ** 2",
        }, {"log_mean_exp", "chosen_n_samples"}),
        "no_standard_error": ({
            "mc_marginal": "def mc_marginal(model, x, n_samples):\n"
                           "    lik = model.likelihood(model.prior.sample((n_samples, x.shape[0]))).log_prob(x).exp()\n"
                           "    return lik.mean(dim=0), lik.std(dim=0)",
            "chosen_n_samples": "def chosen_n_samples():\n    return 1_000_000",
        }, {"log_mean_exp", "samples_needed_exact"}),
    },
    "06_vae.ipynb": {
        "wrong_shape": ({
            "MyVAE": "class MyVAE(nn.Module):\n    def __init__(self, latent_dim=20, hidden=400):\n"
                     "        super().__init__()\n        self.hidden = nn.Linear(784, hidden)\n"
                     "        self.to_mu = nn.Linear(hidden, latent_dim)\n"
                     "        self.to_logvar = nn.Linear(hidden, latent_dim)\n"
                     "        self.dec_hidden = nn.Linear(latent_dim, hidden)\n"
                     "        self.dec_out = nn.Linear(hidden, 784)\n\n"
                     "    def encode(self, x):\n        h = torch.relu(self.hidden(x.flatten(1)))\n"
                     "        return self.to_mu(h), self.to_logvar(h)\n\n"
                     "    def decode(self, z):\n        return self.dec_out(torch.relu(self.dec_hidden(z)))",
        }, {"vae_loss", "train", "predicted_test_loss"}),
        "kl_flipped": ({
            "vae_loss": "def vae_loss(model, x):\n    mu, logvar = model.encode(x)\n"
                        "    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)\n"
                        "    recon = F.binary_cross_entropy_with_logits(model.decode(z), x, reduction='sum') / len(x)\n"
                        "    kl = (0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(dim=1)).mean()\n"
                        "    return recon + kl, recon, kl",
        }, {"MyVAE", "train", "predicted_test_loss"}),
        "no_step": ({
            "train": "def train(model, data, loss_fn, epochs, batch_size=128, lr=2e-3):\n"
                     "    opt = torch.optim.Adam(model.parameters(), lr=lr)\n    history = []\n"
                     "    for epoch in range(epochs):\n"
                     "        x_epoch = torch.bernoulli(data[torch.randperm(len(data))])\n        total = 0.0\n"
                     "        for i in range(0, len(data), batch_size):\n"
                     "            xb = x_epoch[i:i + batch_size]\n            loss = loss_fn(model, xb)[0]\n"
                     "            opt.zero_grad()\n            loss.backward()\n"
                     "            total += loss.item() * len(xb)\n        history.append(total / len(data))\n"
                     "    return history",
        }, {"MyVAE", "vae_loss", "predicted_test_loss"}),
    },
}


def _manually_graded(lesson):
    """grade_ids of the lesson's manually graded answer cells (graded, and a solution)."""
    cells = json.loads((ROOT / "notebooks" / lesson).read_text())["cells"]
    return {c["metadata"]["nbgrader"]["grade_id"] for c in cells
            if c["metadata"].get("nbgrader", {}).get("grade") and c["metadata"]["nbgrader"].get("solution")}


def _with_rebinding(nb):
    nb = json.loads(json.dumps(nb))
    first = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("solution"))
    first["source"] = "".join(first["source"]) + "\n" + REBIND
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Autograde the submissions of each lesson; return (scores, points per lesson)."""
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
def test_scores_of_the_submissions(graded, lesson):
    scores, table = graded
    assignment = classroom.assignment_of(Path(lesson))
    pts = table[lesson]
    total = sum(pts.values())
    # written justifications (manually graded cells) count in the maximum, but score only once
    # a grader has read them: autograde leaves them at 0
    auto = total - sum(pts[name] for name in _manually_graded(lesson))
    got = {kind: scores[(assignment, kind)] for kind in
           ("solutions", *SUBMISSIONS[lesson], "stubs", "stubs_rebinding_checks")}
    print(lesson, got)
    assert all(mx == total for _, mx in got.values())
    assert got["solutions"][0] == auto
    for kind in SUBMISSIONS[lesson]:
        earned = sum(pts[e] for e in SUBMISSIONS[lesson][kind][1])
        assert got[kind][0] == earned < auto, (kind, got[kind], earned)
    assert got["stubs"][0] == 0
    assert got["stubs_rebinding_checks"][0] == 0
