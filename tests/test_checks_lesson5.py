"""Each lesson-5 check passes a correct answer, reports a stub as not implemented, and
rejects plausible wrong answers with a message that names the slip."""
import math

import pytest
import torch
from torch.distributions import Independent, Normal

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


# --- iwae_estimate -----------------------------------------------------------------------------
def iwae_ok(log_w):
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def iwae_mean_log_weights(log_w):
    return log_w.mean(dim=0)


def iwae_no_log_k(log_w):
    return torch.logsumexp(log_w, dim=0)


def iwae_naive(log_w):
    return torch.log(torch.exp(log_w).mean(dim=0))


def iwae_max(log_w):
    return log_w.max(dim=0).values


def iwae_all_dims(log_w):
    return torch.logsumexp(log_w.reshape(-1), dim=0) - math.log(log_w.numel())


ALL = [
    (checks.kl_to_prior, kl_ok), (checks.kl_to_prior, kl_via_torch),
    (checks.reparameterized_sample, rep_ok), (checks.reparameterized_sample, rep_via_rsample),
    (checks.elbo_estimate, elbo_ok), (checks.elbo_estimate, elbo_recon_minus_kl),
    (checks.elbo_estimate, elbo_rsample),
    (checks.iwae_estimate, iwae_ok),
]


@pytest.mark.parametrize("check,good", ALL)
def test_correct_answers_pass(check, good, capsys):
    check(good)
    out = capsys.readouterr().out
    assert out.startswith("✓") and out.count("\n") == 1


@pytest.mark.parametrize("check", [checks.kl_to_prior, checks.reparameterized_sample, checks.elbo_estimate,
                                   checks.iwae_estimate])
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
    (checks.iwae_estimate, iwae_mean_log_weights, "averaged the log-weights"),
    (checks.iwae_estimate, iwae_no_log_k, "− log k is missing"),
    (checks.iwae_estimate, iwae_naive, "underflows"),
    (checks.iwae_estimate, iwae_max, "largest log-weight"),
    (checks.iwae_estimate, iwae_all_dims, "single number"),
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


def test_checks_are_exported_with_docstrings():
    from vae_utils.checks import _lesson5
    assert set(_lesson5.__all__) == {"kl_to_prior", "reparameterized_sample", "elbo_estimate", "iwae_estimate"}
    for name in _lesson5.__all__:
        assert getattr(checks, name) is getattr(_lesson5, name)
        assert "Source:" in getattr(_lesson5, name).__doc__
