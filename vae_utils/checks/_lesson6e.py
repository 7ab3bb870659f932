"""Checks for lesson 6e's exercises (beyond the plain VAE):

* ``mixture_log_prob`` — log density of a learned mixture-of-Gaussians prior (implement);
* ``paired_verdict`` — which of two models has the higher mean log p̂(x), judged from paired
  per-digit estimates and their standard error (judge);
* ``optimal_discriminator`` — a GAN's best discriminator D*(x) for two known densities (derive);
* ``shared_covariance_logits`` — the Bayes classifier of Gaussians with one shared covariance
  as a linear map W x + b, the form logistic regression fits (derive);
* ``samples_for_se`` — how many samples a fraction's standard error needs (derive).

Each check draws its inputs from ``gen`` (so ``seed`` changes them), compares with a reference
computed independently (``torch.distributions`` or the closed form), and names the usual
wrong answers.
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal

from ._common import as_tensor, call, exercise, expect_close, expect_shape, fail, fallback_for, gen, passed

__all__ = ["mixture_log_prob", "paired_verdict", "optimal_discriminator", "shared_covariance_logits",
           "samples_for_se"]


# --- mixture_log_prob -----------------------------------------------------------------------
@fallback_for("mixture_log_prob")
def _mixture_log_prob(z, logits, means, logvars):
    """The course's version: log Σ_k softmax(logits)_k N(z; means_k, diag exp(logvars_k))."""
    log_w = torch.log_softmax(logits, dim=-1)
    comp = (-0.5 * (math.log(2 * math.pi) + logvars + (z[:, None, :] - means) ** 2 / logvars.exp())).sum(-1)
    return torch.logsumexp(log_w + comp, dim=1)


def _reference_mixture(z, logits, means, logvars):
    comp = Independent(Normal(means, torch.exp(0.5 * logvars)), 1)
    return MixtureSameFamily(Categorical(logits=logits), comp).log_prob(z)


@exercise("vae_utils.checks._lesson6e._mixture_log_prob")
def mixture_log_prob(fn) -> None:
    """Check ``fn(z, logits, means, logvars) -> (N,)``: log p(z) of a mixture of K diagonal
    Gaussians with weights softmax(logits) (K,), means (K, d), log-variances (K, d), at z (N, d).
    Reference: ``torch.distributions.MixtureSameFamily``. Also run on z far from every
    component, where exp(log N) underflows unless the sum is taken with log-sum-exp."""
    g = gen(6501)
    K, d = int(torch.randint(3, 7, (1,), generator=g)), int(torch.randint(2, 5, (1,), generator=g))
    logits = 2 * torch.randn(K, generator=g, dtype=torch.float64)
    means = 2 * torch.randn(K, d, generator=g, dtype=torch.float64)
    logvars = torch.randn(K, d, generator=g, dtype=torch.float64) * 0.5 - 1
    z = 2 * torch.randn(50, d, generator=g, dtype=torch.float64)
    far = 40 + 10 * torch.rand(5, d, generator=g, dtype=torch.float64)
    for what, zz in (("z near the components", z), ("z far from every component", far)):
        out = as_tensor(call(fn, zz.clone(), logits.clone(), means.clone(), logvars.clone(),
                             name="mixture_log_prob"), "log p(z)")
        expect_shape(out, (len(zz),), f"log p(z) for {len(zz)} points", "one log density per row of z.")
        ref = _reference_mixture(zz, logits, means, logvars)
        if not torch.all(torch.isfinite(out)):
            fail(f"log p(z) is -inf or NaN for {what}.",
                 "exp of a very negative log density underflows to 0: sum the components with "
                 "torch.logsumexp over k of (log weight + log N), never log(Σ exp(·)).")
        wrong = {
            "the weights are exp(logits), not normalised: use log_softmax(logits)":
                torch.logsumexp(logits + _components(zz, means, logvars), 1),
            "logvars was used as a standard deviation; it is log σ², so σ = exp(½ logvars)":
                torch.logsumexp(torch.log_softmax(logits, 0) + _components(zz, means, 2 * logvars), 1),
            "the components were added in log space (a product of densities), not mixed":
                (torch.log_softmax(logits, 0) + _components(zz, means, logvars)).sum(1),
            "the weights were left out: every component counted with weight 1":
                torch.logsumexp(_components(zz, means, logvars), 1),
        }
        if not torch.allclose(out.double(), ref, atol=1e-6, rtol=1e-6):
            for message, value in wrong.items():
                if torch.allclose(out.double(), value, atol=1e-6, rtol=1e-6):
                    fail(f"for {what}: {message}.")
        expect_close(out, ref, f"log p(z) for {what}", atol=1e-6, rtol=1e-6,
                     hint="log p(z) = logsumexp_k [log π_k + Σ_j log N(z_j; m_kj, exp(ℓ_kj))], "
                          "π = softmax(logits).")
    passed(f"mixture_log_prob matches torch's MixtureSameFamily for K = {K} components in {d} "
           f"dimensions, also far from every component.")


