"""The plumbing of lessons 5 and 5b: the lesson's model, exact ELBOs, fitting loops and figures.

Lessons 5 and 5b keep the lines they teach in the notebooks — the Monte Carlo ELBO, the
closed-form KL, the reparameterized sample, the score-function gradient, the IWAE bound —
and import from here what only carries them: the closed-form ELBO of the linear-Gaussian
model (the yardstick every estimate is compared with), the best diagonal q, the three q and
the broken ELBO estimators of lesson 5's exercises, the loops that fit a q or a linear encoder
by gradient ascent, the replicated IWAE draws, and the figures.

Every tensor is float64 and every log-density, ELBO, KL and gap is in nats. q is a
``torch.distributions`` Gaussian over z with batch shape (B,) and event shape (k,):
``Independent(Normal(mu, std), 1)`` (diagonal) or ``MultivariateNormal`` (full).

Sources: Kingma & Welling 2014, "Auto-Encoding Variational Bayes"; Bishop 2006, "Pattern
Recognition and Machine Learning", §10.1.2 (the best factorized q); Cremer, Li & Duvenaud
2018, "Inference suboptimality in variational autoencoders" (approximation and amortization
gaps); Burda, Grosse & Salakhutdinov 2016, "Importance weighted autoencoders" (eq. 8).
"""
from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal, kl_divergence

from .estimators import elbo, iwae_bound
from .lvm import LinearGaussianLVM
from .plotting import OKABE_ITO

__all__ = [
    "BLACK", "ORANGE", "SKY", "GREEN", "BLUE", "VERMILLION", "PURPLE",
    "lesson5_model", "diag_q", "mean_cov", "exact_elbo_terms", "exact_elbo", "best_diag_q",
    "three_qs", "broken_elbo_runs", "ellipse", "fit_q", "train_linear_encoder", "gap_split", "iwae_curves",
    "plot_jensen", "plot_gaps", "plot_three_qs", "plot_training_loss", "plot_gradients", "plot_fits", "plot_amortization", "plot_iwae",
]

# Okabe–Ito colours (vae_utils.plotting.OKABE_ITO), distinguishable with every common
# form of colour blindness; the lessons' figures use them by name.
BLACK, ORANGE, SKY, GREEN, BLUE, VERMILLION, PURPLE = (
    OKABE_ITO[c] for c in ("BLACK", "ORANGE", "SKY", "GREEN", "BLUE", "VERMILLION", "PURPLE"))
_F64 = torch.float64


def lesson5_model() -> tuple[LinearGaussianLVM, Tensor]:
    """The linear-Gaussian model and the one data point of lesson 5, §1.

    z ~ N(0, I_2), x | z ~ N(W z + b, 0.7² I_5), with lesson 5's W (5, 2) and b (5,); x is one
    ancestral sample (generator seeded with 5), so log p(x) = −7.0965 nats.

    Returns:
        ``(model, x)``: a ``LinearGaussianLVM`` and x of shape (1, 5), float64.
    """
    W = torch.tensor([[1.0, 0.8], [0.9, 1.1], [0.4, 0.3], [1.2, 0.9], [0.2, 0.5]], dtype=_F64)
    b = torch.tensor([0.5, -0.3, 0.0, 0.2, 1.0], dtype=_F64)
    model = LinearGaussianLVM(W, b, 0.7)
    x, _ = model.sample(1, generator=torch.Generator().manual_seed(5))
    return model, x


def diag_q(mu, logvar) -> Independent:
    """q(z) = N(mu, diag exp(logvar)), a diagonal Gaussian (lesson 5, §2).

    Args:
        mu: means, shape (..., k). logvar: log-variances log σ², same shape (not σ, not log σ).
    Returns:
        ``Independent(Normal(mu, exp(½ logvar)), 1)``: batch shape mu.shape[:-1], event (k,).
    Raises:
        ValueError: mu and logvar differ in shape.
    """
    mu, logvar = torch.as_tensor(mu), torch.as_tensor(logvar)
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}.")
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


