"""Each check of lessons 5 and 5b passes a correct answer, reports a stub as not implemented, and
rejects plausible wrong answers with a message that names the slip."""
import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from vae_utils import checks
from vae_utils.checks._common import CheckFailure

pytestmark = pytest.mark.usefixtures("check_inputs")


def stub(*args):
    raise NotImplementedError


# --- elbo_gap (derived: KL between two Gaussians) ------------------------------------------------
def _parts(mu_q, S_q, mu_p, S_p):
    P = torch.linalg.inv(S_p)
    d = mu_p - mu_q
    return torch.trace(P @ S_q), d @ P @ d, len(mu_q), torch.logdet(S_p) - torch.logdet(S_q)


def gap_ok(mu_q, Sigma_q, mu_post, Sigma_post):
    tr, maha, k, logdet = _parts(mu_q, Sigma_q, mu_post, Sigma_post)
    return 0.5 * (tr + maha - k + logdet)


def gap_cholesky(mu_q, Sigma_q, mu_post, Sigma_post):
    # Another correct route: whiten by the posterior's Cholesky factor.
    L = torch.linalg.cholesky(Sigma_post)
    A = torch.linalg.solve_triangular(L, torch.linalg.cholesky(Sigma_q), upper=False)
    u = torch.linalg.solve_triangular(L, (mu_post - mu_q).unsqueeze(-1), upper=False).squeeze(-1)
    return float(0.5 * ((A ** 2).sum() + u @ u - len(u)) - torch.log(torch.diagonal(A)).sum())


def gap_swapped(mu_q, Sigma_q, mu_post, Sigma_post):
    return gap_ok(mu_post, Sigma_post, mu_q, Sigma_q)


def gap_no_logdet(mu_q, Sigma_q, mu_post, Sigma_post):
    tr, maha, k, _ = _parts(mu_q, Sigma_q, mu_post, Sigma_post)
    return 0.5 * (tr + maha - k)


def gap_logdet_sign(mu_q, Sigma_q, mu_post, Sigma_post):
    tr, maha, k, logdet = _parts(mu_q, Sigma_q, mu_post, Sigma_post)
    return 0.5 * (tr + maha - k - logdet)


def gap_trace_of_q(mu_q, Sigma_q, mu_post, Sigma_post):
    _, maha, k, logdet = _parts(mu_q, Sigma_q, mu_post, Sigma_post)
    return 0.5 * (torch.trace(Sigma_q) + maha - k + logdet)


def gap_no_trace(mu_q, Sigma_q, mu_post, Sigma_post):
    _, maha, k, logdet = _parts(mu_q, Sigma_q, mu_post, Sigma_post)
    return 0.5 * (maha - k + logdet)


def gap_maha_with_q(mu_q, Sigma_q, mu_post, Sigma_post):
    tr, _, k, logdet = _parts(mu_q, Sigma_q, mu_post, Sigma_post)
    d = mu_post - mu_q
    return 0.5 * (tr + d @ torch.linalg.inv(Sigma_q) @ d - k + logdet)


def gap_no_half(mu_q, Sigma_q, mu_post, Sigma_post):
    return 2 * gap_ok(mu_q, Sigma_q, mu_post, Sigma_post)


def gap_no_minus_k(mu_q, Sigma_q, mu_post, Sigma_post):
    tr, maha, k, logdet = _parts(mu_q, Sigma_q, mu_post, Sigma_post)
    return 0.5 * (tr + maha + logdet)


def gap_k_fixed_at_3(mu_q, Sigma_q, mu_post, Sigma_post):
    tr, maha, _, logdet = _parts(mu_q, Sigma_q, mu_post, Sigma_post)
    return 0.5 * (tr + maha - 3 + logdet)


def gap_per_coordinate(mu_q, Sigma_q, mu_post, Sigma_post):
    return gap_ok(mu_q, Sigma_q, mu_post, Sigma_post) * torch.ones(len(mu_q)) / len(mu_q)


def gap_via_torch(mu_q, Sigma_q, mu_post, Sigma_post):
    return torch.distributions.kl_divergence(MultivariateNormal(mu_q, Sigma_q), MultivariateNormal(mu_post, Sigma_post))