def _components(z, means, logvars):
    return (-0.5 * (math.log(2 * math.pi) + logvars + (z[:, None, :] - means) ** 2 / logvars.exp())).sum(-1)


# --- paired_verdict -------------------------------------------------------------------------
@fallback_for("paired_verdict", prediction=True)
def _paired_verdict(log_px_a, log_px_b):
    """The course's version: ("a" | "b" | "undecided", mean difference a − b, its paired s.e.)."""
    diff = torch.as_tensor(log_px_a, dtype=torch.float64) - torch.as_tensor(log_px_b, dtype=torch.float64)
    mean, se = diff.mean().item(), (diff.std() / math.sqrt(len(diff))).item()
    verdict = "a" if mean > 2 * se else "b" if mean < -2 * se else "undecided"
    return verdict, mean, se


def _pairs(g, n, gap, spread, noise):
    """n digits: a shared per-digit difficulty (sd ``spread``) plus small model noise."""
    base = -100 + spread * torch.randn(n, generator=g, dtype=torch.float64)
    a = base + noise * torch.randn(n, generator=g, dtype=torch.float64)
    b = base - gap + noise * torch.randn(n, generator=g, dtype=torch.float64)
    return a, b


@exercise("vae_utils.checks._lesson6e._paired_verdict")
def paired_verdict(fn) -> None:
    """Check ``fn(log_px_a, log_px_b) -> (verdict, diff, se)``: per-digit log p̂(x) of two models
    on the same N digits (N,) each; verdict "a" when the mean of a − b exceeds 2 paired standard
    errors, "b" when it is below −2, else "undecided"; diff the mean of a − b (nats), se
    = sd(a − b)/√N. The cases: a clear winner with large per-digit spread (an unpaired s.e. would
    call it undecided), a difference smaller than its paired s.e., and the winner swapped."""
    g = gen(6502)
    n = int(torch.randint(300, 800, (1,), generator=g))
    gap = 0.3 + 0.3 * float(torch.rand(1, generator=g))
    cases = [("a clear winner among widely spread digits", *_pairs(g, n, gap, 25.0, 1.0)),
             ("a difference within its noise", *_pairs(g, n, 0.02, 25.0, 1.5)),
             ("model b better", *reversed(_pairs(g, n, gap, 25.0, 1.0)))]
    for what, a, b in cases:
        out = call(fn, a.clone(), b.clone(), name="paired_verdict")
        if not isinstance(out, (tuple, list)) or len(out) != 3:
            fail(f"paired_verdict should return (verdict, diff, se), got {type(out).__name__}.",
                 'return e.g. ("a", 0.4, 0.05).')
        verdict, diff, se = out
        want_v, want_d, want_se = _paired_verdict(a, b)
        unpaired = math.sqrt((a.var() / n + b.var() / n).item())
        try:
            diff, se = float(diff), float(se)
        except (TypeError, ValueError, RuntimeError):
            fail("diff and se should be numbers.", "diff = mean of (a − b); se = its standard error.")
        if abs(diff + want_d) < 1e-9 < abs(want_d):
            fail(f"for {what}: diff has the wrong sign; it is the mean of a − b.")
        expect_close(torch.tensor(diff), torch.tensor(want_d), f"diff for {what}", atol=1e-8, rtol=1e-8,
                     hint="diff = (log_px_a − log_px_b).mean().")
        if abs(se - unpaired) < 1e-6 * unpaired:
            fail(f"for {what}: se = {se:.3g} is the unpaired standard error √(var a/N + var b/N); the "
                 f"models were scored on the same digits, so the paired one is sd(a − b)/√N = {want_se:.3g}.",
                 "each digit's difficulty is shared by both models: take the differences first.")
        if abs(se - want_se * math.sqrt(n)) < 1e-6 * want_se * math.sqrt(n):
            fail(f"for {what}: se = {se:.3g} is the standard deviation of a − b, not the standard error "
                 f"of its mean.", "divide by √N.")
        expect_close(torch.tensor(se), torch.tensor(want_se), f"se for {what}", atol=1e-9, rtol=1e-6,
                     hint="se = (a − b).std() / √N.")
        if verdict != want_v:
            fail(f"for {what} (diff {want_d:.3f} ± {want_se:.3f} nats): verdict {verdict!r}, expected "
                 f"{want_v!r}.", 'call a winner only when |diff| > 2 se; otherwise "undecided".')
    passed("paired_verdict pairs the digits, computes the paired standard error and calls a winner "
           "only beyond 2 standard errors.")