def mean_cov(q: Distribution) -> tuple[Tensor, Tensor]:
    """Mean (..., k) and covariance matrix (..., k, k) of a Gaussian q, diagonal or full.

    Raises:
        TypeError: q is neither a ``MultivariateNormal`` nor an ``Independent(Normal, 1)``.
    """
    if isinstance(q, MultivariateNormal):
        return q.mean, q.covariance_matrix
    if isinstance(q, Independent) and isinstance(q.base_dist, Normal) and q.reinterpreted_batch_ndims == 1:
        return q.mean, torch.diag_embed(q.variance)
    raise TypeError(f"q must be a MultivariateNormal or an Independent(Normal, 1), got {type(q).__name__}.")


def exact_elbo_terms(model: LinearGaussianLVM, x: Tensor, q: Distribution) -> tuple[Tensor, Tensor]:
    """Closed-form E_q[log p(x|z)] and KL(q ‖ p(z)) for the linear-Gaussian model (lesson 5, §3).

    With q = N(μ, Σ) and E_q‖x − Wz − b‖² = ‖x − Wμ − b‖² + tr(W Σ Wᵀ):

        E_q[log p(x|z)] = −(d/2) log(2πσ²) − (‖x − Wμ − b‖² + tr(W Σ Wᵀ)) / (2σ²),
        KL(q ‖ N(0, I)) = ½ (tr Σ + ‖μ‖² − k − log det Σ).

    Args:
        model: a ``LinearGaussianLVM`` (W (d, k), b (d,), σ).
        x: data, shape (B, d). q: Gaussian over z with batch shape (B,) (see ``mean_cov``).
    Returns:
        ``(reconstruction, kl)``, each of shape (B,), nats; differentiable in q's parameters.
    Source: Bishop 2006, §2.3 (Gaussian expectations); Kingma & Welling 2014, appendix B.
    """
    mu, Sigma = mean_cov(q)
    W, b, sigma, d, k = model.W, model.b, model.sigma, model.d, model.k
    resid = x - mu @ W.T - b
    recon = (-0.5 * d * math.log(2 * math.pi * sigma ** 2)
             - 0.5 * ((resid ** 2).sum(-1) + torch.einsum("ij,...jk,ik->...", W, Sigma, W)) / sigma ** 2)
    kl = 0.5 * (Sigma.diagonal(dim1=-2, dim2=-1).sum(-1) + (mu ** 2).sum(-1) - k - torch.logdet(Sigma))
    return recon, kl


def exact_elbo(model: LinearGaussianLVM, x: Tensor, q: Distribution) -> Tensor:
    """Closed-form ELBO(q) = E_q[log p(x|z)] − KL(q ‖ p(z)), shape (B,), nats (see ``exact_elbo_terms``)."""
    recon, kl = exact_elbo_terms(model, x, q)
    return recon - kl


def best_diag_q(model: LinearGaussianLVM, x: Tensor) -> Independent:
    """The diagonal Gaussian that maximises the ELBO of each x (lesson 5b, §3).

    For a Gaussian posterior N(m, Λ⁻¹), argmin over diagonal q of KL(q ‖ p(z|x)) has mean m and
    variances 1 / Λ_jj (one over the diagonal of the posterior precision).

    Args:
        model: a ``LinearGaussianLVM``. x: data, shape (B, d).
    Returns:
        ``Independent(Normal, 1)`` with batch shape (B,), event (k,).
    Source: Bishop 2006, §10.1.2, eqs. 10.13–10.15.
    """
    post = model.posterior(x)
    var = 1 / torch.linalg.inv(post.covariance_matrix).diagonal(dim1=-2, dim2=-1)
    return diag_q(post.mean, torch.log(var))


