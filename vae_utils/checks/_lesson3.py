"""Checks for lesson 3's exercises: naive Monte Carlo estimates of p(x) and log p(x).

Each check builds a hidden linear-Gaussian model (``vae_utils.lvm.LinearGaussianLVM``) whose
exact p(x) is known, runs the learner's function under a fixed seed (restoring the learner's
random state afterwards), and compares the answer with the exact value, allowing for the
Monte Carlo error the estimator is expected to have. Frequent mistakes get their own message.
"""
from __future__ import annotations

import math

import torch

from ..demos import naive_cv2 as _naive_cv2
from ._derive import check_closed_form, number
from ._common import hidden_model, run_seeded, exercise, fallback_for, gen, as_tensor, call, expect_close, expect_shape, fail, passed

__all__ = ["mc_marginal", "log_mean_exp", "samples_needed_exact", "chosen_n_samples"]




@exercise("vae_utils.estimators.log_marginal_mc")
def mc_marginal(fn) -> None:
    """Check ``fn(model, x, n_samples) -> (p_hat, se)``: the naive Monte Carlo estimate of p(x)
    and its standard error, each of shape (B,).

    p̂(x) = (1/N) Σ_n p(x | z_n), z_n ~ p(z), in probability space (not log); its standard error
    is std_n[p(x | z_n)] / √N, estimated from the same samples (Owen 2013, ch. 2).

    Args:
        fn: the learner's function; called with a hidden 2-latent, 3-dimensional
            ``LinearGaussianLVM``, a batch x of shape (4, 3) and n_samples = 20,000.
    Raises:
        CheckFailure: not a pair, wrong shape, an estimate farther than 5 standard errors from
            the exact p(x) (with a hint for log-space answers, sums instead of means, and
            averages of log p(x|z)), or standard errors off the exact p(x)·CV/√N (median
            ratio beyond 20 %, any beyond 45 %) (with hints for a missing √N, a division by N and a variance).
    """
    model, x = hidden_model(3, 2, 1.0, 31, w_scale=1.0, n_x=4)
    n = 20_000
    out = run_seeded(fn, model, x.clone(), n, seed=32, name="mc_marginal")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        fail(f"mc_marginal should return a pair (p_hat, se), got {type(out).__name__}.",
             "return both: the estimate for each data point and its standard error, e.g. `return p_hat, se`.")
    out, se_out = (as_tensor(v, what) for v, what in zip(out, ("the estimate p̂(x)", "the standard error")))
    expect_shape(out, (4,), "the estimate p̂(x)",
                 "one estimate per data point: average p(x|z) over the samples (dim=0), with z of "
                 "shape (n_samples, B, k).")
    expect_shape(se_out, (4,), "the standard error", "one standard error per data point, over the samples (dim=0).")
    exact = model.log_marginal(x).exp()
    if not torch.all(torch.isfinite(out)):
        fail("the estimate contains NaN or inf.", "p(x|z) = model.likelihood(z).log_prob(x).exp().")
    if torch.all(out < 0):
        fail(f"the estimates are negative ({out[0].item():.3g}, …): they look like log p(x).",
             "this exercise asks for p̂(x) itself: exponentiate log p(x|z) before averaging.")
    se = exact * (_naive_cv2(model, x) / n).sqrt()
    err = (out - exact).abs()
    if not torch.all(err <= 5 * se):
        ratio = (out / exact).median().item()
        if abs(ratio / n - 1) < 0.1:
            fail(f"the estimates are about N = {n:,} times too large.",
                 "average over the samples (mean), do not sum them.")
        i = int(torch.argmax(err / se))
        hint = "sample z from model.prior with shape (n_samples, B), evaluate p(x|z) and average over dim 0."
        if torch.all(out < exact - 5 * se):
            hint = ("all estimates are too small — did you average log p(x|z) and then exponentiate? "
                    "exp(mean(log p)) ≤ mean(p) (Jensen's inequality): exponentiate first, then average.")
        fail(f"p̂(x) = {out[i].item():.4g} for data point {i}, but the exact p(x) is {exact[i].item():.4g} "
             f"({(out[i] / exact[i] - 1).item():+.1%}; the Monte Carlo standard error is only "
             f"{(se[i] / exact[i]).item():.1%}).", hint)
    ratio = (se_out / se).median().item()
    if not math.isfinite(ratio) or ratio <= 0:
        fail(f"the standard errors are {se_out.tolist()}: they should be positive numbers.",
             "the standard error is the standard deviation of the terms p(x|z_n) divided by √N.")
    if torch.all((se_out - exact * _naive_cv2(model, x) * exact / math.sqrt(n)).abs() < 0.15 * se_out.abs()):
        fail("the standard errors look like the variance of the terms divided by √N.",
             "take the standard deviation (the square root of the variance) of the terms, then divide by √N.")
    if abs(ratio / math.sqrt(n) - 1) < 0.15:
        fail(f"the standard errors are about √N = {math.sqrt(n):.0f} times too large: that is the spread of "
             f"the terms, not of their mean.", "divide the standard deviation of the terms by √N.")
    if abs(ratio * math.sqrt(n) - 1) < 0.15:
        fail(f"the standard errors are about √N = {math.sqrt(n):.0f} times too small.",
             "the variance of a mean of N terms is Var/N, so its standard deviation is std/√N, not std/N.")
    # the samples' own standard deviation scatters around the exact one (more so when the terms
    # are heavy-tailed): the median ratio within 20 %, every ratio within 45 %
    if abs(ratio - 1) > 0.2 or not torch.all((se_out / se - 1).abs() < 0.45):
        i = int(torch.argmax((se_out / se - 1).abs()))
        fail(f"the standard error for data point {i} is {se_out[i].item():.3g}; from the exact variance of "
             f"p(x|z) it should be about {se[i].item():.3g} (the median over the data points within 20 %).",
             "se = (standard deviation of p(x|z_n) over the samples) / √N, per data point.")
    passed(f"mc_marginal agrees with the exact p(x) to within Monte Carlo error (largest error "
           f"{(err / exact).max().item():.1%} with N = {n:,}), and its standard errors match p(x)·CV/√N "
           f"to within {(se_out / se - 1).abs().max().item():.0%}.")