# --- optimal_discriminator ------------------------------------------------------------------
@fallback_for("optimal_discriminator")
def _optimal_discriminator(log_p_data, log_p_model):
    """The course's version: D*(x) = p_data / (p_data + p_model) = sigmoid(log p_data − log p_model)."""
    return torch.sigmoid(torch.as_tensor(log_p_data) - torch.as_tensor(log_p_model))


@exercise("vae_utils.checks._lesson6e._optimal_discriminator")
def optimal_discriminator(fn) -> None:
    """Check ``fn(log_p_data, log_p_model) -> (N,)``: the discriminator that maximises the GAN
    objective E_data[log D] + E_model[log(1 − D)] for fixed densities, D*(x) = p_data(x) /
    (p_data(x) + p_model(x)), from log densities (N,). Also run where both log densities are
    about −800 (exp underflows to 0: 0/0) and where they differ by hundreds of nats."""
    g = gen(6503)
    n = 40
    a = -3 + 2 * torch.randn(n, generator=g, dtype=torch.float64)
    b = -3 + 2 * torch.randn(n, generator=g, dtype=torch.float64)
    tiny = -800 + torch.randn(n, generator=g, dtype=torch.float64)
    cases = [("ordinary log densities", a, b), ("log densities near −800", tiny, tiny + torch.randn(n, generator=g,
             dtype=torch.float64)), ("log densities hundreds of nats apart", a,
             a + 300 * (2.0 * (torch.rand(n, generator=g) > 0.5).double() - 1))]
    for what, lp, lq in cases:
        out = as_tensor(call(fn, lp.clone(), lq.clone(), name="optimal_discriminator"), "D*")
        expect_shape(out, (n,), "D*(x)", "one value per point.")
        ref = torch.sigmoid(lp - lq)
        if what == "ordinary log densities":
            if torch.allclose(out.double(), torch.sigmoid(lq - lp), atol=1e-8):
                fail("D* is swapped: it gives the probability that x came from the model.",
                     "D*(x) = p_data / (p_data + p_model): large where the data are dense.")
            if torch.allclose(out.double(), (lp - lq).exp(), rtol=1e-6):
                fail("D* = p_data / p_model is a density ratio, not a probability (it exceeds 1).",
                     "D*(x) = p_data / (p_data + p_model).")
        expect_close(out, ref, f"D* for {what}", atol=1e-9, rtol=1e-7,
                     hint="divide by p_data: D* = 1 / (1 + p_model/p_data) = sigmoid(log p_data − log p_model), "
                          "stable in log space.")
    passed("optimal_discriminator gives D* = p_data/(p_data + p_model), stably from log densities.")


# --- shared_covariance_logits ---------------------------------------------------------------
@fallback_for("shared_covariance_logits")
def _shared_covariance_logits(mus, Sigma, log_prior):
    """The course's version: W = μ Σ⁻¹ (C, d), b_c = −½ μ_cᵀ Σ⁻¹ μ_c + log p(c)."""
    P = torch.linalg.inv(Sigma)
    W = mus @ P
    return W, -0.5 * (W * mus).sum(1) + log_prior