# --- weight_second_moment (derived: 1 + CV² of the importance weights) ---------------------------
def _white(mu_q, S_q, mu_p, S_p):
    L = torch.linalg.cholesky(S_p)
    C = torch.linalg.solve_triangular(L, torch.linalg.solve_triangular(L, S_q, upper=False).T, upper=False)
    u = torch.linalg.solve_triangular(L, (mu_q - mu_p).unsqueeze(-1), upper=False).squeeze(-1)
    return 0.5 * (C + C.T), u


def moment_ok(mu_q, Sigma_q, mu_post, Sigma_post):
    C, u = _white(mu_q, Sigma_q, mu_post, Sigma_post)
    lam = torch.linalg.eigvalsh(C)
    if lam.min() <= 0.5:
        return float("inf")
    shift = u @ torch.linalg.solve(2 * C - torch.eye(len(u), dtype=C.dtype), u)
    return torch.prod(lam / torch.sqrt(2 * lam - 1)) * torch.exp(shift)


def moment_unwhitened(mu_q, Sigma_q, mu_post, Sigma_post):
    # No whitening: the general formula with A = 2 Σ_post⁻¹ − Σ_q⁻¹ — also correct.
    Pp, Pq = torch.linalg.inv(Sigma_post), torch.linalg.inv(Sigma_q)
    A = 2 * Pp - Pq
    if torch.linalg.eigvalsh(A).min() <= 0:
        return math.inf
    d = mu_q - mu_post
    expo = 0.5 * d @ (Pq @ torch.linalg.inv(A) @ Pq + Pq) @ d
    return torch.sqrt(torch.det(Sigma_q)) / (torch.det(Sigma_post) * torch.sqrt(torch.det(A))) * torch.exp(expo)


def moment_cv2(mu_q, Sigma_q, mu_post, Sigma_post):
    return moment_ok(mu_q, Sigma_q, mu_post, Sigma_post) - 1


def moment_swapped(mu_q, Sigma_q, mu_post, Sigma_post):
    return moment_ok(mu_post, Sigma_post, mu_q, Sigma_q)


def moment_no_shift(mu_q, Sigma_q, mu_post, Sigma_post):
    return moment_ok(mu_post, Sigma_q, mu_post, Sigma_post)


def moment_half_shift(mu_q, Sigma_q, mu_post, Sigma_post):
    C, u = _white(mu_q, Sigma_q, mu_post, Sigma_post)
    lam = torch.linalg.eigvalsh(C)
    if lam.min() <= 0.5:
        return math.inf
    shift = u @ torch.linalg.solve(2 * C - torch.eye(len(u), dtype=C.dtype), u)
    return torch.prod(lam / torch.sqrt(2 * lam - 1)) * torch.exp(0.5 * shift)


def moment_diagonal_ratios(mu_q, Sigma_q, mu_post, Sigma_post):
    c2 = Sigma_q.diagonal() / Sigma_post.diagonal()
    d2 = (mu_q - mu_post) ** 2 / Sigma_post.diagonal()
    if c2.min() <= 0.5:
        return math.inf
    return torch.prod(c2 / torch.sqrt(2 * c2 - 1)) * torch.exp((d2 / (2 * c2 - 1)).sum())


def moment_log(mu_q, Sigma_q, mu_post, Sigma_post):
    return torch.log(torch.as_tensor(moment_ok(mu_q, Sigma_q, mu_post, Sigma_post)))


def moment_no_criterion(mu_q, Sigma_q, mu_post, Sigma_post):
    C, u = _white(mu_q, Sigma_q, mu_post, Sigma_post)
    lam = torch.linalg.eigvalsh(C)
    shift = u @ torch.linalg.solve(2 * C - torch.eye(len(u), dtype=C.dtype), u)
    return torch.prod(lam / torch.sqrt(2 * lam - 1)) * torch.exp(shift)      # NaN below ½


def moment_abs_instead(mu_q, Sigma_q, mu_post, Sigma_post):
    C, u = _white(mu_q, Sigma_q, mu_post, Sigma_post)
    lam = torch.linalg.eigvalsh(C)
    shift = u @ torch.linalg.solve(2 * C - torch.eye(len(u), dtype=C.dtype), u)
    return torch.prod(lam / torch.sqrt((2 * lam - 1).abs())) * torch.exp(shift)   # finite below ½


# --- judge exercises: best_q_prediction, gradient_choice, iwae_choice -----------------------------
def best_q_ok():
    return "C"


def gradient_ok():
    return {"ELBO": "reparameterization", "P(z1 > 0)": "score function"}