def three_qs(model: LinearGaussianLVM, x: Tensor) -> dict[str, MultivariateNormal]:
    """The three q of lesson 5's prediction exercise (§5), each a ``MultivariateNormal`` over z
    with batch shape (1,), built from the exact posterior N(m, Σ) of x:

    * "A": round, centred, N(m, 0.3 I) — as wide as the posterior in every direction and more;
    * "B": the best diagonal q, N(m, diag(1/Λ_jj)) with Λ = Σ⁻¹ (lesson 5b, §3);
    * "C": the posterior's own shape, its mean moved by 0.8 along the posterior's long axis
      (the eigenvector of Σ with the largest eigenvalue, sign fixed so its first entry is > 0).

    Args:
        model: a ``LinearGaussianLVM`` with k = 2. x: one data point, shape (1, d).
    Returns:
        name → q, in the order A, B, C.
    """
    post = model.posterior(x)
    m, S = post.mean[0], post.covariance_matrix[0]
    k = m.shape[-1]
    _, V = torch.linalg.eigh(S)
    long_axis = V[:, -1] * torch.sign(V[0, -1])
    covs = {"A": 0.3 * torch.eye(k, dtype=S.dtype), "B": torch.diag(1 / torch.linalg.inv(S).diagonal()), "C": S}
    means = {"A": m, "B": m, "C": m + 0.8 * long_axis}
    return {n: MultivariateNormal(means[n].unsqueeze(0), covs[n].unsqueeze(0)) for n in ("A", "B", "C")}


def broken_elbo_runs(model: LinearGaussianLVM, x: Tensor, qs: dict, n_samples: int = 20_000,
                     seed: int = 0) -> dict[str, Tensor]:
    """Three Monte Carlo ELBO estimators with one slip each, run on diagonal q (lesson 5, §5).

    Which slip each run carries is the exercise ``elbo_diagnosis``; the slips are among those
    the exercise lists. Each run draws ``n_samples`` reparameterized samples of every q from a
    generator seeded with ``seed``.

    Args:
        model: the linear-Gaussian model. x: one data point, shape (1, d).
        qs: name → diagonal q (``diag_q``) with batch shape (1,).
    Returns:
        "run 1", "run 2", "run 3" → estimates, shape (len(qs),), nats, in the order of ``qs``.
    """
    g = torch.Generator().manual_seed(seed)
    out = {"run 1": [], "run 2": [], "run 3": []}
    for q in qs.values():
        mu, var = q.mean, q.variance
        eps = torch.randn(n_samples, *mu.shape, generator=g, dtype=_F64)
        z = mu + var.sqrt() * eps
        log_lik, log_prior, log_q = model.likelihood(z).log_prob(x), model.prior.log_prob(z), q.log_prob(z)
        z_p = eps                                     # drawn from the prior N(0, I), not from q
        out["run 1"].append((model.likelihood(z_p).log_prob(x) + model.prior.log_prob(z_p)
                             - q.log_prob(z_p)).mean(0))
        out["run 2"].append((log_lik - log_q).mean(0))
        out["run 3"].append((log_lik + log_prior + log_q).mean(0))
    return {run: torch.cat(v) for run, v in out.items()}


def ellipse(mean, cov, n_std: float = 2.0, n: int = 200) -> np.ndarray:
    """Points on the ``n_std`` contour of a 2-D Gaussian: mean + n_std · L (cos t, sin t), L Lᵀ = cov.

    Args:
        mean: shape (2,). cov: positive-definite, shape (2, 2). n_std > 0; n ≥ 2 points.
    Returns:
        numpy array (2, n): x-coordinates, then y-coordinates, in latent units.
    Raises:
        ValueError: wrong shapes; torch's error if cov is not positive definite.
    """
    mean, cov = torch.as_tensor(mean, dtype=_F64), torch.as_tensor(cov, dtype=_F64)
    if mean.shape != (2,) or cov.shape != (2, 2):
        raise ValueError(f"ellipse needs mean (2,) and cov (2, 2), got {tuple(mean.shape)} and {tuple(cov.shape)}.")
    t = torch.linspace(0, 2 * math.pi, n, dtype=_F64)
    L = torch.linalg.cholesky(cov)
    return (mean.reshape(2, 1) + n_std * L @ torch.stack([t.cos(), t.sin()])).numpy()


