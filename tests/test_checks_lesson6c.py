"""Lesson-6c checks: correct answers pass, stubs are 'not implemented', plausible mistakes fail
with the diagnosis of that mistake."""
import math

import pytest
import torch

from conftest import assert_check_accepts_and_flags_stub

from vae_utils import checks
from vae_utils.checks._lesson6c import _best_sigma, _unit_kl

pytestmark = pytest.mark.usefixtures("check_inputs")


def unit_kl_ok(data_var, obs_sigma):
    return (0.5 * torch.log(data_var / obs_sigma ** 2)).clamp(min=0)


def best_sigma_ok(x, mu):
    return ((x - mu) ** 2).mean(dim=1).sqrt()


@pytest.mark.parametrize("check,good", [(checks.unit_kl, unit_kl_ok), (checks.best_sigma, best_sigma_ok)])
def test_correct_answers_pass_and_stubs_do_not(check, good, capsys):
    assert_check_accepts_and_flags_stub(check, good, capsys)


def test_other_correct_forms_pass(capsys):
    # a ratio of standard deviations needs no ½; numpy-like lists and float64 are fine too
    checks.unit_kl(lambda s2, sigma: torch.log(s2.sqrt() / sigma).clamp(min=0))
    checks.unit_kl(lambda s2, sigma: [max(0.0, 0.5 * math.log(v / sigma ** 2)) for v in s2.tolist()])
    checks.best_sigma(lambda x, mu: torch.linalg.vector_norm(x - mu, dim=1) / math.sqrt(x.shape[1]))
    assert capsys.readouterr().out.count("✓") == 3


@pytest.mark.parametrize("wrong,match", [
    (lambda s2, sigma: 0.5 * torch.log(s2 / sigma ** 2), "negative KL"),
    (lambda s2, sigma: (0.5 * torch.log(s2 / sigma)).clamp(min=0), "not with the decoder's variance σ²"),
    (lambda s2, sigma: torch.log(s2 / sigma ** 2).clamp(min=0), "factor ½ is missing"),
    (lambda s2, sigma: 0.5 * torch.log1p(s2 / sigma ** 2), "capacity"),
    (lambda s2, sigma: torch.log(s2 / sigma).clamp(min=0), "mixes a variance"),
    (lambda s2, sigma: 0.5 * torch.log(s2 / sigma ** 2).abs(), "should collapse"),
    (lambda s2, sigma: (0.5 * torch.log(s2 / sigma ** 2)).clamp(min=0) * 1.01, "the KL per unit is off"),
    (lambda s2, sigma: int((s2 > sigma ** 2).sum()), "one KL per unit"),
    (lambda s2, sigma: unit_kl_ok(s2, sigma).sum(), "one KL per unit"),
])
def test_unit_kl_diagnoses_the_usual_wrong_derivations(wrong, match):
    with pytest.raises(AssertionError, match=match):
        checks.unit_kl(wrong)


@pytest.mark.parametrize("wrong,match", [
    (lambda x, mu: ((x - mu) ** 2).mean(dim=1), "σ\\*², the variance"),
    (lambda x, mu: ((x - mu) ** 2).sum(dim=1).sqrt(), "1/D is missing"),
    (lambda x, mu: ((x - mu) ** 2).sum(dim=1), "1/D is missing"),
    (lambda x, mu: ((x - mu) ** 2).mean().sqrt(), "one number for the whole batch"),
    (lambda x, mu: ((x - mu) ** 2).mean(dim=0).sqrt(), "shape"),
    (lambda x, mu: (x - mu).std(dim=1), "around their own mean"),
    (lambda x, mu: (x - mu).std(dim=1, unbiased=False), "around their own mean"),
    (lambda x, mu: (x - mu).abs().mean(dim=1), "mean absolute residual"),
    (lambda x, mu: ((x - mu) ** 2).sum(dim=1).div(x.shape[1] - 1).sqrt(), "D − 1"),
    (lambda x, mu: ((x - mu) ** 2).mean(dim=1).sqrt().unsqueeze(1), "shape"),
    (lambda x, mu: ((x - mu) ** 2).mean(dim=1).sqrt() * 1.001, "σ\\* is off"),
])
def test_best_sigma_diagnoses_the_usual_wrong_derivations(wrong, match):
    with pytest.raises(AssertionError, match=match):
        checks.best_sigma(wrong)