def iwae_ok():
    return "prior", 32


def diagnosis_ok():
    return {"run 1": "z from the prior", "run 2": "no log p(z)", "run 3": "+ log q"}


ALL = [
    (checks.best_q_prediction, best_q_ok), (checks.best_q_prediction, lambda: " c "),
    (checks.elbo_gap, gap_ok), (checks.elbo_gap, gap_cholesky),
    (checks.gradient_choice, gradient_ok),
    (checks.gradient_choice, lambda: {"ELBO": "Reparameterization", "P(z1 > 0)": "Score function"}),
    (checks.weight_second_moment, moment_ok), (checks.weight_second_moment, moment_unwhitened),
    (checks.iwae_choice, iwae_ok), (checks.iwae_choice, lambda: ("Prior", 29.0)),
    (checks.iwae_choice, lambda: ["prior", 64]),
    (checks.elbo_diagnosis, diagnosis_ok),
    (checks.elbo_diagnosis, lambda: {"run 1": "Z FROM THE PRIOR ", "run 2": "no log p(z)", "run 3": "+ log q"}),
]


@pytest.mark.parametrize("check,good", ALL)
def test_correct_answers_pass(check, good, capsys):
    check(good)
    out = capsys.readouterr().out
    assert out.startswith("✓") and out.count("\n") == 1


@pytest.mark.parametrize("check", [checks.best_q_prediction, checks.elbo_gap, checks.elbo_diagnosis, checks.gradient_choice,
                                   checks.weight_second_moment, checks.iwae_choice])
def test_stubs_are_reported_as_not_implemented(check):
    with pytest.raises(CheckFailure, match="not implemented yet"):
        check(stub)


@pytest.mark.parametrize("check,wrong,match", [
    (checks.best_q_prediction, lambda: "A", "q A does not have the smallest gap"),
    (checks.best_q_prediction, lambda: "B", "q B does not have the smallest gap"),
    (checks.best_q_prediction, lambda: "D", "expected one of 'A', 'B', 'C'"),
    (checks.best_q_prediction, lambda: 3, "should be a string"),
    (checks.elbo_diagnosis, lambda: {**diagnosis_ok(), "run 3": "no log q"}, r"(?s)run 3 is not explained by 'no log q'.*−H\(q\)"),
    (checks.elbo_diagnosis, lambda: {**diagnosis_ok(), "run 1": "no log q"}, r"run 1 is not explained by 'no log q'"),
    (checks.elbo_diagnosis, lambda: {"run 1": "no log p(z)", "run 2": "z from the prior", "run 3": "+ log q"},
     r"run 1 is not explained by 'no log p\(z\)'"),
    (checks.elbo_diagnosis, lambda: {"run 1": "+ log q", "run 2": "no log p(z)", "run 3": "+ log q"}, "same slip"),
    (checks.elbo_diagnosis, lambda: {"run 1": "z from the prior", "run 2": "no log p(z)"}, "expected exactly"),
    (checks.elbo_diagnosis, lambda: {**diagnosis_ok(), "run 2": "wrong sign"}, "expected one of"),
    (checks.gradient_choice, lambda: {"ELBO": "score function", "P(z1 > 0)": "score function"},
     "for the gradient in mu of the ELBO .* the score function estimator is not the better choice"),
    (checks.gradient_choice, lambda: {"ELBO": "reparameterization", "P(z1 > 0)": "reparameterization"},
     r"P\(z1 > 0\) .* the reparameterization estimator is not the better choice"),
    (checks.gradient_choice, lambda: {"ELBO": "reparameterization"}, "expected exactly"),
    (checks.gradient_choice, lambda: ("reparameterization", "score function"), "should return a dict"),
    (checks.gradient_choice, lambda: {"ELBO": "pathwise", "P(z1 > 0)": "score function"}, "expected one of"),
    (checks.iwae_choice, lambda: ("best diagonal q", 64), "infinite variance"),
    (checks.iwae_choice, lambda: ("prior", 8), r"K = 8 the prior's bound is measured 0\.2\d\d"),
    (checks.iwae_choice, lambda: ("prior", 20), "more than 0.05 nats"),
    (checks.iwae_choice, lambda: ("prior", 250), "but so would K = 62"),
    (checks.iwae_choice, lambda: ("prior", 10_000), "a quarter of it would too"),
    (checks.iwae_choice, lambda: ("prior", 28.5), "whole number"),
    (checks.iwae_choice, lambda: ("prior", 0), "whole number"),
    (checks.iwae_choice, lambda: "prior", r"should return \(proposal, K\)"),
    (checks.elbo_gap, gap_swapped, r"KL\(p\(z\|x\) ‖ q\), the KL in the other direction"),
    (checks.elbo_gap, gap_no_logdet, "log-determinant term is missing"),
    (checks.elbo_gap, gap_logdet_sign, "log-determinant term has the wrong sign"),
    (checks.elbo_gap, gap_trace_of_q, r"trace term is tr\(Σ_q\)"),
    (checks.elbo_gap, gap_no_trace, "trace term .* is missing"),
    (checks.elbo_gap, gap_maha_with_q, "mean term uses Σ_q⁻¹"),
    (checks.elbo_gap, gap_no_half, "factor ½ is missing"),
    (checks.elbo_gap, gap_no_minus_k, "− k is missing"),
    (checks.elbo_gap, gap_k_fixed_at_3, "(?s)k = 2 the value is off by.*k = len"),
    (checks.elbo_gap, gap_per_coordinate, "expected one number"),
    (checks.weight_second_moment, moment_cv2, "returned CV²"),
    (checks.weight_second_moment, moment_swapped, "roles of q and the posterior swapped"),
    (checks.weight_second_moment, moment_no_shift, "shift term is missing"),
    (checks.weight_second_moment, moment_half_shift, "extra ½"),
    (checks.weight_second_moment, moment_diagonal_ratios, "whitened first"),
    (checks.weight_second_moment, moment_log, "log of the second moment"),
    (checks.weight_second_moment, moment_no_criterion, "NaN where one whitened variance"),
    (checks.weight_second_moment, moment_abs_instead, "diverges there, so the variance of the weights is infinite"),
])
def test_plausible_wrong_answers_are_rejected(check, wrong, match):
    with pytest.raises(CheckFailure, match=match) as info:
        check(wrong)
    assert "Hint:" in str(info.value)


