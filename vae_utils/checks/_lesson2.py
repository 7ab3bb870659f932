"""Checks for lesson 2's exercises: the generative story of a latent-variable model.

* ``inverse_cdf_gumbel`` — a Gaussian (through a uniform) turned into a Gumbel variable (derive);
* ``marginal_moments`` — the mean and covariance of x when the prior is N(m, S) (derive);
* ``sample_mixture`` — ancestral sampling with a discrete latent, a Gaussian mixture (implement);
* ``posterior_variance`` — Var(z | x) with one latent and a noise level per coordinate
  (derive, then the lesson measures it; a prediction);
* ``choose_k`` — the latent dimension of a linear-Gaussian model, chosen from held-out
  log p(x) (judge), on the data of ``k_choice_data``.
"""
from __future__ import annotations

import math

import torch

from ._derive import check_closed_form
from ._common import hidden_model, exercise, fallback_for, gen, manual_seed, as_tensor, call, expect_close, expect_shape, fail, passed

__all__ = ["inverse_cdf_gumbel", "marginal_moments", "sample_mixture", "posterior_variance",
           "k_choice_data", "choose_k"]


# --- inverse_cdf_gumbel -----------------------------------------------------------------------
@exercise()
def inverse_cdf_gumbel(fn) -> None:
    """Check ``fn(u, loc, scale) -> x``: the inverse CDF of the Gumbel distribution,
    F(x) = exp(−exp(−(x − loc)/scale)), so x = loc − scale · log(−log u), elementwise on u in (0, 1).

    Reference: ``torch.distributions.Gumbel(loc, scale).cdf(x)`` must give back u. Hidden
    inputs: u, loc and scale drawn from ``gen``."""
    g = gen(2101)
    u = (0.002 + 0.996 * torch.rand(12, generator=g, dtype=torch.float64)).sort().values
    loc = float(torch.randn(1, generator=g)) * 2
    scale = 0.5 + 2 * float(torch.rand(1, generator=g))
    x = as_tensor(call(fn, u.clone(), loc, scale, name="inverse_cdf_gumbel"), "x")
    expect_shape(x, (12,), "x", "apply the formula elementwise to u.")
    if not torch.all(torch.isfinite(x)):
        fail("x contains NaN or inf.", "for u in (0, 1), log u < 0, so −log u > 0 and its log is finite.")
    expected = loc - scale * torch.log(-torch.log(u))
    if torch.allclose(x, loc - scale * torch.log(-torch.log1p(-u))):
        fail("you solved u = 1 − F(x): that is the inverse of the survival function of another distribution.",
             "the CDF itself is F(x) = exp(−exp(−(x − loc)/scale)).")
    if torch.any(x[1:] < x[:-1]):
        fail("x decreases as u increases, but an inverse CDF is increasing (a larger u, a larger x).",
             "solve u = exp(−exp(−(x − loc)/scale)) for x step by step: take log twice; mind each sign.")
    if torch.allclose(x, loc - torch.log(-torch.log(u)) / scale):
        fail("the scale is applied the wrong way (divided instead of multiplied).",
             "(x − loc)/scale = −log(−log u): multiply by the scale to get back to x.")
    if torch.allclose(x, -scale * torch.log(-torch.log(u))) and loc != 0:
        fail("the location is missing: x is shifted by loc.", "add loc back after undoing the scaling.")
    back = torch.distributions.Gumbel(torch.tensor(loc, dtype=torch.float64),
                                      torch.tensor(scale, dtype=torch.float64)).cdf(x)
    expect_close(back, u, "F(x), which should give back u", atol=1e-8,
                 hint="x = F⁻¹(u): solve u = exp(−exp(−(x − loc)/scale)) for x.")
    expect_close(x, expected, "x", atol=1e-8)
    passed("inverse_cdf_gumbel turns uniform u into Gumbel x (F(x) gives back u on hidden loc, scale).")