@fallback_for("mc_marginal")
def _mc_marginal(model, x: torch.Tensor, n_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The course's version of exercise ``mc_marginal`` (for ``try_yours``): (p̂(x), its standard error)."""
    z = model.prior.sample((n_samples, x.shape[0]))
    lik = model.likelihood(z).log_prob(x).exp()                 # (N, B)
    return lik.mean(dim=0), lik.std(dim=0) / math.sqrt(n_samples)


@exercise()
def log_mean_exp(fn) -> None:
    """Check ``fn(a, dim=0)``: log((1/N) Σ_n exp(a_n)) along ``dim``, stable for any a.

    Args:
        fn: the learner's function; called on a tensor of values near −1000 (where exp
            underflows to 0) and near +1000 (where it overflows to inf), along dim 0 and dim 1.
    Raises:
        CheckFailure: wrong shape, NaN/inf (naive exp), a missing −log N, or an average of
            the a's instead of a log-mean-exp.
    """
    g = gen(41)
    a = torch.randn(50, 3, generator=g, dtype=torch.float64) * 3 - 1000
    out = as_tensor(call(fn, a.clone(), dim=0, name="log_mean_exp"), "log_mean_exp(a, dim=0)")
    expect_shape(out, (3,), "log_mean_exp(a, dim=0) for a of shape (50, 3)",
                 "reduce over `dim` and drop it, as torch.logsumexp(a, dim) does.")
    expected = torch.logsumexp(a, dim=0) - math.log(50)
    if not torch.all(torch.isfinite(out)):
        fail("log_mean_exp gives -inf or NaN for a ≈ −1000: exp(−1000) underflows to 0.",
             "subtract the maximum m first: log mean exp(a) = m + log mean exp(a − m), "
             "or use torch.logsumexp(a, dim) − log N.")
    if torch.allclose(out, expected + math.log(50), atol=1e-6):
        fail(f"the result is off by exactly log N = log 50 = {math.log(50):.3f}: that is log Σ exp(a), not log mean.",
             "subtract math.log(N), where N = a.shape[dim].")
    if torch.allclose(out, a.mean(dim=0), atol=1e-6):
        fail("the result is the mean of a, not the log of the mean of exp(a).",
             "averaging the logs is not the log of the average (Jensen): use log-sum-exp.")
    expect_close(out, expected, "log_mean_exp(a, dim=0)", atol=1e-8,
                 hint="log mean exp(a) = m + log Σ exp(a − m) − log N, with m the maximum along dim.")
    b = torch.randn(2, 30, generator=g, dtype=torch.float64) + 1000
    out_b = as_tensor(call(fn, b.clone(), dim=1, name="log_mean_exp"), "log_mean_exp(a, dim=1)")
    expect_shape(out_b, (2,), "log_mean_exp(a, dim=1) for a of shape (2, 30)",
                 "use the `dim` argument everywhere: in the maximum, the sum and N = a.shape[dim].")
    if not torch.all(torch.isfinite(out_b)):
        fail("log_mean_exp gives inf or NaN for a ≈ +1000: exp(1000) overflows.",
             "subtract the maximum along dim before exponentiating (keepdim=True helps).")
    expect_close(out_b, torch.logsumexp(b, dim=1) - math.log(30), "log_mean_exp(a, dim=1)", atol=1e-8,
                 hint="N is a.shape[dim], the size of the dimension you average over.")
    passed("log_mean_exp is exact and stable for values near −1000 and +1000, along any dim.")


def _cv2_1d(w: float, b: float, sigma: float, x: float, noise_var: float | None = None) -> float:
    """Exact CV² of p(x|z), z ~ N(0, 1), for x | z ~ N(w z + b, σ²) (one latent, one observed
    dimension): 1 + CV² = v/(σ √(2w² + σ²)) · exp(r²/v − r²/(2w² + σ²)), v = w² + σ², r = x − b.
    ``noise_var`` replaces σ² (to reproduce the mistake σ² → σ)."""
    s2 = sigma ** 2 if noise_var is None else noise_var
    v, a, r2 = w ** 2 + s2, 2 * w ** 2 + s2, (x - b) ** 2
    return math.expm1(math.log(v / math.sqrt(s2 * a)) + r2 / v - r2 / a)


def _n_exact(w, b, sigma, x, rel_error):
    return _cv2_1d(w, b, sigma, x) / rel_error ** 2


@exercise("vae_utils.demos.naive_cv2")
def samples_needed_exact(fn) -> None:
    """Check ``fn(w, b, sigma, x, rel_error) -> float``: the samples N that naive Monte Carlo
    needs for a relative standard error ``rel_error`` of p̂(x), for the model with one latent
    and one observed dimension, z ~ N(0, 1), x | z ~ N(w z + b, σ²):

        N = CV²/rel_error²,  1 + CV² = E[p(x|z)²]/p(x)² = v/(σ √(2w² + σ²)) · exp(r²/v − r²/(2w² + σ²)),

    with v = w² + σ², r = x − b; from N(x; m, σ²)² = N(x; m, σ²/2)/(2σ√π) and
    ∫ N(x; w z + b, s²) N(z; 0, 1) dz = N(x; b, w² + s²) (Owen 2013, ch. 2; Bishop 2006, eq. 2.115).

    Args:
        fn: the learner's function; called on six hidden (w, b, sigma, x, rel_error), x at b
            and away from it.
    Raises:
        CheckFailure: not one number or off by more than 1e-5 relative; named mistakes: the −1
            missing, CV or rel_error not squared, σ used as a variance, the exponential left
            out (right only at x = b), the constant 1/(2σ√π) of the squared density left out.
    """
    g = gen(313)
    cases = []
    for sigma, r, rel in ((0.5, 0.0, 0.1), (0.2, 1.5, 0.1), (1.0, -2.0, 0.05), (0.5, 3.0, 0.1),
                          (0.3, -0.7, 0.02), (0.8, 1.1, 0.1)):
        w = (0.5 + 2.5 * torch.rand(1, generator=g).item()) * (1 if torch.rand(1, generator=g).item() < 0.5 else -1)
        b = torch.randn(1, generator=g).item()
        s = sigma * (0.8 + 0.4 * torch.rand(1, generator=g).item())
        cases.append((w, b, s, b + r * math.sqrt(w ** 2 + s ** 2), rel))

    def no_constant(w, b, s, x, rel):                 # N(x; m, σ²)² taken as N(x; m, σ²/2)
        u, v, r2 = w ** 2 + s ** 2 / 2, w ** 2 + s ** 2, (x - b) ** 2
        second = math.exp(-r2 / (2 * u)) / math.sqrt(2 * math.pi * u)
        first = math.exp(-r2 / (2 * v)) / math.sqrt(2 * math.pi * v)
        return (second / first ** 2 - 1) / rel ** 2

    check_closed_form(fn, "samples_needed_exact", cases, _n_exact, [
        (lambda w, b, s, x, rel: (_cv2_1d(w, b, s, x) + 1) / rel ** 2,
         "N uses 1 + CV² = E[p(x|z)²]/p(x)²: the −1 is missing.",
         "the variance is the second moment minus the squared mean: CV² = E[p(x|z)²]/p(x)² − 1."),
        (lambda w, b, s, x, rel: math.sqrt(_cv2_1d(w, b, s, x)) / rel ** 2, "CV is not squared.",
         "the relative error is CV/√N; solving CV/√N = rel_error gives N = CV²/rel_error²."),
        (lambda w, b, s, x, rel: _cv2_1d(w, b, s, x) / rel, "rel_error is not squared.", "N = CV²/rel_error²."),
        (lambda w, b, s, x, rel: _cv2_1d(w, b, s, x, noise_var=s) / rel ** 2,
         "σ is used as a variance: the noise variance of p(x|z) is σ².",
         "p(x) = N(x; b, w² + σ²); E[p(x|z)²] involves N(x; b, w² + σ²/2)."),
        (lambda w, b, s, x, rel: math.expm1(math.log((w ** 2 + s ** 2) / (s * math.sqrt(2 * w ** 2 + s ** 2)))) / rel ** 2,
         "right only at x = b: the exponential term in (x − b)² is missing.",
         "divide N(x; b, w² + σ²/2) by N(x; b, w² + σ²)²: the exponents −r²/(2w² + σ²) and −r²/(w² + σ²) do not cancel."),
        (no_constant, "the constant of the squared density is missing: N(x; m, σ²)² = N(x; m, σ²/2) / (2σ√π).",
         "square the normaliser too: (2πσ²)^(−1) = (2σ√π)^(−1) · (πσ²)^(−1/2)."),
    ], hint="1 + CV² = E[p(x|z)²]/p(x)²; E[p(x|z)²] = N(x; b, w² + σ²/2)/(2σ√π) and p(x) = N(x; b, w² + σ²).")
    passed("samples_needed_exact gives N = CV²/rel_error² with the exact CV² on six hidden models and points.")


@fallback_for("samples_needed_exact", prediction=True)
def _samples_needed_exact(w: float, b: float, sigma: float, x: float, rel_error: float) -> float:
    """The course's version of exercise ``samples_needed_exact`` (for ``try_yours``)."""
    return _n_exact(float(w), float(b), float(sigma), float(x), float(rel_error))


# --- chosen_n_samples (judge) ------------------------------------------------------------
CHOOSE_N_TARGET_SE = 0.05          # nats: the standard error of log p̂(x) asked for
CHOOSE_N_BAND = (0.8, 2.5)         # accepted N, as multiples of the N that reaches the target


def choose_n_problem() -> tuple:
    """The model and data point of lesson 3's exercise ``chosen_n_samples``: section 7's k = 2,
    d = 10 model (W, b standard normal from seed 200, σ = 0.5) and its median data point (by
    N_10%) among 200 drawn from it. Returns (model, x) with x of shape (1, 10)."""
    from ..lvm import LinearGaussianLVM
    g = torch.Generator().manual_seed(200)
    model = LinearGaussianLVM(torch.randn(10, 2, generator=g, dtype=torch.float64),
                              torch.randn(10, generator=g, dtype=torch.float64), 0.5)
    xs, _ = model.sample(200, generator=g)
    i = int(_naive_cv2(model, xs).argsort()[100])
    return model, xs[i:i + 1]


def _n_needed() -> float:
    """N with sd(log p̂) ≈ CV/√N equal to the target, from the exact CV² (lesson 3, section 5)."""
    model, x = choose_n_problem()
    return _naive_cv2(model, x).item() / CHOOSE_N_TARGET_SE ** 2


@exercise()
def chosen_n_samples(fn) -> None:
    """Check ``fn() -> N``: the number of naive Monte Carlo samples the learner chooses so that
    log p̂(x) has a standard error of 0.05 nats, for ``choose_n_problem()``'s model and data point.

    The standard error of log p̂ is about the relative standard error of p̂, CV/√N (a first-order
    expansion of log), so the N needed is CV²/0.05² with the exact CV² of lesson 3's closed form.
    Accepted: from 0.8 to 2.5 times that N (a pilot run of a few thousand samples estimates CV²
    to within about 20 %; rounding up for safety is fine, a 95 % interval is not what is asked).

    Args:
        fn: the learner's function with no arguments, returning one positive number.
    Raises:
        CheckFailure: not one positive finite number, or outside the band, with a hint that
            says which way to look (too few, or wastefully many) without the answer.
    """
    v = number(call(fn, name="chosen_n_samples"), "chosen_n_samples()")
    if not math.isfinite(v) or v < 1:
        fail(f"chosen_n_samples() = {v}: a number of samples is a positive, finite count.",
             "return the N you choose, e.g. 5000.")
    need = _n_needed()
    lo, hi = CHOOSE_N_BAND
    if v < lo * need:
        fail(f"N = {v:,.0f} is too few: with it, the standard error of log p̂(x) would be above "
             f"{CHOOSE_N_TARGET_SE} nats.",
             "relate the standard error of log p̂ to the relative standard error of p̂ (section 5), and "
             "estimate CV² from the pilot's terms w = p(x|z), computed in log space, not from the spread "
             "of the log-terms themselves.")
    if v > hi * need:
        fail(f"N = {v:,.0f} is more than {hi} times what the target needs: correct, but wasteful.",
             "the target is a standard error of 0.05 nats (one standard deviation, not a 95 % interval); "
             "a safety margin of tens of percent over the pilot's estimate is plenty here.")
    passed(f"N = {v:,.0f} samples: enough for a standard error of about {CHOOSE_N_TARGET_SE} nats "
           f"(within the accepted band). The lesson measures it below.")


@fallback_for("chosen_n_samples", prediction=True)
def _chosen_n_samples() -> int:
    """The course's choice for exercise ``chosen_n_samples``: the pilot's CV² ≈ 62 gives
    N = CV²/0.05² ≈ 25,000; rounded up to 30,000 for the pilot's own error."""
    return 30_000
