"""vae_utils.latent: the aggregate posterior, density grids, the nearest-class reading (lesson 6)."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from scipy import stats  # noqa: E402

from vae_utils.latent import (aggregate_posterior, best_reconstructed, density_grid,  # noqa: E402
                              mass_levels, nearest_neighbour, plot_aggregate_posterior)
from vae_utils.vae import VAE  # noqa: E402


def test_aggregate_posterior_density_is_the_average_of_the_encoder_gaussians():
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    q = aggregate_posterior(mu, logvar)
    z = torch.randn(7, 2, dtype=torch.float64)
    sd = (0.5 * logvar).exp()
    # reference: scipy's normal pdf, averaged over the five components
    ref = sum(stats.norm.pdf(z[:, 0], mu[n, 0], sd[n, 0]) * stats.norm.pdf(z[:, 1], mu[n, 1], sd[n, 1])
              for n in range(5)) / 5
    assert torch.allclose(q.log_prob(z).exp(), torch.as_tensor(ref), rtol=1e-10)
    assert q.event_shape == (2,)


def test_aggregate_posterior_samples_have_the_mixture_moments():
    """Law of total variance: Cov = mean of the diagonal variances + covariance of the means."""
    torch.manual_seed(1)
    mu = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -1.0]], dtype=torch.float64)
    logvar = torch.log(torch.tensor([[0.1, 0.2], [0.3, 0.1], [0.2, 0.5]], dtype=torch.float64))
    z = aggregate_posterior(mu, logvar).sample((200_000,))
    cov_means = torch.cov(mu.T, correction=0)
    cov = torch.diag(logvar.exp().mean(0)) + cov_means
    assert torch.allclose(z.mean(0), mu.mean(0), atol=0.02)
    assert torch.allclose(torch.cov(z.T), cov, atol=0.03)


def test_aggregate_posterior_refuses_bad_shapes_and_nan():
    with pytest.raises(ValueError, match=r"shape \(N, d\)"):
        aggregate_posterior(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"shape \(N, d\)"):
        aggregate_posterior(torch.zeros(0, 2), torch.zeros(0, 2))
    with pytest.raises(ValueError, match="finite"):
        aggregate_posterior(torch.tensor([[math.nan, 0.0]]), torch.zeros(1, 2))


def test_density_grid_of_the_standard_normal_matches_the_closed_form_and_integrates_to_one():
    from torch.distributions import Independent, Normal

    prior = Independent(Normal(torch.zeros(2), torch.ones(2)), 1)
    z1, z2, d = density_grid(prior, extent=5.0, n=101)
    assert d.shape == z1.shape == z2.shape == (101, 101)
    assert math.isclose(d[50, 50].item(), 1 / (2 * math.pi), rel_tol=1e-5)     # z = (0, 0)
    assert math.isclose(d[50, 100].item(), math.exp(-12.5) / (2 * math.pi), rel_tol=1e-4)  # z = (5, 0)
    assert z1[0, 100].item() == 5.0 and z2[100, 0].item() == 5.0              # "xy" indexing
    cell = (10 / 100) ** 2
    assert abs(d.sum().item() * cell - 1) < 1e-3
    with pytest.raises(ValueError, match="event shape"):
        density_grid(Independent(Normal(torch.zeros(3), torch.ones(3)), 1))
    with pytest.raises(ValueError, match="extent"):
        density_grid(prior, extent=0.0)


def test_plot_aggregate_posterior_draws_both_contours_samples_and_digits():
    torch.manual_seed(0)
    model = VAE(latent_dim=2).eval()
    q = aggregate_posterior(torch.randn(50, 2), torch.full((50, 2), -2.0))
    state = torch.random.get_rng_state()
    fig, (ax, ax_p, ax_q) = plot_aggregate_posterior(model, q, n_points=200, n_images=15, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)       # the global generator untouched
    assert [len(c.get_offsets()) for c in ax.collections[:2]] == [200, 200]
    assert len(ax.collections) >= 4                                # two scatters + two contour sets
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["prior p(z) = N(0, I)",
                                                                   "aggregate posterior q(z)",
                                                                   "contours: 50 % and 90 % of the mass"]
    assert "p(z)" in ax_p.get_title() and "q(z)" in ax_q.get_title()
    # the same seed gives the same picture
    _, (ax2, _, _) = plot_aggregate_posterior(model, q, n_points=200, n_images=15, seed=3)
    assert (ax2.collections[1].get_offsets() == ax.collections[1].get_offsets()).all()
    with pytest.raises(ValueError, match="latent_dim=20"):
        plot_aggregate_posterior(VAE(latent_dim=20), q)
    plt.close("all")


def test_mass_levels_of_the_standard_normal_are_the_closed_form():
    """For N(0, I) in 2-D, {density ≥ (1 − m)/(2π)} is the disc of radius √(−2 log(1 − m)),
    which holds mass m (the radius is Rayleigh distributed)."""
    from torch.distributions import Independent, Normal

    prior = Independent(Normal(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)), 1)
    _, _, d = density_grid(prior, extent=6.0, n=601)
    levels = mass_levels(d, (12 / 600) ** 2, masses=(0.9, 0.5))
    assert levels == sorted(levels)
    for level, m in zip(levels, (0.9, 0.5)):
        assert math.isclose(level, (1 - m) / (2 * math.pi), rel_tol=3e-3)
    with pytest.raises(ValueError, match="mass"):
        mass_levels(d, (12 / 600) ** 2, masses=(1.0,))
    with pytest.raises(ValueError, match="widen the grid"):
        mass_levels(torch.full((3, 3), 0.01), 1.0, masses=(0.5,))


def test_nearest_neighbour_finds_the_closest_image_and_its_distance():
    torch.manual_seed(0)
    reference = torch.rand(50, 1, 4, 4)
    images = reference[[7, 3, 41]] + 0.01 * torch.randn(3, 1, 4, 4)
    dist, idx = nearest_neighbour(images, reference, chunk_size=2)
    assert idx.tolist() == [7, 3, 41]
    brute = torch.stack([((reference.flatten(1) - im.flatten()) ** 2).sum(1).sqrt().min() for im in images])
    assert torch.allclose(dist, brute, atol=1e-6)
    # precise for near-copies (float64 inside, no cancellation)
    dist0, _ = nearest_neighbour(reference[:2] + 1e-4, reference)
    assert torch.allclose(dist0, torch.full((2,), 4e-4), rtol=1e-3)
    with pytest.raises(ValueError, match="pixels"):
        nearest_neighbour(torch.zeros(2, 9), reference)


def test_best_reconstructed_takes_the_lowest_error_that_reads_as_its_own_digit():
    err = torch.tensor([5.0, 1.0, 3.0, 0.5])
    lab = torch.tensor([4, 4, 4, 9])
    read = torch.tensor([4, 9, 4, 9])                               # #1 is best but reads as a 9
    assert best_reconstructed(err, lab, read, 4) == 2
    assert best_reconstructed(err, lab, read, 9) == 3
    with pytest.raises(ValueError, match="no image of class 1"):
        best_reconstructed(err, lab, read, 1)
