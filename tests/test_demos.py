"""vae_utils.demos: the closed forms of lessons 3–4 against numerical integration and
simulation, and the figure functions on small inputs."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch.distributions import Normal  # noqa: E402

from vae_utils import demos  # noqa: E402
from vae_utils.lvm import LinearGaussianLVM  # noqa: E402


def _trapezoid(f, lo, hi, n=400_001):
    z = torch.linspace(lo, hi, n, dtype=torch.float64)
    return torch.trapezoid(f(z), z).item()


def test_naive_cv2_matches_numerical_integration_in_one_dimension():
    w, b, sigma = 1.7, 0.3, 0.4
    model = LinearGaussianLVM(torch.tensor([[w]]), torch.tensor([b]), sigma)
    for x in (0.3, 2.5, -1.0):
        lik = lambda z: Normal(w * z + b, sigma).log_prob(torch.tensor(x)).exp()  # noqa: E731
        prior = lambda z: Normal(0.0, 1.0).log_prob(z).exp()  # noqa: E731
        p = _trapezoid(lambda z: lik(z) * prior(z), -12, 12)
        second = _trapezoid(lambda z: lik(z) ** 2 * prior(z), -12, 12)
        got = demos.naive_cv2(model, torch.tensor([[x]], dtype=torch.float64)).item()
        assert got == pytest.approx(second / p ** 2 - 1, rel=1e-6)


def test_naive_cv2_matches_simulation_in_five_dimensions():
    model, x = demos.random_linear_gaussian(5, 2, 0.5, seed=4, n_points=1)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(400_000, 2, generator=g, dtype=torch.float64)
    lik = model.likelihood(z).log_prob(x).exp()
    assert (lik.var() / lik.mean() ** 2).item() == pytest.approx(demos.naive_cv2(model, x).item(), rel=0.1)


def test_random_linear_gaussian_is_reproducible_and_shares_draws_across_sigma():
    m1, x1 = demos.random_linear_gaussian(4, 2, 0.5, seed=3, n_points=6)
    m2, x2 = demos.random_linear_gaussian(4, 2, 0.5, seed=3, n_points=6)
    m3 = demos.random_linear_gaussian(4, 2, 0.25, seed=3)
    assert torch.equal(x1, x2) and torch.equal(m1.W, m3.W) and x1.shape == (6, 4) and x1.dtype == torch.float64
    with pytest.raises(ValueError, match="sigma"):
        demos.random_linear_gaussian(4, 2, 0.0, seed=3)


def test_median_n10_is_the_median_of_100_cv2():
    values = torch.cat([demos.naive_cv2(*demos.random_linear_gaussian(10, 1, 0.5, 100 + i, 20)) * 100
                        for i in range(2)])
    assert demos.median_n10(1, 0.5, n_models=2, n_points=20) == pytest.approx(values.median().item())


@pytest.mark.parametrize("shift,c,k", [(0.0, 1.0, 1), (1.0, 1.0, 1), (0.0, 2.0, 1), (0.7, 0.8, 1), (0.5, 1.5, 2)])
def test_proposal_cv2_matches_numerical_integration(shift, c, k):
    p = lambda u: Normal(0.0, 1.0).log_prob(u).exp()  # noqa: E731
    first = _trapezoid(lambda u: p(u) ** 2 / Normal(shift, c).log_prob(u).exp(), -15, 15)
    rest = _trapezoid(lambda u: p(u) ** 2 / Normal(0.0, c).log_prob(u).exp(), -15, 15) ** (k - 1)
    assert demos.proposal_cv2(shift, c, k) == pytest.approx(first * rest - 1, rel=1e-6, abs=1e-12)


def test_proposal_cv2_is_infinite_below_half_the_variance_and_checks_its_arguments():
    assert demos.proposal_cv2(0.0, 0.7) == math.inf
    assert demos.proposal_cv2(0.3, 0.6, 3) == math.inf
    assert math.isfinite(demos.proposal_cv2(0.0, 0.71))
    for bad in ((0.0, 0.0, 1), (0.0, -1.0, 1), (0.0, 1.0, 0), (0.0, 1.0, 1.5)):
        with pytest.raises(ValueError, match="c > 0"):
            demos.proposal_cv2(*bad)


def test_shifted_proposal_moves_and_scales_the_posterior():
    model, x = demos.random_linear_gaussian(5, 2, 0.5, seed=4, n_points=3)
    post = model.posterior(x)
    q = demos.shifted_proposal(post, shift=1.0, c=2.0)
    L = post.scale_tril
    torch.testing.assert_close(q.mean, post.mean + L[..., :, 0])
    torch.testing.assert_close(q.covariance_matrix, 4 * post.covariance_matrix)
    assert q.batch_shape == (3,)


def test_running_mean_var_and_samples_text():
    w = torch.tensor([1.0, 3.0, 2.0, 6.0], dtype=torch.float64)
    mean_n, var_n = demos.running_mean_var(w)
    for i in range(4):
        assert mean_n[i].item() == pytest.approx(w[:i + 1].mean().item())
        assert var_n[i].item() == pytest.approx(w[:i + 1].var(unbiased=False).item(), abs=1e-12)
    assert demos.samples_text(0) == "1 (exact)" and demos.samples_text(math.inf) == "∞"
    assert demos.samples_text(1.2857) == "12,857"


def test_loglinear_fit_recovers_a_line():
    ks = [1, 2, 3, 4]
    slope, intercept = demos.loglinear_fit(ks, [138 * 5.4 ** k for k in ks])
    assert 10 ** slope == pytest.approx(5.4) and 10 ** intercept == pytest.approx(138)
    slope, _ = demos.loglinear_fit([1, 0.5, 0.25], [3 * s ** -2 for s in (1, 0.5, 0.25)], log_x=True)
    assert slope == pytest.approx(-2)
    with pytest.raises(ValueError, match="positive"):
        demos.loglinear_fit([1, 2], [1, 0])
    with pytest.raises(ValueError, match="two"):
        demos.loglinear_fit([1], [1])


def test_figures_draw_what_they_are_given():
    ax = demos.plot_likelihood_in_sigma([0.3, 0.5, 0.7], [-3, -1, -2], [-3.1, -1.1, -2.2], 0.5)
    assert list(ax.lines[0].get_ydata()) == [-3, -1, -2]
    axes = demos.plot_error_and_bias([10, 100], [0.5, 0.15], [-0.2, -0.02], [0.01, 0.01], cv2=2.0)
    assert axes[0].lines[1].get_ydata()[0] == pytest.approx(math.sqrt(0.2))
    model, x = demos.random_linear_gaussian(5, 2, 0.5, seed=4, n_points=1)
    z = torch.randn(100, 2, dtype=torch.float64)
    share = torch.linspace(0.5, 1.0, 100, dtype=torch.float64)
    axes = demos.plot_wasted_samples(model, x, z, share)
    assert "55%" in axes[1].get_title()
    with pytest.raises(ValueError, match="k = 2"):
        demos.plot_wasted_samples(demos.random_linear_gaussian(5, 3, 0.5, seed=1), x, z, share)
    axes = demos.plot_n10_sweeps([1, 2], [100, 540], (math.log10(5.4), 1.27), [1.0, 0.5],
                                 {1: [10, 20]}, {1: -1.0})
    assert "d = 10, σ = 0.5" in axes[0].get_title() and "×5.4" in axes[0].get_title()
    assert not axes[1].xaxis_inverted() and axes[1].get_xlim()[0] < axes[1].get_xlim()[1]   # σ grows to the right
    post = model.posterior(x)
    props = {"posterior": post, "too wide, c = 2": demos.shifted_proposal(post, 0, 2.0),
             "prior (lesson 3)": model.prior.expand((1,))}
    colors = dict(zip(props, ("black", "green", "red")))
    axes = demos.plot_proposal_ellipses(props, colors, post.mean[0])
    assert len(axes[1].lines) == 3
    cv2 = {"posterior": 0.0, "too wide, c = 2": 1.29, "prior (lesson 3)": 20.0}
    running = {nm: demos.running_mean_var(torch.rand(50, dtype=torch.float64)) for nm in props}
    demos.plot_running(running, cv2, colors)
    table = {nm: (v / 1e-4, 0.01, 500.0) for nm, v in cv2.items()}
    axes = demos.plot_proposal_costs(table, cv2, colors, 1000)
    assert "16–16×" in axes[0].get_title()
    plt.close("all")
