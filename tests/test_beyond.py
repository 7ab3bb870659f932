"""vae_utils.beyond and vae_utils.toy2d (lesson 6e): the models' densities against closed forms,
numerical integration and torch.distributions references; the shipped weights."""
import json
import math

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from vae_utils.beyond import (BEYOND_MODELS, BEYOND_RECORDS, MixturePriorVAE, TwoLevelVAE, beyond_weights_path,
                              load_beyond, negative_elbo_mc, parameter_count, train_elbo_mc)
from vae_utils.data import load_mnist
from vae_utils.estimators import log_marginal_is
from vae_utils.toy2d import (TOY_MODELS, TOY_RECORDS, RealNVP2D, ToyVAE, load_toy, ring_of_gaussians,
                             toy_weights_path, train_toy)
from vae_utils.vae import VAE, negative_elbo


# --- the mixture prior ----------------------------------------------------------------------
def test_mixture_prior_log_prob_is_the_weighted_sum_of_its_components():
    torch.manual_seed(0)
    m = MixturePriorVAE(latent_dim=3, hidden=16, n_components=4)
    with torch.no_grad():
        m.prior_logits.copy_(torch.randn(4))
        m.prior_logvars.copy_(torch.randn(4, 3) * 0.3)
    z = torch.randn(9, 3) * 2
    w = torch.softmax(m.prior_logits, 0)
    dens = sum(w[k] * MultivariateNormal(m.prior_means[k], torch.diag(m.prior_logvars[k].exp())).log_prob(z).exp()
               for k in range(4))
    torch.testing.assert_close(m.prior.log_prob(z), dens.log(), rtol=1e-5, atol=1e-5)


def test_one_standard_component_is_the_standard_normal_prior():
    m = MixturePriorVAE(latent_dim=2, hidden=8, n_components=1)
    with torch.no_grad():
        m.prior_means.zero_()
    z = torch.randn(20, 2)
    torch.testing.assert_close(m.prior.log_prob(z), VAE(2, hidden=8).prior.log_prob(z))


def test_mixture_prior_is_trained_by_the_loss():
    m = MixturePriorVAE(latent_dim=2, hidden=16, n_components=3)
    x = (torch.rand(8, 1, 28, 28) < 0.3).float()
    negative_elbo_mc(m, x)[0].backward()
    assert m.prior_means.grad is not None and m.prior_means.grad.abs().sum() > 0


def test_bad_component_count():
    with pytest.raises(ValueError, match="n_components"):
        MixturePriorVAE(n_components=0)


# --- the Monte Carlo ELBO -------------------------------------------------------------------
def test_monte_carlo_elbo_agrees_with_the_closed_form_kl_on_average():
    torch.manual_seed(1)
    m = VAE(latent_dim=4, hidden=32)
    x = (torch.rand(64, 1, 28, 28) < 0.3).float()
    with torch.no_grad():
        mc = torch.stack([torch.stack(negative_elbo_mc(m, x)) for _ in range(400)])
        closed = torch.stack([torch.stack(negative_elbo(m, x)) for _ in range(400)])
    for i in range(3):  # loss, recon, kl
        a, b = mc[:, i], closed[:, i]
        se = math.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(a.mean() - b.mean()) < 4 * se + 1e-4


def test_training_lowers_the_loss_and_records_history():
    torch.manual_seed(2)
    x, _ = load_mnist("train", binarize=False)
    m = TwoLevelVAE(d1=4, d2=2, hidden=32, hidden2=16)
    hist = train_elbo_mc(m, x[:512], epochs=3, progress=False)
    assert hist["epoch"] == [1, 2, 3] and len(hist["seconds"]) == 3
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert hist["lr"][0] == pytest.approx(2e-3) and not m.training
    with pytest.raises(ValueError, match="epochs"):
        train_elbo_mc(m, x[:10], epochs=0)


