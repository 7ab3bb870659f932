"""Checks for lesson 2's exercises: the generative story of a latent-variable model."""
from __future__ import annotations

import math

import torch

from ._derive import check_closed_form
from ._common import hidden_model, exercise, fallback_for, gen, manual_seed, as_tensor, call, expect_close, expect_shape, fail, passed

__all__ = ["inverse_cdf_exponential", "marginal_covariance", "ancestral_sample", "log_joint", "posterior_variance"]




@exercise()
def inverse_cdf_exponential(fn) -> None:
    """Check ``fn(u, rate) -> x``: the inverse CDF of the exponential distribution,
    x = −log(1 − u) / rate, applied elementwise to u in (0, 1)."""
    u = torch.tensor([0.01, 0.2, 0.5, 0.8, 0.999], dtype=torch.float64)
    rate = 2.5
    x = as_tensor(call(fn, u.clone(), rate, name="inverse_cdf_exponential"), "x")
    expect_shape(x, (5,), "x", "apply the formula elementwise to u.")
    expected = -torch.log1p(-u) / rate
    if torch.any(x < 0):
        fail("some values are negative, but an exponential variable is ≥ 0.",
             "solve u = F(x) = 1 − exp(−rate·x) for x: the sign of the log matters.")
    if torch.allclose(x, -torch.log(u) / rate):
        fail("you used log(u) instead of log(1 − u): the values come out in reverse order.",
             "F(x) = 1 − exp(−rate·x); solve u = F(x) for x.")
    if torch.allclose(x, expected * rate * rate):
        fail("the rate is applied the wrong way (multiplied instead of divided).",
             "a larger rate gives smaller values: the mean is 1 / rate.")
    expect_close(x, expected, "x", hint="x = −log(1 − u) / rate.")
    passed("inverse_cdf_exponential turns uniform u into exponential x.")


@exercise("vae_utils.lvm.LinearGaussianLVM.marginal")
def marginal_covariance(fn) -> None:
    """Check ``fn(W, sigma) -> (d, d)``: the covariance W Wᵀ + σ² I of x = W z + b + σ ε."""
    model = hidden_model(4, 2, 0.5, 11, w_scale=1.5)
    C = as_tensor(call(fn, model.W.clone(), model.sigma, name="marginal_covariance"), "the covariance")
    expected = model.marginal().covariance_matrix
    d = model.d
    if tuple(C.shape) == (model.k, model.k):
        fail(f"the covariance has shape {tuple(C.shape)} = (k, k), but x lives in d = {d} dimensions.",
             "it is W @ W.T (d × d), not W.T @ W.")
    expect_shape(C, (d, d), "the covariance")
    eye = torch.eye(d, dtype=torch.float64)
    if torch.allclose(C, model.W @ model.W.T + model.sigma * eye):
        fail("you added σ I, but the noise variance is σ².",
             "Cov(σ ε) = σ² I when ε ~ N(0, I).")
    if torch.allclose(C, model.W @ model.W.T):
        fail("the output noise is missing.", "add the covariance of σ ε, which is σ² I.")
    expect_close(C, expected, "the covariance", hint="Cov(W z) = W Wᵀ, and the noise adds σ² I.")
    passed("marginal_covariance gives Cov(x) = W Wᵀ + σ² I.")


@exercise("vae_utils.lvm.LinearGaussianLVM.sample")
def ancestral_sample(fn) -> None:
    """Check ``fn(W, b, sigma, n) -> (x, z)``: z ~ N(0, I_k), then x = W z + b + σ ε.

    Draws 100,000 pairs and checks the shapes, that z is standard normal, that x − (W z + b)
    has standard deviation σ in every coordinate, and the covariance of x."""
    model = hidden_model(4, 2, 0.5, 13, w_scale=1.5)
    n = 100_000
    with torch.random.fork_rng():
        manual_seed(17)
        out = call(fn, model.W.clone(), model.b.clone(), model.sigma, n, name="ancestral_sample")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"ancestral_sample should return a pair (x, z), got {type(out).__name__}.")
    x, z = as_tensor(out[0], "x"), as_tensor(out[1], "z")
    expect_shape(z, (n, model.k), "z", "one latent vector per data point: z has shape (n, k).")
    expect_shape(x, (n, model.d), "x", "one data point per row: x has shape (n, d).")
    if (z.mean(0).abs().max() > 0.03) or ((z.std(0) - 1).abs().max() > 0.03):
        fail("z does not look standard normal.", "draw z with torch.randn(n, k).")
    resid = x - (z @ model.W.T + model.b)
    sd = resid.std(0)
    if sd.max() < 1e-8:
        fail("x is exactly W z + b: the output noise σ ε is missing.",
             "add sigma * torch.randn(n, d): the noise of p(x|z).")
    if (sd - model.sigma).abs().max() > 0.03:
        fail(f"x − (W z + b) has standard deviation {sd.numpy().round(3)}, expected σ = {model.sigma} "
             f"in every coordinate.",
             "x must be computed from *this* z: x = z @ W.T + b + sigma * eps.")
    expect_close(torch.cov(x.T), model.marginal().covariance_matrix, "the covariance of x", atol=0.1, rtol=0.03)
    passed("ancestral_sample draws z from the prior, then x given z (checked on 100,000 pairs).")


