"""Lesson-6e checks: correct answers pass (on visible and hidden inputs), stubs are 'not
implemented', each diagnosed mistake is caught with its own message."""
import math

import pytest
import torch

from conftest import assert_check_accepts_and_flags_stub

from vae_utils import checks
from vae_utils.checks import _lesson6e
from vae_utils.checks._common import CheckFailure

pytestmark = pytest.mark.usefixtures("check_inputs")


# --- mixture_log_prob ---------------------------------------------------------------------
def _log_normal(z, means, logvars):
    return (-0.5 * (math.log(2 * math.pi) + logvars + (z[:, None, :] - means) ** 2 / logvars.exp())).sum(-1)


def mix_ok(z, logits, means, logvars):
    return torch.logsumexp(torch.log_softmax(logits, 0) + _log_normal(z, means, logvars), 1)


def mix_naive(z, logits, means, logvars):
    return (torch.softmax(logits, 0) * _log_normal(z, means, logvars).exp()).sum(1).log()


def mix_unnormalised(z, logits, means, logvars):
    return torch.logsumexp(logits + _log_normal(z, means, logvars), 1)


def mix_sd(z, logits, means, logvars):
    return torch.logsumexp(torch.log_softmax(logits, 0) + _log_normal(z, means, 2 * logvars), 1)


def mix_product(z, logits, means, logvars):
    return (torch.log_softmax(logits, 0) + _log_normal(z, means, logvars)).sum(1)


@pytest.mark.parametrize("wrong,match", [
    (mix_naive, "logsumexp"),
    (mix_unnormalised, "not normalised"),
    (mix_sd, "standard deviation"),
    (mix_product, "product of densities"),
    (lambda z, logits, means, logvars: mix_ok(z, logits, means, logvars)[:-1], "shape"),
])
def test_mixture_log_prob_diagnoses(wrong, match):
    with pytest.raises(CheckFailure, match=match):
        checks.mixture_log_prob(wrong)


def test_mixture_log_prob_passes_and_flags_stub(capsys):
    assert_check_accepts_and_flags_stub(checks.mixture_log_prob, mix_ok, capsys)


