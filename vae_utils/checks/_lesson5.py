"""Checks for lesson 5's exercises: the closed-form KL, the reparameterized sample, the
Monte Carlo ELBO and the importance-weighted bound.

Every reference comes from ``vae_utils``: ``kl_normal_std_normal``, ``iwae_bound`` and the
exact ``LinearGaussianLVM`` (log p(x) and the posterior, so the exact ELBO is
log p(x) − KL(q ‖ p(z|x))). Hidden inputs are seeded; checks that run the learner's random
code do so inside ``torch.random.fork_rng``, so the learner's own random stream is untouched.
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from ..estimators import iwae_bound, kl_normal_std_normal
from ..lvm import LinearGaussianLVM
from ._common import hidden_model, exercise, gen, manual_seed, as_tensor, call, expect_close, expect_shape, fail, passed

__all__ = ["kl_to_prior", "reparameterized_sample", "elbo_estimate", "iwae_estimate"]

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


@exercise("vae_utils.estimators.iwae_bound", "vae_utils.estimators.log_marginal_is")
def iwae_estimate(fn) -> None:
    """Check ``fn(log_w) -> (B,)``: the importance-weighted bound from log-weights of shape (k, B).

    L_k = log (1/k) Σ_i w_i = logsumexp_i(log w_i) − log k. The log-weights are those of a
    hidden linear-Gaussian model with a diagonal q, and the reference is
    ``vae_utils.estimators.iwae_bound`` on the same draws. Also checked: k = 1 gives back the
    one log-weight (the one-sample ELBO), and log-weights near −1000, whose weights underflow
    to 0, still give a finite answer (log-sum-exp). Names the slips: averaging the
    log-weights (the ELBO estimate, not L_k) and forgetting − log k.

    Source: Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders", eq. 8.
    """
    model, x = hidden_model(4, 2, 0.8, 707, n_x=3)
    post = model.posterior(x)
    q = _diag(post.mean + 0.3, torch.log(post.covariance_matrix.diagonal(dim1=-2, dim2=-1)) + 0.4)
    k = 50
    with torch.random.fork_rng():
        manual_seed(808)
        expected = iwae_bound(model, x, q, k)
        manual_seed(808)
        z = q.rsample((k,))
        log_w = (model.likelihood(z).log_prob(x) + model.prior.log_prob(z) - q.log_prob(z)).detach()

    out = as_tensor(call(fn, log_w.clone(), name="iwae_estimate"), "iwae_estimate(log_w)")
    if out.dim() == 0:
        fail("iwae_estimate returned a single number; expected one bound per data point, shape (3,).",
             "log_w has shape (k, B): reduce over dim 0 (the k samples) only.")
    expect_shape(out, (3,), "iwae_estimate(log_w) for log_w of shape (50, 3)",
                 "log_w has shape (k, B): reduce over dim 0 (the k samples).")
    if not _close(out, expected, atol=1e-8, rtol=1e-8):
        if _close(out, log_w.mean(0), atol=1e-8, rtol=1e-8):
            fail("you averaged the log-weights: that is the k-sample ELBO estimate, not the bound L_k.",
                 "average the weights inside the log: torch.logsumexp(log_w, dim=0) − math.log(k).")
        if _close(out, expected + math.log(k), atol=1e-8, rtol=1e-8):
            fail(f"every value is too large by log k = {math.log(k):.4f}: the − log k is missing.",
                 "L_k = log of the *mean* weight: torch.logsumexp(log_w, dim=0) − math.log(k).")
        if _close(out, log_w.max(0).values, atol=1e-8, rtol=1e-8):
            fail("you returned the largest log-weight, not the log of the mean weight.",
                 "torch.logsumexp(log_w, dim=0) − math.log(k).")
        expect_close(out, expected, "iwae_estimate(log_w)", atol=1e-8,
                     hint="L_k = torch.logsumexp(log_w, dim=0) − math.log(k).")

    one = as_tensor(call(fn, log_w[:1].clone(), name="iwae_estimate"), "iwae_estimate(log_w[:1])")
    expect_shape(one, (3,), "iwae_estimate(log_w) for log_w of shape (1, 3)", "reduce over dim 0 only.")
    expect_close(one, log_w[0], "iwae_estimate with k = 1", atol=1e-8,
                 hint="with one sample the bound is that sample's log-weight: the one-sample ELBO.")

    shifted = as_tensor(call(fn, log_w.clone() - 1000.0, name="iwae_estimate"), "iwae_estimate(log_w − 1000)")
    if not torch.all(torch.isfinite(shifted)):
        fail("with log-weights near −1000 the result is not finite: exp(log_w) underflows to 0 and "
             "log(0) = −inf.",
             "use torch.logsumexp(log_w, dim=0), which subtracts the largest log-weight before exp.")
    expect_close(shifted, expected - 1000.0, "iwae_estimate(log_w − 1000)", atol=1e-6,
                 hint="shifting every log-weight by −1000 must shift L_k by exactly −1000; use torch.logsumexp.")
    passed("iwae_estimate matches vae_utils.estimators.iwae_bound, equals the log-weight at k = 1, "
           "and survives weights that underflow.")