# --- two latent levels ----------------------------------------------------------------------
@pytest.fixture
def two():
    torch.manual_seed(3)
    return TwoLevelVAE(d1=3, d2=2, hidden=16, hidden2=8)


def test_two_level_prior_is_the_product_of_its_levels(two):
    z = two.prior.sample((7,))
    assert z.shape == (7, 5)
    z1, z2 = z[:, :3], z[:, 3:]
    mu1, logvar1 = two.top_down(z2)
    ref = Independent(Normal(torch.zeros(2), torch.ones(2)), 1).log_prob(z2) + \
        MultivariateNormal(mu1, torch.diag_embed(logvar1.exp())).log_prob(z1)
    torch.testing.assert_close(two.prior.log_prob(z), ref, rtol=1e-5, atol=1e-5)


def test_two_level_posterior_is_bottom_up(two):
    x = (torch.rand(4, 1, 28, 28) < 0.3).float()
    q = two.approximate_posterior(x)
    assert tuple(q.batch_shape) == (4,) and tuple(q.event_shape) == (5,)
    z = q.rsample((6,))
    assert z.shape == (6, 4, 5)
    mu1, logvar1 = two.encode(x)
    mu2, logvar2 = two.encode_top(z[..., :3])
    ref = MultivariateNormal(mu1, torch.diag_embed(logvar1.exp())).log_prob(z[..., :3]) + \
        MultivariateNormal(mu2, torch.diag_embed(logvar2.exp())).log_prob(z[..., 3:])
    torch.testing.assert_close(q.log_prob(z), ref, rtol=1e-5, atol=1e-5)
    assert log_marginal_is(two, x, q, 10).shape == (4,)
    # the likelihood reads z₁ only
    z_other = torch.cat([z[0, :, :3], torch.randn(4, 2)], -1)
    torch.testing.assert_close(two.likelihood(z[0]).log_prob(x), two.likelihood(z_other).log_prob(x))


def test_two_level_model_has_the_parameter_count_of_the_one_level_mlp():
    a, b = parameter_count(TwoLevelVAE(**BEYOND_MODELS["twolevel"][1])), parameter_count(VAE(20))
    assert abs(a - b) / b < 0.001


def test_two_level_latent_codes_are_checked(two):
    with pytest.raises(ValueError):
        two.likelihood(torch.zeros(2, 4))


# --- the toy: truth, flow, VAE --------------------------------------------------------------
def test_ring_of_gaussians_against_scipy():
    stats = pytest.importorskip("scipy.stats")
    truth = ring_of_gaussians(4, 1.5, 0.3)
    x = torch.randn(10, 2)
    means = [(1.5 * math.cos(a), 1.5 * math.sin(a)) for a in (0, math.pi / 2, math.pi, 3 * math.pi / 2)]
    ref = [math.log(sum(stats.multivariate_normal(m, 0.09).pdf(p.numpy()) / 4 for m in means)) for p in x]
    torch.testing.assert_close(truth.log_prob(x).double(), torch.tensor(ref, dtype=torch.float64), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="sd"):
        ring_of_gaussians(sd=0)


def test_flow_log_prob_is_the_change_of_variables_and_integrates_to_one():
    torch.manual_seed(4)
    flow = RealNVP2D(n_layers=4, hidden=8)
    for layer in flow.layers:  # scale the networks up so that the map is far from the identity
        with torch.no_grad():
            layer.net[-1].weight.mul_(4)
    x = torch.randn(6, 2)

    def f(v):
        for layer in flow.layers:
            v = layer(v)[0]
        return v

    jac = torch.stack([torch.autograd.functional.jacobian(lambda v: f(v[None])[0], p) for p in x])
    ref = Normal(0, 1).log_prob(f(x)).sum(1) + torch.linalg.slogdet(jac)[1]
    torch.testing.assert_close(flow.log_prob(x), ref, atol=1e-4, rtol=1e-4)
    # exact inverse, and the density integrates to 1 (grid over [−10, 10]²)
    with torch.no_grad():
        torch.testing.assert_close(flow.layers[0].inverse(flow.layers[0](x)[0]), x, atol=1e-5, rtol=1e-5)
        t = torch.linspace(-10, 10, 801)
        grid = torch.stack(torch.meshgrid(t, t, indexing="xy"), -1).reshape(-1, 2)
        mass = flow.log_prob(grid).exp().sum() * (t[1] - t[0]) ** 2
    assert mass.item() == pytest.approx(1.0, abs=0.01)
    with pytest.raises(ValueError, match="shape"):
        flow.log_prob(torch.zeros(3))