# --- marginal_moments -------------------------------------------------------------------------
@exercise("vae_utils.lvm.LinearGaussianLVM.marginal")
def marginal_moments(fn) -> None:
    """Check ``fn(W, b, sigma, m, S) -> (mean, cov)``: the mean W m + b and covariance
    W S Wᵀ + σ² I of x = W z + b + σ ε when the prior is z ~ N(m, S) instead of N(0, I).

    From lesson 1's Cov(L z) = L Cov(z) Lᵀ and independence of z and ε. Hidden inputs: the
    model, m and S drawn from ``gen``."""
    model = hidden_model(4, 2, 0.5, 2201, w_scale=1.5)
    g = gen(2202)
    m = torch.randn(model.k, generator=g, dtype=torch.float64)
    A = torch.randn(model.k, model.k, generator=g, dtype=torch.float64)
    S = A @ A.T + 0.5 * torch.eye(model.k, dtype=torch.float64)
    W, b, s = model.W, model.b, model.sigma
    out = call(fn, W.clone(), b.clone(), s, m.clone(), S.clone(), name="marginal_moments")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"marginal_moments should return a pair (mean, cov), got {type(out).__name__}.")
    mean, C = as_tensor(out[0], "the mean"), as_tensor(out[1], "the covariance")
    d, eye = model.d, torch.eye(model.d, dtype=torch.float64)
    expect_shape(mean, (d,), "the mean", "x has d coordinates: the mean is W m + b, shape (d,).")
    if tuple(C.shape) == (model.k, model.k):
        fail(f"the covariance has shape {tuple(C.shape)} = (k, k), but x lives in d = {d} dimensions.",
             "Cov(W z) is (d × d): W, then Cov(z), then Wᵀ.")
    expect_shape(C, (d, d), "the covariance")
    if torch.allclose(mean, b):
        fail("the mean is b: the prior's mean m is missing.", "E[W z] = W E[z].")
    expect_close(mean, W @ m + b, "the mean", hint="E[x] = W E[z] + b + σ E[ε].")
    if torch.allclose(C, W @ W.T + s ** 2 * eye):
        fail("that is the covariance for the prior N(0, I): the prior's covariance S is missing.",
             "Cov(W z) = W Cov(z) Wᵀ (lesson 1, section 2).")
    if torch.allclose(C, W @ S @ W.T + s * eye):
        fail("you added σ I, but the noise variance is σ².", "Cov(σ ε) = σ² I when ε ~ N(0, I).")
    if torch.allclose(C, W @ S @ W.T):
        fail("the output noise is missing.", "add the covariance of σ ε; z and ε are independent.")
    if torch.allclose(C, W @ m[:, None] @ m[None] @ W.T + W @ S @ W.T + s ** 2 * eye):
        fail("the covariance includes W m mᵀ Wᵀ: that is the second moment E[x xᵀ] part, not the covariance.",
             "the covariance subtracts the mean: a shift of z by m moves x, it does not spread it.")
    expect_close(C, W @ S @ W.T + s ** 2 * eye, "the covariance",
                 hint="Cov(x) = Cov(W z) + Cov(σ ε), with Cov(W z) = W Cov(z) Wᵀ.")
    passed("marginal_moments gives E[x] = W m + b and Cov(x) = W S Wᵀ + σ² I (hidden W, m, S).")


# --- sample_mixture ---------------------------------------------------------------------------
@exercise()
def sample_mixture(fn) -> None:
    """Check ``fn(weights, means, sigma, n) -> (x, c)``: ancestral sampling of a Gaussian mixture,
    c ~ Categorical(weights) (integers in 0..K−1), then x ~ N(means[c], σ² I).

    Draws 100,000 pairs and checks the shapes, that c takes each value with its weight, and
    that x − means[c] has mean 0 and standard deviation σ in every coordinate (x drawn from
    *this* c's component). Hidden inputs: weights, means and σ drawn from ``gen``."""
    g = gen(2301)
    K, d, n = 4, 2, 100_000
    weights = torch.softmax(torch.randn(K, generator=g, dtype=torch.float64) * 1.2, 0)
    weights = (weights + 0.05) / (weights + 0.05).sum()
    means = torch.randn(K, d, generator=g, dtype=torch.float64) * 3
    sigma = 0.3 + 0.4 * float(torch.rand(1, generator=g))
    with torch.random.fork_rng():
        manual_seed(2302)
        out = call(fn, weights.clone(), means.clone(), sigma, n, name="sample_mixture")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"sample_mixture should return a pair (x, c), got {type(out).__name__}.")
    x, c = as_tensor(out[0], "x"), as_tensor(out[1], "c")
    expect_shape(c, (n,), "c", "one component index per data point: c has shape (n,).")
    expect_shape(x, (n, d), "x", "one data point per row: x has shape (n, d).")
    if not torch.equal(c, c.round()) or c.min() < 0 or c.max() > K - 1:
        fail(f"c should hold component indices 0 … {K - 1}, got values from {c.min().item():.3g} to {c.max().item():.3g}.",
             "draw c with torch.multinomial(weights, n, replacement=True) or torch.distributions.Categorical.")
    freq = torch.bincount(c.long(), minlength=K).double() / n
    if (freq - 1 / K).abs().max() < 0.01 and (weights - 1 / K).abs().max() > 0.05:
        fail(f"c takes each value equally often ({freq.numpy().round(3)}), ignoring the weights "
             f"{weights.numpy().round(3)}.", "the prior over components is Categorical(weights), not uniform.")
    if (freq - weights).abs().max() > 0.01:
        fail(f"c takes the values 0 … {K - 1} with frequencies {freq.numpy().round(3)}, expected the weights "
             f"{weights.numpy().round(3)}.", "draw c from Categorical(weights): P(c = j) = weights[j].")
    resid = x - means[c.long()]
    sd, mean = resid.std(0), resid.mean(0)
    if sd.max() < 1e-8:
        fail("x is exactly means[c]: the output noise σ ε is missing.",
             "add sigma * torch.randn(n, d): the noise of p(x | c).")
    if mean.abs().max() > 0.02 or (sd - sigma).abs().max() > 0.02:
        fail(f"x − means[c] has mean {mean.numpy().round(3)} and standard deviation {sd.numpy().round(3)}, "
             f"expected 0 and σ = {sigma:.3f} in every coordinate.",
             "x must be drawn from *this* c's component: x = means[c] + sigma * eps, with the same c you return.")
    passed("sample_mixture draws c from Categorical(weights), then x given c (checked on 100,000 pairs).")


