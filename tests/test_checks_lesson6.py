"""Lesson-6 checks: the learner's VAE module, loss and training loop, and active units — correct
answers pass, stubs are 'not implemented', and every diagnosis is reached by a plausible wrong
answer, on the visible and on the hidden inputs (the ``check_inputs`` fixture)."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import assert_check_accepts_and_flags_stub

from vae_utils import checks
from vae_utils.checks._common import CheckFailure
from vae_utils.checks._lesson6 import _MyVAE, _vae_loss, n_parameters

pytestmark = pytest.mark.usefixtures("check_inputs")


# --- the module --------------------------------------------------------------------------
class GoodVAE(nn.Module):
    def __init__(self, latent_dim=20, hidden=400):
        super().__init__()
        self.enc = nn.Linear(784, hidden)
        self.heads = nn.Linear(hidden, 2 * latent_dim)  # μ and log σ² from one layer, split
        self.dec = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, 784))

    def encode(self, x):
        mu, logvar = self.heads(torch.relu(self.enc(x.flatten(1)))).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z):
        return self.dec(z).view(-1, 1, 28, 28)


class FlatOutput(GoodVAE):
    def decode(self, z):
        return self.dec(z)


class SigmoidOutput(GoodVAE):
    def decode(self, z):
        return torch.sigmoid(super().decode(z))


class PositiveLogvar(GoodVAE):
    def encode(self, x):
        mu, logvar = super().encode(x)
        return mu, logvar.exp()


class OneHead(GoodVAE):
    def encode(self, x):
        mu, _ = super().encode(x)
        return mu, mu


class NoReLUInDecoder(GoodVAE):
    def decode(self, z):
        return self.dec[2](self.dec[0](z)).view(-1, 1, 28, 28)


class Fixed20(GoodVAE):
    def __init__(self, latent_dim=20, hidden=400):
        super().__init__()


class ExtraLayer(GoodVAE):
    def __init__(self, latent_dim=20, hidden=400):
        super().__init__(latent_dim, hidden)
        self.more = nn.Linear(hidden, hidden)

    def encode(self, x):
        h = torch.relu(self.more(torch.relu(self.enc(x.flatten(1)))))
        return self.heads(h).chunk(2, dim=1)


class Concatenated(GoodVAE):
    def encode(self, x):
        return torch.cat(super().encode(x), dim=1)


class NotAModule:
    def __init__(self, latent_dim=20, hidden=400):
        self.inner = GoodVAE(latent_dim, hidden)

    def encode(self, x):
        return self.inner.encode(x)

    def decode(self, z):
        return self.inner.decode(z)


class UnusedBias(GoodVAE):
    def encode(self, x):
        h = torch.relu(F.linear(x.flatten(1), self.enc.weight))
        return self.heads(h).chunk(2, dim=1)


class MixesTheBatch(GoodVAE):
    def encode(self, x):
        flat = x.reshape(784, -1).T
        return self.heads(torch.relu(self.enc(flat))).chunk(2, dim=1)


def test_the_parameter_count_is_the_lesson_s():
    assert n_parameters(20, 400) == 652_824 == sum(p.numel() for p in _MyVAE().parameters())
    from vae_utils.vae import VAE
    assert n_parameters(20, 400) == sum(p.numel() for p in VAE(latent_dim=20).parameters())


@pytest.mark.parametrize("wrong,match", [
    (FlatOutput, r"decode returns shape \(\d+, 784\), expected \(\d+, 1, 28, 28\)"),
    (SigmoidOutput, "probabilities"),
    (PositiveLogvar, "every logvar is ≥ 0"),
    (OneHead, "same numbers"),
    (NoReLUInDecoder, "decode is linear"),
    (Fixed20, "parameters; the lesson's architecture"),
    (ExtraLayer, "parameters; the lesson's architecture"),
    (Concatenated, "not the pair"),
    (NotAModule, "not a torch.nn.Module"),
    (UnusedBias, r"no gradient reaches the parameter enc\.bias"),
    (MixesTheBatch, "on its own"),
])
def test_wrong_modules_are_diagnosed(wrong, match):
    with pytest.raises(AssertionError, match=match):
        checks.MyVAE(wrong)


# --- the loss ----------------------------------------------------------------------------
def _parts(model, x, scale=lambda lv: torch.exp(0.5 * lv)):
    mu, logvar = model.encode(x)
    z = mu + scale(logvar) * torch.randn_like(mu)
    return mu, logvar, z


def _kl(mu, logvar):
    return (0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(1)).mean()


def loss_ok(model, x):
    mu, logvar, z = _parts(model, x)
    r = F.binary_cross_entropy_with_logits(model.decode(z), x, reduction="sum") / len(x)
    k = _kl(mu, logvar)
    return r + k, r, k


def loss_rsample(model, x):  # another right way to draw z
    mu, logvar = model.encode(x)
    z = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).rsample()
    r = -torch.distributions.Bernoulli(logits=model.decode(z)).log_prob(x).sum((1, 2, 3)).mean()
    k = _kl(mu, logvar)
    return r + k, r, k


def _with(recon=None, kl=None, z=None, total=None, pack=None):
    def fn(model, x):
        mu, logvar, zz = z(model, x) if z else _parts(model, x)
        logits = model.decode(zz)
        r = recon(logits, x) if recon else F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        k = kl(mu, logvar) if kl else _kl(mu, logvar)
        out = (total(r, k) if total else r + k, r, k)
        return pack(out) if pack else out
    return fn


def _per_image(out):
    return tuple(v * torch.ones(7) for v in out)


@pytest.mark.parametrize("wrong,match", [
    (_with(recon=lambda lg, x: F.binary_cross_entropy_with_logits(lg, x, reduction="mean")),
     "averaged over the pixels"),
    (_with(recon=lambda lg, x: F.binary_cross_entropy_with_logits(lg, x, reduction="sum")), "summed over the batch"),
    (_with(recon=lambda lg, x: -F.binary_cross_entropy_with_logits(lg, x, reduction="sum") / len(x)), "wrong sign"),
    (_with(recon=lambda lg, x: F.binary_cross_entropy_with_logits(torch.sigmoid(lg), x, reduction="sum") / len(x)),
     "sigmoid twice"),
    (_with(recon=lambda lg, x: F.binary_cross_entropy_with_logits(lg, 1 - x, reduction="sum") / len(x)), "recon is off"),
    (_with(kl=lambda mu, lv: -_kl(mu, lv), total=lambda r, k: r + k), "KL has the wrong sign"),
    (_with(kl=lambda mu, lv: (0.5 * (mu ** 2 + lv.exp() - lv - 1)).mean()), "averaged over the latent dimensions"),
    (_with(kl=lambda mu, lv: (0.5 * (mu ** 2 + torch.exp(2 * lv) - 2 * lv - 1).sum(1)).mean()), "reads logvar as log σ"),
    (_with(kl=lambda mu, lv: (0.5 * (mu ** 2 + lv.exp() - lv).sum(1)).mean()), "kl is off"),
    (_with(total=lambda r, k: r - k), r"loss = recon − kl"),
    (_with(total=lambda r, k: r), "loss is off"),
    (_with(z=lambda m, x: _parts(m, x, scale=torch.exp)), "reads logvar as log σ"),
    (_with(z=lambda m, x: _parts(m, x, scale=lambda lv: torch.exp(lv / 4))), "times the standard deviation"),
    (_with(z=lambda m, x: (lambda mu, lv: (mu, lv, mu))(*m.encode(x))), "no noise was drawn"),
    (_with(z=lambda m, x: (lambda mu, lv, z: (mu, lv, z - mu))(*_parts(m, x))), "not centred"),
    (_with(z=lambda m, x: (lambda mu, lv, z: (mu, lv, z.detach()))(*_parts(m, x))), "cut off"),
    (_with(z=lambda m, x: (lambda mu, lv: (mu, lv, torch.distributions.Normal(mu, torch.exp(0.5 * lv)).sample()))(
        *m.encode(x))), "cut off"),
    (_with(pack=_per_image), "should be one number"),
    (_with(pack=lambda out: tuple(v.item() for v in out)), "return tensors"),
    (_with(pack=lambda out: out[0]), r"should return \(loss, recon, kl\)"),
    (lambda model, x: _vae_loss(model, x), "calls the course's own"),
    (lambda model, x: model(x), "has no forward"),
])
def test_wrong_losses_are_diagnosed(wrong, match):
    with pytest.raises(AssertionError, match=match):
        checks.vae_loss(wrong)


def test_the_loss_check_s_reference_is_the_course_s_negative_elbo():
    # The check's expected value is computed from the model's own Bernoulli likelihood and the
    # closed-form KL; on a vae_utils.VAE under the same noise it equals negative_elbo.
    from vae_utils.vae import VAE, negative_elbo
    model = VAE(latent_dim=6, hidden=50)
    x = (torch.rand(32, 1, 28, 28) < 0.3).float()
    torch.manual_seed(5)
    ours = loss_ok(model, x)
    torch.manual_seed(5)
    theirs = negative_elbo(model, x)
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)
    mu, logvar = model.encode(x)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1).mean()
    torch.testing.assert_close(_kl(mu, logvar), ref, rtol=1e-5, atol=1e-6)


# --- the loop ----------------------------------------------------------------------------
def make_train(binarize="dynamic", step=True, zero=True, backward=True, opt="adam", lr_fixed=None,
               batches=True, epochs_fixed=None, sign=1.0, returns="mean"):
    def train(model, data, loss_fn, epochs, batch_size=128, lr=2e-3):
        rate = lr_fixed or lr
        o = (torch.optim.Adam(model.parameters(), lr=rate) if opt == "adam"
             else torch.optim.SGD(model.parameters(), lr=rate))
        fixed = torch.bernoulli(data) if binarize == "once" else None
        history = []
        for _ in range(epochs_fixed or epochs):
            perm = torch.randperm(len(data))
            if binarize == "dynamic":
                x = torch.bernoulli(data[perm])
            elif binarize == "once":
                x = fixed[perm]
            elif binarize == "threshold":
                x = (data[perm] > 0.5).float()
            elif binarize == "inverted":  # the comparison the wrong way round
                x = (torch.rand_like(data) > data[perm]).float()
            else:
                x = data[perm]
            size = batch_size if batches else len(data)
            total, last = 0.0, 0.0
            for i in range(0, len(data), size):
                xb = x[i:i + size]
                loss = loss_fn(model, xb)[0]
                if zero:
                    o.zero_grad()
                if backward:
                    (sign * loss).backward()
                if step:
                    o.step()
                total += loss.item() * len(xb)
                last = loss.item()
            history.append(total / len(data) if returns == "mean" else last)
        return history if returns != "nothing" else None
    return train


def test_the_course_version_of_the_loop_passes(capsys):
    from vae_utils.checks._lesson6 import _train
    ok = make_train()
    assert_check_accepts_and_flags_stub(checks.train, ok, capsys)
    # the course's version would pass too, but calling it from an answer is caught
    with pytest.raises(AssertionError, match="calls the course's own"):
        checks.train(lambda *a, **k: _train(*a, **k))


@pytest.mark.parametrize("wrong,match", [
    (make_train(step=False), "optimizer never stepped"),
    (make_train(zero=False), "gradients add up across steps"),
    (make_train(backward=False), r"loss\.backward\(\) is never called"),
    (make_train(binarize="none"), "grayscale values"),
    (make_train(binarize="once"), "fixed, not dynamic"),
    (make_train(binarize="threshold"), "fixed, not dynamic"),
    (make_train(binarize="inverted"), "not drawn x ~ Bernoulli"),
    (make_train(batches=False), r"batches of \d+ images; batch_size was"),
    (make_train(epochs_fixed=1), "one epoch's worth"),
    (make_train(epochs_fixed=2), r"2 epochs|steps on"),
    (make_train(opt="sgd"), "Adam's first step"),
    (make_train(lr_fixed=5e-4), "Adam's first step"),
    (make_train(sign=-1.0), "the loss rose"),
    (make_train(returns="last"), "mean training loss of the epochs"),
    (make_train(returns="nothing"), "should return the list"),
])
def test_wrong_loops_are_diagnosed(wrong, match):
    with pytest.raises(AssertionError, match=match):
        checks.train(wrong)


# --- the worked answers of all four exercises ----------------------------------------------
def units_ok(mu, threshold=0.01):
    return int((mu.var(dim=0) > threshold).sum())


@pytest.mark.parametrize("check,good", [
    (checks.MyVAE, GoodVAE),
    (checks.vae_loss, loss_ok), (checks.vae_loss, loss_rsample), (checks.active_units, units_ok)])
def test_correct_answers_pass_and_stubs_do_not(check, good, capsys):
    assert_check_accepts_and_flags_stub(check, good, capsys)


@pytest.mark.parametrize("check,wrong,match", [
    (checks.active_units, lambda mu, threshold=0.01: int((mu.var(dim=1) > threshold).sum()), "across data points"),
    (checks.active_units, lambda mu, threshold=0.01: int((mu.std(dim=0) > threshold).sum()), "got 6 active units, expected 4"),
    (checks.active_units, lambda mu, threshold=0.01: int((mu.var(dim=0) > 0.01).sum()), "with threshold=0.15"),
])
def test_plausible_wrong_answers_are_rejected(check, wrong, match):
    with pytest.raises(AssertionError, match=match):
        check(wrong)


# --- predicted_test_loss: predict, then measure (judge) -------------------------------------
def test_a_prediction_below_the_training_loss_by_a_few_nats_passes(capsys):
    assert_check_accepts_and_flags_stub(checks.predicted_test_loss, lambda t: t - 6.0, capsys)
    for drop in (1.5, 10.0, 19.0):
        checks.predicted_test_loss(lambda t, d=drop: t - d)
        assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize("wrong,match", [
    (lambda t: t + 3.0, "above it"),               # the usual generalization gap, the wrong side here
    (lambda t: t, "equal to it"),
    (lambda t: t - 0.2, "too little"),
    (lambda t: t - 40.0, "too far"),
    (lambda t: 100.0, "too far"),                  # a constant fits the visible input only
    (lambda t: "lower", "one number"),
    (lambda t: float("nan"), "finite"),
])
def test_wrong_predictions_are_rejected_without_the_measurement(wrong, match):
    with pytest.raises(CheckFailure, match=match) as info:
        checks.predicted_test_loss(wrong)
    assert "100.9" not in str(info.value)          # the measured test −ELBO is never in a message


def test_the_band_holds_the_lesson_s_measurement():
    """The course's run (short recipe, seed 0, lesson 6) measured 108.4 nats training, 100.9 test."""
    from vae_utils.checks._lesson6 import TEST_BELOW_TRAIN
    lo, hi = TEST_BELOW_TRAIN
    assert lo <= 108.4 - 100.9 <= hi