@exercise()
def log_joint(fn) -> None:
    """Check ``fn(model, x, z) -> (B,)``: log p(x, z) = log p(z) + log p(x|z), in nats."""
    model = hidden_model(4, 2, 0.5, 19, w_scale=1.5)
    g = gen(23)
    x, z = model.sample(5, generator=g)
    z = z + 0.3  # not the z that generated x: any pair (x, z) has a joint density
    out = as_tensor(call(fn, model, x.clone(), z.clone(), name="log_joint"), "log p(x, z)")
    expect_shape(out, (5,), "log p(x, z)", "one number per pair: use the distributions' log_prob.")
    lik = model.likelihood(z).log_prob(x)
    prior = model.prior.log_prob(z)
    if torch.allclose(out, lik):
        fail("you returned log p(x|z) only: the prior term is missing.", "add model.prior.log_prob(z).")
    if torch.allclose(out, lik.exp() * prior.exp()):
        fail("you returned the density p(x, z), not its logarithm.", "add the log-densities instead.")
    if torch.allclose(out, model.log_marginal(x)):
        fail("you returned log p(x), the marginal; the joint also depends on z.",
             "log p(x, z) = model.prior.log_prob(z) + model.likelihood(z).log_prob(x).")
    expect_close(out, prior + lik, "log p(x, z)", hint="log p(x, z) = log p(z) + log p(x|z).")
    assert math.isfinite(out.sum().item())
    passed("log_joint computes log p(z) + log p(x|z).")


def _posterior_variance_exact(w, sigma: float) -> float:
    """Var(z | x) = σ² / (σ² + ‖w‖²) for z ~ N(0, 1), x | z ~ N(w z + b, σ² I)."""
    return sigma ** 2 / (sigma ** 2 + float((w ** 2).sum()))


@exercise("vae_utils.lvm.LinearGaussianLVM.posterior")
def posterior_variance(fn) -> None:
    """Check ``fn(w, sigma) -> float``: the posterior variance Var(z | x) of the model with one
    latent variable, z ~ N(0, 1), x | z ~ N(w z + b, σ² I_d), w of shape (d,):

        log p(z | x) = −z²/2 − ‖x − b − w z‖²/(2σ²) + const
                     = −(1 + ‖w‖²/σ²) z²/2 + (linear in z) + const,

    a Gaussian with precision 1 + ‖w‖²/σ², so Var(z | x) = σ²/(σ² + ‖w‖²) whatever x is
    (Bishop 2006, §2.3.3 and eq. 12.42 with k = 1).

    Args:
        fn: the learner's function; called on six hidden (w, sigma), d from 1 to 6.
    Raises:
        CheckFailure: not one number or off by more than 1e-5 relative; named mistakes: the
            prior left out, the precision returned, σ used as a variance, ‖w‖ not squared,
            (Σ w)² for ‖w‖², the standard deviation returned.
    """
    g = gen(212)
    cases = []
    for d, sigma in ((1, 0.5), (2, 1.3), (3, 0.3), (4, 2.0), (5, 0.7), (6, 1.0)):
        w = torch.randn(d, generator=g, dtype=torch.float64) * (0.5 + torch.rand(1, generator=g).item())
        cases.append((w, sigma * (0.8 + 0.4 * torch.rand(1, generator=g).item())))
    norm2 = lambda w: float((w ** 2).sum())  # noqa: E731
    check_closed_form(fn, "posterior_variance", cases, _posterior_variance_exact, [
        (lambda w, s: s ** 2 / norm2(w), "the prior is missing: σ²/‖w‖² is the variance from the likelihood alone.",
         "log p(z | x) = log p(z) + log p(x | z) + const: the prior adds −z²/2, i.e. 1 to the precision."),
        (lambda w, s: 1 + norm2(w) / s ** 2, "that is the precision 1 + ‖w‖²/σ², not the variance.",
         "the variance is the inverse of the precision: σ²/(σ² + ‖w‖²)."),
        (lambda w, s: s / (s + norm2(w)), "σ is used as a variance: the noise variance of p(x | z) is σ².",
         "x | z ~ N(w z + b, σ² I): the quadratic term is ‖x − b − w z‖²/(2σ²)."),
        (lambda w, s: s ** 2 / (s ** 2 + norm2(w) ** 0.5), "‖w‖ is not squared: the coefficient of z² is ‖w‖²/σ².",
         "‖x − b − w z‖² = ‖x − b‖² − 2 z wᵀ(x − b) + z² ‖w‖²."),
        (lambda w, s: s ** 2 / (s ** 2 + float(w.sum()) ** 2), "(Σ_j w_j)² is not ‖w‖² = Σ_j w_j².",
         "each coordinate x_j contributes w_j² z²/(2σ²): sum the squares, w @ w."),
        (lambda w, s: _posterior_variance_exact(w, s) ** 0.5, "that is the posterior standard deviation; the exercise asks for the variance.",
         "return σ²/(σ² + ‖w‖²), without the square root."),
    ], hint="complete the square in z: −z²/2 − ‖x − b − w z‖²/(2σ²) has z² coefficient −(1 + ‖w‖²/σ²)/2.")
    passed("posterior_variance = σ²/(σ² + ‖w‖²) on six hidden (w, σ).")


@fallback_for("posterior_variance")
def _posterior_variance(w, sigma: float) -> float:
    """The course's version of exercise ``posterior_variance`` (for ``try_yours``)."""
    return _posterior_variance_exact(torch.as_tensor(w, dtype=torch.float64), float(sigma))
