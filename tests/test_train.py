import math

import numpy as np
import pytest
import torch

from vae_utils.data import load_mnist
from vae_utils.train import cosine_lr, evaluate, pick_device, train_vae
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
        runs.append(train_vae(VAE(latent_dim=2), x[:128], epochs=2, progress=False, seed=11, device="cpu")["train_loss"])
    assert runs[0] == runs[1]


def test_divergence_names_the_epoch(digits):
    x, _ = digits
    with pytest.raises(FloatingPointError, match=r"diverged at epoch \d+.*Lower the learning rate"):
        train_vae(VAE(latent_dim=2), x[:64], epochs=3, lr=1e30, progress=False, device="cpu")


@pytest.mark.parametrize("kw,match", [
    ({"epochs": 0}, "epochs"), ({"batch_size": -1}, "batch_size"), ({"lr": 0.0}, "lr"),
    ({"device": "tpu"}, "device"),
])
def test_bad_arguments(digits, kw, match):
    with pytest.raises(ValueError, match=match):
        train_vae(VAE(latent_dim=2), digits[0][:8], progress=False, **{"device": "cpu", **kw})


def test_bad_data_shape():
    with pytest.raises(ValueError, match=r"train_x must be a batch of images of shape \(N, 1, 28, 28\)"
                                         r".*unsqueeze\(1\)"):
        train_vae(VAE(latent_dim=2), torch.zeros(8, 28, 28), progress=False, device="cpu")


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
    hist = train_vae(VAE(latent_dim=2), x[:128], epochs=4, kl_warmup=4, beta=0.5, progress=False, device="cpu")
    assert hist["beta"] == [0.125, 0.25, 0.375, 0.5]
    for a, r, k in zip(hist["train_loss"], hist["train_recon"], hist["train_kl"]):
        assert a == pytest.approx(r + k, rel=1e-5)  # the reported loss is the −ELBO, not the weighted loss


def test_beta_zero_lets_the_kl_grow(digits):
    """Without the KL term nothing pulls q(z|x) toward the prior: the KL ends far higher."""
    x, _ = digits
    kls = []
    for beta in (1.0, 0.0):
        torch.manual_seed(0)
        kls.append(train_vae(VAE(latent_dim=4), x, epochs=3, beta=beta, progress=False, device="cpu")["train_kl"][-1])
    assert kls[1] > 1.3 * kls[0]  # measured: 25.3 vs 15.2 nats after 3 epochs


def test_out_of_range_data_is_rejected_once_up_front(digits):
    x, _ = digits
    with pytest.raises(ValueError, match=r"train_x must have values in \[0, 1\].*255"):
        train_vae(VAE(latent_dim=2), x[:8] * 255, progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"x must have values in \[0, 1\]"):
        evaluate(VAE(latent_dim=2), x[:8] - 1)


# --- issue 13: every bad input answered clearly (vae_utils.validate) ------------------------

def test_float64_data_is_converted_to_the_model_dtype(digits):
    """Defect 1: lesson 1's .double() data failed deep in torch ("mat1 and mat2")."""
    x, xt = digits
    m = VAE(latent_dim=2)
    torch.manual_seed(0)
    ev64 = evaluate(m, xt.double())
    torch.manual_seed(0)
    assert ev64 == pytest.approx(evaluate(m, xt), rel=1e-6)
    hist = train_vae(m, x[:64].double(), epochs=1, test_x=xt[:32].double(), progress=False, device="cpu")
    assert all(math.isfinite(v) for v in hist["train_loss"] + hist["test_loss"])


def test_nan_data_raises_up_front_naming_the_argument(digits):
    """Defect 3: evaluate returned NaN, and test_loss in the history was silently NaN."""
    x, xt = digits
    bad = xt[:16].clone()
    bad[5, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match=r"^x contains NaN, in 1 image\(s\) \(first at index 5\)"):
        evaluate(VAE(latent_dim=2), bad)
    with pytest.raises(ValueError, match=r"^test_x contains NaN"):
        train_vae(VAE(latent_dim=2), x[:16], epochs=1, test_x=bad, progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"^train_x contains NaN.*index 5"):
        train_vae(VAE(latent_dim=2), bad, epochs=1, progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"^train_x is an empty batch"):
        train_vae(VAE(latent_dim=2), x[:0], epochs=1, progress=False, device="cpu")


def test_integers_of_any_integer_type_are_accepted(digits):
    """Defect 4: numpy and 0-dim tensor integers were refused as "not a positive integer"."""
    x, xt = digits
    hist = train_vae(VAE(latent_dim=2), x[:32], epochs=np.int64(2), batch_size=torch.tensor(16),
                     kl_warmup=np.int32(1), lr=np.float32(1e-3), progress=False, device="cpu")
    assert hist["epoch"] == [1, 2]
    assert math.isfinite(evaluate(VAE(latent_dim=2), xt[:32], batch_size=np.int64(10))["loss"])