def test_mixture_reference_agrees_with_torch():
    g = torch.Generator().manual_seed(0)
    z, logits = torch.randn(7, 3, generator=g, dtype=torch.float64), torch.randn(4, generator=g, dtype=torch.float64)
    means, logvars = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(4, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(_lesson6e._mixture_log_prob(z, logits, means, logvars),
                               _lesson6e._reference_mixture(z, logits, means, logvars))


# --- paired_verdict -----------------------------------------------------------------------
def verdict_ok(a, b):
    d = a - b
    m, se = d.mean().item(), (d.std() / len(d) ** 0.5).item()
    return ("a" if m > 2 * se else "b" if m < -2 * se else "undecided"), m, se


def verdict_unpaired(a, b):
    m = (a.mean() - b.mean()).item()
    se = math.sqrt((a.var() / len(a) + b.var() / len(b)).item())
    return ("a" if m > 2 * se else "b" if m < -2 * se else "undecided"), m, se


def verdict_sd(a, b):
    d = a - b
    m, sd = d.mean().item(), d.std().item()
    return ("a" if m > 2 * sd else "b" if m < -2 * sd else "undecided"), m, sd


def verdict_always(a, b):
    _, m, se = verdict_ok(a, b)
    return ("a" if m > 0 else "b"), m, se


def verdict_sign(a, b):
    v, m, se = verdict_ok(a, b)
    return v, -m, se


@pytest.mark.parametrize("wrong,match", [
    (verdict_unpaired, "unpaired standard error"),
    (verdict_sd, "not the standard error of its mean"),
    (verdict_always, "undecided"),
    (verdict_sign, "wrong sign"),
    (lambda a, b: "a", "should return"),
])
def test_paired_verdict_diagnoses(wrong, match):
    with pytest.raises(CheckFailure, match=match):
        checks.paired_verdict(wrong)


def test_paired_verdict_passes_and_flags_stub(capsys):
    assert_check_accepts_and_flags_stub(checks.paired_verdict, verdict_ok, capsys)


def test_paired_verdict_cases_are_what_they_claim():
    # the first case needs pairing: unpaired, it would be undecided; the second is undecided paired.
    g = torch.Generator().manual_seed(5)
    a, b = _lesson6e._pairs(g, 500, 0.4, 25.0, 1.0)
    assert verdict_ok(a, b)[0] == "a" and verdict_unpaired(a, b)[0] == "undecided"
    a, b = _lesson6e._pairs(g, 500, 0.02, 25.0, 1.5)
    assert verdict_ok(a, b)[0] == "undecided"


# --- optimal_discriminator ----------------------------------------------------------------
def disc_ok(lp, lq):
    return 1 / (1 + torch.exp(lq - lp))


def disc_naive(lp, lq):
    return lp.exp() / (lp.exp() + lq.exp())


@pytest.mark.parametrize("wrong,match", [
    (lambda lp, lq: disc_ok(lq, lp), "swapped"),
    (lambda lp, lq: (lp - lq).exp(), "density ratio"),
    (disc_naive, "NaN"),
    (lambda lp, lq: disc_ok(lp, lq)[:3], "shape"),
])
def test_optimal_discriminator_diagnoses(wrong, match):
    with pytest.raises(CheckFailure, match=match):
        checks.optimal_discriminator(wrong)


def test_optimal_discriminator_passes_and_flags_stub(capsys):
    assert_check_accepts_and_flags_stub(checks.optimal_discriminator, disc_ok, capsys)


def test_optimal_discriminator_maximises_the_gan_objective():
    # For two known 1-D densities, the objective at D* beats every perturbed D, and equals
    # 2 JS(p ‖ q) − log 4 (Goodfellow et al. 2014, Theorem 1), against scipy's integration.
    from scipy import integrate, stats
    p, q = stats.norm(0, 1), stats.norm(1.0, 0.7)

    def objective(D):
        f = lambda x: p.pdf(x) * math.log(D(x)) + q.pdf(x) * math.log1p(-D(x))  # noqa: E731
        return integrate.quad(f, -7, 7)[0]

    def d_star(x):
        return min(max(float(_lesson6e._optimal_discriminator(torch.tensor(p.logpdf(x)), torch.tensor(q.logpdf(x)))), 1e-12), 1 - 1e-12)

    best = objective(d_star)
    for eps in (0.05, -0.05):
        assert objective(lambda x: min(max(d_star(x) + eps, 1e-9), 1 - 1e-9)) < best
    m = lambda x: 0.5 * (p.pdf(x) + q.pdf(x))  # noqa: E731
    js = 0.5 * integrate.quad(lambda x: p.pdf(x) * math.log(p.pdf(x) / m(x)), -7, 7)[0] \
        + 0.5 * integrate.quad(lambda x: q.pdf(x) * math.log(q.pdf(x) / m(x)), -7, 7)[0]
    assert best == pytest.approx(2 * js - math.log(4), abs=1e-5)


# --- shared_covariance_logits -------------------------------------------------------------
def lda_ok(mus, Sigma, log_prior):
    W = torch.linalg.solve(Sigma, mus.T).T
    return W, -0.5 * (W * mus).sum(1) + log_prior


def lda_no_quadratic(mus, Sigma, log_prior):
    return torch.linalg.solve(Sigma, mus.T).T, log_prior


def lda_no_prior(mus, Sigma, log_prior):
    W, b = lda_ok(mus, Sigma, log_prior)
    return W, b - log_prior


def lda_sigma(mus, Sigma, log_prior):
    W = mus @ Sigma
    return W, -0.5 * (W * mus).sum(1) + log_prior


@pytest.mark.parametrize("wrong,match", [
    (lda_no_quadratic, "misses −½"),
    (lda_no_prior, "class prior"),
    (lda_sigma, "Σ where Σ⁻¹"),
    (lambda mus, Sigma, log_prior: lda_ok(mus, Sigma, log_prior)[0], "should return"),
    (lambda mus, Sigma, log_prior: (lda_ok(mus, Sigma, log_prior)[0].T, lda_ok(mus, Sigma, log_prior)[1]), "shape"),
])
def test_shared_covariance_logits_diagnoses(wrong, match):
    with pytest.raises(CheckFailure, match=match):
        checks.shared_covariance_logits(wrong)


def test_shared_covariance_logits_passes_and_flags_stub(capsys):
    assert_check_accepts_and_flags_stub(checks.shared_covariance_logits, lda_ok, capsys)
    # adding one vector to every row of W and one number to b leaves the posteriors alone
    checks.shared_covariance_logits(lambda m, S, lp: tuple(t + 3.0 for t in lda_ok(m, S, lp)))


# --- samples_for_se -----------------------------------------------------------------------
@pytest.mark.parametrize("wrong,match", [
    (lambda p, se: math.ceil(p * (1 - p) / se), "se was used where se²"),
    (lambda p, se: math.ceil(math.sqrt(p * (1 - p)) / se ** 2), "not its square root"),
    (lambda p, se: math.floor(p * (1 - p) / se ** 2), "round up|just above"),
    (lambda p, se: p * (1 - p) / se ** 2 + 0.5, "whole number"),
])
def test_samples_for_se_diagnoses(wrong, match):
    with pytest.raises(CheckFailure, match=match):
        checks.samples_for_se(wrong)


def test_samples_for_se_passes_and_flags_stub(capsys):
    assert_check_accepts_and_flags_stub(checks.samples_for_se, lambda p, se: math.ceil(p * (1 - p) / se ** 2), capsys)


def test_samples_for_se_meets_the_target_by_simulation():
    # n samples of a Bernoulli(p): the spread of the fraction over many repeats is ≤ se.
    p, se = 0.1, 0.01
    n = _lesson6e._samples_for_se(p, se)
    assert math.sqrt(p * (1 - p) / n) <= se < math.sqrt(p * (1 - p) / (n - 1))
    g = torch.Generator().manual_seed(0)
    frac = (torch.rand(4000, n, generator=g) < p).double().mean(1)
    assert frac.std().item() == pytest.approx(se, rel=0.05)
