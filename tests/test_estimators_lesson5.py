"""Lesson 5's claims about the bounds, tested on the course's own LinearGaussianLVM with
Monte Carlo tolerances from the samples' spread (the tests in test_estimators.py use a
separate copy of the model and fixed relative tolerances)."""
import math

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from vae_utils.estimators import elbo, iwae_bound, kl_normal_std_normal, log_marginal_is
from vae_utils.lvm import LinearGaussianLVM


@pytest.fixture
def lvm():
    g = torch.Generator().manual_seed(55)
    model = LinearGaussianLVM(torch.randn(6, 3, generator=g, dtype=torch.float64),
                              torch.randn(6, generator=g, dtype=torch.float64), 0.8)
    x, _ = model.sample(4, generator=g)
    return model, x


def _diag(mu, logvar):
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


def _kl_to_posterior(q, post):
    return kl_divergence(MultivariateNormal(q.mean, torch.diag_embed(q.variance)), post)


@pytest.mark.parametrize("n_samples", [1, 2, 17, 1000])
def test_elbo_is_exact_at_the_posterior_for_any_sample_count(lvm, n_samples):
    model, x = lvm
    torch.testing.assert_close(elbo(model, x, model.posterior(x), n_samples), model.log_marginal(x),
                               rtol=0, atol=1e-9)


@pytest.mark.parametrize("shift,log_scale", [(0.0, -0.5), (0.4, 0.0), (-0.7, 0.3)])
def test_elbo_gap_is_kl_to_posterior_within_monte_carlo_error(lvm, shift, log_scale):
    model, x = lvm
    post = model.posterior(x)
    q = _diag(post.mean + shift, torch.log(post.covariance_matrix.diagonal(dim1=-2, dim2=-1)) + log_scale)
    n = 20_000
    torch.manual_seed(0)
    z = q.sample((n,))
    log_w = model.likelihood(z).log_prob(x) + model.prior.log_prob(z) - q.log_prob(z)
    se = log_w.std(0) / math.sqrt(n)
    torch.manual_seed(0)
    gap = model.log_marginal(x) - elbo(model, x, q, n)
    assert torch.all((gap - _kl_to_posterior(q, post)).abs() < 4 * se)
    assert torch.all(gap > 0)


def test_kl_matches_its_definition_and_its_gradient_matches_torch():
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    logvar = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    q, p = _diag(mu, logvar), _diag(torch.zeros(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    with torch.no_grad():
        z = q.sample((50_000,))
        ratio = q.log_prob(z) - p.log_prob(z)
        mc, se = ratio.mean(0), ratio.std(0) / math.sqrt(len(z))
        assert torch.all((kl_normal_std_normal(mu, logvar) - mc).abs() < 4 * se)
    ours = torch.autograd.grad(kl_normal_std_normal(mu, logvar).sum(), (mu, logvar))
    theirs = torch.autograd.grad(kl_divergence(q, p).sum(), (mu, logvar))
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b)


def test_reparameterized_elbo_gradient_is_unbiased(lvm):
    """∇_mu ELBO = Wᵀ(x − W mu − b)/σ² − mu for the linear-Gaussian model."""
    model, x = lvm
    post = model.posterior(x)
    mu = (post.mean + 0.5).requires_grad_(True)
    logvar = torch.full_like(mu, -1.0)
    torch.manual_seed(1)
    (grad,) = torch.autograd.grad(elbo(model, x, _diag(mu, logvar), 20_000).sum(), mu)
    mu_ = mu.detach()
    exact = (x - mu_ @ model.W.T - model.b) @ model.W / model.sigma ** 2 - mu_
    # Spread of one-sample gradients ∇_z log p(x, z) at z ~ q.
    z = mu_ + torch.exp(0.5 * logvar) * torch.randn(20_000, *mu.shape, dtype=torch.float64)
    per_sample = (x - z @ model.W.T - model.b) @ model.W / model.sigma ** 2 - z
    se = per_sample.std(0) / math.sqrt(20_000)
    assert torch.all((grad - exact).abs() < 5 * se)


def test_iwae_k1_is_the_one_sample_elbo_and_equals_the_is_estimate(lvm):
    model, x = lvm
    q = _diag(torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 3, dtype=torch.float64))
    torch.manual_seed(2)
    a = iwae_bound(model, x, q, 1)
    torch.manual_seed(2)
    torch.testing.assert_close(a, elbo(model, x, q, 1))
    for k in (5, 64):
        torch.manual_seed(3)
        a = iwae_bound(model, x, q, k)
        torch.manual_seed(3)
        torch.testing.assert_close(a, log_marginal_is(model, x, q, k))


