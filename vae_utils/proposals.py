"""Proposals beyond the encoder, and the K-sample bound measured for every K at once (lesson 6b).

Lesson 6b estimates a VAE's log p(x) by importance sampling and asks how much to trust the
number. Three tools live here:

* ``DefensiveMixture`` — the proposal q_α(z) = (1 − α) q(z) + α p(z), a
  ``torch.distributions.Distribution``, so ``estimators.log_marginal_is(model, x, mixture, n)``
  is the same call as with the encoder. Because q_α(z) ≥ α p(z), every importance weight
  obeys w = p(x|z) p(z) / q_α(z) ≤ p(x|z) / α: the weights are bounded wherever the
  likelihood is, and their variance is finite (Hesterberg 1995).
* ``importance_log_weights`` — the (N, B) log-weights log p(x, z) − log q(z), z ~ q, that
  every estimator of ``vae_utils.estimators`` reduces.
* ``bound_curve`` — from one set of N log-weights, the K-sample bound L_K and the effective
  sample size for many K, each averaged over the ⌊N/K⌋ disjoint groups of K samples.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor
from torch.distributions import Distribution

from . import estimators, validate

__all__ = ["DefensiveMixture", "importance_log_weights", "bound_curve"]

# Log-likelihood values evaluated at once by ``importance_log_weights``: small chunks stay in
# the CPU's cache, about twice as fast on a laptop as the estimators' default (2^24).
_CHUNK_ELEMENTS = 1 << 21


class DefensiveMixture(Distribution):
    """The defensive mixture q_α(z) = (1 − α) q(z) + α p(z) of a proposal and the prior (lesson 6b).

    Sampling picks, independently for each draw and data point, the prior with probability
    α and the proposal otherwise. The density is computed in log space:

        log q_α(z) = logaddexp(log(1 − α) + log q(z), log α + log p(z)).

    ``torch.distributions.MixtureSameFamily`` needs both components as one batched
    distribution of a single family; this class mixes any two (a ``MultivariateNormal``
    posterior with an ``Independent(Normal)`` prior, an encoder with a Student-t, …).

    Args:
        proposal: distribution over z with batch shape (B,) and event shape (d,), e.g. the
            encoder's ``model.approximate_posterior(x)``.
        prior: distribution over z with the same event shape and a batch shape that
            broadcasts to (B,) (``model.prior`` has batch shape ()).
        alpha: weight α of the prior, 0 < α < 1.
    Raises:
        ValueError: ``proposal`` or ``prior`` is not a Distribution, their event shapes
            differ, the prior's batch shape does not broadcast to the proposal's, or α is
            not in (0, 1).
    Source: T. Hesterberg, "Weighted average importance sampling and defensive mixture
        distributions", Technometrics 37(2), 1995; A. B. Owen, "Monte Carlo theory, methods
        and examples" (2013), §9.11.
    """

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, proposal: Distribution, prior: Distribution, alpha: float):
        for name, d in (("proposal", proposal), ("prior", prior)):
            if not isinstance(d, Distribution):
                raise ValueError(f"{name} must be a torch.distributions.Distribution, got {type(d).__name__}.")
        if tuple(proposal.event_shape) != tuple(prior.event_shape):
            raise ValueError(f"proposal and prior must have the same event shape, got "
                             f"{tuple(proposal.event_shape)} and {tuple(prior.event_shape)}.")
        alpha = validate.number(alpha, "alpha", minimum=0, maximum=1,
                                why="α is the prior's share of the mixture")
        batch = proposal.batch_shape
        try:
            prior = prior.expand(batch) if prior.batch_shape != batch else prior
        except (RuntimeError, ValueError) as e:
            raise ValueError(f"the prior's batch shape {tuple(prior.batch_shape)} does not broadcast to "
                             f"the proposal's {tuple(batch)}.") from e
        self.proposal, self.prior, self.alpha = proposal, prior, alpha
        super().__init__(batch, proposal.event_shape, validate_args=False)

    @property
    def support(self):
        return self.proposal.support

    @property
    def mean(self) -> Tensor:
        return (1 - self.alpha) * self.proposal.mean + self.alpha * self.prior.mean

    @property
    def variance(self) -> Tensor:
        # Law of total variance over the component: E[Var] + Var[E].
        a = self.alpha
        mq, mp = self.proposal.mean, self.prior.mean
        return (1 - a) * self.proposal.variance + a * self.prior.variance + a * (1 - a) * (mq - mp) ** 2

    def sample(self, sample_shape: torch.Size | Sequence[int] = torch.Size()) -> Tensor:
        """Draws of shape sample_shape + batch_shape + event_shape (no gradient)."""
        shape = torch.Size(sample_shape)
        with torch.no_grad():
            zq = self.proposal.sample(shape)
            zp = self.prior.sample(shape).to(zq.dtype)
            pick = torch.rand(shape + self.batch_shape, device=zq.device) < self.alpha
            pick = pick.reshape(pick.shape + (1,) * len(self.event_shape))
            return torch.where(pick, zp, zq)

    def log_prob(self, value: Tensor) -> Tensor:
        """log q_α(z), shape value.shape[:-len(event_shape)], in nats."""
        return torch.logaddexp(math.log1p(-self.alpha) + self.proposal.log_prob(value),
                               math.log(self.alpha) + self.prior.log_prob(value))

    def __repr__(self) -> str:
        return (f"DefensiveMixture(alpha={self.alpha}, proposal={self.proposal!r}, "
                f"prior={self.prior!r})")


def importance_log_weights(model, x: Tensor, proposal: Distribution, n_samples: int) -> Tensor:
    """The N importance log-weights log w = log p(x|z) + log p(z) − log q(z), z ~ q (lessons 4, 6b).

    The same draws and checks as ``estimators.log_marginal_is`` (its logsumexp over dim 0
    minus log N is that estimate), returned before the reduction, so one set of samples
    serves the IS estimate, the IWAE bound for every K, the ELBO and the ESS.

    Args:
        model: latent-variable model with ``prior`` and ``likelihood(z)``.
        x: data batch, shape (B, *event_shape).
        proposal: distribution q over z with batch shape (B,).
        n_samples: N ≥ 1.
    Returns:
        Tensor (N, B), nats, on the model's device.
    Raises:
        ValueError: as ``estimators.log_marginal_is``.
    """
    n = validate.count(n_samples, "n_samples")
    per_sample = max(1, torch.as_tensor(x).numel())
    chunk = max(1, min(n, _CHUNK_ELEMENTS // per_sample))
    return estimators._log_weights(model, x, proposal, n, q_name="proposal", chunk_size=chunk)


def bound_curve(log_w: Tensor, ks: Sequence[int]) -> tuple[Tensor, Tensor]:
    """The K-sample bound L_K and the effective sample size for each K, from N log-weights (lesson 6b).

    For each K the N samples are cut into G = ⌊N/K⌋ disjoint groups of K (the last N − G·K
    samples are left out); in each group

        L_K = logsumexp_k log w_k − log K,    ESS = (Σ w_k)² / Σ w_k²,

    and both are averaged over the G groups: an unbiased estimate of E[L_K] (the IWAE
    bound, Burda et al. 2016) and of the expected ESS of K samples. K = 1 gives the ELBO
    estimated with N samples; K = N gives ``log_marginal_is`` on these draws.

    Args:
        log_w: log-weights, shape (N, B) (``importance_log_weights``), float.
        ks: the K values, each an integer with 1 ≤ K ≤ N.
    Returns:
        (bounds, ess): two tensors of shape (len(ks), B) — nats, and samples in [1, K].
    Raises:
        ValueError: ``log_w`` is not 2-D, ``ks`` is empty, or some K is not an integer in [1, N].
    """
    log_w = torch.as_tensor(log_w)
    if log_w.dim() != 2:
        raise ValueError(f"log_w must have shape (N, B), got {tuple(log_w.shape)}.")
    n, b = log_w.shape
    ks = [validate.count(k, "each K") for k in ks]
    if not ks:
        raise ValueError("ks must hold at least one K.")
    if max(ks) > n:
        raise ValueError(f"every K must be at most N = {n} (the number of log-weights), got K = {max(ks)}.")
    bounds, ess = [], []
    for k in ks:
        groups = log_w[: n // k * k].reshape(n // k, k, b)                 # (G, K, B)
        bounds.append((torch.logsumexp(groups, dim=1) - math.log(k)).mean(dim=0))
        ess.append(estimators.effective_sample_size(groups, dim=1).mean(dim=0))
    return torch.stack(bounds), torch.stack(ess)