# --- posterior_variance (a prediction) --------------------------------------------------------
def _posterior_variance_exact(w, sigma) -> float:
    """Var(z | x) = 1 / (1 + Σ_j w_j²/σ_j²) for z ~ N(0, 1), x_j | z ~ N(w_j z + b_j, σ_j²)."""
    w = torch.as_tensor(w, dtype=torch.float64)
    sigma = torch.as_tensor(sigma, dtype=torch.float64)
    return 1.0 / (1.0 + float((w ** 2 / sigma ** 2).sum()))


@exercise("vae_utils.lvm.LinearGaussianLVM.posterior")
def posterior_variance(fn) -> None:
    """Check ``fn(w, sigma) -> float``: the posterior variance Var(z | x) of the model with one
    latent variable and a noise level per coordinate, z ~ N(0, 1), x_j | z ~ N(w_j z + b_j, σ_j²),
    w and sigma of shape (d,):

        log p(z | x) = −z²/2 − Σ_j (x_j − b_j − w_j z)²/(2σ_j²) + const
                     = −(1 + Σ_j w_j²/σ_j²) z²/2 + (linear in z) + const,

    a Gaussian with precision 1 + Σ_j w_j²/σ_j², so Var(z | x) = 1/(1 + Σ_j w_j²/σ_j²) whatever x
    is (Bishop 2006, §2.3.3; factor analysis with one factor, §12.2.4).

    Args:
        fn: the learner's function; called on six hidden (w, sigma), d from 1 to 6.
    Raises:
        CheckFailure: not one number or off by more than 1e-5 relative; named mistakes: the
            prior left out, the precision returned, σ used as a variance, w not squared, one
            noise level (the mean σ²) for every coordinate, the standard deviation returned.
    """
    g = gen(2401)
    cases = []
    for d in (1, 2, 3, 4, 5, 6):
        w = torch.randn(d, generator=g, dtype=torch.float64) * (0.5 + torch.rand(1, generator=g).item())
        sigma = 0.3 + 1.5 * torch.rand(d, generator=g, dtype=torch.float64)
        if d > 1:
            sigma[0] = 2.5 * sigma[1]  # coordinates with clearly different noise levels
        cases.append((w, sigma))
    ratio = lambda w, s: float((w ** 2 / s ** 2).sum())  # noqa: E731
    check_closed_form(fn, "posterior_variance", cases, _posterior_variance_exact, [
        (lambda w, s: 1 / ratio(w, s), "the prior is missing: 1/Σ_j w_j²/σ_j² is the variance from the likelihood alone.",
         "log p(z | x) = log p(z) + log p(x | z) + const: the prior adds −z²/2, i.e. 1 to the precision."),
        (lambda w, s: 1 + ratio(w, s), "that is the precision 1 + Σ_j w_j²/σ_j², not the variance.",
         "the variance is the inverse of the precision."),
        (lambda w, s: 1 / (1 + float((w ** 2 / s).sum())), "σ_j is used as a variance: the noise variance of x_j is σ_j².",
         "x_j | z ~ N(w_j z + b_j, σ_j²): the quadratic term is (x_j − b_j − w_j z)²/(2σ_j²)."),
        (lambda w, s: 1 / (1 + float((w.abs() / s ** 2).sum())), "w_j is not squared: the coefficient of z² holds w_j².",
         "(x_j − b_j − w_j z)² = (x_j − b_j)² − 2 w_j z (x_j − b_j) + w_j² z²."),
        (lambda w, s: 1 / (1 + float((w ** 2).sum() / (s ** 2).mean())),
         "one noise variance (the mean of σ_j²) is used for every coordinate.",
         "each coordinate x_j has its own σ_j: it contributes w_j²/σ_j² to the precision."),
        (lambda w, s: _posterior_variance_exact(w, s) ** 0.5, "that is the posterior standard deviation; the exercise asks for the variance.",
         "return the variance, without the square root."),
    ], hint="complete the square in z: −z²/2 − Σ_j (x_j − b_j − w_j z)²/(2σ_j²); read off the z² coefficient.")
    passed("posterior_variance = 1/(1 + Σ_j w_j²/σ_j²) on six hidden (w, σ).")