@pytest.mark.parametrize("batch_size,match", [
    (-5, r"batch_size must be a positive integer, got -5"), (0, r"got 0; use 1 or more"),
    (2.0, r"pass int\(batch_size\)"),
])
def test_evaluate_batch_size_is_checked(digits, batch_size, match):
    """Defect 7: batch_size=-5 returned a loss of 0.0, batch_size=0 failed in range()."""
    with pytest.raises(ValueError, match=match):
        evaluate(VAE(latent_dim=2), digits[1][:8], batch_size=batch_size)


# --- dynamic binarization, cosine schedule, batches, CUDA graphs (issue 11) -----------------

class RecordingVAE(VAE):
    """A VAE that keeps a copy of every batch it is trained on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def encode(self, x):  # negative_elbo encodes each training batch once
        if self.training:
            self.seen.append(x.detach().clone())
        return super().encode(x)


def test_history_keys_and_lr(digits):
    x, xt = digits
    hist = train_vae(VAE(latent_dim=2), x[:100], epochs=3, test_x=xt[:50], progress=False, device="cpu")
    assert set(hist) == {"epoch", "train_loss", "train_recon", "train_kl", "seconds", "lr", "beta",
                         "test_loss", "test_recon", "test_kl", "device", "dynamic_binarization",
                         "cuda_graph"}
    assert len(hist["lr"]) == 3 and hist["cuda_graph"] is False  # CPU: eager
    assert hist["dynamic_binarization"] is False  # load_mnist("train") is already binary


def test_cosine_schedule_matches_closed_form(digits):
    x, _ = digits
    epochs, lr = 6, 3e-3
    hist = train_vae(VAE(latent_dim=2), x[:32], epochs=epochs, lr=lr, progress=False, device="cpu")
    expected = [lr * 0.5 * (1 + math.cos(math.pi * (e - 1) / epochs)) for e in range(1, epochs + 1)]
    assert hist["lr"] == pytest.approx(expected, rel=1e-12)
    assert hist["lr"][0] == lr and hist["lr"][-1] > 0
    assert [cosine_lr(lr, e, epochs) for e in range(1, epochs + 1)] == pytest.approx(expected)
    const = train_vae(VAE(latent_dim=2), x[:32], epochs=3, lr=lr, lr_schedule="constant", progress=False, device="cpu")
    assert const["lr"] == [lr] * 3


def test_the_optimizer_uses_the_scheduled_rate(digits, monkeypatch):
    """The rate in the history is the one Adam steps with (read from its param group)."""
    import vae_utils.train as tr
    used = []
    real_step = tr._Step.__call__

    def spy(self, xb):
        used.append(float(self.opt.param_groups[0]["lr"]))
        real_step(self, xb)

    monkeypatch.setattr(tr._Step, "__call__", spy)
    hist = train_vae(VAE(latent_dim=2), digits[0][:64], epochs=4, batch_size=32, progress=False, device="cpu")
    assert used == [lr for lr in hist["lr"] for _ in range(2)]


def test_every_image_is_used_including_the_last_partial_batch(digits):
    x, _ = digits
    data = x[:100]  # binary: unchanged by training, so the batches can be matched to the data
    m = RecordingVAE(latent_dim=2)
    train_vae(m, data, epochs=2, batch_size=32, progress=False, device="cpu")
    sizes = [len(b) for b in m.seen]
    assert sizes == [32, 32, 32, 4] * 2
    for epoch in range(2):
        got = torch.cat(m.seen[4 * epoch: 4 * epoch + 4]).flatten(1)
        # the same multiset of images: sort rows lexicographically by a random projection
        proj = torch.randn(784, dtype=torch.float64)
        assert torch.equal(torch.sort(got.double() @ proj).values, torch.sort(data.flatten(1).double() @ proj).values)


def test_dynamic_binarization_draws_bernoulli_samples():
    gray, _ = load_mnist("train", binarize=False, source="embedded")
    digit = gray[0:1]
    data = digit.repeat(64, 1, 1, 1)  # one grayscale digit, 64 times
    m = RecordingVAE(latent_dim=2)
    hist = train_vae(m, data, epochs=20, batch_size=64, lr=1e-6, progress=False, device="cpu")
    assert hist["dynamic_binarization"] is True
    seen = torch.cat(m.seen)
    assert len(seen) == 64 * 20
    assert set(seen.unique().tolist()) == {0.0, 1.0}
    # each pixel is 1 with probability equal to its intensity: 1,280 draws per pixel, SE ≤ 0.014
    assert (seen.mean(0) - digit[0]).abs().max() < 0.075
    assert (seen[:, :, digit[0, 0] == 0] == 0).all() and (seen[:, :, digit[0, 0] == 1] == 1).all()
    # fresh draws: two epochs' samples of the same image differ
    assert not torch.equal(m.seen[0][0], m.seen[1][0])


def test_binary_images_are_unchanged(digits):
    x, _ = digits
    m = RecordingVAE(latent_dim=2)
    train_vae(m, x[:64], epochs=1, batch_size=64, progress=False, dynamic_binarization=True, device="cpu")
    assert torch.equal(m.seen[0].sum(0), x[:64].sum(0))


def test_binarization_off_and_gaussian_decoder_train_on_intensities():
    gray, _ = load_mnist("train", binarize=False, source="embedded")
    for model, kw in ((RecordingVAE(latent_dim=2), {"dynamic_binarization": False}),
                      (RecordingVAE(latent_dim=2, likelihood="gaussian"), {})):
        hist = train_vae(model, gray[:64], epochs=1, batch_size=64, progress=False, **kw, device="cpu")
        assert hist["dynamic_binarization"] is False
        assert torch.allclose(model.seen[0].sum(0), gray[:64].sum(0), atol=1e-4)
    with pytest.raises(ValueError, match="dynamic_binarization=True needs a Bernoulli decoder"):
        train_vae(VAE(latent_dim=2, likelihood="gaussian"), gray[:8], progress=False,
                  dynamic_binarization=True, device="cpu")


def test_nan_in_grayscale_data_is_reported():
    gray, _ = load_mnist("train", binarize=False, source="embedded")
    bad = gray[:16].clone()
    bad[2, 0, 3, 3] = float("nan")
    # Refused before training (dynamic binarization would otherwise turn NaN into a pixel).
    with pytest.raises(ValueError, match=r"^train_x contains NaN.*index 2"):
        train_vae(VAE(latent_dim=2), bad, epochs=1, progress=False, device="cpu")


@pytest.mark.parametrize("kw,match", [
    ({"lr_schedule": "linear"}, "lr_schedule"), ({"lr_schedule": None}, "lr_schedule"),
    ({"dynamic_binarization": "yes"}, "dynamic_binarization"), ({"dynamic_binarization": 1}, "dynamic_binarization"),
    ({"cuda_graph": None}, "cuda_graph"), ({"kl_warmup": -1}, "kl_warmup"), ({"beta": -0.5}, "beta"),
    ({"epochs": 2.0}, "epochs"), ({"lr": float("nan")}, "lr"), ({"free_bits": -1.0}, "free_bits"),
])
def test_bad_keyword_values(digits, kw, match):
    with pytest.raises(ValueError, match=match):
        train_vae(VAE(latent_dim=2), digits[0][:8], progress=False, **{"device": "cpu", **kw})


def test_a_saved_notebook_shows_the_progress_bar_finished(tmp_path):
    # In a notebook the bar is a widget whose text form, saved with the notebook, is what
    # GitHub shows: it must read 100 %, not the 0 % of the moment it appeared.
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import torch\nfrom vae_utils.train import train_vae\nfrom vae_utils.vae import VAE\n"
        "x = (torch.rand(64, 1, 28, 28) > 0.5).float()\n"
        "h = train_vae(VAE(latent_dim=2), x, epochs=3, batch_size=32, device='cpu')")]
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    assert len(outputs) == 1
    data = outputs[0]["data"]
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "100%" in data["text/plain"] and "3/3" in data["text/plain"]


def test_outside_a_notebook_the_bar_is_tqdm_text(capsys):
    from vae_utils.train import progress_bar
    assert list(progress_bar(range(3), desc="counting")) == [0, 1, 2]
    assert "counting: 100%" in capsys.readouterr().err


def test_free_bits_keep_units_from_collapsing():
    """A Gaussian decoder whose pixel noise σ = 2.5 exceeds every direction's spread of the
    digits collapses at β = 1 (lesson 6c); with free bits λ each unit keeps about λ nats. The
    history still reports the −ELBO, recon + KL."""
    gray, _ = load_mnist("train", binarize=False, source="embedded")
    kls = {}
    for lam in (0.0, 1.0):
        torch.manual_seed(0)
        m = VAE(latent_dim=4, likelihood="gaussian", obs_sigma=2.5)
        hist = train_vae(m, gray[:2000], epochs=6, lr=5e-3, free_bits=lam, progress=False, device="cpu")
        for a, r, k in zip(hist["train_loss"], hist["train_recon"], hist["train_kl"]):
            assert a == pytest.approx(r + k, rel=1e-5)
        with torch.no_grad():
            mu, logvar = m.encode(gray[:1000])
        kls[lam] = (0.5 * (mu ** 2 + logvar.exp() - logvar - 1)).mean(dim=0)
    assert kls[0.0].sum() < 0.1                              # collapsed
    assert (kls[1.0] > 0.6).all() and (kls[1.0] < 1.2).all()  # every unit near λ = 1 (0.82–0.89)


