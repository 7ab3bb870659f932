"""Checks for lesson 3's exercises: naive Monte Carlo estimates of p(x) and log p(x).

Each check builds a hidden linear-Gaussian model (``vae_utils.lvm.LinearGaussianLVM``) whose
exact p(x) is known, runs the learner's function under a fixed seed (restoring the learner's
random state afterwards), and compares the answer with the exact value, allowing for the
Monte Carlo error the estimator is expected to have. Frequent mistakes get their own message.
"""
from __future__ import annotations

import math

import torch

from ..estimators import effective_sample_size
from ..demos import naive_cv2 as _naive_cv2
from ._derive import check_closed_form
from ._common import hidden_model, run_seeded, exercise, fallback_for, gen, as_tensor, call, expect_close, expect_shape, fail, passed

__all__ = ["mc_marginal", "log_mean_exp", "samples_needed_exact", "samples_needed"]




@exercise("vae_utils.estimators.log_marginal_mc")
def mc_marginal(fn) -> None:
    """Check ``fn(model, x, n_samples) -> (B,)``: the naive Monte Carlo estimate of p(x).

    p̂(x) = (1/N) Σ_n p(x | z_n), z_n ~ p(z), in probability space (not log).

    Args:
        fn: the learner's function; called with a hidden 2-latent, 3-dimensional
            ``LinearGaussianLVM``, a batch x of shape (4, 3) and n_samples = 20,000.
    Raises:
        CheckFailure: wrong shape, or an estimate farther than 5 standard errors from the
            exact p(x) (with a hint for log-space answers, sums instead of means, and
            averages of log p(x|z)).
    """
    model, x = hidden_model(3, 2, 1.0, 31, w_scale=1.0, n_x=4)
    n = 20_000
    out = as_tensor(run_seeded(fn, model, x.clone(), n, seed=32, name="mc_marginal"), "the estimate p̂(x)")
    expect_shape(out, (4,), "the estimate p̂(x)",
                 "one estimate per data point: average p(x|z) over the samples (dim=0), "
                 "e.g. model.likelihood(z).log_prob(x).exp().mean(dim=0) with z of shape (n_samples, B, k).")
    exact = model.log_marginal(x).exp()
    if not torch.all(torch.isfinite(out)):
        fail("the estimate contains NaN or inf.", "p(x|z) = model.likelihood(z).log_prob(x).exp().")
    if torch.all(out < 0):
        fail(f"the estimates are negative ({out[0].item():.3g}, …): they look like log p(x).",
             "this exercise asks for p̂(x) itself: exponentiate log p(x|z) before averaging.")
    se = exact * (_naive_cv2(model, x) / n).sqrt()
    err = (out - exact).abs()
    if torch.all(err <= 5 * se):
        passed(f"mc_marginal agrees with the exact p(x) to within Monte Carlo error "
               f"(largest error {(err / exact).max().item():.1%} with N = {n:,}).")
        return
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


@fallback_for("samples_needed_exact")
def _samples_needed_exact(w: float, b: float, sigma: float, x: float, rel_error: float) -> float:
    """The course's version of exercise ``samples_needed_exact`` (for ``try_yours``)."""
    return _n_exact(float(w), float(b), float(sigma), float(x), float(rel_error))


@exercise("vae_utils.checks._lesson3._samples_needed")
def samples_needed(fn) -> None:
    """Check ``fn(log_w, rel_error) -> N``: samples needed for a given relative standard error.

    From pilot log-weights log w_1..w_M (1-D), the relative standard error of a mean of N
    weights is CV / √N with CV = std(w) / mean(w), so N = CV² / rel_error². The answer must
    be computed without exponentiating the raw log-weights (they are near −900 here).

    Args:
        fn: the learner's function; called with 5,000 log-weights whose weights are
            log-normal (CV² ≈ 7 in this sample) and rel_error = 0.1 and 0.02.
    Raises:
        CheckFailure: not a single number, NaN/inf, CV not squared, rel_error not squared,
            the spread of log w used in place of the spread of w, or off by more than 1 %.
    """
    g = gen(43)
    m = 5000
    log_w = -900 + 1.5 * torch.randn(m, generator=g, dtype=torch.float64)
    # Reference via the effective sample size of lesson 4: N·Σw²/(Σw)² = 1 + CV² (population variance).
    cv2 = m / effective_sample_size(log_w) - 1
    for rel in (0.1, 0.02):
        out = as_tensor(call(fn, log_w.clone(), rel, name="samples_needed"), "the number of samples")
        if out.numel() != 1:
            fail(f"samples_needed should return one number, got shape {tuple(out.shape)}.",
                 "reduce over all pilot weights: one CV, one N.")
        v = out.reshape(()).item()
        expected = (cv2 / rel ** 2).item()
        if not math.isfinite(v):
            fail(f"samples_needed returned {v}: exp(−900) underflows to 0, so mean and std are 0/0.",
                 "divide the weights by their largest one first — w / w_max = exp(log_w − log_w.max()) — "
                 "CV does not change when all weights are scaled.")
        if abs(v / expected - 1) < 0.01:
            continue
        cv = math.sqrt(cv2.item())
        if abs(v / (cv / rel ** 2) - 1) < 0.02:
            fail(f"got {v:.4g}, expected {expected:.4g}: CV is not squared.",
                 "the standard error is CV/√N; solving CV/√N = rel_error gives N = CV² / rel_error².")
        if abs(v / (cv2.item() / rel) - 1) < 0.02:
            fail(f"got {v:.4g}, expected {expected:.4g}: rel_error is not squared.",
                 "N = CV² / rel_error².")
        if abs(v / (log_w.var().item() / rel ** 2) - 1) < 0.05:
            fail(f"got {v:.4g}, expected {expected:.4g}: you used the spread of log w, not of w.",
                 "the estimator averages the weights w themselves: CV = std(w) / mean(w).")
        fail(f"samples_needed(log_w, {rel}) = {v:.4g}, expected {expected:.4g} "
             f"(off by {v / expected - 1:+.1%}).",
             "w = exp(log_w − log_w.max()); CV = w.std() / w.mean(); N = CV² / rel_error².")
    passed(f"samples_needed gives N = CV²/rel_error² from the pilot weights "
           f"(CV² = {cv2.item():.2f}: {cv2.item() / 0.01:,.0f} samples for 10 %).")


@fallback_for("samples_needed")
def _samples_needed(log_w: torch.Tensor, rel_error: float) -> float:
    """The course's version of exercise ``samples_needed`` (for ``try_yours``): N = CV² / rel_error²."""
    w = torch.exp(log_w - log_w.max())
    return ((w.std() / w.mean()) ** 2 / rel_error ** 2).item()