def test_a_wrong_choice_does_not_name_the_right_one():
    """A failed prediction says which answer is wrong, never which is right."""
    for wrong in ("A", "B"):
        with pytest.raises(CheckFailure) as info:
            checks.best_q_prediction(lambda: wrong)
        assert "q C" not in str(info.value)


def test_the_judge_answers_follow_from_exact_and_measured_numbers():
    """best_q_prediction's answer is the argmin of the exact gaps; the band of iwae_choice holds
    the rule's K = ⌈CV²/(2 · 0.05)⌉ from the exact 1 + CV² of the prior, and the prior's bound
    rises with K toward log p(x)."""
    from vae_utils.checks import _lesson5
    from vae_utils.elbo_demos import lesson5_model, mean_cov, three_qs
    model, x = lesson5_model()
    post = model.posterior(x)
    gaps = {}
    for name, q in three_qs(model, x).items():
        qm, qS = mean_cov(q)
        gaps[name] = gap_ok(qm[0], qS[0], post.mean[0], post.covariance_matrix[0]).item()
    assert min(gaps, key=gaps.get) == _lesson5._best_q_prediction() == "C"
    assert gaps["C"] < gaps["B"] - 0.1 and gaps["B"] < gaps["A"] - 0.1       # a clear ranking, not a tie
    zero = torch.zeros(2, dtype=torch.float64)
    cv2 = float(moment_ok(zero, torch.eye(2, dtype=torch.float64), post.mean[0], post.covariance_matrix[0])) - 1
    k_rule = math.ceil(cv2 / (2 * 0.05))
    checks.iwae_choice(lambda: ("prior", k_rule))
    gap_8, _ = _lesson5._iwae_gap(8, 0)
    gap_128, _ = _lesson5._iwae_gap(128, 0)
    assert gap_8 > 0.2 > 0.02 > gap_128 > 0


def test_checks_do_not_disturb_the_global_rng():
    torch.manual_seed(0)
    a = torch.rand(3)
    torch.manual_seed(0)
    checks.iwae_choice(iwae_ok)
    assert torch.equal(torch.rand(3), a)


def test_crash_in_learner_code_is_reported_plainly():
    def crash():
        return {"ELBO": "reparameterization"}["P(z1 > 0)"]
    with pytest.raises(CheckFailure, match="gradient_choice raised KeyError"):
        checks.gradient_choice(crash)


