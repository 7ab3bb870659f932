"""Lesson-6 checks: correct answers pass, stubs are 'not implemented', plausible mistakes fail."""
import pytest
import torch
import torch.nn.functional as F

from conftest import assert_check_accepts_and_flags_stub

from vae_utils import checks

pytestmark = pytest.mark.usefixtures("check_inputs")


def rep_ok(mu, logvar):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def loss_ok(x, logits, mu, logvar):
    r = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    k = (0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(1)).mean()
    return r + k, r, k


def loss_mean(x, logits, mu, logvar):
    r = F.binary_cross_entropy_with_logits(logits, x, reduction="mean")
    k = (0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(1)).mean()
    return r + k, r, k


def loss_neg_kl(x, logits, mu, logvar):
    r, k = loss_ok(x, logits, mu, logvar)[1:]
    return r - k, r, -k


def loss_kl_mean(x, logits, mu, logvar):
    r = loss_ok(x, logits, mu, logvar)[1]
    k = (0.5 * (mu ** 2 + logvar.exp() - logvar - 1)).mean()
    return r + k, r, k


def units_ok(mu, threshold=0.01):
    return int((mu.var(dim=0) > threshold).sum())



@pytest.mark.parametrize("check,good", [
    (checks.reparameterize, rep_ok), (checks.vae_loss, loss_ok), (checks.active_units, units_ok)])
def test_correct_answers_pass_and_stubs_do_not(check, good, capsys):
    assert_check_accepts_and_flags_stub(check, good, capsys)


@pytest.mark.parametrize("check,wrong,match", [
    (checks.reparameterize, lambda mu, lv: mu + torch.exp(lv) * torch.randn_like(mu), "log σ"),
    (checks.reparameterize, lambda mu, lv: rep_ok(mu, lv).detach(), "differentiably"),
    (checks.reparameterize, lambda mu, lv: torch.exp(0.5 * lv) * torch.randn_like(mu), "not centred"),
    (checks.vae_loss, loss_mean, "averaged over pixels"),
    (checks.vae_loss, loss_neg_kl, "wrong sign"),
    (checks.vae_loss, loss_kl_mean, "averaged over latent dimensions"),
    (checks.active_units, lambda mu, threshold=0.01: int((mu.var(dim=1) > threshold).sum()), "across data points"),
    (checks.active_units, lambda mu, threshold=0.01: int((mu.std(dim=0) > threshold).sum()), "got 6 active units, expected 4"),
    (checks.active_units, lambda mu, threshold=0.01: int((mu.var(dim=0) > 0.01).sum()), "with threshold=0.15"),
])
def test_plausible_wrong_answers_are_rejected(check, wrong, match):
    with pytest.raises(AssertionError, match=match):
        check(wrong)