def test_unit_kl_is_the_kl_of_the_exact_posterior_at_the_ppca_optimum():
    """The closed form against the KL computed from its ingredients: w² = max(0, s² − σ²),
    posterior N(a x, v) with a = w/(w² + σ²), v = σ²/(w² + σ²), KL averaged over x ~ N(0, s²)."""
    s2 = torch.tensor([5.0, 2.0, 1.0, 0.45, 0.1], dtype=torch.float64)
    sigma = 0.7
    w2 = (s2 - sigma ** 2).clamp(min=0)
    a2, v = w2 / (w2 + sigma ** 2) ** 2, sigma ** 2 / (w2 + sigma ** 2)
    kl = 0.5 * (a2 * s2 + v - torch.log(v) - 1)
    torch.testing.assert_close(_unit_kl(s2, sigma), kl)
    assert _unit_kl(s2, sigma)[3:].eq(0).all()


def test_best_sigma_maximises_the_gaussian_log_likelihood():
    g = torch.Generator().manual_seed(0)
    x, mu = torch.rand(3, 50, generator=g, dtype=torch.float64), torch.rand(3, 50, generator=g, dtype=torch.float64)
    sigmas = torch.logspace(-2, 1, 30001, dtype=torch.float64)
    ll = torch.distributions.Normal(mu[:, None], sigmas[None, :, None]).log_prob(x[:, None]).sum(-1)
    torch.testing.assert_close(_best_sigma(x, mu), sigmas[ll.argmax(dim=1)], rtol=3e-4, atol=0)


# --- diagnose_runs: a choice with one right answer ---------------------------------------------
from vae_utils.checks._common import CheckFailure  # noqa: E402
from vae_utils.pitfalls import BUGS, _KEY  # noqa: E402

RIGHT = {"run 1": "Bernoulli on grayscale", "run 2": "mean instead of sum", "run 3": "logvar read as log sigma"}


def test_the_key_names_three_different_listed_bugs_and_two_decoys():
    assert _KEY == RIGHT
    assert set(RIGHT.values()) < set(BUGS) and len(BUGS) == 5 and len(set(BUGS)) == 5


def test_diagnose_runs_passes_the_right_match_and_flags_a_stub(capsys):
    checks.diagnose_runs(lambda: dict(RIGHT))
    for seed in (1, 2027, 2 ** 56 - 3):   # no hidden inputs: every seed grades the same choice
        checks.diagnose_runs(lambda: dict(RIGHT), seed=seed)
    assert capsys.readouterr().out.count("✓") == 4

    def stub():
        raise NotImplementedError()
    with pytest.raises(CheckFailure, match="not implemented yet"):
        checks.diagnose_runs(stub)


@pytest.mark.parametrize("answer,match", [
    ({"run 1": "mean instead of sum", "run 2": "Bernoulli on grayscale", "run 3": "logvar read as log sigma"},
     "1 of 3 runs matched"),
    ({"run 1": "Bernoulli on grayscale", "run 2": "logvar read as log sigma", "run 3": "mean instead of sum"},
     "1 of 3 runs matched"),
    ({"run 1": "logvar read as log sigma", "run 2": "Bernoulli on grayscale", "run 3": "mean instead of sum"},
     "0 of 3 runs matched"),
    ({"run 1": "Bernoulli on grayscale", "run 2": "mean instead of sum", "run 3": "KL term left out"},
     "(?s)2 of 3 runs matched.*no run shows the symptom of 'KL term left out'"),
    ({"run 1": "KL sign flipped", "run 2": "mean instead of sum", "run 3": "logvar read as log sigma"},
     "(?s)2 of 3 runs matched.*KL that keeps growing"),
    ({"run 1": "Bernoulli on grayscale", "run 2": "mean instead of sum", "run 3": "mean instead of sum"},
     "same bug"),
    ({"run 1": "Bernoulli on grayscale", "run 2": "mean", "run 3": "logvar read as log sigma"},
     "'mean' is not one of the bug names"),
    ({"run 1": "Bernoulli on grayscale", "run 2": "mean instead of sum"}, "keys should be"),
    ({1: "Bernoulli on grayscale", 2: "mean instead of sum", 3: "logvar read as log sigma"}, "keys should be"),
    (("Bernoulli on grayscale", "mean instead of sum", "logvar read as log sigma"), "should return a dict"),
])
def test_diagnose_runs_says_how_many_matched_without_saying_which(answer, match):
    with pytest.raises(CheckFailure, match=match) as err:
        checks.diagnose_runs(lambda: answer)
    text = str(err.value)
    for run, bug in RIGHT.items():   # the message never pairs a run with its bug
        assert f"{run}: {bug}" not in text and f"{run!r}: {bug!r}" not in text and f"{run} is" not in text


