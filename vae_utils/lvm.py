"""The linear-Gaussian latent-variable model: the course's exact yardstick (lessons 2–5).

    z ~ N(0, I_k),    x | z ~ N(W z + b, σ² I_d)        (probabilistic PCA)

Everything an estimator could want is known in closed form: the marginal
p(x) = N(b, W Wᵀ + σ² I) and the posterior p(z|x) = N(M⁻¹ Wᵀ (x − b), σ² M⁻¹) with
M = Wᵀ W + σ² I. Lessons 3–5 print these exact values beside every estimate.

Source: Tipping & Bishop 1999, "Probabilistic principal component analysis", §3;
Bishop, "Pattern Recognition and Machine Learning" (2006), §12.2, eqs. 12.31–12.42.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Independent, MultivariateNormal, Normal

from . import validate

__all__ = ["LinearGaussianLVM"]


class LinearGaussianLVM:
    """x = W z + b + σ ε with z ~ N(0, I_k), ε ~ N(0, I_d); float64 throughout.

    Follows the course's protocol: ``prior``, ``likelihood(z)``, plus the exact
    ``posterior(x)`` and ``log_marginal(x)``.

    Args:
        W: loading matrix, shape (d, k).
        b: offset, shape (d,).
        sigma: output noise standard deviation σ > 0 (a number).
    Raises:
        ValueError: shapes that disagree, non-finite values, or σ ≤ 0.
    """

    def __init__(self, W, b, sigma):
        W = torch.as_tensor(W, dtype=torch.float64)
        b = torch.as_tensor(b, dtype=torch.float64)
        if W.dim() != 2:
            raise ValueError(f"W must be a matrix (d, k), got shape {tuple(W.shape)}.")
        if b.shape != (W.shape[0],):
            raise ValueError(f"b must have shape (d,) = ({W.shape[0]},) to match W {tuple(W.shape)}, "
                             f"got {tuple(b.shape)}.")
        if not (torch.all(torch.isfinite(W)) and torch.all(torch.isfinite(b))):
            raise ValueError("W and b must be finite (no NaN or inf).")
        sigma = float(sigma)
        if not sigma > 0 or sigma == float("inf"):
            raise ValueError(f"sigma must be a positive, finite standard deviation, got {sigma}.")
        self.W, self.b, self.sigma = W, b, sigma
        self.d, self.k = W.shape
        self.prior = Independent(Normal(torch.zeros(self.k, dtype=torch.float64),
                                        torch.ones(self.k, dtype=torch.float64)), 1)

    def __repr__(self) -> str:
        return f"LinearGaussianLVM(d={self.d}, k={self.k}, sigma={self.sigma:g})"

    def _x(self, x) -> Tensor:
        x = torch.as_tensor(x, dtype=torch.float64)
        if x.dim() == 0 or x.shape[-1] != self.d:
            raise ValueError(f"x must have shape (..., d) = (..., {self.d}), got {tuple(x.shape)}.")
        return x

    def likelihood(self, z) -> Independent:
        """p(x|z) = N(W z + b, σ² I): batch shape z.shape[:-1], event (d,)."""
        z = torch.as_tensor(z, dtype=torch.float64)
        if z.dim() == 0 or z.shape[-1] != self.k:
            raise ValueError(f"z must have shape (..., k) = (..., {self.k}), got {tuple(z.shape)}.")
        return Independent(Normal(z @ self.W.T + self.b, self.sigma), 1)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Ancestral sampling: z ~ p(z), then x ~ p(x|z). Returns (x (n, d), z (n, k)).
        n ≥ 0, any integer type; ValueError otherwise."""
        n = validate.count(n, "n", minimum=0)
        z = torch.randn(n, self.k, dtype=torch.float64, generator=generator)
        eps = torch.randn(n, self.d, dtype=torch.float64, generator=generator)
        return z @ self.W.T + self.b + self.sigma * eps, z

    def marginal(self) -> MultivariateNormal:
        """p(x) = N(b, W Wᵀ + σ² I), event (d,)."""
        cov = self.W @ self.W.T + self.sigma ** 2 * torch.eye(self.d, dtype=torch.float64)
        return MultivariateNormal(self.b, covariance_matrix=cov)

    def log_marginal(self, x) -> Tensor:
        """Exact log p(x), nats; x (..., d) → (...,)."""
        return self.marginal().log_prob(self._x(x))

    def posterior(self, x) -> MultivariateNormal:
        """Exact p(z|x) = N(M⁻¹ Wᵀ (x − b), σ² M⁻¹), M = Wᵀ W + σ² I; batch x.shape[:-1], event (k,)."""
        x = self._x(x)
        M = self.W.T @ self.W + self.sigma ** 2 * torch.eye(self.k, dtype=torch.float64)
        mean = torch.linalg.solve(M, self.W.T @ (x - self.b).reshape(-1, self.d).T).T.reshape(*x.shape[:-1], self.k)
        cov = self.sigma ** 2 * torch.linalg.inv(M)
        cov = 0.5 * (cov + cov.T)
        return MultivariateNormal(mean, covariance_matrix=cov.expand(*x.shape[:-1], self.k, self.k))