def test_iwae_mean_rises_with_k_below_log_marginal(lvm):
    model, x = lvm
    post = model.posterior(x)
    q = _diag(post.mean[:1] + 0.3, torch.log(post.covariance_matrix.diagonal(dim1=-2, dim2=-1)[:1]))
    reps = 2000
    q_rep = _diag(q.mean.expand(reps, 3), torch.log(q.variance).expand(reps, 3))
    x_rep = x[:1].expand(reps, 6)
    torch.manual_seed(4)
    stats = []
    for k in (1, 4, 32, 256):
        L = iwae_bound(model, x_rep, q_rep, k)
        stats.append((L.mean(), L.std() / math.sqrt(reps)))
    log_px = model.log_marginal(x[:1])[0]
    exact_elbo = log_px - _kl_to_posterior(q, post)[0]
    assert abs(stats[0][0] - exact_elbo) < 4 * stats[0][1]
    for (m1, s1), (m2, s2) in zip(stats, stats[1:]):
        assert m2 > m1 - 4 * math.hypot(s1, s2)
    assert stats[-1][0] > stats[0][0] + 10 * stats[0][1]
    assert all(m < log_px + 4 * s for m, s in stats)


# --- vae_utils.elbo_demos: the plumbing of lessons 5 and 5b, against closed forms -----------------
from vae_utils import elbo_demos as demos  # noqa: E402


def test_lesson5_model_is_the_lessons_model():
    model, x = demos.lesson5_model()
    assert x.shape == (1, 5) and x.dtype == torch.float64 and (model.d, model.k, model.sigma) == (5, 2, 0.7)
    assert model.log_marginal(x).item() == pytest.approx(-7.0965, abs=5e-5)


def test_diag_q_and_mean_cov():
    mu, logvar = torch.tensor([[0.5, -1.0]], dtype=torch.float64), torch.tensor([[0.2, -0.4]], dtype=torch.float64)
    q = demos.diag_q(mu, logvar)
    m, S = demos.mean_cov(q)
    torch.testing.assert_close(S[0], torch.diag(logvar[0].exp()))
    torch.testing.assert_close(m, mu)
    full = MultivariateNormal(mu, S)
    torch.testing.assert_close(demos.mean_cov(full)[1], S)
    with pytest.raises(ValueError, match="same shape"):
        demos.diag_q(mu, logvar[:, :1])
    with pytest.raises(TypeError, match="MultivariateNormal or an Independent"):
        demos.mean_cov(Normal(0.0, 1.0))


@pytest.mark.parametrize("full", [False, True])
def test_exact_elbo_is_log_marginal_minus_kl_to_posterior(lvm, full):
    model, x = lvm
    post = model.posterior(x)
    q = (MultivariateNormal(post.mean + 0.3, post.covariance_matrix * 1.7) if full else
         _diag(post.mean - 0.2, torch.log(post.covariance_matrix.diagonal(dim1=-2, dim2=-1)) - 0.5))
    m, S = demos.mean_cov(q)
    want = model.log_marginal(x) - kl_divergence(MultivariateNormal(m, S), post)
    torch.testing.assert_close(demos.exact_elbo(model, x, q), want, rtol=0, atol=1e-10)
    recon, kl = demos.exact_elbo_terms(model, x, q)
    prior = MultivariateNormal(torch.zeros(model.k, dtype=torch.float64), torch.eye(model.k, dtype=torch.float64))
    torch.testing.assert_close(kl, kl_divergence(MultivariateNormal(m, S), prior), rtol=0, atol=1e-10)
    torch.manual_seed(1)
    z = q.sample((100_000,))
    ll = model.likelihood(z).log_prob(x)
    assert torch.all((ll.mean(0) - recon).abs() < 4 * ll.std(0) / math.sqrt(len(z)))


def test_best_diag_q_is_bishops_closed_form_and_maximises_the_elbo():
    model, x = demos.lesson5_model()
    q = demos.best_diag_q(model, x)
    S = model.posterior(x).covariance_matrix[0]
    torch.testing.assert_close(q.variance[0], 1 / torch.linalg.inv(S).diagonal())
    rho = S[0, 1] / S.diagonal().sqrt().prod()
    gap = model.log_marginal(x) - demos.exact_elbo(model, x, q)
    assert gap.item() == pytest.approx(-0.5 * math.log(1 - rho.item() ** 2), abs=1e-10)
    for dmu, dlv in [((0.05, 0.0), (0.0, 0.0)), ((0.0, 0.0), (0.1, -0.1)), ((0.0, -0.03), (-0.2, 0.0))]:
        other = demos.diag_q(q.mean + torch.tensor(dmu, dtype=torch.float64),
                             torch.log(q.variance) + torch.tensor(dlv, dtype=torch.float64))
        assert demos.exact_elbo(model, x, other) < demos.exact_elbo(model, x, q)


