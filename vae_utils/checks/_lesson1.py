"""Checks for lesson 1's exercises: fitting, sampling and evaluating one Gaussian."""
from __future__ import annotations

import torch

from .. import gaussian as ref
from ._common import exercise, gen, manual_seed, as_tensor, call, expect_close, expect_shape, fail, passed

__all__ = ["fit_gaussian", "sample_gaussian", "gaussian_log_prob"]


def _hidden_cov(d: int, seed: int) -> torch.Tensor:
    g = gen(seed)
    A = torch.randn(d, d, generator=g, dtype=torch.float64)
    return A @ A.T + 0.3 * torch.eye(d, dtype=torch.float64)


@exercise("vae_utils.gaussian.fit_gaussian")
def fit_gaussian(fn) -> None:
    """Check ``fn(X) -> (mu, Sigma)``, the maximum-likelihood Gaussian of the rows of X (m, n)."""
    g = gen(101)
    X = torch.randn(12, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2.0, 0.5],
                                                                              dtype=torch.float64) + 4
    out = call(fn, X.clone(), name="fit_gaussian")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"fit_gaussian should return a pair (mu, Sigma), got {type(out).__name__}.")
    mu, Sigma = as_tensor(out[0], "mu"), as_tensor(out[1], "Sigma")
    mu_ref, Sigma_ref = ref.fit_gaussian(X)
    expect_shape(mu, (3,), "mu", "average over the rows (dim=0): one mean per feature.")
    expect_shape(Sigma, (3, 3), "Sigma", "Sigma is (n, n): (X - mu).T @ (X - mu) / m.")
    expect_close(mu, mu_ref, "mu", hint="mu is the average of the rows of X.")
    if torch.allclose(Sigma, Sigma_ref * 12 / 11, rtol=1e-6):
        fail("Sigma is the unbiased estimate (divides by m - 1).",
             "the maximum-likelihood estimate divides by m, the number of rows.")
    expect_close(Sigma, Sigma_ref, "Sigma", hint="Sigma = (X - mu).T @ (X - mu) / m, with mu subtracted first.")
    passed("fit_gaussian returns the maximum-likelihood mean and covariance.")


@exercise("vae_utils.gaussian.sample_gaussian", "vae_utils.gaussian.sqrtm_psd")
def sample_gaussian(fn) -> None:
    """Check ``fn(mu, Sigma, n) -> (n, d)`` samples x = mu + L z with L Lᵀ = Sigma, z ~ N(0, I).

    Compares the sample mean and covariance of 100,000 draws with mu and Sigma.
    """
    d, n = 3, 100_000
    mu = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    Sigma = _hidden_cov(d, 202)
    with torch.random.fork_rng():
        manual_seed(303)
        x = as_tensor(call(fn, mu.clone(), Sigma.clone(), n, name="sample_gaussian"), "the samples")
    expect_shape(x, (n, d), "the samples", "one row per sample: z has shape (n, d), and x = mu + z @ L.T.")
    m = x.mean(dim=0)
    C = torch.cov(x.T)
    if (m - mu).abs().max() > 0.05 * (1 + Sigma.diagonal().max().sqrt()):
        fail(f"the sample mean {m.numpy().round(2)} is far from mu {mu.numpy()}.",
             "add mu to every sample: x = mu + z @ L.T.")
    scale = Sigma.abs().max()
    if (C - Sigma).abs().max() < 0.05 * scale:
        passed("samples have mean mu and covariance Sigma (checked on 100,000 draws).")
        return
    if (C - Sigma @ Sigma).abs().max() < 0.05 * (Sigma @ Sigma).abs().max():
        fail("the sample covariance is Sigma @ Sigma, not Sigma: you scaled z by Sigma.",
             "scale z by a square root L of Sigma (torch.linalg.cholesky(Sigma)), not by Sigma itself.")
    L = torch.linalg.cholesky(Sigma)
    if (C - L.T @ L).abs().max() < 0.05 * scale:
        fail("the sample covariance is L.T @ L, not L @ L.T = Sigma.",
             "with z as rows (n, d), multiply by the transpose: x = mu + z @ L.T.")
    fail(f"the sample covariance is off from Sigma by up to {(C - Sigma).abs().max().item():.3g}.",
         "x = mu + z @ L.T with z = torch.randn(n, d) and L = torch.linalg.cholesky(Sigma).")


@exercise("vae_utils.gaussian.gaussian_log_prob")
def gaussian_log_prob(fn) -> None:
    """Check ``fn(x, mu, Sigma) -> (N,)``: log N(x; mu, Sigma) in nats for x of shape (N, d)."""
    g = gen(404)
    d = 4
    mu = torch.randn(d, generator=g, dtype=torch.float64)
    Sigma = _hidden_cov(d, 405)
    x = mu + torch.randn(6, d, generator=g, dtype=torch.float64) * 2
    out = as_tensor(call(fn, x.clone(), mu.clone(), Sigma.clone(), name="gaussian_log_prob"), "the log-density")
    expect_shape(out, (6,), "the log-density", "one number per row of x: sum over the d coordinates.")
    expected = ref.gaussian_log_prob(x, mu, Sigma)
    if torch.allclose(out, expected.exp(), rtol=1e-6):
        fail("you returned the density, not its logarithm.", "return log N(x; mu, Sigma), in nats.")
    diff = out - expected
    if torch.allclose(diff, diff[0].expand_as(diff), atol=1e-6) and diff[0].abs() > 1e-6:
        fail(f"every value is off by the same constant {diff[0].item():.4g}: the normaliser is wrong.",
             "the normaliser is -0.5 * (d * log(2π) + log det Sigma).")
    expect_close(out, expected, "the log-density", atol=1e-6,
                 hint="log N = -0.5 * (d log 2π + log det Sigma + (x-mu)ᵀ Sigma⁻¹ (x-mu)); "
                      "note the inverse of Sigma in the quadratic form.")
    passed("gaussian_log_prob matches log N(x; mu, Sigma).")