def _make_q(params: list[Tensor], family: str) -> Distribution:
    if family == "full":
        mu, log_diag, off = params
        L = torch.diag_embed(log_diag.exp()) + torch.tril(torch.ones(2, 2, dtype=_F64), -1) * off.unsqueeze(-1)
        return MultivariateNormal(mu, scale_tril=L)
    mu, logvar = params
    return diag_q(mu, logvar)


def fit_q(model: LinearGaussianLVM, x: Tensor, family: str = "diagonal", estimator: str = "reparam", *,
          steps: int = 300, n_samples: int = 16, lr: float = 0.05, seed: int = 8) -> tuple[Distribution, list[float]]:
    """Fit q to one data point by gradient ascent on the ELBO (lesson 5b, §3).

    Adam with a cosine learning-rate schedule from q = N(0, I); each step uses ``n_samples``
    draws. ``estimator="reparam"`` differentiates the Monte Carlo ELBO through ``q.rsample``;
    ``"score"`` uses the surrogate loss −mean f(z) log q(z), f = log p(x, z) − log q(z)
    detached, z from ``q.sample`` — its gradient is the score-function (REINFORCE) estimate.

    Args:
        model: a ``LinearGaussianLVM`` with k = 2 (its exact posterior scores each step).
        x: one data point, shape (1, d).
        family: ``"diagonal"`` (μ, logvar) or ``"full"`` (μ and a Cholesky factor L with
            positive diagonal exp(log_diag) and free off-diagonal).
        estimator: ``"reparam"`` or ``"score"``. steps, n_samples ≥ 1; lr > 0; seed: torch seed.
    Returns:
        ``(q, history)``: the fitted q (batch (1,), detached) and the exact gap
        KL(q ‖ p(z|x)) after every step, a list of ``steps`` floats, nats.
    Raises:
        ValueError: unknown family or estimator, k ≠ 2, or x not of shape (1, d).
    Source: Kingma & Welling 2014, §2.4 (reparameterization); Williams 1992 (score function).
    """
    if family not in ("diagonal", "full") or estimator not in ("reparam", "score"):
        raise ValueError(f"family must be 'diagonal' or 'full' and estimator 'reparam' or 'score', "
                         f"got {family!r} and {estimator!r}.")
    if model.k != 2 or tuple(x.shape) != (1, model.d):
        raise ValueError(f"fit_q needs a model with k = 2 and x of shape (1, {model.d}), got k = {model.k}, "
                         f"x {tuple(x.shape)}.")
    post = model.posterior(x)
    torch.manual_seed(seed)
    params = [torch.zeros(1, 2, dtype=_F64, requires_grad=True), torch.zeros(1, 2, dtype=_F64, requires_grad=True)]
    if family == "full":
        params.append(torch.zeros(1, 1, dtype=_F64, requires_grad=True))
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    history = []
    for _ in range(steps):
        q = _make_q(params, family)
        if estimator == "reparam":
            loss = -elbo(model, x, q, n_samples).sum()
        else:
            z = q.sample((n_samples,))
            f = (model.likelihood(z).log_prob(x) + model.prior.log_prob(z) - q.log_prob(z)).detach()
            loss = -(f * q.log_prob(z)).mean(0).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            qm, qS = mean_cov(_make_q(params, family))
            history.append(kl_divergence(MultivariateNormal(qm, qS), post).item())
    return _make_q([p.detach() for p in params], family), history


def gap_split(model: LinearGaussianLVM, x: Tensor, q_enc: Distribution) -> tuple[Tensor, Tensor, Tensor]:
    """Exact gaps of an encoder's q for each x (lesson 5b, §4; Cremer, Li & Duvenaud 2018).

    total = log p(x) − ELBO(q_enc); approximation = log p(x) − ELBO(q*_x) with q*_x the best
    diagonal q (``best_diag_q``); amortization = total − approximation ≥ 0.

    Args:
        model: a ``LinearGaussianLVM``. x: data (B, d). q_enc: diagonal q with batch shape (B,).
    Returns:
        ``(total, approximation, amortization)``, each (B,), nats, without gradient.
    """
    with torch.no_grad():
        log_p = model.log_marginal(x)
        total = log_p - exact_elbo(model, x, q_enc)
        approximation = log_p - exact_elbo(model, x, best_diag_q(model, x))
    return total, approximation, total - approximation


