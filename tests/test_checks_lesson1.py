"""Each lesson-1 check passes a correct answer, reports a stub as not implemented, and
rejects plausible wrong answers with a helpful message."""
import math

import pytest
import torch

from conftest import assert_check_accepts_and_flags_stub

from vae_utils import checks
from vae_utils.checks._common import CheckFailure

pytestmark = pytest.mark.usefixtures("check_inputs")


def gap_ok(m, d, c):
    return m * d / 2 * (math.log(c) + 1 / c - 1)


def gap_by_simulation(m, d, c):
    """Also right: measure the gap on any data set with m points in d dimensions."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(m, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g, dtype=torch.float64)
    mu = X.mean(0)
    S = (X - mu).T @ (X - mu) / m
    ll = lambda C: torch.distributions.MultivariateNormal(mu, C).log_prob(X).sum()  # noqa: E731
    return (ll(S) - ll(c * S)).item()


def sample_ok(mu, Sigma, n):
    return mu + torch.randn(n, len(mu), dtype=torch.float64) @ torch.linalg.cholesky(Sigma).T


def sample_sigma_not_root(mu, Sigma, n):
    return mu + torch.randn(n, len(mu), dtype=torch.float64) @ Sigma


def sample_untransposed(mu, Sigma, n):
    return mu + torch.randn(n, len(mu), dtype=torch.float64) @ torch.linalg.cholesky(Sigma)


def logp_ok(x, mu, Sigma):
    d = len(mu)
    diff = x - mu
    return -0.5 * (d * math.log(2 * math.pi) + torch.logdet(Sigma)
                   + (diff @ torch.linalg.inv(Sigma) * diff).sum(-1))


def logp_no_inverse(x, mu, Sigma):
    d = len(mu)
    diff = x - mu
    return -0.5 * (d * math.log(2 * math.pi) + torch.logdet(Sigma) + (diff @ Sigma * diff).sum(-1))


def logp_no_logdet(x, mu, Sigma):
    d = len(mu)
    diff = x - mu
    return -0.5 * (d * math.log(2 * math.pi) + (diff @ torch.linalg.inv(Sigma) * diff).sum(-1))



@pytest.mark.parametrize("check,good", [
    (checks.loglik_gap, gap_ok), (checks.loglik_gap, gap_by_simulation), (checks.sample_gaussian, sample_ok),
    (checks.gaussian_log_prob, logp_ok), (checks.match_samples, lambda: dict(RIGHT))])
def test_correct_answers_pass_and_stubs_do_not(check, good, capsys):
    assert_check_accepts_and_flags_stub(check, good, capsys)


@pytest.mark.parametrize("check,wrong,match", [
    (checks.loglik_gap, lambda m, d, c: 2 * gap_ok(m, d, c), "½ of log N is missing"),
    (checks.loglik_gap, lambda m, d, c: gap_ok(m, d, c) / m, "per data point"),
    (checks.loglik_gap, lambda m, d, c: gap_ok(m, d, c) / d, "d times too small"),
    (checks.loglik_gap, lambda m, d, c: -gap_ok(m, d, c), "sign is flipped"),
    (checks.loglik_gap, lambda m, d, c: m * d / 2 * (c - 1 - math.log(c)), "instead of its inverse"),
    (checks.loglik_gap, lambda m, d, c: m * d / 2 * math.log(c), "only the log-determinant"),
    (checks.loglik_gap, lambda m, d, c: m * d / 2 * (math.log(c) + 1 / c), "misses −m d / 2"),
    (checks.loglik_gap, lambda m, d, c: d / (4 * m), r"loglik_gap\(.*\) = .*expected"),   # the large-m approximation
    (checks.loglik_gap, lambda m, d, c: torch.ones(2), "one number"),
    (checks.sample_gaussian, sample_sigma_not_root, "Sigma @ Sigma"),
    (checks.sample_gaussian, sample_untransposed, r"L\.T @ L"),
    (checks.gaussian_log_prob, logp_no_inverse, "inverse of Sigma"),
    (checks.gaussian_log_prob, logp_no_logdet, "normaliser"),
    (checks.gaussian_log_prob, lambda x, mu, S: logp_ok(x, mu, S).exp(), "density, not its logarithm"),
])
def test_plausible_wrong_answers_are_rejected(check, wrong, match):
    with pytest.raises(AssertionError, match=match):
        check(wrong)


RIGHT = {"A": "diagonal", "B": "no_square_root", "C": "full"}


@pytest.mark.parametrize("wrong,match", [
    ({"A": "full", "B": "no_square_root", "C": "diagonal"}, r"(?s)2 of the 3 panels are matched.*Panel A is not 'full'"),
    ({"A": "isotropic", "B": "no_square_root", "C": "full"}, r"(?s)1 of the 3 panels is matched.*spread equally"),
    ({"A": "diagonal", "B": "full", "C": "full"}, "Two panels got the same model"),
    ({"A": "diagonal", "B": "sigma", "C": "full"}, "not one of the models"),
    ({"A": "diagonal", "B": "no_square_root"}, "keys 'A', 'B', 'C'"),
    ("diagonal", "keys 'A', 'B', 'C'"),
])
def test_wrong_matches_are_rejected_without_naming_the_answer(wrong, match):
    with pytest.raises(AssertionError, match=match) as info:
        checks.match_samples(lambda: wrong)
    if isinstance(wrong, dict) and set(wrong.values()) <= set(checks._lesson1.MODELS):
        for panel, model in RIGHT.items():     # the hint speaks of the model claimed, not the true one
            assert f"Panel {panel} is not {model!r}" not in str(info.value)


def test_the_panels_are_drawn_from_the_models_the_answer_names():
    """The answer key holds on the samples: each panel's covariance is its model's, not another's."""
    from vae_utils.checks._lesson1 import MODELS, _model_cov
    mu = torch.tensor([13.1, 3.8], dtype=torch.float64)
    Sigma = torch.tensor([[17.4, 2.5], [2.5, 1.1]], dtype=torch.float64)
    panels = checks.mystery_samples(mu, Sigma)
    assert set(panels) == set(RIGHT) and set(RIGHT.values()) < set(MODELS)
    for panel, model in RIGHT.items():
        C = torch.cov(panels[panel].T)
        errors = {m: ((C - _model_cov(m, Sigma)).abs().max() / _model_cov(m, Sigma).abs().max()).item() for m in MODELS}
        assert min(errors, key=errors.get) == model and errors[model] < 0.06, (panel, errors)
        assert torch.allclose(panels[panel].mean(0), mu, atol=0.05 * panels[panel].std(0).max().item())
    assert torch.equal(checks.mystery_samples(mu, Sigma)["A"], panels["A"])    # deterministic


def test_the_prediction_is_never_filled_in(capsys):
    def loglik_gap(m, d, c):
        raise NotImplementedError()
    assert checks.try_yours(loglik_gap, 5, 2, 1.25) is None
    assert "make your prediction" in capsys.readouterr().out



def test_check_does_not_disturb_the_global_rng():
    torch.manual_seed(0)
    a = torch.rand(3)
    torch.manual_seed(0)
    checks.sample_gaussian(sample_ok)
    assert torch.equal(torch.rand(3), a)


def test_crash_in_learner_code_is_reported_plainly():
    def crash(mu, Sigma, n):
        return mu + torch.randn(n, 2) @ Sigma  # wrong inner dimension
    with pytest.raises(CheckFailure, match="sample_gaussian raised RuntimeError"):
        checks.sample_gaussian(crash)
