"""Each check of lessons 5 and 5b passes a correct answer, reports a stub as not implemented, and
rejects plausible wrong answers with a message that names the slip."""
import math

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from vae_utils import checks
from vae_utils.checks._common import CheckFailure

pytestmark = pytest.mark.usefixtures("check_inputs")


def stub(*args):
    raise NotImplementedError


# --- kl_to_prior -------------------------------------------------------------------------------
def kl_ok(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(dim=-1)


def kl_via_torch(mu, logvar):
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros_like(mu), torch.ones_like(mu)), 1)
    return torch.distributions.kl_divergence(q, p)


def kl_wrong_sign(mu, logvar):
    return -kl_ok(mu, logvar)


def kl_logvar_as_log_sigma(mu, logvar):
    sigma2 = torch.exp(2 * logvar)  # treats logvar as log σ
    return 0.5 * (mu ** 2 + sigma2 - torch.log(sigma2) - 1).sum(dim=-1)


def kl_sigma_not_variance(mu, logvar):
    sigma = torch.exp(0.5 * logvar)
    return 0.5 * (mu ** 2 + sigma - logvar - 1).sum(dim=-1)


def kl_no_half(mu, logvar):
    return (mu ** 2 + logvar.exp() - logvar - 1).sum(dim=-1)


def kl_no_minus_one(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - logvar).sum(dim=-1)


def kl_not_summed(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - logvar - 1)


def kl_mean_over_dims(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).mean(dim=-1)