def train_linear_encoder(model: LinearGaussianLVM, x_train: Tensor, x_test: Tensor, *, steps: int = 400,
                         lr: float = 0.02, every: int = 20, seed: int = 12):
    """Train a linear encoder x ↦ (μ, logvar) = x A + c like a VAE's (lesson 5b, §4).

    Adam on −mean ELBO over ``x_train`` with one reparameterized sample per data point; every
    ``every`` steps (and before the first) the exact mean gaps on ``x_test`` are recorded
    (``gap_split``).

    Args:
        model: a ``LinearGaussianLVM``. x_train (N, d), x_test (M, d). steps ≥ 0; lr > 0;
        every ≥ 1; seed: torch seed of the initial weights and the samples.
    Returns:
        ``(encode, record, seconds)``: ``encode(x)`` gives the diagonal q(z|x) with batch
        shape (B,); ``record`` a dict of lists "step", "total", "approximation",
        "amortization" (mean gaps on x_test, nats); the training time in seconds.
    Source: Kingma & Welling 2014, §2.3 (amortized inference with one sample per point).
    """
    torch.manual_seed(seed)
    encoder = torch.nn.Linear(model.d, 2 * model.k).double()

    def encode(x_batch: Tensor) -> Independent:
        mu, logvar = encoder(x_batch).chunk(2, dim=-1)
        return diag_q(mu, logvar)

    opt = torch.optim.Adam(encoder.parameters(), lr=lr)
    record = {"step": [], "total": [], "approximation": [], "amortization": []}
    t0 = time.perf_counter()
    for step in range(steps + 1):
        if step % every == 0:
            for key, v in zip(("total", "approximation", "amortization"), gap_split(model, x_test, encode(x_test))):
                record[key].append(v.mean().item())
            record["step"].append(step)
        if step == steps:
            break
        loss = -elbo(model, x_train, encode(x_train), 1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return encode, record, time.perf_counter() - t0


def iwae_curves(model, x: Tensor, q: Independent, ks: list[int], reps: int) -> tuple[Tensor, Tensor]:
    """Mean and standard error of ``reps`` independent draws of the IWAE bound L_K, for each K.

    Args:
        model: a model of the course's protocol. x: one data point, shape (1, d).
        q: a diagonal q with batch shape (1,). ks: numbers of importance samples, each ≥ 1.
        reps: independent draws per K, ≥ 2. Randomness from torch's global generator.
    Returns:
        ``(mean, se)``, each of shape (len(ks),), nats: E[L_K] estimates and their standard errors.
    Source: Burda, Grosse & Salakhutdinov 2016, eq. 8 and theorem 1 (E[L_K] rises with K).
    """
    if reps < 2:
        raise ValueError(f"reps must be at least 2 to give a standard error, got {reps}.")
    k = q.mean.shape[-1]
    q_rep = diag_q(q.mean.expand(reps, k), torch.log(q.variance).expand(reps, k))
    x_rep = x.expand(reps, x.shape[-1])
    L = torch.stack([iwae_bound(model, x_rep, q_rep, kk) for kk in ks])   # (len(ks), reps)
    return L.mean(1), L.std(1) / math.sqrt(reps)


# --- figures --------------------------------------------------------------------------------------

def plot_jensen(log_w: Tensor, log_px: float, w_pair: tuple[float, float] = (0.4, 3.6)):
    """Lesson 5, §2: Jensen's inequality for two values of w (left) and for log-weights (right).

    Args:
        log_w: log-weights of one data point, shape (N,), nats. log_px: exact log p(x), nats.
        w_pair: the two equally likely values of w in the left panel.
    Returns:
        The matplotlib figure.
    """
    log_w = torch.as_tensor(log_w).reshape(-1)
    log_mean_w = (torch.logsumexp(log_w, 0) - math.log(len(log_w))).item()
    mean_log_w = log_w.mean().item()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    ax = axes[0]
    ws = np.linspace(0.15, 4.2, 200)
    w1, w2 = w_pair
    w_mean, log_mid = (w1 + w2) / 2, (math.log(w1) + math.log(w2)) / 2
    ax.plot(ws, np.log(ws), color=BLACK, label="log w")
    ax.plot([w1, w2], [math.log(w1), math.log(w2)], "-o", color=BLUE, lw=2, ms=6,
            label="chord between two values of w")
    ax.plot([w_mean], [math.log(w_mean)], "o", color=ORANGE, ms=9, label=f"log E[w] = {math.log(w_mean):.2f}")
    ax.plot([w_mean], [log_mid], "s", color=VERMILLION, ms=8, label=f"E[log w] = {log_mid:.2f}")
    ax.set(xlabel="weight w (dimensionless)", ylabel="log w (nats)", title="Concave log: the chord lies below the curve")
    ax.legend(loc="lower right")
    ax = axes[1]
    ax.hist(log_w.numpy(), bins=80, color=SKY, density=True)
    ax.axvline(mean_log_w, color=VERMILLION, lw=2, label=f"average of log w = {mean_log_w:.2f}")
    ax.axvline(log_mean_w, color=ORANGE, lw=2, label=f"log of average w = {log_mean_w:.2f}")
    ax.axvline(log_px, color=BLACK, ls="--", label=f"exact log p(x) = {log_px:.2f}")
    ax.set(xlabel="log-weight log w = log p(x, z) − log q(z)  (nats)", ylabel="density (1/nat)",
           title=f"Averaging the logs loses {log_mean_w - mean_log_w:.2f} nats")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def plot_gaps(candidates: dict, gaps: dict, colors: dict):
    """Lesson 5, §3: the 2-σ contour of each q (left) and its gap KL(q ‖ p(z|x)) (right).

    Args:
        candidates: name → Gaussian q over a 2-D z with batch shape (1,); a name containing
            "exact" is drawn as a solid line (the posterior). gaps: name → gap in nats.
        colors: name → matplotlib colour.
    Returns:
        The matplotlib figure.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), gridspec_kw={"width_ratios": [1, 1.2]})
    ax = axes[0]
    for name, q in candidates.items():
        qm, qS = mean_cov(q)
        e = ellipse(qm[0], qS[0], 2.0)
        exact = "exact" in name
        ax.plot(e[0], e[1], color=colors[name], lw=2.5 if exact else 1.8, ls="-" if exact else "--", label=name)
        ax.plot(*qm[0].numpy(), "+", color=colors[name], ms=10)
    ax.set(xlabel="z1 (latent units)", ylabel="z2 (latent units)", aspect="equal",
           title="2-σ contours of each q (+: its mean)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=9)   # a bar of length 0 shows no colour
    ax = axes[1]
    names = list(candidates)
    ax.barh(range(len(names)), [gaps[n] for n in names], color=[colors[n] for n in names])
    for i, n in enumerate(names):
        ax.text(gaps[n] + 0.1, i, f"{gaps[n]:.3f}", va="center")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set(xlabel="log p(x) − ELBO(q) = KL(q ‖ p(z|x))  (nats)", xlim=(0, max(gaps.values()) * 1.2),
           title="The gap is the KL to the posterior: zero only at the posterior")
    fig.tight_layout()
    return fig


def plot_three_qs(qs: dict, post: MultivariateNormal, colors: dict):
    """Lesson 5, §5: each q's 2-σ contour over the exact posterior's, one panel per q, no numbers.

    Args:
        qs: name → Gaussian q over a 2-D z, batch shape (1,). post: the exact posterior, batch
            shape (1,). colors: name → matplotlib colour.
    Returns:
        The matplotlib figure.
    """
    fig, axes = plt.subplots(1, len(qs), figsize=(4 * len(qs), 3.8), sharex=True, sharey=True)
    pm, pS = mean_cov(post)
    e_post = ellipse(pm[0], pS[0], 2.0)
    for ax, (name, q) in zip(np.atleast_1d(axes), qs.items()):
        qm, qS = mean_cov(q)
        e = ellipse(qm[0], qS[0], 2.0)
        ax.plot(e_post[0], e_post[1], color=BLACK, lw=2.5, label="posterior p(z|x)")
        ax.plot(*pm[0].numpy(), "+", color=BLACK, ms=10)
        ax.plot(e[0], e[1], color=colors[name], lw=2, ls="--", label=f"q {name}")
        ax.plot(*qm[0].numpy(), "x", color=colors[name], ms=8)
        ax.set(xlabel="z1 (latent units)", aspect="equal", title=f"q {name} against the posterior")
        ax.legend(loc="lower left", fontsize=9)
    np.atleast_1d(axes)[0].set_ylabel("z2 (latent units)")
    fig.suptitle("2-σ contours: which q has the smallest gap KL(q ‖ p(z|x))?", y=1.02)
    fig.tight_layout()
    return fig


def plot_training_loss(one_sample_loss: Tensor, log_px: float, log_px_is: float, n_samples: int = 1000):
    """Lesson 5, §3: histogram of one-sample −ELBO values (the training loss) against −log p(x).

    Args:
        one_sample_loss: one-sample losses −(log p(x, z) − log q(z)), shape (N,), nats.
        log_px: exact log p(x); log_px_is: an importance-sampling estimate log p̂(x) with
            ``n_samples`` samples — a stochastic lower bound of log p(x); nats.
    Returns:
        The matplotlib figure; the x-axis is cut at the 99.5 % quantile of the losses.
    """
    loss = torch.as_tensor(one_sample_loss).reshape(-1)
    mean = loss.mean().item()
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.hist(loss.numpy(), bins=100, color=SKY, density=True, label="one-sample −ELBO (training loss)")
    ax.axvline(-log_px, color=BLACK, lw=2, label=f"−log p(x) = {-log_px:.2f}")
    ax.axvline(mean, color=VERMILLION, lw=2, ls="--", label=f"mean loss = −ELBO ≈ {mean:.2f}")
    ax.axvline(-log_px_is, color=ORANGE, lw=2, ls=":", label=f"−log p̂(x), IS with q, K = {n_samples:,}: {-log_px_is:.2f}")
    ax.set(xlim=(None, float(loss.quantile(0.995))), xlabel="nats", ylabel="density (1/nat)",
           title=f"The training loss is noisy and {mean + log_px:.2f} nats above −log p(x) on average")
    ax.legend()
    return fig


def plot_gradients(g_rep: Tensor, g_sf: Tensor, grad_exact: Tensor, n_points: int = 1500):
    """Lesson 5b, §2: clouds of one-sample gradients of the ELBO in μ, both estimators, and the exact one.

    Args:
        g_rep, g_sf: reparameterized and score-function gradients, shape (N, 2), nats per latent unit.
        grad_exact: the exact gradient, shape (2,). n_points: the first n_points of each cloud are drawn.
    Returns:
        The matplotlib figure; its title gives the ratio of the total variances.
    """
    ratio = (g_sf.var(0).sum() / g_rep.var(0).sum()).item()
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.scatter(*g_sf[:n_points].T.numpy(), s=5, alpha=0.35, color=ORANGE, label="score function (REINFORCE)")
    ax.scatter(*g_rep[:n_points].T.numpy(), s=5, alpha=0.35, color=BLUE, label="reparameterization")
    ax.plot(*torch.as_tensor(grad_exact).reshape(2).numpy(), "*", color=BLACK, mec="white", ms=18, label="exact gradient")
    ax.set(xlabel="∂ELBO/∂μ1 (nats per latent unit)", ylabel="∂ELBO/∂μ2 (nats per latent unit)",
           xlim=(-60, 50), ylim=(-60, 50), aspect="equal",
           title=f"One-sample gradients: score function has {ratio:.1f}× the variance")
    legend = ax.legend(loc="upper left")
    for handle in legend.legend_handles[:2]:
        handle.set_sizes([40])
        handle.set_alpha(1)
    return fig


def plot_fits(histories: dict, approx_gap: float, contours: dict):
    """Lesson 5b, §3: the exact gap along each fit (left, log scale) and the fitted contours (right).

    Args:
        histories: label → list of gaps per step (nats), drawn in BLACK, BLUE, ORANGE order.
        approx_gap: the approximation gap of the diagonal family, nats (dashed line).
        contours: label → (mean (2,), covariance (2, 2), colour, linestyle), 2-σ contours.
    Returns:
        The matplotlib figure.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.3, 1]})
    ax = axes[0]
    for (label, hist), color in zip(histories.items(), [BLACK, BLUE, ORANGE]):
        ax.plot(hist, color=color, label=label)
    ax.axhline(approx_gap, color=VERMILLION, ls="--", label=f"approximation gap {approx_gap:.3f}")
    ax.set(yscale="log", ylim=(1e-4, 20), xlabel="Adam step (16 samples each)", ylabel="gap KL(q ‖ p(z|x))  (nats)",
           title="Full q closes the gap; diagonal q stops at the approximation gap")
    ax.legend(loc="lower left", fontsize=9)
    ax = axes[1]
    for label, (mean, cov, color, ls) in contours.items():
        e = ellipse(mean, cov, 2.0)
        ax.plot(e[0], e[1], color=color, ls=ls, lw=2, label=label)
    ax.set(xlabel="z1 (latent units)", ylabel="z2 (latent units)", aspect="equal",
           title="Best diagonal q sits inside the posterior")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=9)
    fig.tight_layout()
    return fig