def test_ellipse_lies_on_the_mahalanobis_contour():
    mean, cov = torch.tensor([0.3, -1.0], dtype=torch.float64), torch.tensor([[0.5, -0.2], [-0.2, 0.3]], dtype=torch.float64)
    e = torch.as_tensor(demos.ellipse(mean, cov, n_std=2.0, n=50)).T - mean
    torch.testing.assert_close(((e @ torch.linalg.inv(cov)) * e).sum(-1), torch.full((50,), 4.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="mean \\(2,\\)"):
        demos.ellipse(torch.zeros(3), torch.eye(3))


def test_fit_q_reaches_the_posterior_or_the_approximation_gap():
    model, x = demos.lesson5_model()
    q_full, hist_full = demos.fit_q(model, x, "full")
    q_diag, hist_diag = demos.fit_q(model, x, "diagonal", steps=300)
    best = demos.best_diag_q(model, x)
    approx = (model.log_marginal(x) - demos.exact_elbo(model, x, best)).item()
    assert len(hist_full) == 300 and hist_full[-1] < 0.01
    assert abs(hist_diag[-1] - approx) < 0.01
    torch.testing.assert_close(q_diag.variance, best.variance, rtol=0.1, atol=0)
    with pytest.raises(ValueError, match="family"):
        demos.fit_q(model, x, "triangular")
    with pytest.raises(ValueError, match="x of shape"):
        demos.fit_q(model, x.expand(2, 5), "full")


def test_gap_split_and_the_linear_encoder():
    model, _ = demos.lesson5_model()
    x_train, _ = model.sample(500, generator=torch.Generator().manual_seed(1))
    x_test, _ = model.sample(200, generator=torch.Generator().manual_seed(2))
    total, approximation, amortization = demos.gap_split(model, x_test, demos.best_diag_q(model, x_test))
    torch.testing.assert_close(amortization, torch.zeros(200, dtype=torch.float64), rtol=0, atol=1e-10)
    encode, record, seconds = demos.train_linear_encoder(model, x_train, x_test, steps=200, every=50)
    assert record["step"] == [0, 50, 100, 150, 200] and seconds > 0
    t, a, m = demos.gap_split(model, x_test, encode(x_test))
    assert m.min() > -1e-10 and record["amortization"][-1] < record["amortization"][0] / 10
    assert record["total"][-1] == pytest.approx(t.mean().item())


def test_iwae_curves_start_at_the_elbo_and_rise():
    model, x = demos.lesson5_model()
    q = demos.best_diag_q(model, x)
    torch.manual_seed(3)
    mean, se = demos.iwae_curves(model, x, q, [1, 16, 256], 500)
    assert abs(mean[0] - demos.exact_elbo(model, x, q)) < 4 * se[0]
    assert mean[0] < mean[1] < mean[2] < model.log_marginal(x) + 4 * se[2]
    with pytest.raises(ValueError, match="reps"):
        demos.iwae_curves(model, x, q, [1], 1)


def test_figures_draw_and_state_their_findings():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    model, x = demos.lesson5_model()
    post, best = model.posterior(x), demos.best_diag_q(model, x)
    lw = torch.randn(1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 7
    figs = [
        demos.plot_jensen(lw, -7.0),
        demos.plot_gaps({"exact posterior": post, "best": best}, {"exact posterior": 0.0, "best": 0.59},
                        {"exact posterior": demos.BLACK, "best": demos.BLUE}),
        demos.plot_fits({"a": [1.0, 0.5], "b": [2.0, 0.6]}, 0.59,
                        {"p": (post.mean[0], post.covariance_matrix[0], demos.BLACK, "-")}),
        demos.plot_amortization({"step": [0, 1], "total": [10.0, 0.7], "approximation": [0.59, 0.59]}),
        demos.plot_iwae([1, 2], {"q": (torch.tensor([-8.0, -7.5]), torch.tensor([0.1, 0.1]))}, -7.1, 2),
        demos.plot_training_loss(-lw, -7.0, -7.05),
        demos.plot_gradients(torch.randn(100, 2, dtype=torch.float64), 3 * torch.randn(100, 2, dtype=torch.float64),
                             torch.tensor([-4.0, -5.0])),
        demos.plot_three_qs(demos.three_qs(model, x), post, {"A": demos.ORANGE, "B": demos.BLUE, "C": demos.VERMILLION}),
    ]
    assert "nats above −log p(x) on average" in figs[5].axes[0].get_title()
    labels = [t.get_text() for t in figs[5].axes[0].get_legend().get_texts()]
    assert any("p̂(x)" in t and "K = 1,000" in t for t in labels)           # an IS number named as such
    legend = figs[1].axes[0].get_legend()                                     # the contours name their q
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["exact posterior", "best"]
    assert "score function has" in figs[6].axes[0].get_title()
    assert "Averaging the logs loses" in figs[0].axes[1].get_title()
    assert figs[4].axes[1].get_title().endswith("at K = 2") and figs[4].axes[0].get_xscale() == "log"
    assert [ax.get_title() for ax in figs[7].axes] == [f"q {n} against the posterior" for n in "ABC"]
    assert not any(ch.isdigit() for ax in figs[7].axes for ch in ax.get_title())   # a prediction: no numbers shown
    for fig in figs:
        assert all(ax.get_title() for ax in fig.axes)
        plt.close(fig)


def test_broken_elbo_runs_carry_the_slips_the_diagnosis_names():
    """Lesson 5's three broken estimators against closed forms: run 1 is E_p[log p(x|z)] +
    KL(p(z) ‖ q) (z drawn from the prior), run 2 the ELBO minus E_q[log p(z)] (no prior term), run 3
    the ELBO minus 2 H(q) (log q added) — and only run 2 exceeds log p(x)."""
    from vae_utils.checks import _lesson5
    model, x = demos.lesson5_model()
    post = model.posterior(x)
    qs = {"prior": demos.diag_q(torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, 2, dtype=torch.float64)),
          "off": demos.diag_q(torch.tensor([[-0.4, -0.2]], dtype=torch.float64),
                              torch.log(torch.tensor([[0.49, 0.49]], dtype=torch.float64))),
          "marginals": demos.diag_q(post.mean, torch.log(post.covariance_matrix[0].diagonal()).unsqueeze(0))}
    runs = demos.broken_elbo_runs(model, x, qs, 40_000, seed=3)
    assert set(runs) == set(_lesson5._elbo_diagnosis())
    elbo_q = torch.cat([demos.exact_elbo(model, x, q) for q in qs.values()])
    # z from the prior: E_p[log p(x|z)] + KL(p(z) ‖ q), the first term in closed form (z ~ N(0, I))
    d = x.shape[-1]
    resid = ((x - model.b) ** 2).sum()
    expected_loglik = -0.5 * d * math.log(2 * math.pi * model.sigma ** 2) - (resid + (model.W ** 2).sum()) / (2 * model.sigma ** 2)
    from_prior = torch.cat([expected_loglik + kl_divergence(model.prior, Independent(Normal(q.mean[0], q.stddev[0]), 1)).reshape(1)
                            for q in qs.values()])
    minus_log_prior = torch.cat([math.log(2 * math.pi) + 0.5 * (q.mean ** 2 + q.variance).sum(-1) for q in qs.values()])
    entropy = torch.cat([q.entropy() for q in qs.values()])
    torch.testing.assert_close(runs["run 1"], from_prior, atol=0.15, rtol=0)
    torch.testing.assert_close(runs["run 1"][0], elbo_q[0], atol=0.15, rtol=0)  # right where q is the prior
    torch.testing.assert_close(runs["run 2"], elbo_q + minus_log_prior, atol=0.15, rtol=0)
    torch.testing.assert_close(runs["run 3"], elbo_q - 2 * entropy, atol=0.15, rtol=0)
    log_px = model.log_marginal(x)
    assert (runs["run 2"][1:] > log_px).all() and (runs["run 1"] < log_px).all() and (runs["run 3"] < log_px).all()


def test_three_qs_are_what_the_exercise_says():
    """A round and centred with variance 0.3; B the best diagonal q; C the posterior's covariance,
    its mean moved by 0.8 along the eigenvector of the largest eigenvalue."""
    model, x = demos.lesson5_model()
    post = model.posterior(x)
    qs = demos.three_qs(model, x)
    m, S = post.mean[0], post.covariance_matrix[0]
    torch.testing.assert_close(qs["A"].covariance_matrix[0], 0.3 * torch.eye(2, dtype=torch.float64))
    torch.testing.assert_close(qs["B"].covariance_matrix[0], torch.diag(demos.best_diag_q(model, x).variance[0]))
    torch.testing.assert_close(qs["C"].covariance_matrix[0], S)
    shift = qs["C"].mean[0] - m
    assert abs(shift.norm().item() - 0.8) < 1e-12
    torch.testing.assert_close(S @ shift, torch.linalg.eigvalsh(S)[-1] * shift)
    for name in "AB":
        torch.testing.assert_close(qs[name].mean[0], m)
