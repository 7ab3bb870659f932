"""One Gaussian, fitted and sampled by hand (lesson 1).

The lesson's point: a generative model *is* a distribution, and its noise term is explicit
once we write a sample as x = μ + L z with z ~ N(0, I) and any L such that L Lᵀ = Σ.

All functions take array-likes (numpy arrays, lists, tensors) and return float64 torch
tensors.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from . import validate
__all__ = ["fit_gaussian", "sqrtm_psd", "sample_gaussian", "gaussian_log_prob"]

_METHODS = ("cholesky", "eigh")


def _as64(a, name: str) -> Tensor:
    try:
        t = torch.as_tensor(a)
    except Exception as e:  # ragged lists, strings, ...
        raise ValueError(f"{name} must be an array of numbers, got {type(a).__name__} ({e}).") from None
    t = t.to(torch.float64)
    if not torch.all(torch.isfinite(t)):
        raise ValueError(f"{name} contains NaN or infinite values; remove or impute them first.")
    return t


def _check_cov(Sigma: Tensor, *, tol: float = 1e-8) -> Tensor:
    """Square and symmetric up to ``tol`` *relative* to Σ's largest entry, so a covariance
    in any unit (entries of 1e-8 or 1e8) is judged alike."""
    if Sigma.dim() != 2 or Sigma.shape[0] != Sigma.shape[1]:
        raise ValueError(f"Sigma must be a square matrix (d, d), got shape {tuple(Sigma.shape)}.")
    if Sigma.numel() == 0:
        raise ValueError("Sigma is an empty (0, 0) matrix; a covariance needs at least one dimension.")
    scale = Sigma.abs().max().item()
    asym = (Sigma - Sigma.T).abs().max().item()
    if asym > tol * scale:
        raise ValueError(f"Sigma must be symmetric, but |Sigma - Sigma.T| reaches {asym:.3g} "
                         f"({asym / scale:.3g} of its largest entry); use (Sigma + Sigma.T) / 2 if "
                         f"the asymmetry is rounding error.")
    return Sigma


def fit_gaussian(X) -> tuple[Tensor, Tensor]:
    """Maximum-likelihood Gaussian for the rows of X (lesson 1).

    μ = (1/m) Σ_i x_i,   Σ = (1/m) Σ_i (x_i − μ)(x_i − μ)ᵀ.
    The MLE divides by m, not m − 1: it maximises the likelihood; the unbiased estimator
    (m − 1) does not.

    Args:
        X: data, shape (m, n), m ≥ 1 rows of n features.
    Returns:
        (mu (n,), Sigma (n, n)), float64.
    Raises:
        ValueError: X is not 2-D, is empty, or holds NaN/inf.
    Source: Bishop, "Pattern Recognition and Machine Learning" (2006), §2.3.4, eqs. 2.121–2.122.
    """
    X = _as64(X, "X")
    if X.dim() != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must be a non-empty matrix (m, n): one row per data point; got shape "
                         f"{tuple(X.shape)}. Reshape a single feature with X.reshape(-1, 1).")
    mu = X.mean(dim=0)
    D = X - mu
    return mu, D.T @ D / X.shape[0]


def sqrtm_psd(Sigma, method: str = "cholesky") -> Tensor:
    """A square root L of a covariance matrix, L Lᵀ = Σ (lesson 1).

    * ``"cholesky"``: the lower-triangular factor; needs Σ positive *definite*.
    * ``"eigh"``: the symmetric root Q diag(√λ) Qᵀ from Σ = Q diag(λ) Qᵀ; works for any
      positive *semi*-definite Σ (eigenvalues within rounding of 0 are clipped to 0).

    Both give the same distribution of μ + L z; they are different matrices.

    Args:
        Sigma: covariance, shape (d, d), symmetric positive semi-definite.
        method: ``"cholesky"`` or ``"eigh"``.
    Returns:
        L, shape (d, d), float64.
    Raises:
        ValueError: Σ not square, not symmetric, not PSD (the message gives the smallest
            eigenvalue; both tolerances are relative to Σ's scale), singular with ``"cholesky"`` (use ``"eigh"`` or Σ + εI), or an
            unknown method.
    Source: Golub & Van Loan, "Matrix Computations" (4th ed.), §4.2 (Cholesky) and §8.1
        (symmetric eigendecomposition).
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}.")
    Sigma = _check_cov(_as64(Sigma, "Sigma"))
    evals, evecs = torch.linalg.eigh(Sigma)
    tol = 1e-10 * evals.abs().max().item() * Sigma.shape[0]  # relative: rounding scales with Σ
    lam_min = evals.min().item()
    if lam_min < -tol:
        raise ValueError(f"Sigma is not positive semi-definite: its smallest eigenvalue is "
                         f"{lam_min:.3g} (largest {evals.max().item():.3g}). A covariance matrix has eigenvalues ≥ 0; check how it "
                         f"was computed.")
    if method == "eigh":
        return evecs @ torch.diag(evals.clamp(min=0).sqrt()) @ evecs.T
    L, info = torch.linalg.cholesky_ex(Sigma)
    if info.item() != 0:
        raise ValueError(f"Cholesky failed: Sigma is singular (smallest eigenvalue {lam_min:.3g}), "
                         f"e.g. a feature that never varies. Use method='eigh' (works for singular "
                         f"PSD matrices) or add a small ridge: Sigma + eps * I.")
    return L


