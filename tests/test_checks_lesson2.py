"""Lesson-2 checks: correct answers pass, stubs are 'not implemented', plausible mistakes fail;
the judge exercise's answer is what the held-out evidence says."""
import pytest
import torch

from conftest import assert_check_accepts_and_flags_stub

from vae_utils import checks
from vae_utils.checks import _lesson2
from vae_utils.checks._common import CheckFailure

pytestmark = pytest.mark.usefixtures("check_inputs")


def gumbel_ok(u, loc, scale):
    return loc - scale * torch.log(-torch.log(u))


def gumbel_by_torch(u, loc, scale):
    """Also right: torch's own Gumbel inverse CDF."""
    return torch.distributions.Gumbel(torch.tensor(loc, dtype=torch.float64),
                                      torch.tensor(scale, dtype=torch.float64)).icdf(u)


def moments_ok(W, b, sigma, m, S):
    return W @ m + b, W @ S @ W.T + sigma ** 2 * torch.eye(W.shape[0], dtype=W.dtype)


def moments_by_sampling_formula(W, b, sigma, m, S):
    """Also right: through a square root of S (z = m + L u, u ~ N(0, I))."""
    L = torch.linalg.cholesky(S)
    WL = W @ L
    return W @ m + b, WL @ WL.T + sigma ** 2 * torch.eye(W.shape[0], dtype=W.dtype)


def mixture_ok(weights, means, sigma, n):
    c = torch.multinomial(weights, n, replacement=True)
    return means[c] + sigma * torch.randn(n, means.shape[1], dtype=means.dtype), c


def mixture_categorical(weights, means, sigma, n):
    """Also right: torch.distributions.Categorical, c returned as floats."""
    c = torch.distributions.Categorical(probs=weights).sample((n,))
    return torch.distributions.Normal(means[c], sigma).sample(), c.double()


def mixture_uniform(weights, means, sigma, n):
    c = torch.randint(len(weights), (n,))
    return means[c] + sigma * torch.randn(n, means.shape[1], dtype=means.dtype), c


def mixture_no_noise(weights, means, sigma, n):
    c = torch.multinomial(weights, n, replacement=True)
    return means[c], c


def mixture_fresh_c(weights, means, sigma, n):  # returns a c that did not generate x
    x, _ = mixture_ok(weights, means, sigma, n)
    return x, torch.multinomial(weights, n, replacement=True)


def mixture_variance_for_sd(weights, means, sigma, n):
    c = torch.multinomial(weights, n, replacement=True)
    return means[c] + sigma ** 2 * torch.randn(n, means.shape[1], dtype=means.dtype), c


def postvar_ok(w, sigma):
    return 1 / (1 + (w ** 2 / sigma ** 2).sum())


def postvar_by_matrix(w, sigma):
    """Also right: the posterior covariance (1 + wᵀ Ψ⁻¹ w)⁻¹ with Ψ = diag(σ²), as a 1 × 1 tensor."""
    M = 1 + w[None] @ torch.diag(1 / sigma ** 2) @ w[:, None]
    return torch.linalg.inv(M)


@pytest.mark.parametrize("check,good", [
    (checks.inverse_cdf_gumbel, gumbel_ok), (checks.inverse_cdf_gumbel, gumbel_by_torch),
    (checks.marginal_moments, moments_ok), (checks.marginal_moments, moments_by_sampling_formula),
    (checks.sample_mixture, mixture_ok), (checks.sample_mixture, mixture_categorical),
    (checks.posterior_variance, postvar_ok), (checks.posterior_variance, postvar_by_matrix),
    (checks.choose_k, lambda: 4)])
def test_correct_answers_pass_and_stubs_do_not(check, good, capsys):
    assert_check_accepts_and_flags_stub(check, good, capsys)