# --- reparameterized_sample ------------------------------------------------------------------
def rep_ok(mu, logvar, n_samples):
    eps = torch.randn(n_samples, *mu.shape, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def rep_via_rsample(mu, logvar, n_samples):
    return Normal(mu, torch.exp(0.5 * logvar)).rsample((n_samples,))


def rep_sample_no_grad(mu, logvar, n_samples):
    return Normal(mu, torch.exp(0.5 * logvar)).sample((n_samples,))


def rep_variance_as_scale(mu, logvar, n_samples):
    return mu + torch.exp(logvar) * torch.randn(n_samples, *mu.shape, dtype=mu.dtype)


def rep_uniform_noise(mu, logvar, n_samples):
    return mu + torch.exp(0.5 * logvar) * torch.rand(n_samples, *mu.shape, dtype=mu.dtype)


def rep_one_eps_for_all(mu, logvar, n_samples):
    eps = torch.randn(*mu.shape, dtype=mu.dtype)
    return (mu + torch.exp(0.5 * logvar) * eps).expand(n_samples, *mu.shape)


def rep_logvar_unused(mu, logvar, n_samples):
    return mu + torch.randn(n_samples, *mu.shape, dtype=mu.dtype)


# --- elbo_estimate -----------------------------------------------------------------------------
def elbo_ok(model, x, mu, logvar, n_samples):
    sigma = torch.exp(0.5 * logvar)
    z = mu + sigma * torch.randn(n_samples, *mu.shape, dtype=mu.dtype)
    log_q = Independent(Normal(mu, sigma), 1).log_prob(z)
    log_w = model.likelihood(z).log_prob(x) + model.prior.log_prob(z) - log_q
    return log_w.mean(dim=0)


def elbo_recon_minus_kl(model, x, mu, logvar, n_samples):
    z = mu + torch.exp(0.5 * logvar) * torch.randn(n_samples, *mu.shape, dtype=mu.dtype)
    return model.likelihood(z).log_prob(x).mean(dim=0) - kl_ok(mu, logvar)


def elbo_rsample(model, x, mu, logvar, n_samples):
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    z = q.rsample((n_samples,))
    return (model.likelihood(z).log_prob(x) + model.prior.log_prob(z) - q.log_prob(z)).mean(0)


def _elbo_with(model, x, mu, sigma, n_samples, *, sign_q=-1.0, prior=True, sample=False):
    q = Independent(Normal(mu, sigma), 1)
    z = q.sample((n_samples,)) if sample else q.rsample((n_samples,))
    lw = model.likelihood(z).log_prob(x) + sign_q * q.log_prob(z)
    if prior:
        lw = lw + model.prior.log_prob(z)
    return lw.mean(0)


def elbo_logvar_as_log_sigma(model, x, mu, logvar, n_samples):
    return _elbo_with(model, x, mu, torch.exp(logvar), n_samples)


def elbo_no_log_q(model, x, mu, logvar, n_samples):
    return _elbo_with(model, x, mu, torch.exp(0.5 * logvar), n_samples, sign_q=0.0)


def elbo_plus_log_q(model, x, mu, logvar, n_samples):
    return _elbo_with(model, x, mu, torch.exp(0.5 * logvar), n_samples, sign_q=+1.0)


def elbo_no_prior(model, x, mu, logvar, n_samples):
    return _elbo_with(model, x, mu, torch.exp(0.5 * logvar), n_samples, prior=False)


def elbo_not_reparameterized(model, x, mu, logvar, n_samples):
    return _elbo_with(model, x, mu, torch.exp(0.5 * logvar), n_samples, sample=True)


def elbo_batch_mean(model, x, mu, logvar, n_samples):
    return elbo_ok(model, x, mu, logvar, n_samples).mean()


def elbo_detached_mu(model, x, mu, logvar, n_samples):
    return elbo_ok(model, x, mu.detach(), logvar, n_samples)


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


ALL = [
    (checks.kl_to_prior, kl_ok), (checks.kl_to_prior, kl_via_torch),
    (checks.reparameterized_sample, rep_ok), (checks.reparameterized_sample, rep_via_rsample),
    (checks.elbo_estimate, elbo_ok), (checks.elbo_estimate, elbo_recon_minus_kl),
    (checks.elbo_estimate, elbo_rsample),
    (checks.elbo_gap, gap_ok), (checks.elbo_gap, gap_cholesky),
    (checks.weight_second_moment, moment_ok), (checks.weight_second_moment, moment_unwhitened),
]


@pytest.mark.parametrize("check,good", ALL)
def test_correct_answers_pass(check, good, capsys):
    check(good)
    out = capsys.readouterr().out
    assert out.startswith("✓") and out.count("\n") == 1


@pytest.mark.parametrize("check", [checks.kl_to_prior, checks.reparameterized_sample, checks.elbo_estimate,
                                   checks.elbo_gap, checks.weight_second_moment])
def test_stubs_are_reported_as_not_implemented(check):
    with pytest.raises(CheckFailure, match="not implemented yet"):
        check(stub)


@pytest.mark.parametrize("check,wrong,match", [
    (checks.kl_to_prior, kl_wrong_sign, "wrong sign"),
    (checks.kl_to_prior, kl_logvar_as_log_sigma, "read logvar as log σ"),
    (checks.kl_to_prior, kl_sigma_not_variance, "uses σ where it needs the variance σ²"),
    (checks.kl_to_prior, kl_no_half, "factor ½ is missing"),
    (checks.kl_to_prior, kl_no_minus_one, "− 1 is missing"),
    (checks.kl_to_prior, kl_not_summed, r"one number per latent coordinate"),
    (checks.kl_to_prior, kl_mean_over_dims, "averaged over the latent dimension"),
    (checks.reparameterized_sample, rep_sample_no_grad, "no gradient reaches mu and logvar"),
    (checks.reparameterized_sample, rep_variance_as_scale, r"exp\(logvar\) = σ², not by σ"),
    (checks.reparameterized_sample, rep_uniform_noise, "expected 0"),
    (checks.reparameterized_sample, rep_one_eps_for_all, "standard deviation"),
    (checks.reparameterized_sample, rep_logvar_unused, "does not depend on logvar"),
    (checks.elbo_estimate, elbo_logvar_as_log_sigma, "read logvar as log σ"),
    (checks.elbo_estimate, elbo_no_log_q, r"− log q\(z\) term is missing"),
    (checks.elbo_estimate, elbo_plus_log_q, "wrong sign"),
    (checks.elbo_estimate, elbo_no_prior, r"lacks the prior term"),
    (checks.elbo_estimate, elbo_not_reparameterized, "samples do not move with mu"),
    (checks.elbo_estimate, elbo_batch_mean, "single number"),
    (checks.elbo_estimate, elbo_detached_mu, "no gradient reaches mu"),
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


def test_failure_message_quantifies_a_generic_error():
    def kl_off(mu, logvar):
        return kl_ok(mu, logvar) + 0.1 * mu[..., 0]  # an error none of the diagnoses names
    with pytest.raises(CheckFailure, match=r"is off: got .* where .* was expected"):
        checks.kl_to_prior(kl_off)

    def elbo_off(model, x, mu, logvar, n_samples):
        return elbo_ok(model, x, mu, logvar, n_samples) - 0.5
    with pytest.raises(CheckFailure, match=r"expected -?\d+\.\d{4} ± \d+\.\d{4}"):
        checks.elbo_estimate(elbo_off)


@pytest.mark.parametrize("check,good", [(checks.reparameterized_sample, rep_ok), (checks.elbo_estimate, elbo_ok)])
def test_checks_do_not_disturb_the_global_rng(check, good):
    torch.manual_seed(0)
    a = torch.rand(3)
    torch.manual_seed(0)
    check(good)
    assert torch.equal(torch.rand(3), a)


def test_crash_in_learner_code_is_reported_plainly():
    def crash(model, x, mu, logvar, n_samples):
        z = mu + torch.randn(n_samples, 5)  # wrong latent size
        return model.likelihood(z).log_prob(x).mean(0)
    with pytest.raises(CheckFailure, match="elbo_estimate raised RuntimeError"):
        checks.elbo_estimate(crash)


def test_derive_exercises_cannot_hand_the_work_to_torch_or_the_course():
    from vae_utils.checks import _lesson5
    with pytest.raises(CheckFailure, match="implement elbo_gap yourself"):
        checks.elbo_gap(gap_via_torch)
    with pytest.raises(CheckFailure, match="implement elbo_gap yourself"):
        checks.elbo_gap(lambda mu_q, Sigma_q, mu_post, Sigma_post: _lesson5._elbo_gap(mu_q, Sigma_q, mu_post, Sigma_post))
    with pytest.raises(CheckFailure, match="implement weight_second_moment yourself"):
        checks.weight_second_moment(lambda *a: _lesson5._weight_second_moment(*a))


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
    assert set(_lesson5.__all__) == {"kl_to_prior", "elbo_gap", "reparameterized_sample", "elbo_estimate",
                                     "weight_second_moment"}
    for name in _lesson5.__all__:
        assert getattr(checks, name) is getattr(_lesson5, name)
        assert "Source:" in getattr(_lesson5, name).__doc__