def test_a_wrong_match_is_never_accepted():
    from itertools import permutations
    for names in permutations(BUGS, 3):
        answer = dict(zip(("run 1", "run 2", "run 3"), names))
        if answer == RIGHT:
            continue
        with pytest.raises(CheckFailure):
            checks.diagnose_runs(lambda: answer)


def test_predictions_are_not_filled_in_by_try_yours(capsys):
    from vae_utils.checks._common import _PREDICTIONS

    def unit_kl(data_var, obs_sigma):
        raise NotImplementedError()

    def best_sigma(x, mu):
        raise NotImplementedError()
    assert {"unit_kl", "best_sigma"} <= _PREDICTIONS
    assert checks.try_yours(unit_kl, torch.ones(3), 0.5) is None
    assert checks.try_yours(best_sigma, torch.ones(2, 3), torch.zeros(2, 3)) is None
    assert capsys.readouterr().out.count("make your prediction") == 2


def test_the_logvar_bug_samples_with_the_variance_as_standard_deviation(monkeypatch):
    """train_logvar_as_log_sigma draws z = mu + exp(logvar) ε (the bug: σ² used as σ) and charges
    the KL of N(mu, exp(logvar)), logvar read rightly there. An encoder pinned at mu = 0,
    logvar = −2 shows both: z's spread is e^−2 = 0.135, not e^−1 = 0.368."""
    from vae_utils import pitfalls
    from vae_utils.vae import VAE
    seen = []
    real_decode = VAE.decode

    def encode(self, x):
        h = self.to_mu.bias * 0                       # keeps the graph (so backward runs)
        mu = h.expand(len(x), self.latent_dim)
        return mu, mu - 2.0

    def decode(self, z):
        seen.append(z.detach().clone())
        return real_decode(self, z)
    monkeypatch.setattr(VAE, "encode", encode)
    monkeypatch.setattr(VAE, "decode", decode)
    torch.manual_seed(5)
    model = VAE(latent_dim=4, hidden=8)
    x = torch.rand(256, 1, 28, 28)
    hist = pitfalls.train_logvar_as_log_sigma(model, x, epochs=1, seed=0, batch_size=256)
    z = seen[0]
    assert z.std().item() == pytest.approx(math.exp(-2), rel=0.1)
    kl = 4 * 0.5 * (math.exp(-2) + 2 - 1)             # per image: KL(N(0, e^−2) ‖ N(0, 1)) × 4 units
    assert hist["train_kl"][0] == pytest.approx(kl, rel=1e-5)
    assert hist["train_loss"][0] == pytest.approx(hist["train_recon"][0] + kl, rel=1e-6)


def test_the_broken_runs_are_the_recipe_with_one_bug_each():
    """Run 2 is train_vae with β = 784/20 from the same start (what section 2 reuses); run 1 scores
    the intensities (its loss receives gray pixels), the reference and runs 2–3 binary samples."""
    from vae_utils.pitfalls import broken_runs
    from vae_utils.train import train_vae
    from vae_utils.vae import VAE
    g = torch.Generator().manual_seed(0)
    train_x = torch.rand(160, 1, 28, 28, generator=g)
    test_x = torch.bernoulli(torch.rand(40, 1, 28, 28, generator=g), generator=g)
    runs = broken_runs(train_x, test_x, epochs=1)
    assert list(runs) == ["reference", "run 1", "run 2", "run 3"]
    torch.manual_seed(0)
    direct = VAE(latent_dim=20)
    hist = train_vae(direct, train_x, beta=784 / 20, epochs=1, device="cpu", progress=False, seed=0)
    for p, q in zip(direct.cpu().parameters(), runs["run 2"]["model"].parameters()):
        torch.testing.assert_close(p, q)
    assert runs["run 2"]["history"]["train_loss"] == pytest.approx(hist["train_loss"])
    gray = {name: bool(((r["fed"] > 0) & (r["fed"] < 1)).any()) for name, r in runs.items()}
    assert gray == {"reference": False, "run 1": True, "run 2": False, "run 3": False}
    assert not runs["run 1"]["history"]["dynamic_binarization"] and runs["reference"]["history"]["dynamic_binarization"]
    for r in runs.values():
        assert set(r["test"]) == {"loss", "recon", "kl"} and not r["model"].training