# --- noise_sources (lesson 6a): which source of noise drew which strip (judge) ----------------
RIGHT_SOURCES = {"A": "likelihood", "B": "prior", "C": "approximate posterior"}


def test_the_right_matching_passes_and_a_stub_does_not(capsys):
    assert_check_accepts_and_flags_stub(checks.noise_sources, lambda: dict(RIGHT_SOURCES), capsys)
    checks.noise_sources(lambda: {"A": " Likelihood ", "B": "PRIOR", "C": "approximate posterior"})
    assert capsys.readouterr().out.startswith("✓")


@pytest.mark.parametrize("wrong,match", [
    (lambda: {"A": "prior", "B": "likelihood", "C": "approximate posterior"}, "1 of 3 strips matched"),
    (lambda: {"A": "approximate posterior", "B": "likelihood", "C": "prior"}, "0 of 3 strips matched"),
    (lambda: {"A": "likelihood", "B": "prior", "C": "prior"}, "same source"),
    (lambda: {"A": "likelihood", "B": "prior", "C": "posterior"}, "expected one of"),
    (lambda: {"A": "likelihood", "B": "prior"}, "keys"),
    (lambda: ["likelihood", "prior", "approximate posterior"], "dict"),
])
def test_wrong_matchings_are_rejected_without_the_answer(wrong, match):
    with pytest.raises(CheckFailure, match=match) as info:
        checks.noise_sources(wrong)
    text = str(info.value)
    assert not any(f'{k}' in text and f'"{v}"' in text for k, v in RIGHT_SOURCES.items() if f"strip {k}" in text)