@exercise("vae_utils.checks._lesson6e._shared_covariance_logits")
def shared_covariance_logits(fn) -> None:
    """Check ``fn(mus, Sigma, log_prior) -> (W, b)``: class means mus (C, d), one shared
    covariance Sigma (d, d), log p(y) (C,); W (C, d) and b (C,) such that log p(y = c | x) =
    log_softmax(W x + b)_c for every x. Reference: Bayes' rule with
    ``torch.distributions.MultivariateNormal``; W and b are unique only up to adding the same
    vector/number to every class, so the check compares posteriors."""
    g = gen(6504)
    C, d = int(torch.randint(3, 6, (1,), generator=g)), int(torch.randint(2, 6, (1,), generator=g))
    mus = 1.5 * torch.randn(C, d, generator=g, dtype=torch.float64)
    A = torch.randn(d, d, generator=g, dtype=torch.float64)
    Sigma = A @ A.T + 0.5 * torch.eye(d, dtype=torch.float64)
    log_prior = torch.log_softmax(torch.randn(C, generator=g, dtype=torch.float64), 0)
    x = torch.randn(60, d, generator=g, dtype=torch.float64) * 2
    out = call(fn, mus.clone(), Sigma.clone(), log_prior.clone(), name="shared_covariance_logits")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail("shared_covariance_logits should return (W, b).")
    W, b = as_tensor(out[0], "W").double(), as_tensor(out[1], "b").double()
    expect_shape(W, (C, d), "W", "one row of weights per class.")
    expect_shape(b, (C,), "b", "one bias per class.")
    joint = MultivariateNormal(mus, Sigma).log_prob(x[:, None, :]) + log_prior
    ref = torch.log_softmax(joint, 1)
    got = torch.log_softmax(x @ W.T + b, 1)
    if not torch.allclose(got, ref, atol=1e-6):
        P = torch.linalg.inv(Sigma)
        tries = {
            "b misses −½ μ_cᵀ Σ⁻¹ μ_c, the part of the quadratic form that differs between classes":
                x @ (mus @ P).T + log_prior,
            "b misses log p(y), the class prior": x @ (mus @ P).T - 0.5 * ((mus @ P) * mus).sum(1),
            "W uses Σ where Σ⁻¹ belongs": x @ (mus @ Sigma).T - 0.5 * ((mus @ Sigma) * mus).sum(1) + log_prior,
        }
        for message, logits in tries.items():
            if torch.allclose(got, torch.log_softmax(logits, 1), atol=1e-6):
                fail(message + ".", "expand −½ (x − μ_c)ᵀ Σ⁻¹ (x − μ_c) and keep every term that depends on c.")
        expect_close(got, ref, "log p(y|x) from W x + b", atol=1e-6,
                     hint="log p(x|c) + log p(c) = μ_cᵀ Σ⁻¹ x − ½ μ_cᵀ Σ⁻¹ μ_c + log p(c) + (terms equal for all c).")
    passed(f"shared_covariance_logits turns {C} Gaussians with a shared covariance into a linear "
           f"classifier with the same posteriors as Bayes' rule.")


# --- samples_for_se -------------------------------------------------------------------------
@fallback_for("samples_for_se")
def _samples_for_se(p, se):
    """The course's version: the smallest n with √(p(1 − p)/n) ≤ se."""
    return math.ceil(p * (1 - p) / se ** 2 - 1e-9)


@exercise("vae_utils.checks._lesson6e._samples_for_se")
def samples_for_se(fn) -> None:
    """Check ``fn(p, se) -> int``: the smallest number n of independent samples for which the
    standard error √(p(1 − p)/n) of a fraction whose true value is p is at most ``se``."""
    g = gen(6505)
    ps = [0.5, *(0.01 + 0.3 * torch.rand(3, generator=g, dtype=torch.float64)).tolist()]
    ses = (0.002 + 0.02 * torch.rand(4, generator=g, dtype=torch.float64)).tolist()
    for p, se in zip(ps, ses):
        out = call(fn, p, se, name="samples_for_se")
        want = _samples_for_se(p, se)
        try:
            got = float(out)
        except (TypeError, ValueError, RuntimeError):
            fail(f"samples_for_se should return a number, got {type(out).__name__}.")
        if got != int(got):
            fail(f"samples_for_se({p:.3f}, {se:.4f}) = {got}: a number of samples is a whole number.",
                 "round up: math.ceil.")
        if abs(got - math.ceil(p * (1 - p) / se)) < 0.5 and abs(want - got) > 0.5:
            fail(f"samples_for_se({p:.3f}, {se:.4f}) = {got:.0f}: se was used where se² belongs.",
                 "se = √(p(1 − p)/n), so n = p(1 − p)/se².")
        if abs(got - math.ceil(math.sqrt(p * (1 - p)) / se ** 2)) < 0.5 and abs(want - got) > 0.5:
            fail(f"samples_for_se({p:.3f}, {se:.4f}) = {got:.0f}: the variance of one sample is p(1 − p), "
                 f"not its square root.")
        if got == want - 1:
            fail(f"samples_for_se({p:.3f}, {se:.4f}) = {got:.0f} gives a standard error just above se.",
                 "round up, not down.")
        if got != want:
            fail(f"samples_for_se({p:.3f}, {se:.4f}) = {got:.0f}, expected {want}.",
                 "solve √(p(1 − p)/n) ≤ se for n and round up.")
    passed("samples_for_se finds the smallest n with √(p(1 − p)/n) ≤ se.")