def sample_gaussian(mu, Sigma, n: int, *, method: str = "cholesky",
                    generator: torch.Generator | None = None) -> Tensor:
    """n samples x = μ + L z, z ~ N(0, I), L = ``sqrtm_psd(Sigma, method)`` (lesson 1).

    Args:
        mu: mean, shape (d,).
        Sigma: covariance, shape (d, d), symmetric PSD.
        n: number of samples, ≥ 0 (any integer type).
        method: square root used, ``"cholesky"`` or ``"eigh"``.
        generator: optional torch.Generator for the z draws (default: global RNG).
    Returns:
        Tensor (n, d), float64.
    Raises:
        ValueError: shapes of mu and Sigma disagree, bad n, or a bad Σ (see ``sqrtm_psd``).
    Source: Bishop (2006), §11.1.4; Murphy, "Probabilistic Machine Learning: An Introduction"
        (2022), §3.2.
    """
    mu = _as64(mu, "mu")
    Sigma = _as64(Sigma, "Sigma")
    if mu.dim() != 1:
        raise ValueError(f"mu must be a vector (d,), got shape {tuple(mu.shape)}.")
    if Sigma.shape != (len(mu), len(mu)):
        raise ValueError(f"Sigma must have shape (d, d) = ({len(mu)}, {len(mu)}) to match mu, "
                         f"got {tuple(Sigma.shape)}.")
    n = validate.count(n, "n", minimum=0)
    L = sqrtm_psd(Sigma, method)
    z = torch.randn(n, len(mu), dtype=torch.float64, generator=generator)
    return mu + z @ L.T


def gaussian_log_prob(x, mu, Sigma) -> Tensor:
    """log N(x; μ, Σ) in nats, for positive definite Σ (lesson 1).

    log N = −½ [d log 2π + log det Σ + (x − μ)ᵀ Σ⁻¹ (x − μ)], computed with the Cholesky
    factor (log det Σ = 2 Σ log L_ii; a triangular solve for the quadratic form).

    Args:
        x: points, shape (..., d).
        mu: mean, shape (d,).
        Sigma: covariance, shape (d, d), positive definite.
    Returns:
        Tensor (...,), float64, nats.
    Raises:
        ValueError: shape mismatch, or Σ not symmetric positive definite.
    Source: Bishop (2006), eq. 2.43; Rasmussen & Williams, "Gaussian Processes for
        Machine Learning" (2006), appendix A.4 (Cholesky evaluation).
    """
    x, mu, Sigma = _as64(x, "x"), _as64(mu, "mu"), _as64(Sigma, "Sigma")
    if mu.dim() != 1:
        raise ValueError(f"mu must be a vector (d,), got shape {tuple(mu.shape)}.")
    d = len(mu)
    if Sigma.shape != (d, d):
        raise ValueError(f"Sigma must have shape ({d}, {d}) to match mu, got {tuple(Sigma.shape)}.")
    if x.dim() == 0 or x.shape[-1] != d:
        raise ValueError(f"x must have shape (..., {d}) to match mu, got {tuple(x.shape)}.")
    L = sqrtm_psd(Sigma, "cholesky")
    flat = (x - mu).reshape(-1, d).T                     # (d, N)
    sol = torch.linalg.solve_triangular(L, flat, upper=False)  # L⁻¹ (x − μ)
    maha = (sol ** 2).sum(dim=0).reshape(x.shape[:-1])
    logdet = 2 * torch.log(torch.diagonal(L)).sum()
    return -0.5 * (d * math.log(2 * math.pi) + logdet + maha)