def test_toy_vae_importance_sampling_agrees_with_integration_over_z():
    torch.manual_seed(5)
    vae = ToyVAE(hidden=8, obs_sd=0.7)          # broad enough for a grid of z and prior sampling
    x = torch.randn(3, 2)
    t = torch.linspace(-7, 7, 401)
    z = torch.stack(torch.meshgrid(t, t, indexing="xy"), -1).reshape(-1, 2)
    with torch.no_grad():
        joint = vae.likelihood(z[:, None, :]).log_prob(x) + vae.prior.log_prob(z)[:, None]   # (M, 3)
        exact = torch.logsumexp(joint, 0) + 2 * math.log(t[1] - t[0])
        est = log_marginal_is(vae, x, vae.prior.expand((3,)), 200_000)
    torch.testing.assert_close(est, exact, atol=0.02, rtol=0)
    with pytest.raises(ValueError, match="obs_sd"):
        ToyVAE(obs_sd=0)


def test_train_toy_fits_the_flow():
    data = ring_of_gaussians().sample((2000,))
    flow = RealNVP2D(n_layers=2, hidden=8)
    losses = train_toy(lambda x: -flow.log_prob(x).mean(), flow.parameters(), data, steps=60)
    assert len(losses) == 60 and sum(losses[-10:]) < sum(losses[:10])


# --- shipped weights ------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(BEYOND_MODELS))
def test_shipped_beyond_models_load_and_match_their_records(name):
    path = beyond_weights_path(name)
    assert path.stat().st_size < 3_000_000
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float32 for v in state.values())
    model = load_beyond(name)
    assert not model.training
    rec = BEYOND_RECORDS[name]
    assert parameter_count(model) == rec["parameters"]
    written = json.loads(path.with_suffix(".json").read_text())
    for key, value in rec.items():
        assert written[key] == value, key
    test_x, _ = load_mnist("test", source="embedded")
    torch.manual_seed(0)
    with torch.no_grad():
        neg_elbo = negative_elbo_mc(model, test_x)[0].item()
    assert neg_elbo < rec["test_neg_elbo"] + 1.5          # one-sample noise on 1,000 digits: s.e. ≈ 0.3


@pytest.mark.parametrize("name", list(TOY_MODELS))
def test_shipped_toy_models_load_and_score(name):
    model = load_toy(name)
    rec = TOY_RECORDS[name]
    written = json.loads(toy_weights_path(name).with_suffix(".json").read_text())
    assert all(written[k] == v for k, v in rec.items())
    torch.manual_seed(1)
    test = ring_of_gaussians().sample((5000,))
    with torch.no_grad():
        ll = (model.log_prob(test) if name == "flow" else
              log_marginal_is(model, test, model.approximate_posterior(test), 100)).mean().item()
    assert ll == pytest.approx(rec["test_log_px"], abs=0.05)
    assert ll < ring_of_gaussians().log_prob(test).mean().item() + 0.05   # no model beats the truth on average


def test_unknown_or_missing_weights(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="name must be one of"):
        load_beyond("mog3")
    with pytest.raises(ValueError, match="name must be one of"):
        load_toy("gan")
    import vae_utils.beyond as beyond
    monkeypatch.setattr(beyond, "beyond_weights_path", lambda name: tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="--models mog2"):
        beyond.load_beyond("mog2")
