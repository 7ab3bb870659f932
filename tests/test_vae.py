import math

import numpy as np
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


# --- issue 13: every bad input answered clearly (vae_utils.validate) ------------------------

def test_float64_images_and_codes_are_converted_to_the_model_dtype(x):
    """Defect 1: numpy-built (float64) data used to fail deep in torch ("mat1 and mat2")."""
    m = VAE(latent_dim=3)
    mu, logvar = m.encode(x.double())
    assert mu.dtype == torch.float32
    torch.testing.assert_close(mu, m.encode(x)[0])
    torch.testing.assert_close(m.decode(mu.double()), m.decode(mu))
    torch.testing.assert_close(m.encode(x.numpy().astype("float64"))[0], mu)  # numpy arrays too
    torch.manual_seed(0)
    loss64 = negative_elbo(m, x.double())[0]
    torch.manual_seed(0)
    torch.testing.assert_close(loss64, negative_elbo(m, x)[0])


@pytest.mark.parametrize("shape", [(1, 28, 28), (28, 28), (784,)])
def test_one_image_without_batch_dimension_is_refused_naming_x(shape):
    """Defects 2 and 6: a (1, 28, 28) image passed the shape check, then failed in the BCE."""
    m = VAE(latent_dim=2)
    one = torch.zeros(shape)
    for f in (lambda: negative_elbo(m, one), lambda: m.encode(one)):
        with pytest.raises(ValueError, match=r"^x must be a batch of images.*one image without a "
                                             r"batch dimension.*x\.reshape\(1, 1, 28, 28\)"):
            f()
    loss, _, _ = negative_elbo(m, one.reshape(1, 1, 28, 28))  # the fix the message gives works
    assert loss.shape == ()


def test_empty_batch_and_nan_raise_instead_of_returning_nan(x):
    """Defect 3: negative_elbo returned NaN for an empty batch and for NaN pixels."""
    m = VAE(latent_dim=2)
    with pytest.raises(ValueError, match=r"x is an empty batch .*at least one image"):
        negative_elbo(m, x[:0])
    bad = x.clone()
    bad[2, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match=r"x contains NaN, in 1 image\(s\) \(first at index 2\)"):
        negative_elbo(m, bad)


@pytest.mark.parametrize("bad,match", [
    (torch.zeros(5, 1, 28, 28, dtype=torch.uint8), r"x\.float\(\) / 255"),
    (torch.zeros(5, 28, 28), r"channel dimension is missing; use x\.unsqueeze\(1\)"),
    (torch.full((5, 1, 28, 28), -1.0), r"got range \[-1, -1\]"),
])
def test_bad_image_messages_give_the_fix(bad, match):
    with pytest.raises(ValueError, match=match):
        negative_elbo(VAE(latent_dim=2), bad)


def test_integers_of_any_integer_type_are_accepted():
    """Defect 4: np.int64(3) was refused as "not a positive integer"."""
    m = VAE(latent_dim=np.int64(3), hidden=torch.tensor(16))
    assert m.latent_dim == 3 and type(m.latent_dim) is int
    assert m.sample(np.int64(2)).shape == (2, 1, 28, 28)
    with pytest.raises(ValueError, match=r"latent_dim must be a positive integer, got True; pass a number"):
        VAE(latent_dim=True)


@pytest.mark.parametrize("n,match", [
    (0, r"n must be a positive integer, got 0"), (-3, r"got -3"), (2.5, r"got 2\.5 \(float\); round it"),
])
def test_sample_count_is_checked(n, match):
    """Defect 8: VAE.sample(n) with n ≤ 0 or a float was unchecked."""
    with pytest.raises(ValueError, match=match):
        VAE(latent_dim=2).sample(n)


def test_negative_elbo_scores_x_with_the_models_likelihood(x):
    """The loss goes through the protocol: a model with another p(x|z) trains unchanged."""
    class WiderNoise(VAE):
        def likelihood(self, z):
            return Independent(Normal(torch.sigmoid(self.decode(z)), 0.3), 3)

    torch.manual_seed(0)
    m = WiderNoise(latent_dim=2)
    torch.manual_seed(1)
    _, recon, _ = negative_elbo(m, x)
    torch.manual_seed(1)
    mu, logvar = m.encode(x)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    torch.testing.assert_close(recon, -Normal(torch.sigmoid(m.decode(z)), 0.3).log_prob(x).sum((1, 2, 3)).mean())


def test_grayscale_pixels_give_the_cross_entropy():
    """Bernoulli likelihood on grayscale x: the cross-entropy, as the docstring says (the
    likelihood is built without torch's support check, so grayscale is scored, not refused)."""
    torch.manual_seed(0)
    m = VAE(latent_dim=2)
    gray = torch.rand(4, 1, 28, 28)
    torch.manual_seed(1)
    _, recon, _ = negative_elbo(m, gray)
    torch.manual_seed(1)
    mu, logvar = m.encode(gray)
    z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
    expected = F.binary_cross_entropy_with_logits(m.decode(z), gray, reduction="sum") / 4
    torch.testing.assert_close(recon, expected)


def test_negative_elbo_follows_the_models_device(x):
    """Defect 11: x on another device than the model is moved there (checked on the meta
    device, which exists on every machine; on a GPU too when there is one)."""
    m = VAE(latent_dim=2).to("meta")
    loss, recon, kl = negative_elbo(m, x)
    assert loss.device.type == recon.device.type == kl.device.type == "meta"
    assert m.encode(x)[0].device.type == "meta"
    assert m.decode(torch.zeros(2, 2)).device.type == "meta"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_negative_elbo_on_cuda_takes_cpu_data(x):
    m = VAE(latent_dim=2).cuda()
    torch.manual_seed(0)
    loss = negative_elbo(m, x)[0]
    assert loss.device.type == "cuda" and torch.isfinite(loss)


def test_free_bits_objective_against_hand_computation(x):
    """Free bits (Kingma et al. 2016, appendix C.8): loss = recon + Σ_j max(λ, KL_j) with KL_j
    the batch mean of unit j's KL; recon and kl stay the ELBO's terms."""
    m = VAE(latent_dim=4)
    torch.manual_seed(7)
    ref = negative_elbo(m, x)
    for lam in (0.0, 0.05, 1e3):
        torch.manual_seed(7)
        loss, recon, kl = negative_elbo(m, x, free_bits=lam)
        torch.testing.assert_close(recon, ref[1])
        torch.testing.assert_close(kl, ref[2])
        mu, logvar = m.encode(x)
        kl_j = (0.5 * (mu ** 2 + logvar.exp() - logvar - 1)).mean(dim=0)
        torch.testing.assert_close(kl_j.sum(), kl)
        torch.testing.assert_close(loss, recon + torch.maximum(kl_j, torch.tensor(lam)).sum())
        assert loss >= recon + kl - 1e-4
    # λ above every unit's KL: the KL term is a constant, so only recon's gradient remains.
    torch.manual_seed(7)
    loss, recon, _ = negative_elbo(m, x, free_bits=1e3)
    g_loss = torch.autograd.grad(loss, m.to_logvar.weight, retain_graph=True)[0]
    g_recon = torch.autograd.grad(recon, m.to_logvar.weight)[0]
    torch.testing.assert_close(g_loss, g_recon)
    assert loss.item() == pytest.approx(recon.item() + 4e3, rel=1e-6)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "1", True])
def test_free_bits_must_be_a_finite_number_at_least_zero(x, bad):
    with pytest.raises(ValueError, match="free_bits"):
        negative_elbo(VAE(latent_dim=2), x, free_bits=bad)
