import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vae_utils.estimators import elbo, log_marginal_is
from vae_utils.vae import VAE, negative_elbo


@pytest.fixture
def x():
    return (torch.rand(5, 1, 28, 28) > 0.7).float()


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_shapes_and_protocol(arch, x):
    m = VAE(latent_dim=3, arch=arch)
    mu, logvar = m.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert m.decode(mu).shape == (5, 1, 28, 28)
    assert m.decode(torch.randn(4, 5, 3)).shape == (4, 5, 1, 28, 28)  # extra sample dims
    assert m.prior.event_shape == (3,) and m.prior.batch_shape == ()
    lik = m.likelihood(torch.randn(4, 5, 3))
    assert lik.batch_shape == (4, 5) and lik.event_shape == (1, 28, 28)
    q = m.approximate_posterior(x)
    assert q.batch_shape == (5,) and q.event_shape == (3,)
    torch.testing.assert_close(q.mean, mu)
    torch.testing.assert_close(q.stddev, torch.exp(0.5 * logvar))  # logvar is log sigma^2
    assert m.sample(6).shape == (6, 1, 28, 28)


def test_negative_elbo_against_hand_computation(x):
    m = VAE(latent_dim=4)
    torch.manual_seed(7)
    loss, recon, kl = negative_elbo(m, x)
    torch.manual_seed(7)
    mu, logvar = m.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    p = torch.sigmoid(m.decode(z))
    hand_recon = -(x * torch.log(p) + (1 - x) * torch.log1p(-p)).sum(dim=(1, 2, 3)).mean()
    hand_kl = (0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(dim=1)).mean()
    torch.testing.assert_close(recon, hand_recon, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(kl, hand_kl)
    torch.testing.assert_close(loss, recon + kl)
    # The same quantity through the protocol and torch.distributions.
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    lik = m.likelihood(z).log_prob(x).mean()
    torch.testing.assert_close(recon, -lik, rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(kl, kl_divergence(q, m.prior).mean())


def test_negative_elbo_is_an_upper_bound_on_minus_log_marginal(x):
    torch.manual_seed(0)
    m = VAE(latent_dim=2)
    with torch.no_grad():
        q = m.approximate_posterior(x)
        neg_elbo = -elbo(m, x, q, 2000).mean()
        neg_logp = -log_marginal_is(m, x, q, 2000).mean()
        one_sample = torch.stack([negative_elbo(m, x)[0] for _ in range(200)]).mean()
    assert neg_logp < neg_elbo
    assert abs(one_sample - neg_elbo) < 0.5  # same expectation


@pytest.mark.parametrize("bad,match", [
    (torch.zeros(5, 28, 28), r"shape \(N, 1, 28, 28\)"),
    (torch.zeros(5, 1, 28, 28, dtype=torch.uint8), "floating point"),
    (torch.full((5, 1, 28, 28), 255.0), r"values in \[0, 1\].*255"),
])
def test_bad_input_is_rejected_clearly(bad, match):
    with pytest.raises(ValueError, match=match):
        negative_elbo(VAE(latent_dim=2), bad)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="arch"):
        VAE(arch="transformer")
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(latent_dim=0)
    with pytest.raises(ValueError, match=r"z must be a tensor of shape \(\.\.\., 3\)"):
        VAE(latent_dim=3).decode(torch.zeros(2, 4))


def test_state_dict_round_trip(tmp_path, x):
    torch.manual_seed(0)
    m = VAE(latent_dim=4, arch="conv")
    path = tmp_path / "vae.pt"
    torch.save(m.state_dict(), path)
    m2 = VAE(latent_dim=4, arch="conv")
    m2.load_state_dict(torch.load(path, weights_only=True))
    for a, b in zip(m.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    torch.testing.assert_close(m2.decode(torch.ones(1, 4)), m.decode(torch.ones(1, 4)))


def test_untrained_decoder_is_near_uniform_bernoulli(x):
    # Sanity anchor on units: 784 pixels at p ≈ 0.5 cost about 784 · log 2 ≈ 543 nats.
    torch.manual_seed(0)
    m = VAE(latent_dim=2)
    with torch.no_grad():
        _, recon, _ = negative_elbo(m, x)
    assert abs(recon.item() - 784 * math.log(2)) < 60


def test_gaussian_likelihood_matches_normal_log_prob():
    torch.manual_seed(0)
    m = VAE(latent_dim=3, likelihood="gaussian", obs_sigma=0.2)
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(1)
    _, recon, _ = negative_elbo(m, x)
    torch.manual_seed(1)
    mu, logvar = m.encode(x)
    z = m.reparameterize(mu, logvar)
    expected = -Normal(torch.sigmoid(m.decode(z)), 0.2).log_prob(x).sum(dim=(1, 2, 3)).mean()
    torch.testing.assert_close(recon, expected)
    torch.testing.assert_close(m.likelihood(z).log_prob(x).mean(), -expected)
    assert m.sample(3, mean=False).shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="likelihood must be"):
        VAE(likelihood="poisson")