@pytest.mark.parametrize("check,wrong,match", [
    (checks.inverse_cdf_gumbel, lambda u, l, s: l + s * torch.log(-torch.log(u)), "decreases"),
    (checks.inverse_cdf_gumbel, lambda u, l, s: l - s * torch.log(-torch.log1p(-u)), r"1 − F\(x\)"),
    (checks.inverse_cdf_gumbel, lambda u, l, s: l - torch.log(-torch.log(u)) / s, "wrong way"),
    (checks.inverse_cdf_gumbel, lambda u, l, s: -s * torch.log(-torch.log(u)), "location is missing"),
    (checks.inverse_cdf_gumbel, lambda u, l, s: l - s * torch.log1p(-u), "F\\(x\\), which should give back u"),
    (checks.marginal_moments, lambda W, b, s, m, S: (W @ m + b, W @ W.T + s ** 2 * torch.eye(W.shape[0], dtype=W.dtype)),
     "covariance S is missing"),
    (checks.marginal_moments, lambda W, b, s, m, S: (b, moments_ok(W, b, s, m, S)[1]), "mean m is missing"),
    (checks.marginal_moments, lambda W, b, s, m, S: (W @ m + b, W @ S @ W.T + s * torch.eye(W.shape[0], dtype=W.dtype)), "σ²"),
    (checks.marginal_moments, lambda W, b, s, m, S: (W @ m + b, W @ S @ W.T), "output noise"),
    (checks.marginal_moments, lambda W, b, s, m, S: (W @ m + b, W.T @ W), r"\(k, k\)"),
    (checks.marginal_moments, lambda W, b, s, m, S: (W @ m + b, torch.outer(W @ m, W @ m) + moments_ok(W, b, s, m, S)[1]),
     "second moment"),
    (checks.marginal_moments, lambda W, b, s, m, S: moments_ok(W, b, s, m, S)[1], "pair"),
    (checks.sample_mixture, mixture_uniform, "ignoring the weights"),
    (checks.sample_mixture, mixture_no_noise, "output noise"),
    (checks.sample_mixture, mixture_fresh_c, r"from \*this\* c"),
    (checks.sample_mixture, mixture_variance_for_sd, "standard deviation"),
    (checks.sample_mixture, lambda w, m, s, n: (mixture_ok(w, m, s, n)[0], torch.rand(n)), "component indices"),
    (checks.posterior_variance, lambda w, s: 1 / (w ** 2 / s ** 2).sum(), "prior is missing"),
    (checks.posterior_variance, lambda w, s: 1 + (w ** 2 / s ** 2).sum(), "precision"),
    (checks.posterior_variance, lambda w, s: 1 / (1 + (w ** 2 / s).sum()), "σ_j is used as a variance"),
    (checks.posterior_variance, lambda w, s: 1 / (1 + (w.abs() / s ** 2).sum()), "not squared"),
    (checks.posterior_variance, lambda w, s: 1 / (1 + (w ** 2).sum() / (s ** 2).mean()), "one noise variance"),
    (checks.posterior_variance, lambda w, s: (1 / (1 + (w ** 2 / s ** 2).sum())) ** 0.5, "standard deviation"),
    (checks.posterior_variance, lambda w, s: s[0] ** 2 / (s[0] ** 2 + w @ w), "expected"),  # section 5's σ for all
    (checks.choose_k, lambda: 7, "training"),
    (checks.choose_k, lambda: 3, "not stopped rising"),
    (checks.choose_k, lambda: 2, "not stopped rising"),
    (checks.choose_k, lambda: 5, "lower than at a smaller k"),
    (checks.choose_k, lambda: "4", "whole number"),
    (checks.choose_k, lambda: 0, "whole number"),
])
def test_plausible_wrong_answers_are_rejected(check, wrong, match):
    with pytest.raises(AssertionError, match=match):
        check(wrong)


def test_the_chosen_k_is_what_the_held_out_evidence_says():
    """The answer of choose_k and its messages hold on the data: training log p(x) rises with
    every k; held-out rises by more than two paired s.e. up to k = 4, and falls after it."""
    x_train, x_test = checks.k_choice_data()
    assert x_train.shape == (200, 10) and x_test.shape == (2000, 10)
    train, held = [], []
    for k in range(1, 8):
        fit = _lesson2._fit_linear_gaussian(x_train, k)
        train.append(fit.log_marginal(x_train).mean().item())
        held.append(fit.log_marginal(x_test))
    assert all(a < b for a, b in zip(train, train[1:]))
    for k in range(2, 8):                       # the change from k − 1 to k
        diff = held[k - 1] - held[k - 2]
        mean, se = diff.mean().item(), (diff.std() / len(diff) ** 0.5).item()
        if k <= _lesson2._K_CHOSEN:
            assert mean > 2 * se, (k, mean, se)
        else:
            assert mean < 0, (k, mean, se)
    assert torch.equal(checks.k_choice_data()[0], x_train)      # deterministic


def test_the_prediction_is_never_filled_in(capsys):
    def posterior_variance(w, sigma):
        raise NotImplementedError()
    assert checks.try_yours(posterior_variance, torch.ones(2), torch.ones(2)) is None
    assert "make your prediction" in capsys.readouterr().out


def test_the_course_version_agrees_with_the_check():
    w, s = torch.tensor([1.5, -0.5, 1.0]), torch.tensor([0.4, 1.0, 2.0])
    from vae_utils.checks._common import _FALLBACKS
    assert _FALLBACKS["posterior_variance"](w, s) == pytest.approx(1 / (1 + 2.25 / 0.16 + 0.25 + 0.25))
    with pytest.raises(CheckFailure):
        checks.posterior_variance(lambda w, s: _FALLBACKS["posterior_variance"](w, s) * 1.01)