def test_the_key_is_what_the_strips_show():
    """noise_strips against what each source must look like: the likelihood's strip binary, the
    two others decoder means in (0, 1); the posterior's codes, of one digit, vary less than the
    prior's; and the caller's random state is left as it was."""
    from vae_utils.checks._lesson6 import _noise_sources
    from vae_utils.data import load_mnist
    from vae_utils.latent import noise_strips
    from vae_utils.pretrained import load_pretrained
    model = load_pretrained("mlp20")
    x, y = load_mnist("test")
    state = torch.random.get_rng_state()
    strips = noise_strips(model, x[(y == 2).nonzero()[0].item()])
    assert torch.equal(torch.random.get_rng_state(), state)
    by_source = {source: strips[strip] for strip, source in _noise_sources().items()}
    assert set(by_source) == {"prior", "approximate posterior", "likelihood"}
    assert ((by_source["likelihood"] == 0) | (by_source["likelihood"] == 1)).all()
    for source in ("prior", "approximate posterior"):
        assert ((by_source[source] > 0) & (by_source[source] < 1)).all()
    spread = {s: v.std(dim=0).mean().item() for s, v in by_source.items()}
    assert spread["approximate posterior"] < spread["prior"] / 2
    with pytest.raises(ValueError, match="n"):
        noise_strips(model, x[0], n=0)