def test_derive_exercises_cannot_hand_the_work_to_torch_or_the_course():
    from vae_utils.checks import _lesson5
    with pytest.raises(CheckFailure, match="implement elbo_gap yourself"):
        checks.elbo_gap(gap_via_torch)
    with pytest.raises(CheckFailure, match="implement elbo_gap yourself"):
        checks.elbo_gap(lambda mu_q, Sigma_q, mu_post, Sigma_post: _lesson5._elbo_gap(mu_q, Sigma_q, mu_post, Sigma_post))
    with pytest.raises(CheckFailure, match="implement weight_second_moment yourself"):
        checks.weight_second_moment(lambda *a: _lesson5._weight_second_moment(*a))
    with pytest.raises(CheckFailure, match="implement best_q_prediction yourself"):
        checks.best_q_prediction(lambda: _lesson5._best_q_prediction())
    with pytest.raises(CheckFailure, match="implement elbo_diagnosis yourself"):
        checks.elbo_diagnosis(lambda: _lesson5._elbo_diagnosis())
    with pytest.raises(CheckFailure, match="implement iwae_choice yourself"):
        checks.iwae_choice(lambda: _lesson5._iwae_choice())


def test_predictions_wait_for_the_learner():
    """try_yours never hands out the course's answer to a prediction: it returns None."""
    from vae_utils.checks._common import _PREDICTIONS, try_yours

    def best_q_prediction():
        raise NotImplementedError

    def iwae_choice():
        raise NotImplementedError

    def elbo_gap(*args):
        raise NotImplementedError

    assert {"best_q_prediction", "elbo_gap", "weight_second_moment", "iwae_choice"} <= _PREDICTIONS
    assert try_yours(best_q_prediction) is None and try_yours(iwae_choice) is None
    assert try_yours(elbo_gap, zero := torch.zeros(2), torch.eye(2), zero, torch.eye(2)) is None
def test_course_versions_match_closed_forms_and_simulation():
    """The fallbacks behind try_yours: the gap is torch's KL, and 1 + CV² agrees with lesson 4's
    isotropic formula and with a Monte Carlo second moment where it is finite."""
    from vae_utils.checks import _lesson5
    g = torch.Generator().manual_seed(4)
    A = torch.randn(3, 3, generator=g, dtype=torch.float64)
    S_p = A @ A.T + 0.5 * torch.eye(3, dtype=torch.float64)
    mu_p, mu_q = torch.randn(3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    S_q = 0.8 * S_p + 0.1 * torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(_lesson5._elbo_gap(mu_q, S_q, mu_p, S_p),
                               gap_via_torch(mu_q, S_q, mu_p, S_p), rtol=1e-12, atol=1e-12)
    # Lesson 4: q = N(m + δ L e1, c² Σ) gives (c²/√(2c² − 1))^k exp(δ²/(2c² − 1)).
    L = torch.linalg.cholesky(S_p)
    c, delta = 0.9, 0.7
    got = _lesson5._weight_second_moment(mu_p + delta * L[:, 0], c ** 2 * S_p, mu_p, S_p)
    want = (c ** 2 / math.sqrt(2 * c ** 2 - 1)) ** 3 * math.exp(delta ** 2 / (2 * c ** 2 - 1))
    assert float(got) == pytest.approx(want, rel=1e-10)
    assert math.isinf(_lesson5._weight_second_moment(mu_p, 0.49 * S_p, mu_p, S_p))
    q, p = MultivariateNormal(mu_q * 0.2 + mu_p * 0.8, S_q * 1.5), MultivariateNormal(mu_p, S_p)
    z = q.sample((400_000,))
    w = torch.exp(p.log_prob(z) - q.log_prob(z))
    se = (w ** 2).std() / math.sqrt(len(w))
    assert abs((w ** 2).mean() - _lesson5._weight_second_moment(q.mean, q.covariance_matrix, mu_p, S_p)) < 5 * se


def test_checks_are_exported_with_docstrings():
    from vae_utils.checks import _lesson5
    assert set(_lesson5.__all__) == {"best_q_prediction", "elbo_gap", "elbo_diagnosis", "gradient_choice",
                                     "weight_second_moment", "iwae_choice"}
    for name in _lesson5.__all__:
        assert getattr(checks, name) is getattr(_lesson5, name)
        assert "Source:" in getattr(_lesson5, name).__doc__
