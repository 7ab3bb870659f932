"""Checks for the exercises of lessons 5 and 5b: the closed-form KL to the prior, the ELBO's
gap as a KL between two Gaussians (derived), the reparameterized sample, the Monte Carlo
ELBO, and the second moment of the importance weights of a Gaussian q (derived).

Every reference comes from ``vae_utils`` or ``torch.distributions``: ``kl_normal_std_normal``,
``kl_divergence`` of two ``MultivariateNormal``, and the exact ``LinearGaussianLVM`` (log p(x)
and the posterior, so the exact ELBO is log p(x) − KL(q ‖ p(z|x))). Hidden inputs are seeded; checks that run the learner's random
code do so inside ``torch.random.fork_rng``, so the learner's own random stream is untouched.
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from ..estimators import kl_normal_std_normal
from ..lvm import LinearGaussianLVM
from ._common import hidden_model, exercise, fallback_for, gen, manual_seed, as_tensor, call, expect_close, expect_shape, fail, passed

__all__ = ["kl_to_prior", "elbo_gap", "reparameterized_sample", "elbo_estimate", "weight_second_moment"]

_F64 = torch.float64
_KL_FORMULA = "KL = 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(dim=-1)"


def _close(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-6, rtol: float = 1e-6) -> bool:
    return a.shape == b.shape and bool(torch.all((a - b).abs() <= atol + rtol * b.abs()))


@exercise("vae_utils.estimators.kl_normal_std_normal")
def kl_to_prior(fn) -> None:
    """Check ``fn(mu, logvar) -> KL(N(mu, diag exp(logvar)) ‖ N(0, I))``, summed over the last dim.

    Calls ``fn`` on a hidden (6, 3) batch of means and log-variances and on mu = logvar = 0
    (KL = 0), and compares with ``vae_utils.estimators.kl_normal_std_normal``. Recognises the
    usual slips — the wrong sign, ``logvar`` read as log σ, σ where σ² belongs, a missing ½ or
    − 1, a mean instead of a sum — and names them.

    Source: Kingma & Welling 2014, "Auto-Encoding Variational Bayes", appendix B.
    """
    g = gen(505)
    mu = torch.randn(6, 3, generator=g, dtype=_F64)
    logvar = 1.5 * torch.randn(6, 3, generator=g, dtype=_F64)
    out = as_tensor(call(fn, mu.clone(), logvar.clone(), name="kl_to_prior"), "kl_to_prior(mu, logvar)")
    expected = kl_normal_std_normal(mu, logvar)
    if out.shape == (6, 3):
        fail("kl_to_prior returned one number per latent coordinate, shape (6, 3); expected one per row, (6,).",
             "the KL of a diagonal Gaussian is the sum of the per-coordinate KLs: .sum(dim=-1).")
    expect_shape(out, (6,), "kl_to_prior(mu, logvar) for mu and logvar of shape (6, 3)",
                 "sum over the last (latent) dimension only: one KL per row.")
    if not _close(out, expected):
        var = logvar.exp()
        diagnoses = [
            (-expected, "the KL has the wrong sign: a KL divergence is never negative.",
             "KL(q ‖ p) = E_q[log q(z) − log p(z)]; " + _KL_FORMULA),
            (0.5 * (mu ** 2 + (2 * logvar).exp() - 2 * logvar - 1).sum(-1),
             "you read logvar as log σ: the formula used σ² = exp(2·logvar).",
             "logvar is log σ², so σ² = logvar.exp() and log σ² = logvar itself."),
            (0.5 * (mu ** 2 + var.sqrt() - logvar - 1).sum(-1),
             "the formula uses σ where it needs the variance σ².",
             "σ² = exp(logvar), not exp(0.5 * logvar); " + _KL_FORMULA),
            (0.5 * (mu ** 2 + var.sqrt() - 0.5 * logvar - 1).sum(-1),
             "the formula uses σ and log σ where it needs σ² and log σ².",
             "the KL of N(μ, σ²) from N(0, 1) is ½(μ² + σ² − log σ² − 1) per coordinate."),
            (2 * expected, "every value is twice the KL: the factor ½ is missing.", _KL_FORMULA),
            (expected + 0.5 * 3, "every value is too large by ½ per coordinate: the − 1 is missing.",
             _KL_FORMULA),
            (expected / 3, "the values are a third of the KL: you averaged over the latent dimension.",
             "sum the per-coordinate KLs over the last dimension, do not average them."),
        ]
        for wrong, message, hint in diagnoses:
            if _close(out, wrong):
                fail(message, hint)
        expect_close(out, expected, "kl_to_prior(mu, logvar)", hint=_KL_FORMULA)
    zero = as_tensor(call(fn, torch.zeros(2, 4, dtype=_F64), torch.zeros(2, 4, dtype=_F64),
                          name="kl_to_prior"), "kl_to_prior(0, 0)")
    expect_shape(zero, (2,), "kl_to_prior(mu, logvar) for mu and logvar of shape (2, 4)",
                 "sum over the last dimension only.")
    expect_close(zero, torch.zeros(2, dtype=_F64), "KL of N(0, I) from itself", atol=1e-9,
                 hint="with mu = 0 and logvar = 0, q is the prior and the KL must be 0.")
    passed("kl_to_prior matches the closed form ½ Σ (μ² + σ² − log σ² − 1) with σ² = exp(logvar).")


@exercise("vae_utils.vae.VAE.reparameterize")
def reparameterized_sample(fn) -> None:
    """Check ``fn(mu, logvar, n_samples) -> z`` of shape (n_samples, *mu.shape), z = mu + σ ε.

    Three things are checked on a hidden 3-D diagonal Gaussian: gradients reach ``mu`` and
    ``logvar`` (a sample drawn with ``.sample()`` or ``torch.normal`` cuts them); the
    gradients are exactly those of z = mu + exp(½ logvar) ε, i.e. ∂z/∂logvar = ½ (z − mu); and
    20,000 draws have mean ``mu`` and standard deviation σ = exp(½ logvar).

    Source: Kingma & Welling 2014, §2.4; Rezende, Mohamed & Wierstra 2014, §3.
    """
    n = 20_000
    mu = torch.tensor([0.5, -1.0, 2.0], dtype=_F64, requires_grad=True)
    logvar = torch.tensor([-1.5, 0.8, 2.0], dtype=_F64, requires_grad=True)
    sigma = torch.exp(0.5 * logvar.detach())
    with torch.random.fork_rng():
        manual_seed(606)
        z = call(fn, mu, logvar, n, name="reparameterized_sample")
    if not isinstance(z, torch.Tensor):
        fail(f"reparameterized_sample should return a tensor, got {type(z).__name__}.",
             "return z = mu + sigma * eps as a torch tensor.")
    expect_shape(z, (n, 3), "reparameterized_sample(mu, logvar, n_samples) for mu of shape (3,)",
                 "draw eps = torch.randn(n_samples, *mu.shape): one row per sample.")
    if not z.requires_grad:
        fail("no gradient reaches mu and logvar: z was drawn by a sampler (.sample(), torch.normal), "
             "which cuts the computation graph.",
             "draw the noise separately, eps = torch.randn(...), then compute z = mu + sigma * eps.")
    c = torch.randn(n, 3, generator=gen(607), dtype=_F64)
    g_mu, g_logvar = torch.autograd.grad((z * c).sum(), (mu, logvar), allow_unused=True)
    if g_mu is None or g_logvar is None:
        missing = "mu" if g_mu is None else "logvar"
        fail(f"z does not depend on {missing}, so no gradient reaches it.",
             "z = mu + torch.exp(0.5 * logvar) * eps uses both.")
    zd = z.detach().to(_F64)
    want_mu = c.sum(0)
    want_logvar = (c * 0.5 * (zd - mu.detach())).sum(0)
    if not _close(g_mu.to(_F64), want_mu, atol=1e-6, rtol=1e-6):
        fail("the gradient of z with respect to mu is not 1: z should be mu plus noise.",
             "z = mu + sigma * eps, with mu added once, not scaled.")
    if not _close(g_logvar.to(_F64), want_logvar, atol=1e-6, rtol=1e-4):
        if _close(g_logvar.to(_F64), 2 * want_logvar, atol=1e-6, rtol=1e-4):
            fail("z scales the noise by exp(logvar) = σ², not by σ.",
                 "logvar is log σ², so σ = torch.exp(0.5 * logvar).")
        fail("the gradient of z with respect to logvar is not that of mu + exp(0.5 * logvar) * eps.",
             "σ = torch.exp(0.5 * logvar): the standard deviation, from the log-variance.")
    eps = (zd - mu.detach()) / sigma
    m, s = eps.mean(0), eps.std(0)
    if torch.any(s < 0.1):
        fail(f"the {n:,} draws barely differ: the noise eps = (z − mu)/σ has standard deviation "
             f"{s.numpy().round(3)}, expected 1.",
             "draw a fresh eps for every sample: eps = torch.randn(n_samples, *mu.shape).")
    if torch.any(m.abs() > 5 / math.sqrt(n)):
        fail(f"the noise eps = (z − mu)/σ has mean {m.numpy().round(3)}, expected 0.",
             "eps must be standard normal: torch.randn, not torch.rand.")
    if torch.any((s - 1).abs() > 5 / math.sqrt(2 * n)):
        fail(f"the noise eps = (z − mu)/σ has standard deviation {s.numpy().round(3)}, expected 1 "
             f"(checked on {n:,} draws).",
             "eps must be standard normal, torch.randn; a fresh draw for every sample.")
    passed(f"reparameterized_sample gives z = mu + exp(½ logvar) ε: gradients reach mu and logvar, and {n:,} "
           "draws have the right mean and spread.")




def _diag(mu: torch.Tensor, logvar: torch.Tensor) -> Independent:
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


def _exact_elbo(model: LinearGaussianLVM, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """ELBO = log p(x) − KL(q ‖ p(z|x)), exact for the linear-Gaussian model."""
    q = MultivariateNormal(mu, scale_tril=torch.diag_embed(torch.exp(0.5 * logvar)))
    return model.log_marginal(x) - kl_divergence(q, model.posterior(x))


@exercise("vae_utils.estimators.elbo", "vae_utils.estimators.log_marginal_is")
def elbo_estimate(fn) -> None:
    """Check ``fn(model, x, mu, logvar, n_samples) -> (B,)``: the Monte Carlo ELBO of each data point.

    q(z|x) = N(mu, diag exp(logvar)) with batch (B,). On a hidden linear-Gaussian model with
    B = 3 data points, 40,000 samples must land within five standard errors of the exact
    ELBO log p(x) − KL(q ‖ p(z|x)); the estimate must be differentiable in ``mu`` (sampled by
    reparameterization) with a gradient within Monte Carlo error of the exact one. Either
    form is accepted: the mean of log p(x, z) − log q(z), or the mean of log p(x|z) minus the
    closed-form KL. Names the common slips: logvar read as log σ, a missing − log q(z) or
    log p(z) term, the sign of log q(z), averaging over the batch.

    Source: Kingma & Welling 2014, eqs. 2–3 and 7; Kingma & Welling 2019, §2.2.
    """
    model, x = hidden_model(4, 2, 0.8, 707, n_x=3)
    post = model.posterior(x)
    g = gen(708)
    mu0 = post.mean + 0.3 * torch.randn(3, 2, generator=g, dtype=_F64)
    # Log-variances well away from 0 and from each other, so that reading logvar as log σ,
    # or dropping a term, moves the ELBO by many standard errors.
    logvar0 = torch.tensor([[-1.5, 0.5], [0.5, -1.5], [-1.0, 0.6]], dtype=_F64)
    n = 40_000
    mu, logvar = mu0.clone().requires_grad_(True), logvar0.clone().requires_grad_(True)
    with torch.random.fork_rng():
        manual_seed(709)
        out = call(fn, model, x.clone(), mu, logvar, n, name="elbo_estimate")
    if not isinstance(out, torch.Tensor):
        fail(f"elbo_estimate should return a tensor, got {type(out).__name__}.",
             "return the mean over samples of log p(x, z) − log q(z), one number per data point.")
    if out.dim() == 0:
        fail("elbo_estimate returned a single number; expected one ELBO per data point, shape (3,).",
             "average over the samples (dim 0) only, not over the batch.")
    expect_shape(out, (3,), "elbo_estimate for a batch of 3 data points",
                 "z = mu + sigma * eps has shape (n_samples, B, k); log-weights (n_samples, B); "
                 "average over dim 0.")

    # Reference, with Monte Carlo tolerance from the spread of both accepted forms.
    with torch.no_grad():
        expected = _exact_elbo(model, x, mu0, logvar0)
        q = _diag(mu0, logvar0)
        zs = mu0 + torch.exp(0.5 * logvar0) * torch.randn(
            n, 3, 2, generator=gen(710), dtype=_F64)
        log_lik = model.likelihood(zs).log_prob(x)
        log_w = log_lik + model.prior.log_prob(zs) - q.log_prob(zs)
        spread = torch.maximum(log_w.std(0), log_lik.std(0))
        tol = 5 * spread / math.sqrt(n) + 1e-6
        value = out.detach().to(_F64)
        if torch.any((value - expected).abs() > tol):
            entropy = q.entropy()
            mean_log_prior = (model.prior.log_prob(zs)).mean(0)
            diagnoses = [
                (_exact_elbo(model, x, mu0, 2 * logvar0),
                 "the estimate matches a q with σ = exp(logvar): you read logvar as log σ.",
                 "logvar is log σ², so sigma = torch.exp(0.5 * logvar)."),
                (expected - entropy,
                 "the estimate is E_q[log p(x, z)]: the − log q(z) term is missing.",
                 "ELBO = mean of log p(x|z) + log p(z) − log q(z) over the samples."),
                (expected - 2 * entropy,
                 "log q(z) enters with the wrong sign.",
                 "ELBO = mean of log p(x|z) + log p(z) − log q(z): q's log-density is subtracted."),
                (expected - mean_log_prior,
                 "the estimate lacks the prior term log p(z).",
                 "log p(x, z) = log p(x|z) + log p(z): both enter the ELBO "
                 "(or use log p(x|z) minus the closed-form KL)."),
            ]
            # Name the slip whose value lies nearest, if it is within Monte Carlo reach.
            dist = [float(((value - wrong).abs() / tol).max()) for wrong, _, _ in diagnoses]
            j = min(range(len(dist)), key=dist.__getitem__)
            if dist[j] < 3:
                fail(diagnoses[j][1], diagnoses[j][2])
            i = int(torch.argmax((value - expected).abs() - tol))
            fail(f"the ELBO of data point {i} is {value[i].item():.4f}, expected {expected[i].item():.4f} "
                 f"± {tol[i].item():.4f} (5 standard errors of a {n:,}-sample estimate).",
                 "ELBO ≈ mean over samples of model.likelihood(z).log_prob(x) + model.prior.log_prob(z) "
                 "− q.log_prob(z), with z = mu + exp(0.5 * logvar) * eps.")
        if torch.any(value > model.log_marginal(x) + tol):
            fail("the estimate lies above log p(x), which no ELBO can do on average.",
                 "check the sign of each term.")

    if not out.requires_grad:
        fail("the estimate cannot be differentiated with respect to mu and logvar: the samples were "
             "drawn with .sample(), which cuts the gradient.",
             "draw z = mu + exp(0.5 * logvar) * eps (or q.rsample()), so gradients flow into mu and logvar.")
    (g_mu,) = torch.autograd.grad(out.sum(), (mu,), allow_unused=True)
    if g_mu is None:
        fail("no gradient reaches mu.", "z = mu + exp(0.5 * logvar) * eps must use mu.")
    mu_e = mu0.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(_exact_elbo(model, x, mu_e, logvar0).sum(), (mu_e,))
    with torch.no_grad():
        # Per-sample gradients of both accepted forms: ∇_z log p(x, z) and ∇_z log p(x|z) − mu.
        resid = (x - zs @ model.W.T - model.b) @ model.W / model.sigma ** 2
        spread = torch.maximum((resid - zs).std(0), resid.std(0))
        tol_g = 6 * spread / math.sqrt(n) + 1e-6
    if torch.any((g_mu.to(_F64) - want).abs() > tol_g):
        if torch.all(g_mu.abs() <= tol_g):
            fail("the gradient with respect to mu is about 0: the samples do not move with mu, so only "
                 "log q(z) carries mu and its average gradient vanishes. The samples were drawn with "
                 ".sample() or detached.",
                 "draw z = mu + exp(0.5 * logvar) * eps (or q.rsample()), so each sample moves with mu.")
        fail(f"the gradient of your ELBO with respect to mu is off: largest difference "
             f"{(g_mu.to(_F64) - want).abs().max().item():.3g}, Monte Carlo tolerance "
             f"{tol_g.max().item():.3g}.",
             "differentiate through the samples themselves: z = mu + exp(0.5 * logvar) * eps, "
             "with eps drawn once and not detached from mu.")
    passed(f"elbo_estimate is within Monte Carlo error of the exact ELBO on 3 data points ({n:,} samples), "
           "and its gradient with respect to mu is right.")


# --- derived closed forms: the ELBO's gap, and the second moment of the weights -------------------

_GAP_FORMULA = ("KL = ½ [tr(Σ_post⁻¹ Σ_q) + (μ_post − μ_q)ᵀ Σ_post⁻¹ (μ_post − μ_q) − k "
                "+ log det Σ_post − log det Σ_q]")


def _spd(k: int, g: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    """A random symmetric positive-definite (k, k) matrix, well conditioned, float64."""
    A = torch.randn(k, k, generator=g, dtype=_F64)
    return scale * (A @ A.T / k + 0.3 * torch.eye(k, dtype=_F64))


def _scalar(value, what: str) -> torch.Tensor:
    out = as_tensor(value, what)
    if out.numel() != 1:
        fail(f"{what} returned {tuple(out.shape)} numbers; expected one number.",
             "the inputs describe one pair of Gaussians: sum the terms to a single number.")
    return out.reshape(())


def _kl_parts(mu_q, S_q, mu_p, S_p):
    """The four pieces of KL(N(mu_q, S_q) ‖ N(mu_p, S_p)): trace, Mahalanobis, k, log-det ratio."""
    P = torch.linalg.inv(S_p)
    diff = mu_p - mu_q
    return (torch.trace(P @ S_q), diff @ P @ diff, len(mu_q), torch.logdet(S_p) - torch.logdet(S_q))


@fallback_for("elbo_gap")
def _elbo_gap(mu_q, Sigma_q, mu_post, Sigma_post) -> torch.Tensor:
    """The course's version of exercise ``elbo_gap`` (for ``try_yours``): KL(N(mu_q, Sigma_q) ‖
    N(mu_post, Sigma_post)) in closed form, a 0-dim tensor in nats."""
    tr, maha, k, logdet = _kl_parts(*(torch.as_tensor(a, dtype=_F64) for a in (mu_q, Sigma_q, mu_post, Sigma_post)))
    return 0.5 * (tr + maha - k + logdet)


@exercise("torch.distributions.kl._kl_multivariatenormal_multivariatenormal", "vae_utils.checks._lesson5._elbo_gap")
def elbo_gap(fn) -> None:
    """Check ``fn(mu_q, Sigma_q, mu_post, Sigma_post) -> log p(x) − ELBO(q)``, derived in closed form.

    The gap is KL(q ‖ p(z|x)) for q = N(mu_q, Sigma_q) and the posterior N(mu_post, Sigma_post):
    ½ [tr(Σ_post⁻¹ Σ_q) + (μ_post − μ_q)ᵀ Σ_post⁻¹ (μ_post − μ_q) − k + log det Σ_post − log det Σ_q].
    Run on a hidden pair of 3-D Gaussians and a 2-D pair (so k is not hard-coded), and on
    q = posterior (gap 0); the reference is ``torch.distributions.kl_divergence``, which the
    learner's function may not call (the exercise is the derivation). Names the usual wrong
    derivations: the KL's direction swapped (KL(p ‖ q)), a missing or sign-flipped log-det
    term, tr Σ_q or a missing trace where tr(Σ_post⁻¹ Σ_q) belongs, the mean term measured
    with Σ_q⁻¹, a missing ½, − k or mean term.

    Source: Bishop 2006, "Pattern Recognition and Machine Learning", exercise 2.13 / eq. (B.51)
    of Kingma & Welling 2014's appendix for the diagonal case; Kullback 1959.
    """
    g = gen(515)
    cases = []
    for k in (3, 2):
        mu_q, mu_p = torch.randn(k, generator=g, dtype=_F64), torch.randn(k, generator=g, dtype=_F64)
        cases.append((mu_q, _spd(k, g, 0.6), mu_p, _spd(k, g, 1.4)))
    for mu_q, S_q, mu_p, S_p in cases:
        k = len(mu_q)
        out = _scalar(call(fn, mu_q.clone(), S_q.clone(), mu_p.clone(), S_p.clone(), name="elbo_gap"),
                      f"elbo_gap for k = {k}")
        expected = kl_divergence(MultivariateNormal(mu_q, S_q), MultivariateNormal(mu_p, S_p))
        if _close(out, expected, atol=1e-8, rtol=1e-8):
            continue
        tr, maha, _, logdet = _kl_parts(mu_q, S_q, mu_p, S_p)
        Pq = torch.linalg.inv(S_q)
        diff = mu_p - mu_q
        diagnoses = [
            (kl_divergence(MultivariateNormal(mu_p, S_p), MultivariateNormal(mu_q, S_q)),
             "you computed KL(p(z|x) ‖ q), the KL in the other direction.",
             "the gap is E_q[log q(z) − log p(z|x)] = KL(q ‖ p(z|x)): the expectation is under q, so "
             "the posterior's precision Σ_post⁻¹ meets Σ_q in the trace."),
            (0.5 * (tr + maha - k), "the log-determinant term is missing.",
             "E_q[log q] and E_q[log p] carry −½ log det Σ_q and −½ log det Σ_post: "
             "+ ½ (log det Σ_post − log det Σ_q)."),
            (0.5 * (tr + maha - k - logdet), "the log-determinant term has the wrong sign.",
             "KL(q ‖ p) = E_q[log q(z) − log p(z|x)]: E_q[log q] brings −½ log det Σ_q and "
             "−E_q[log p(z|x)] brings +½ log det Σ_post."),
            (0.5 * (torch.trace(S_q) + maha - k + logdet),
             "the trace term is tr(Σ_q): the posterior's precision Σ_post⁻¹ is missing from it.",
             "E_q[(z − μ_post)ᵀ Σ_post⁻¹ (z − μ_post)] = tr(Σ_post⁻¹ Σ_q) + (μ_q − μ_post)ᵀ Σ_post⁻¹ (μ_q − μ_post)."),
            (0.5 * (maha - k + logdet), "the trace term tr(Σ_post⁻¹ Σ_q) is missing.",
             "E_q[(z − μ_post)ᵀ Σ_post⁻¹ (z − μ_post)] = tr(Σ_post⁻¹ Σ_q) + (μ_q − μ_post)ᵀ Σ_post⁻¹ (μ_q − μ_post)."),
            (0.5 * (tr + diff @ Pq @ diff - k + logdet),
             "the mean term uses Σ_q⁻¹: the distance between the means is measured with the posterior's precision.",
             "(μ_post − μ_q)ᵀ Σ_post⁻¹ (μ_post − μ_q): the log-density being averaged is the posterior's."),
            (0.5 * (tr - k + logdet), "the mean term (μ_post − μ_q)ᵀ Σ_post⁻¹ (μ_post − μ_q) is missing.",
             _GAP_FORMULA),
            (2 * expected, "every value is twice the KL: the factor ½ is missing.", _GAP_FORMULA),
            (expected + 0.5 * k, "the value is too large by k/2: the − k is missing.",
             "E_q[(z − μ_q)ᵀ Σ_q⁻¹ (z − μ_q)] = k, and it enters with ½: " + _GAP_FORMULA),
        ]
        for wrong, message, hint in diagnoses:
            if _close(out, wrong.reshape(()), atol=1e-8, rtol=1e-8):
                fail(f"for k = {k}: {message}", hint)
        steps = 2 * (out - expected).item()
        if abs(steps - round(steps)) < 1e-6:
            fail(f"for k = {k} the value is off by {steps / 2:+g}, a multiple of ½: the − k term uses another "
                 f"dimension than k = {k}.", "k is the dimension of z: k = len(mu_q), not a fixed number.")
        expect_close(out, expected, f"elbo_gap for k = {k}", atol=1e-8, hint=_GAP_FORMULA)
    mu_q, S_q = cases[0][0], cases[0][1]
    same = _scalar(call(fn, mu_q.clone(), S_q.clone(), mu_q.clone(), S_q.clone(), name="elbo_gap"),
                   "elbo_gap(q = posterior)")
    expect_close(same, torch.zeros((), dtype=_F64), "the gap when q is the posterior", atol=1e-9,
                 hint="at q = p(z|x) the ELBO is tight: tr(I) − k = 0, and the log-dets cancel.")
    passed("elbo_gap gives KL(q ‖ p(z|x)) of two Gaussians in closed form, for k = 3 and k = 2, "
           "and 0 at the posterior.")


_MOMENT_FORMULA = ("whiten with L L^T = Sigma_post: C = L^-1 Sigma_q L^-T, u = L^-1 (mu_q - mu_post); "
                   "1 + CV² = prod_i λ_i / sqrt(2 λ_i − 1) · exp(u^T (2C − I)^-1 u) over the eigenvalues λ_i "
                   "of C, and inf when min λ_i ≤ ½")


def _whiten(mu_q, S_q, mu_p, S_p):
    L = torch.linalg.cholesky(S_p)
    C = torch.linalg.solve_triangular(L, torch.linalg.solve_triangular(L, S_q, upper=False).T, upper=False)
    u = torch.linalg.solve_triangular(L, (mu_q - mu_p).unsqueeze(-1), upper=False).squeeze(-1)
    return 0.5 * (C + C.T), u


@fallback_for("weight_second_moment")
def _weight_second_moment(mu_q, Sigma_q, mu_post, Sigma_post) -> torch.Tensor:
    """The course's version of exercise ``weight_second_moment`` (for ``try_yours``):
    E_q[w²] / p(x)² = ∫ p(z|x)² / q(z) dz for Gaussian q and posterior; inf when it diverges."""
    C, u = _whiten(*(torch.as_tensor(a, dtype=_F64) for a in (mu_q, Sigma_q, mu_post, Sigma_post)))
    lam = torch.linalg.eigvalsh(C)
    if lam.min() <= 0.5:
        return torch.tensor(math.inf, dtype=_F64)
    two_c = 2 * C - torch.eye(len(u), dtype=_F64)
    return torch.prod(lam / torch.sqrt(2 * lam - 1)) * torch.exp(u @ torch.linalg.solve(two_c, u))


@exercise("vae_utils.checks._lesson5._weight_second_moment")
def weight_second_moment(fn) -> None:
    """Check ``fn(mu_q, Sigma_q, mu_post, Sigma_post) -> 1 + CV²`` of the importance weights of q.

    For w = p(x, z)/q(z), z ~ q = N(mu_q, Sigma_q), and a Gaussian posterior N(mu_post, Sigma_post):
    E_q[w²]/p(x)² = ∫ p(z|x)²/q(z) dz. Whitened by L Lᵀ = Σ_post, q becomes N(u, C) and the
    posterior N(0, I); the integral is Π_i λ_i/√(2λ_i − 1) · exp(uᵀ(2C − I)⁻¹u) over the
    eigenvalues λ_i of C when every λ_i > ½, and +∞ otherwise (lesson 4's criterion, in every
    direction). Run on a hidden 3-D pair with finite moment, a pair with one λ < ½ (must be
    inf) and q = posterior (must be 1). Names the usual slips: CV² instead of 1 + CV², the
    roles of q and the posterior swapped, the shift term missing or with a factor ½, the
    per-coordinate ratios Σ_q,jj/Σ_post,jj used without whitening, and a finite number or NaN
    where the integral diverges.

    Source: Owen 2013, "Monte Carlo theory, methods and examples", §9.1 (the variance of
    importance sampling); the Gaussian integral by completing the square, as in lesson 4.
    """
    g = gen(525)
    k = 3
    L = torch.linalg.cholesky(_spd(k, g))
    V, _ = torch.linalg.qr(torch.randn(k, k, generator=g, dtype=_F64))
    mu_p = torch.randn(k, generator=g, dtype=_F64)
    u = 0.6 * torch.randn(k, generator=g, dtype=_F64)
    mu_q = mu_p + L @ u

    def q_cov(lams):
        return L @ (V @ torch.diag(torch.tensor(lams, dtype=_F64)) @ V.T) @ L.T

    S_p = L @ L.T
    S_q = q_cov([0.7, 1.3, 2.2])
    expected = _weight_second_moment(mu_q, S_q, mu_p, S_p)
    out = _scalar(call(fn, mu_q.clone(), S_q.clone(), mu_p.clone(), S_p.clone(), name="weight_second_moment"),
                  "weight_second_moment")
    if not _close(out, expected, atol=1e-8, rtol=1e-8):
        C, uu = _whiten(mu_q, S_q, mu_p, S_p)
        lam = torch.linalg.eigvalsh(C)
        det_part = torch.prod(lam / torch.sqrt(2 * lam - 1))
        shift = uu @ torch.linalg.solve(2 * C - torch.eye(k, dtype=_F64), uu)
        c2 = S_q.diagonal() / S_p.diagonal()
        d2 = (mu_q - mu_p) ** 2 / S_p.diagonal()
        diagnoses = [
            (expected - 1, "the value is 1 + CV² minus 1: you returned CV², the squared coefficient of variation.",
             "E_q[w²]/p(x)² = 1 + CV² (the mean of w/p(x) is 1): return the second moment itself."),
            (_weight_second_moment(mu_p, S_p, mu_q, S_q),
             "the roles are swapped: that is the moment of the posterior's weights as a proposal for q.",
             "q is the proposal: whiten by the posterior's covariance, C = L⁻¹ Σ_q L⁻ᵀ with L Lᵀ = Σ_post."),
            (det_part, "the shift term is missing: the means differ, which costs exp(uᵀ(2C − I)⁻¹u).",
             _MOMENT_FORMULA),
            (det_part * torch.exp(0.5 * shift), "the exponent of the shift term carries an extra ½.",
             "completing the square gives exp(uᵀ(2C − I)⁻¹u), with no ½: in one dimension exp(δ²/(2c² − 1))."),
            (torch.prod(c2 / torch.sqrt(2 * c2 - 1)) * torch.exp((d2 / (2 * c2 - 1)).sum()),
             "you used the per-coordinate ratios Σ_q,jj / Σ_post,jj: the posterior is correlated, so the "
             "coordinates must be whitened first.",
             _MOMENT_FORMULA),
            (torch.log(expected), "you returned the log of the second moment.", "return 1 + CV² itself."),
        ]
        for wrong, message, hint in diagnoses:
            if torch.isfinite(wrong) and _close(out, wrong.reshape(()), atol=1e-8, rtol=1e-8):
                fail(message, hint)
        if torch.isinf(out):
            if torch.isinf(diagnoses[1][0]):
                fail("you returned inf: with the roles of q and the posterior swapped, the posterior's "
                     "whitened variances 1/λ_i fall below ½ — but here q is the proposal.", diagnoses[1][2])
            fail(f"you returned inf, but every whitened variance of q is above ½ (the smallest is "
                 f"{lam.min().item():.2f}): the integral is finite.", _MOMENT_FORMULA)
        expect_close(out, expected, "weight_second_moment (every whitened variance above ½)", atol=1e-8,
                     hint=_MOMENT_FORMULA)

    S_bad = q_cov([0.35, 1.1, 1.6])
    bad = _scalar(call(fn, mu_q.clone(), S_bad.clone(), mu_p.clone(), S_p.clone(), name="weight_second_moment"),
                  "weight_second_moment")
    if torch.isnan(bad):
        fail("the result is NaN where one whitened variance is 0.35 < ½: the square root of 2λ − 1 < 0.",
             "test the criterion first: if the smallest eigenvalue of C is ≤ ½, the integral diverges; "
             "return float('inf').")
    if not (torch.isinf(bad) and bad > 0):
        fail(f"the result is {bad.item():.4g} where one whitened variance of q is 0.35 < ½: the integral "
             "∫ p(z|x)²/q(z) dz diverges there, so the variance of the weights is infinite.",
             "compute the eigenvalues of C = L⁻¹ Σ_q L⁻ᵀ (torch.linalg.eigvalsh); if the smallest is ≤ ½, "
             "return float('inf').")
    one = _scalar(call(fn, mu_p.clone(), S_p.clone(), mu_p.clone(), S_p.clone(), name="weight_second_moment"),
                  "weight_second_moment(q = posterior)")
    expect_close(one, torch.ones((), dtype=_F64), "the moment when q is the posterior", atol=1e-9,
                 hint="at q = p(z|x) every weight equals p(x): CV² = 0, so 1 + CV² = 1.")
    passed("weight_second_moment gives 1 + CV² in closed form, +inf when a whitened variance is below ½, "
           "and 1 at the posterior.")
