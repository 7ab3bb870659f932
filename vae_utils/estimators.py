"""Estimators of log p(x) and the bounds that train a VAE (lessons 3–5).

Every function here knows only the course's latent-variable-model protocol: a model is
any object with

* ``prior`` — a ``torch.distributions.Distribution`` over z (event shape = latent shape);
* ``likelihood(z)`` — the distribution p(x|z), whose batch shape is z's batch shape.

Proposals and variational distributions q are ``torch.distributions`` objects with batch
shape (B,) over z, one per data point. So the same call estimates log p(x) for the
linear-Gaussian model of lesson 2 and for the VAE of lessons 6a–6b.

All results are in nats and computed in log space (log-sum-exp), so they stay finite
when p(x) itself underflows (hundreds of dimensions). Randomness comes from torch's
global generator: seed it with ``torch.manual_seed``.

The four estimators share one routine, ``_log_weights``: it checks the arguments
(``vae_utils.validate``), converts x to the model's dtype and moves it to the model's
device, draws the N samples in memory-bounded chunks and returns the (N, B) log-weights;
each estimator is then one line of reduction. x is always a batch (B, *event_shape): one
data point without its batch dimension is refused, naming ``x``, with the fix ``x[None]``.
"""
from __future__ import annotations

import math
import torch
from torch import Tensor
from torch.distributions import Distribution

from . import validate
__all__ = [
    "kl_normal_std_normal",
    "log_marginal_mc",
    "log_marginal_is",
    "effective_sample_size",
    "elbo",
    "iwae_bound",
]

# Largest number of likelihood values (samples × batch × data elements) held at once.
_MAX_ELEMENTS = 1 << 24


def kl_normal_std_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """Closed-form KL(N(mu, diag exp(logvar)) ‖ N(0, I)), summed over the last dim (lesson 5).

    KL = ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1),  σ_j² = exp(logvar_j).

    Args:
        mu: means, shape (..., d), floating point.
        logvar: log-variances log σ², same shape as ``mu`` (not σ, not log σ).
    Returns:
        Tensor of shape (...,), nats, ≥ 0; differentiable in both arguments.
    Raises:
        ValueError: ``mu`` and ``logvar`` differ in shape, or have no last dimension.
    Source: Kingma & Welling 2014, "Auto-Encoding Variational Bayes", appendix B.
    """
    mu, logvar = torch.as_tensor(mu), torch.as_tensor(logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and "
                         f"{tuple(logvar.shape)}.")
    if mu.dim() == 0:
        raise ValueError("mu and logvar need a last (latent) dimension, e.g. shape (d,) or (N, d).")
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=-1)


def _check_model(model) -> None:
    if not hasattr(model, "prior") or not callable(getattr(model, "likelihood", None)):
        raise ValueError(
            f"model must follow the latent-variable-model protocol: a `prior` distribution and "
            f"a `likelihood(z)` method; got {type(model).__name__}."
        )


def _check_q(q, x: Tensor, name: str, device: torch.device | None) -> None:
    if not isinstance(q, Distribution):
        raise ValueError(f"{name} must be a torch.distributions.Distribution, got {type(q).__name__}.")
    if tuple(q.batch_shape) != (x.shape[0],):
        hint = (" If x is one data point, make it a batch of one with x[None] and build the "
                "distribution from that." if tuple(q.batch_shape) == () else "")
        raise ValueError(
            f"{name} must have batch shape (B,) = ({x.shape[0]},), one distribution over z per "
            f"data point of x; got batch shape {tuple(q.batch_shape)}. Build it from the whole batch "
            f"x, e.g. model.approximate_posterior(x).{hint}"
        )
    try:
        q_device = q.mean.device
    except Exception:  # noqa: BLE001 - a distribution without a mean: torch will tell
        return
    if device is not None and q_device != device:
        raise ValueError(f"{name} lives on {q_device} but the model on {device}; build it from the "
                         f"model, e.g. model.approximate_posterior(x), or on {device}.")


