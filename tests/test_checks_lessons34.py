"""The exercise checks of lessons 3 and 4: right answers pass, stubs and plausible mistakes fail.

Each wrong implementation below is a mistake learners make; the test asserts both that the
check fails and that its message names the mistake.
"""
import math

import pytest
import torch
from torch.distributions import Independent, Normal

from vae_utils import checks
from vae_utils.checks._common import CheckFailure

pytestmark = pytest.mark.usefixtures("check_inputs")


def _stub(*args, **kwargs):
    raise NotImplementedError


def _fails(check, fn, *fragments):
    with pytest.raises(CheckFailure) as info:
        check(fn)
    msg = str(info.value)
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in failure message:\n{msg}"
    return msg


def _passes(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out
    assert out.startswith("✓"), out


# ---------------------------------------------------------------- lesson 3 ----

def _log_lik(model, x, n_samples):
    z = model.prior.sample((n_samples, x.shape[0]))
    return model.likelihood(z).log_prob(x)              # (N, B)


def mc_marginal_right(model, x, n_samples):
    lik = _log_lik(model, x, n_samples).exp()
    return lik.mean(dim=0), lik.std(dim=0) / math.sqrt(n_samples)


def mc_marginal_loop(model, x, n_samples):
    """Also right: one data point at a time, with its own samples, and the population std."""
    p, se = [], []
    for xi in x:
        lik = model.likelihood(model.prior.sample((n_samples,))).log_prob(xi).exp()
        p.append(lik.mean())
        se.append(lik.std(unbiased=False) / n_samples ** 0.5)
    return torch.stack(p), torch.stack(se)


def _with_se(estimate):
    """An estimate p̂ with the right standard error beside it."""
    def fn(model, x, n):
        lik = _log_lik(model, x, n).exp()
        return estimate(lik, n), lik.std(0) / math.sqrt(n)
    return fn


def test_mc_marginal(capsys):
    _passes(checks.mc_marginal, mc_marginal_right, capsys)
    _passes(checks.mc_marginal, mc_marginal_loop, capsys)
    _fails(checks.mc_marginal, _stub, "not implemented")
    _fails(checks.mc_marginal, lambda m, x, n: mc_marginal_right(m, x, n)[0], "a pair (p_hat, se)")
    _fails(checks.mc_marginal, _with_se(lambda lik, n: lik.sum(0)), "times too large", "mean")
    _fails(checks.mc_marginal, _with_se(lambda lik, n: lik.log().mean(0).exp()), "Jensen")
    _fails(checks.mc_marginal, _with_se(lambda lik, n: lik.mean(0).log()), "look like log p(x)")
    _fails(checks.mc_marginal, _with_se(lambda lik, n: lik), "shape (20000, 4)", "expected (4,)")
    # Evaluating the likelihood at the prior mean only, z = 0: a single, wrong "sample".
    _fails(checks.mc_marginal, lambda m, x, n: (m.likelihood(torch.zeros(m.k)).log_prob(x).exp(),
                                                mc_marginal_right(m, x, n)[1]), "exact p(x)")
    # Standard errors: the spread of the terms, a division by N, a variance, a wrong shape.
    def se_from(se):
        def fn(m, x, n):
            lik = _log_lik(m, x, n).exp()
            return lik.mean(0), se(lik, n)
        return fn
    _fails(checks.mc_marginal, se_from(lambda lik, n: lik.std(0)), "√N = 141 times too large")
    _fails(checks.mc_marginal, se_from(lambda lik, n: lik.std(0) / n), "√N = 141 times too small")
    _fails(checks.mc_marginal, se_from(lambda lik, n: lik.var(0) / math.sqrt(n)), "variance of the terms")
    _fails(checks.mc_marginal, se_from(lambda lik, n: lik.std() / math.sqrt(n)), "shape ()")
    _fails(checks.mc_marginal, se_from(lambda lik, n: 2 * lik.std(0) / math.sqrt(n)), "within 20 %")
    _fails(checks.mc_marginal, se_from(lambda lik, n: -lik.std(0) / math.sqrt(n)), "positive")


def test_mc_marginal_passes_on_hidden_models(capsys):
    for seed in (1, 17, 2 ** 40 + 5, 2 ** 56 - 3):
        checks.mc_marginal(mc_marginal_right, seed=seed)
        assert capsys.readouterr().out.startswith("✓"), seed


def log_mean_exp_right(a, dim=0):
    m = a.max(dim=dim, keepdim=True).values
    return (m + (a - m).exp().mean(dim=dim, keepdim=True).log()).squeeze(dim)


def test_log_mean_exp(capsys):
    _passes(checks.log_mean_exp, log_mean_exp_right, capsys)
    _passes(checks.log_mean_exp, lambda a, dim=0: torch.logsumexp(a, dim) - math.log(a.shape[dim]), capsys)
    _fails(checks.log_mean_exp, _stub, "not implemented")
    _fails(checks.log_mean_exp, lambda a, dim=0: a.exp().mean(dim).log(), "underflows")
    _fails(checks.log_mean_exp, lambda a, dim=0: torch.logsumexp(a, dim), "log N")
    _fails(checks.log_mean_exp, lambda a, dim=0: a.mean(dim), "mean of a", "Jensen")
    # The max trick with the maximum over the wrong dimension / N hard-wired to dim 0.
    _fails(checks.log_mean_exp, lambda a, dim=0: torch.logsumexp(a, dim) - math.log(a.shape[0]), "a.shape[dim]")
    # Stable for underflow only (subtracting nothing), overflowing for a ≈ +1000.
    _fails(checks.log_mean_exp,
           lambda a, dim=0: torch.log(torch.exp(a + 1000).mean(dim)) - 1000, "overflows")


def n_exact_right(w, b, sigma, x, rel_error):
    v, a, r2 = w ** 2 + sigma ** 2, 2 * w ** 2 + sigma ** 2, (x - b) ** 2
    return (v / (sigma * math.sqrt(a)) * math.exp(r2 / v - r2 / a) - 1) / rel_error ** 2


def n_exact_by_gaussians(w, b, sigma, x, rel_error):
    """Also right: the second moment as a Gaussian density, with torch."""
    N = lambda s2: torch.distributions.Normal(b, math.sqrt(s2)).log_prob(torch.tensor(x)).exp()  # noqa: E731
    second = N(w ** 2 + sigma ** 2 / 2) / (2 * sigma * math.sqrt(math.pi))
    return (second / N(w ** 2 + sigma ** 2) ** 2 - 1) / rel_error ** 2


def test_samples_needed_exact(capsys):
    _passes(checks.samples_needed_exact, n_exact_right, capsys)
    _passes(checks.samples_needed_exact, n_exact_by_gaussians, capsys)
    _fails(checks.samples_needed_exact, _stub, "not implemented")
    r = n_exact_right
    _fails(checks.samples_needed_exact, lambda w, b, s, x, e: r(w, b, s, x, e) + 1 / e ** 2, "−1 is missing")
    _fails(checks.samples_needed_exact, lambda w, b, s, x, e: math.sqrt(r(w, b, s, x, e) * e ** 2) / e ** 2,
           "CV is not squared")
    _fails(checks.samples_needed_exact, lambda w, b, s, x, e: r(w, b, s, x, e) * e, "rel_error is not squared")
    _fails(checks.samples_needed_exact, lambda w, b, s, x, e: r(w, b, math.sqrt(s), x, e), "σ is used as a variance")
    _fails(checks.samples_needed_exact, lambda w, b, s, x, e: r(w, b, s, b, e), "only at x = b")
    _fails(checks.samples_needed_exact, lambda w, b, s, x, e: (r(w, b, s, x, e) * e ** 2 + 1)
           * 2 * s * math.sqrt(math.pi) / e ** 2 - 1 / e ** 2, "constant of the squared density")
    # A constant is not the closed form.
    _fails(checks.samples_needed_exact, lambda w, b, s, x, e: 100.0, "expected")
    from vae_utils import demos
    from vae_utils.lvm import LinearGaussianLVM

    def library(w, b, s, x, e):
        model = LinearGaussianLVM(torch.tensor([[w]]), torch.tensor([b]), s)
        return demos.naive_cv2(model, torch.tensor([[x]])).item() / e ** 2
    _fails(checks.samples_needed_exact, library, "calls the course's own vae_utils.demos.naive_cv2")


def test_chosen_n_samples(capsys):
    from vae_utils.checks._lesson3 import _n_needed
    need = _n_needed()
    assert need == pytest.approx(62.2154 / 0.05 ** 2, rel=1e-4)        # CV² of the median point, exact
    for n in (30_000, 0.81 * need, 2.49 * need, torch.tensor(25_000)):
        _passes(checks.chosen_n_samples, lambda n=n: n, capsys)
    _fails(checks.chosen_n_samples, _stub, "not implemented")
    cv2 = need * 0.05 ** 2
    _fails(checks.chosen_n_samples, lambda: math.sqrt(cv2) / 0.05 ** 2, "too few")           # CV not squared
    _fails(checks.chosen_n_samples, lambda: cv2 / 0.05, "too few")                           # target not squared
    _fails(checks.chosen_n_samples, lambda: 1.96 ** 2 * need, "wasteful", "95 %")            # a 95 % interval
    _fails(checks.chosen_n_samples, lambda: -5, "positive")
    _fails(checks.chosen_n_samples, lambda: math.inf, "finite")
    _fails(checks.chosen_n_samples, lambda: [1, 2], "should be a number")


def test_the_choose_n_problem_is_the_lessons_median_point():
    """The model and point of exercise 4 are the ones lesson 3's section 7 builds (seed 200)."""
    from vae_utils import demos
    from vae_utils.checks._lesson3 import choose_n_problem
    from vae_utils.lvm import LinearGaussianLVM
    g = torch.Generator().manual_seed(200)
    m = LinearGaussianLVM(torch.randn(10, 2, generator=g, dtype=torch.float64),
                          torch.randn(10, generator=g, dtype=torch.float64), 0.5)
    xs, _ = m.sample(200, generator=g)
    i = int((demos.naive_cv2(m, xs) / 0.1 ** 2).argsort()[100])
    model, x = choose_n_problem()
    torch.testing.assert_close(model.W, m.W)
    torch.testing.assert_close(x, xs[i:i + 1])


def test_predictions_wait_for_the_learner(capsys):
    """try_yours shows no course answer for lesson 3's and 4's predictions and choices."""
    def samples_needed_exact(*a):
        raise NotImplementedError

    def weight_cv2(*a):
        raise NotImplementedError

    def chosen_n_samples():
        raise NotImplementedError

    def chosen_proposal():
        raise NotImplementedError

    assert checks.try_yours(samples_needed_exact, 2.0, 0.5, 0.5, 4.0, 0.1) is None
    assert checks.try_yours(weight_cv2, 0.3, 0.5, 0.3, 1.0) is None
    assert checks.try_yours(chosen_n_samples) is None
    assert checks.try_yours(chosen_proposal) is None
    assert capsys.readouterr().out.count("make your prediction") == 4

    def mc_marginal(*a):
        raise NotImplementedError
    from vae_utils.checks._common import hidden_model
    model, x = hidden_model(3, 2, 1.0, 5, n_x=2)
    p, se = checks.try_yours(mc_marginal, model, x, 100)     # an implementation: the course's version
    assert p.shape == se.shape == (2,)
    assert "uses the course's version" in capsys.readouterr().out


# ---------------------------------------------------------------- lesson 4 ----

def weight_cv2_right(m, s, m_q, s_q):
    a = 2 * s_q ** 2 - s ** 2
    if a <= 0:
        return math.inf
    return s_q ** 2 / (s * math.sqrt(a)) * math.exp((m_q - m) ** 2 / a) - 1


def test_weight_cv2(capsys):
    _passes(checks.weight_cv2, weight_cv2_right, capsys)
    _passes(checks.weight_cv2, lambda *a: torch.tensor(weight_cv2_right(*a)), capsys)
    _fails(checks.weight_cv2, _stub, "not implemented")
    w = weight_cv2_right
    _fails(checks.weight_cv2, lambda *a: w(*a) + 1, "subtract 1")
    _fails(checks.weight_cv2, lambda *a: 1 / (1 + w(*a)), "ESS fraction")
    _fails(checks.weight_cv2, lambda m, s, mq, sq: w(m, s ** 0.5, mq, sq ** 0.5), "used as variances")
    _fails(checks.weight_cv2, lambda m, s, mq, sq: w(m, s, m, sq), "shift is missing")
    _fails(checks.weight_cv2, lambda m, s, mq, sq: w(m * s / sq, s, mq * s / sq, sq), "shift term is off")
    _fails(checks.weight_cv2, lambda m, s, mq, sq: w(mq, sq, m, s), "∫ q²/p")

    def no_infinity(m, s, mq, sq):        # the formula everywhere: a math domain error below c² = ½
        a = 2 * sq ** 2 - s ** 2
        return sq ** 2 / (s * math.sqrt(a)) * math.exp((mq - m) ** 2 / a) - 1

    def nan_below(m, s, mq, sq):          # torch gives NaN instead of an error
        a = torch.tensor(2 * sq ** 2 - s ** 2)
        return (sq ** 2 / (s * a.sqrt()) * torch.exp((mq - m) ** 2 / a) - 1).item()

    _fails(checks.weight_cv2, no_infinity, "diverges", "math.inf")
    _fails(checks.weight_cv2, nan_below, "infinite", "math.inf")
    from vae_utils import demos
    _fails(checks.weight_cv2, lambda m, s, mq, sq: demos.proposal_cv2((mq - m) / s, sq / s),
           "calls the course's own vae_utils.demos.proposal_cv2")


def ess_right(log_w, dim=0):
    return torch.exp(2 * torch.logsumexp(log_w, dim) - torch.logsumexp(2 * log_w, dim))


def test_effective_sample_size(capsys):
    _passes(checks.effective_sample_size, ess_right, capsys)
    # Normalising the weights first is right too.
    _passes(checks.effective_sample_size,
            lambda lw, dim=0: 1 / (torch.softmax(lw, dim) ** 2).sum(dim), capsys)
    _fails(checks.effective_sample_size, _stub, "not implemented")
    _fails(checks.effective_sample_size, lambda lw, dim=0: lw.exp().sum(dim) ** 2 / (lw.exp() ** 2).sum(dim),
           "NaN or inf")
    _fails(checks.effective_sample_size,   # numerator not squared
           lambda lw, dim=0: torch.exp(torch.logsumexp(lw, dim) - torch.logsumexp(2 * lw, dim)), "NaN or inf")
    _fails(checks.effective_sample_size, lambda lw, dim=0: 1 / ess_right(lw, dim), "inverted")
    _fails(checks.effective_sample_size, lambda lw, dim=0: ess_right(lw, dim) / lw.shape[dim], "ESS / N")
    _fails(checks.effective_sample_size, lambda lw, dim=0: ess_right(lw, 0), "dim=1")
    # Squares the weights before the sum in the numerator: Σw² / Σw² = 1.
    _fails(checks.effective_sample_size, lambda lw, dim=0: torch.exp(
        torch.logsumexp(2 * lw, dim) - torch.logsumexp(2 * lw, dim)), "the ESS is off")


def make_proposal_right(model, x):
    post = model.posterior(x)
    std = post.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt()
    return Independent(Normal(post.mean, std), 1)


def test_make_proposal(capsys):
    _passes(checks.make_proposal, make_proposal_right, capsys)
    _passes(checks.make_proposal, lambda m, x: m.posterior(x), capsys)     # the exact posterior
    _fails(checks.make_proposal, _stub, "not implemented")

    def variance_as_scale(m, x):
        post = m.posterior(x)
        var = post.covariance_matrix.diagonal(dim1=-2, dim2=-1)
        return Independent(Normal(post.mean, var), 1)

    def no_independent(m, x):
        return make_proposal_right(m, x).base_dist

    _fails(checks.make_proposal, variance_as_scale, "median ESS", "not the variance")
    _fails(checks.make_proposal, lambda m, x: m.prior, "batch shape ()")
    _fails(checks.make_proposal, lambda m, x: m.prior.expand((x.shape[0],)), "median ESS")
    _fails(checks.make_proposal, no_independent, "Independent(Normal(mu, std), 1)")
    _fails(checks.make_proposal, lambda m, x: m.posterior(x).mean, "torch.distributions object")


def test_chosen_proposal(capsys):
    _passes(checks.chosen_proposal, lambda: "C", capsys)
    _passes(checks.chosen_proposal, lambda: " c ", capsys)
    _fails(checks.chosen_proposal, _stub, "not implemented")
    _fails(checks.chosen_proposal, lambda: "A", "prior", "5 %")
    _fails(checks.chosen_proposal, lambda: "B", "10³ to 10⁵", "narrower than the posterior")
    _fails(checks.chosen_proposal, lambda: "D", "one of the letters")
    _fails(checks.chosen_proposal, lambda: 2, "one of the letters")


def test_the_candidate_proposals_are_what_the_check_says():
    """B is too narrow (infinite weight variance), C finite and far cheaper than the prior A."""
    from vae_utils import demos
    from vae_utils.checks._common import hidden_model
    model, x = hidden_model(5, 2, 0.5, 8, n_x=1)
    post = model.posterior(x)
    q = demos.candidate_proposals(model, post)
    assert set(q) == {"A", "B", "C"}
    torch.testing.assert_close(q["B"].mean, post.mean)
    torch.testing.assert_close(q["B"].covariance_matrix, 0.68 ** 2 * post.covariance_matrix)
    torch.testing.assert_close(q["C"].covariance_matrix, 2.2 ** 2 * post.covariance_matrix)
    assert 2 * 0.68 ** 2 < 1 and math.isinf(demos.proposal_cv2(0.0, 0.68, 2))
    assert demos.proposal_cv2(0.3, 2.2, 2) == pytest.approx(1.727, abs=1e-3)
    torch.testing.assert_close(q["A"].mean, torch.zeros(1, 2, dtype=torch.float64))


def test_checks_restore_the_learners_random_state():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    checks.make_proposal(make_proposal_right)
    checks.mc_marginal(mc_marginal_right)
    assert torch.equal(torch.rand(3), expected)


def test_checks_are_listed():
    for name in ("mc_marginal", "log_mean_exp", "samples_needed_exact", "chosen_n_samples",
                 "weight_cv2", "effective_sample_size", "make_proposal", "chosen_proposal"):
        assert callable(getattr(checks, name)) and getattr(checks, name).__doc__
