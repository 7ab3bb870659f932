import pytest
import torch

from vae_utils.data import load_mnist
from vae_utils.train import evaluate, pick_device, train_vae
from vae_utils.vae import VAE


@pytest.fixture(scope="module")
def digits():
    x, _ = load_mnist("train", source="embedded")
    xt, _ = load_mnist("test", source="embedded")
    return x[:512], xt[:256]


def test_training_lowers_train_and_test_loss(digits):
    x, xt = digits
    torch.manual_seed(0)
    m = VAE(latent_dim=8)
    before = evaluate(m, xt)["loss"]
    hist = train_vae(m, x, epochs=3, batch_size=64, test_x=xt, progress=False, device="cpu")
    assert hist["epoch"] == [1, 2, 3] and hist["device"] == "cpu"
    for k in ("train_loss", "train_recon", "train_kl", "test_loss", "test_recon", "test_kl", "seconds"):
        assert len(hist[k]) == 3
    assert hist["test_loss"][-1] < before - 200  # ~543 nats untrained → well under 340
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    for a, r, k in zip(hist["test_loss"], hist["test_recon"], hist["test_kl"]):
        assert a == pytest.approx(r + k, rel=1e-5)
    assert not m.training  # handed back in eval mode


def test_same_seed_same_history(digits):
    x, _ = digits
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        runs.append(train_vae(VAE(latent_dim=2), x[:128], epochs=2, progress=False, seed=11)["train_loss"])
    assert runs[0] == runs[1]


def test_divergence_names_the_epoch(digits):
    x, _ = digits
    bad = x[:64].clone()
    bad[3, 0, 5, 5] = float("nan")
    with pytest.raises(FloatingPointError, match="epoch 1"):
        train_vae(VAE(latent_dim=2), bad, epochs=2, progress=False)


@pytest.mark.parametrize("kw,match", [
    ({"epochs": 0}, "epochs"), ({"batch_size": -1}, "batch_size"), ({"lr": 0.0}, "lr"),
    ({"device": "tpu"}, "device"),
])
def test_bad_arguments(digits, kw, match):
    with pytest.raises(ValueError, match=match):
        train_vae(VAE(latent_dim=2), digits[0][:8], progress=False, **kw)


def test_bad_data_shape():
    with pytest.raises(ValueError, match=r"train_x must be a tensor of images \(N, 1, 28, 28\)"):
        train_vae(VAE(latent_dim=2), torch.zeros(8, 784), progress=False)


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    auto = pick_device("auto")
    assert auto.type == ("cuda" if torch.cuda.is_available() else auto.type)
    if not torch.cuda.is_available():
        assert auto.type in ("mps", "cpu")
        with pytest.raises(ValueError, match="no CUDA GPU"):
            pick_device("cuda")


def test_kl_warmup_and_beta_schedule(digits):
    x, _ = digits
    hist = train_vae(VAE(latent_dim=2), x[:128], epochs=4, kl_warmup=4, beta=0.5, progress=False)
    assert hist["beta"] == [0.125, 0.25, 0.375, 0.5]
    for a, r, k in zip(hist["train_loss"], hist["train_recon"], hist["train_kl"]):
        assert a == pytest.approx(r + k, rel=1e-5)  # the reported loss is the −ELBO, not the weighted loss


def test_beta_zero_lets_the_kl_grow(digits):
    """Without the KL term nothing pulls q(z|x) toward the prior: the KL ends far higher."""
    x, _ = digits
    kls = []
    for beta in (1.0, 0.0):
        torch.manual_seed(0)
        kls.append(train_vae(VAE(latent_dim=4), x, epochs=3, beta=beta, progress=False)["train_kl"][-1])
    assert kls[1] > 1.3 * kls[0]  # measured: 25.3 vs 15.2 nats after 3 epochs


def test_out_of_range_data_is_rejected_once_up_front(digits):
    x, _ = digits
    with pytest.raises(ValueError, match=r"train_x must have values in \[0, 1\].*255"):
        train_vae(VAE(latent_dim=2), x[:8] * 255, progress=False)
    with pytest.raises(ValueError, match=r"x must have values in \[0, 1\]"):
        evaluate(VAE(latent_dim=2), x[:8] - 1)