def plot_amortization(record: dict):
    """Lesson 5b, §4: approximation and amortization gaps (stacked) along encoder training.

    Args:
        record: the ``record`` of ``train_linear_encoder`` (lists "step", "total", "approximation").
    Returns:
        The matplotlib figure.
    """
    fig, ax = plt.subplots(figsize=(9, 4))
    steps = record["step"]
    ax.fill_between(steps, 0, record["approximation"], color=VERMILLION, alpha=0.35, label="approximation gap")
    ax.fill_between(steps, record["approximation"], record["total"], color=SKY, alpha=0.6, label="amortization gap")
    ax.plot(steps, record["total"], color=BLACK, label="total gap log p(x) − ELBO(q_enc)")
    ax.set(yscale="log", ylim=(0.3, 30), xlabel="encoder training step (Adam, 1 sample per data point)",
           ylabel="gap, mean over held-out x (nats)",
           title="Training shrinks the amortization gap; the approximation gap stays")
    ax.legend()
    fig.tight_layout()
    return fig


def plot_iwae(ks: list[int], curves: dict, log_px: float, k_cross: int):
    """Lesson 5b, §5: E[L_K] ± 2 se against K (log axis), whole range (left) and zoomed (right).

    Args:
        ks: the K values. curves: label → (mean, se), tensors of shape (len(ks),), nats; drawn
            in BLUE, ORANGE order. log_px: exact log p(x), nats. k_cross: K named in the title.
    Returns:
        The matplotlib figure.
    """
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.2))
    for ax in axes:
        for (name, (mean, se)), color in zip(curves.items(), [BLUE, ORANGE]):
            ax.errorbar(ks, mean.numpy(), yerr=2 * se.numpy(), color=color, marker="o", capsize=3,
                        label=f"E[L_K] ± 2 se, {name}")
        ax.axhline(log_px, color=BLACK, ls="--", label="log p(x)")
        ax.set(xscale="log", xlabel="number of importance samples K", ylabel="nats")
    axes[0].set_title("L_K rises from the ELBO (K = 1) toward log p(x)")
    axes[0].legend(fontsize=9, loc="lower right")
    axes[1].set(ylim=(log_px - 0.7, log_px + 0.05),
                title=f"Zoomed in: the broad prior overtakes the narrow best q at K = {k_cross}")
    fig.tight_layout()
    return fig
