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