@fallback_for("posterior_variance", prediction=True)
def _posterior_variance(w, sigma) -> float:
    """The course's version of exercise ``posterior_variance`` (for ``try_yours``; a prediction,
    so ``try_yours`` never shows it)."""
    return _posterior_variance_exact(w, sigma)


# --- choose_k (judge) -------------------------------------------------------------------------
_K_DATA = dict(d=10, strengths=(2.0, 1.5, 1.0, 0.4), sigma=0.5, n_train=200, n_test=2000, seed=2)
_K_CHOSEN = 4  # the held-out gain of k = 4 over 3 is ~5 paired s.e.; k = 5 loses on held-out data


def k_choice_data() -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_train, x_test)``: 200 training and 2,000 held-out points in 10 dimensions from a
    linear-Gaussian model whose latent dimension lesson 2's judge exercise ``choose_k`` asks
    for. Deterministic."""
    p = _K_DATA
    g = torch.Generator().manual_seed(p["seed"])
    from ..lvm import LinearGaussianLVM
    Q, _ = torch.linalg.qr(torch.randn(p["d"], len(p["strengths"]), generator=g, dtype=torch.float64))
    W = Q * torch.tensor(p["strengths"], dtype=torch.float64)
    model = LinearGaussianLVM(W, torch.randn(p["d"], generator=g, dtype=torch.float64), p["sigma"])
    x_train, _ = model.sample(p["n_train"], generator=g)
    x_test, _ = model.sample(p["n_test"], generator=g)
    return x_train, x_test


def _fit_linear_gaussian(x, k: int):
    """The maximum-likelihood linear-Gaussian model (probabilistic PCA) with k latent dimensions:
    b the mean, σ² the mean of the d − k smallest eigenvalues of the ML covariance, W = U_k
    (Λ_k − σ² I)^{1/2} from its k largest (Tipping & Bishop 1999, eqs. 7-8). Lesson 2 writes it out; the tests use this copy to
    confirm the answer of ``choose_k``."""
    from ..lvm import LinearGaussianLVM
    x = torch.as_tensor(x, dtype=torch.float64)
    b = x.mean(0)
    C = (x - b).T @ (x - b) / len(x)
    lam, U = torch.linalg.eigh(C)
    lam, U = lam.flip(0), U.flip(1)
    s2 = lam[k:].mean()
    W = U[:, :k] * (lam[:k] - s2).clamp_min(0).sqrt()
    return LinearGaussianLVM(W, b, float(s2.sqrt()))


@exercise()
def choose_k(fn) -> None:
    """Check ``fn() -> int``: the latent dimension k chosen for the data of ``k_choice_data``
    from the held-out log p(x) of the maximum-likelihood fits (a choice; no inputs, so no hidden
    variant). The reason goes in the manually graded cell below it.

    Raises:
        CheckFailure: not an integer from 1 to 7, or another k: says which way the evidence
            points (training log p(x), the held-out change and its paired standard error).
    """
    k = call(fn, name="choose_k")
    if isinstance(k, torch.Tensor) and k.numel() == 1:
        k = k.item()
    if isinstance(k, bool) or not isinstance(k, (int, float)) or k != int(k) or not 1 <= k <= 7:
        fail(f"choose_k should return one whole number from 1 to 7, got {k!r}.")
    k = int(k)
    if k == _K_CHOSEN:
        passed(f"k = {k}: the held-out log p(x) rises up to it, by more than two paired standard errors, and falls after.")
        return
    if k == 7:
        fail("k = 7 has the highest *training* log p(x), but training log p(x) rises with every k: "
             "a larger model always fits its own data at least as well.",
             "choose from the held-out column: data the fits have not seen.")
    if k < _K_CHOSEN:
        fail(f"after k = {k} the held-out log p(x) has not stopped rising: some change after it is larger "
             f"than two paired standard errors, and such a gain is not noise.",
             "a small gain counts if it is larger than its standard error; read the change column, not only the big jumps.")
    fail(f"at k = {k} the held-out log p(x) is lower than at a smaller k: the extra latent dimensions "
         f"fit the training points' noise.",
         "take the k after which the held-out log p(x) stops rising by more than its paired standard error.")