def _chunk(n: int, x: Tensor, chunk_size: int | None) -> int:
    if chunk_size is not None:
        return validate.count(chunk_size, "chunk_size")
    per_sample = max(1, x.numel())
    return max(1, min(n, _MAX_ELEMENTS // per_sample))


def _x_shape_error(x: Tensor, event_shape: tuple) -> ValueError:
    want = f"(B, {', '.join(map(str, event_shape))})" if event_shape else "(B,)"
    if tuple(x.shape) == event_shape:
        fix = "this is one data point without a batch dimension; for a batch of one use x[None]"
    elif math.prod(x.shape[1:]) == math.prod(event_shape):
        fix = f"reshape it: x.reshape(-1, {', '.join(map(str, event_shape))})"
    else:
        fix = "the model describes data points of the event shape above"
    return ValueError(f"x must be a batch of shape {want} for this model (its likelihood's event "
                      f"shape is {event_shape}), got shape {tuple(x.shape)}; {fix}.")


def _log_weights(model, x, q: Distribution | None, n_samples, *, n_name: str = "n_samples",
                 q_name: str = "q", chunk_size: int | None = None,
                 reparameterize: bool = False) -> Tensor:
    """All N log-weights, shape (N, B): log w = log p(x, z) − log q(z) for z ~ q, or
    log p(x|z) for z ~ prior when q is None. The one routine behind the four estimators.

    Checks the model, the count, x (a non-empty, finite batch, converted to the model's
    dtype and device), q's batch shape and device, and — at the first chunk — that x's
    per-example shape is the likelihood's event shape. Draws the samples in chunks whose
    likelihood values fit in memory; the draws are the same whatever the chunking.
    """
    _check_model(model)
    n = validate.count(n_samples, n_name)
    x = validate.data_batch(x, "x", like=model)
    if q is not None:
        _check_q(q, x, q_name, x.device)
    chunk = _chunk(n, x, chunk_size)
    B = x.shape[0]
    out, done = [], 0
    while done < n:
        c = min(chunk, n - done)
        if q is None:
            z = model.prior.sample((c, B))
        else:
            z = q.rsample((c,)) if (reparameterize and q.has_rsample) else q.sample((c,))
        lik = model.likelihood(z)
        if tuple(lik.batch_shape) == (c, B) and tuple(lik.event_shape) != tuple(x.shape[1:]):
            raise _x_shape_error(x, tuple(lik.event_shape))
        lw = lik.log_prob(x)
        if q is not None:
            lw = lw + model.prior.log_prob(z) - q.log_prob(z)
        if lw.shape != (c, B):
            raise ValueError(
                f"log-weights have shape {tuple(lw.shape)}, expected ({c}, {B}): the model's "
                f"likelihood(z) must have batch shape equal to z's batch shape and event shape "
                f"equal to x's per-example shape {tuple(x.shape[1:])}."
            )
        out.append(lw)
        done += c
    return torch.cat(out, dim=0)


def log_marginal_mc(model, x: Tensor, n_samples: int, *, chunk_size: int | None = None) -> Tensor:
    """Naive Monte Carlo estimate of log p(x), sampling z from the prior (lesson 3).

    log p̂(x) = logsumexp_n log p(x | z_n) − log N,  z_n ~ p(z).

    Args:
        model: latent-variable model with ``prior`` and ``likelihood(z)``.
        x: data batch, shape (B, *event_shape), B ≥ 1, finite; converted to the model's
            dtype and moved to its device (the result lives there too).
        n_samples: N ≥ 1 prior samples per data point (any integer type).
        chunk_size: samples evaluated at once (memory bound); default picks one.
    Returns:
        Tensor (B,), nats. p̂(x) is unbiased for p(x); log p̂(x) is biased low.
    Raises:
        ValueError: ``n_samples`` not an integer ≥ 1; x not a non-empty finite batch whose per-example shape is the
            likelihood's event shape (one data point without its batch dimension is refused:
            use ``x[None]``), or a model that does not follow the protocol.
    Source: Bishop, "Pattern Recognition and Machine Learning" (2006), §11.1;
        Kingma & Welling 2019, "An Introduction to VAEs", §2.7.
    """
    lw = _log_weights(model, x, None, n_samples, chunk_size=chunk_size)
    return torch.logsumexp(lw, dim=0) - math.log(len(lw))


def log_marginal_is(model, x: Tensor, proposal: Distribution, n_samples: int, *,
                    chunk_size: int | None = None) -> Tensor:
    """Importance-sampling estimate of log p(x) (lesson 4).

    log p̂(x) = logsumexp_n [log p(x, z_n) − log q(z_n)] − log N,  z_n ~ q.

    With q the exact posterior p(z|x) every weight equals p(x): the estimate is exact for
    any N. With q the prior it is ``log_marginal_mc``.

    Args:
        model: latent-variable model with ``prior`` and ``likelihood(z)``.
        x: data batch, shape (B, *event_shape), B ≥ 1, finite; converted to the model's
            dtype and moved to its device (the result lives there too).
        proposal: distribution q over z with batch shape (B,).
        n_samples: N ≥ 1 (any integer type).
        chunk_size: samples evaluated at once (memory bound); default picks one.
    Returns:
        Tensor (B,), nats. Unbiased for p(x), biased low for log p(x).
    Raises:
        ValueError: ``n_samples`` not an integer ≥ 1; proposal batch shape ≠ (B,) or
            proposal on another device than the model; x not a non-empty finite batch whose per-example shape is the
            likelihood's event shape (one data point without its batch dimension is refused:
            use ``x[None]``), or a model that does not follow the protocol.
    Source: Kingma & Welling 2019, "An Introduction to VAEs", §2.7;
        Rezende, Mohamed & Wierstra 2014, appendix E.
    """
    lw = _log_weights(model, x, proposal, n_samples, q_name="proposal", chunk_size=chunk_size)
    return torch.logsumexp(lw, dim=0) - math.log(len(lw))


def effective_sample_size(log_weights: Tensor, dim: int = 0) -> Tensor:
    """Effective sample size (Σ w)² / Σ w² of importance weights, from log-weights (lesson 4).

    Computed as exp(2 logsumexp(log w) − logsumexp(2 log w)), so weights far below the
    float range are fine. It lies in [1, N]; N when all weights are equal.

    Args:
        log_weights: tensor of log-weights; ``dim`` indexes the N samples.
        dim: the sample dimension.
    Returns:
        Tensor with ``dim`` removed, float, in [1, N].
    Raises:
        ValueError: empty sample dimension, a NaN / +inf log-weight, or all weights zero.
    Source: Kong 1992; Owen, "Monte Carlo theory, methods and examples" (2013), §9.3.
    """
    lw = torch.as_tensor(log_weights)
    if not torch.is_floating_point(lw):
        lw = lw.to(torch.get_default_dtype())
    if lw.dim() == 0 or lw.shape[dim] == 0:
        raise ValueError(f"log_weights needs a non-empty sample dimension dim={dim}, "
                         f"got shape {tuple(lw.shape)}.")
    if torch.isnan(lw).any() or (lw == math.inf).any():
        raise ValueError("log_weights contain NaN or +inf; check the model and proposal log-densities.")
    if (lw == -math.inf).all(dim=dim).any():
        raise ValueError("all log-weights are -inf along the sample dimension (every weight is 0): "
                         "the proposal never lands where p(x, z) > 0.")
    lw64 = lw.double()  # float32 rounding would push the ESS of equal weights above N
    ess = torch.exp(2 * torch.logsumexp(lw64, dim=dim) - torch.logsumexp(2 * lw64, dim=dim))
    return ess.to(lw.dtype)


def elbo(model, x: Tensor, q: Distribution, n_samples: int = 1, *,
         chunk_size: int | None = None) -> Tensor:
    """Monte Carlo evidence lower bound, ELBO = E_q[log p(x, z) − log q(z)] (lesson 5).

    ELBO = E_q[log p(x|z)] − KL(q ‖ p(z)) ≤ log p(x), with gap KL(q ‖ p(z|x)).
    Uses reparameterized samples (``q.rsample``) when q supports them, so the result can be
    differentiated with respect to q's parameters.

    Args:
        model: latent-variable model with ``prior`` and ``likelihood(z)``.
        x: data batch, shape (B, *event_shape), B ≥ 1, finite; converted to the model's
            dtype and moved to its device (the result lives there too).
        q: variational distribution over z with batch shape (B,).
        n_samples: samples averaged per data point, ≥ 1 (any integer type).
        chunk_size: samples evaluated at once (memory bound); default picks one.
    Returns:
        Tensor (B,), nats.
    Raises:
        ValueError: ``n_samples`` not an integer ≥ 1; q's batch shape ≠ (B,) or q on
            another device than the model; x not a non-empty finite batch whose per-example shape is the
            likelihood's event shape (one data point without its batch dimension is refused:
            use ``x[None]``), or a model that does not follow the protocol.
    Source: Kingma & Welling 2014, eq. 2–3; Kingma & Welling 2019, §2.2.
    """
    lw = _log_weights(model, x, q, n_samples, chunk_size=chunk_size, reparameterize=True)
    return lw.mean(dim=0)


def iwae_bound(model, x: Tensor, q: Distribution, k: int, *, chunk_size: int | None = None) -> Tensor:
    """Importance-weighted bound with k samples (lesson 5).

    L_k = logsumexp_{i=1..k} [log p(x, z_i) − log q(z_i)] − log k,  z_i ~ q.
    E[L_1] is the ELBO; E[L_k] increases with k toward log p(x). Reparameterized when q
    supports it.

    Args:
        model: latent-variable model with ``prior`` and ``likelihood(z)``.
        x: data batch, shape (B, *event_shape), B ≥ 1, finite; converted to the model's
            dtype and moved to its device (the result lives there too).
        q: distribution over z with batch shape (B,).
        k: number of importance samples, ≥ 1 (any integer type).
        chunk_size: samples evaluated at once (memory bound); default picks one.
    Returns:
        Tensor (B,), nats; one draw of the bound per data point.
    Raises:
        ValueError: ``k`` not an integer ≥ 1; q's batch shape ≠ (B,) or q on another
            device than the model; x not a non-empty finite batch whose per-example shape is the
            likelihood's event shape (one data point without its batch dimension is refused:
            use ``x[None]``), or a model that does not follow the protocol.
    Source: Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders", eq. 8.
    """
    lw = _log_weights(model, x, q, k, n_name="k", chunk_size=chunk_size, reparameterize=True)
    return torch.logsumexp(lw, dim=0) - math.log(len(lw))
