"""Checks for lesson 6's exercises: the VAE's sampling step, its loss, and active units."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..estimators import kl_normal_std_normal
from ._common import exercise, fallback_for, gen, manual_seed, as_tensor, call, expect_close, expect_shape, fail, passed

__all__ = ["reparameterize", "vae_loss", "active_units"]


@exercise("vae_utils.vae.VAE.reparameterize")
def reparameterize(fn) -> None:
    """Check ``fn(mu, logvar) -> z``: z = mu + exp(logvar / 2) * eps with eps ~ N(0, I),
    differentiable with respect to mu and logvar."""
    g = gen(61)
    mu = (torch.randn(50_000, 3, generator=g) * 2 + 1.5).requires_grad_(True)
    logvar = torch.tensor([-2.0, 0.0, 1.5]).expand(50_000, 3).clone().requires_grad_(True)
    with torch.random.fork_rng():
        manual_seed(62)
        z = call(fn, mu, logvar, name="reparameterize")
    if not isinstance(z, torch.Tensor):
        fail(f"reparameterize should return a tensor, got {type(z).__name__}.")
    expect_shape(z, (50_000, 3), "z", "z has the shape of mu: one sample per row.")
    if not z.requires_grad:
        fail("z does not depend differentiably on mu and logvar: gradients cannot flow back.",
             "build z from mu and logvar with torch operations; do not call .sample() or detach.")
    eps = (z - mu).detach()
    if (eps.mean(dim=0).abs() > 0.1).any():
        fail("z is not centred on mu.", "z = mu + sigma * eps with eps = torch.randn_like(mu).")
    sd = eps.std(dim=0)
    want = torch.exp(0.5 * logvar[0]).detach()
    if torch.allclose(sd, torch.exp(logvar[0]).detach(), rtol=0.03):
        fail("the noise is scaled by exp(logvar): that treats logvar as log σ.",
             "logvar is log σ², so σ = exp(logvar / 2).")
    if torch.allclose(sd, logvar[0].detach().exp().pow(2), rtol=0.03) or torch.allclose(sd, want ** 2, rtol=0.03):
        fail("the noise is scaled by the variance σ², not the standard deviation σ.", "σ = exp(logvar / 2).")
    expect_close(sd, want, "the standard deviation of z − mu", rtol=0.03, atol=0.0,
                 hint="z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu).")
    z.sum().backward()
    if mu.grad is None or logvar.grad is None or logvar.grad.abs().sum() == 0:
        fail("no gradient reaches logvar.", "σ must be computed from logvar inside the function.")
    passed("reparameterize draws z = μ + σ ε with σ = exp(logvar / 2), and gradients flow to μ and logvar.")


@exercise("vae_utils.vae.negative_elbo", "vae_utils.estimators.kl_normal_std_normal")
def vae_loss(fn) -> None:
    """Check ``fn(x, logits, mu, logvar) -> (loss, recon, kl)``: the negative ELBO of a batch,
    recon summed over pixels and KL summed over latent dimensions, both averaged over the batch."""
    g = gen(63)
    x = (torch.rand(16, 1, 28, 28, generator=g) > 0.7).float()
    logits = torch.randn(16, 1, 28, 28, generator=g) * 2
    mu = torch.randn(16, 5, generator=g)
    logvar = torch.randn(16, 5, generator=g) * 0.5
    out = call(fn, x.clone(), logits.clone(), mu.clone(), logvar.clone(), name="vae_loss")
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        fail(f"vae_loss should return (loss, recon, kl), got {type(out).__name__}.")
    loss, recon, kl = (as_tensor(v, n) for v, n in zip(out, ("loss", "recon", "kl")))
    for t, n in ((loss, "loss"), (recon, "recon"), (kl, "kl")):
        if t.numel() != 1:
            fail(f"{n} should be one number (averaged over the batch), got shape {tuple(t.shape)}.")
    ref_recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 16
    ref_kl = kl_normal_std_normal(mu, logvar).mean().double()
    ref_recon = ref_recon.double()
    if torch.isclose(recon, ref_recon / 784, rtol=1e-4):
        fail("recon is averaged over pixels; the log-likelihood sums them.",
             "sum over the 784 pixels, then average over the batch (reduction='sum' / batch size).")
    if torch.isclose(recon, ref_recon * 16, rtol=1e-4):
        fail("recon is summed over the batch too; report it per image.", "divide by the batch size.")
    expect_close(recon, ref_recon, "recon", rtol=1e-4,
                 hint="−log p(x|z) for Bernoulli pixels: binary_cross_entropy_with_logits(logits, x, reduction='sum') / N.")
    if torch.isclose(kl, -ref_kl, rtol=1e-4):
        fail("the KL has the wrong sign: a KL divergence is never negative.",
             "KL = 0.5 * sum(mu² + exp(logvar) − logvar − 1).")
    if torch.isclose(kl, ref_kl / 5, rtol=1e-4):
        fail("the KL is averaged over latent dimensions; it should be summed over them.",
             "sum over the last dimension, then average over the batch.")
    expect_close(kl, ref_kl, "kl", rtol=1e-4, hint="KL = 0.5 * sum(mu² + exp(logvar) − logvar − 1) per image.")
    expect_close(loss, recon + kl, "loss", rtol=1e-5, hint="the negative ELBO is recon + kl.")
    passed("vae_loss returns −ELBO = recon + KL, in nats per image.")


@exercise("vae_utils.checks._lesson6._active_units")
def active_units(fn) -> None:
    """Check ``fn(mu, threshold=0.01) -> int``: how many latent dimensions have
    Var_x(E_q[z_u]) = variance over the data of the encoder means above ``threshold``
    (Burda et al. 2016, §5.2). Called with the default and with ``threshold=0.15``, so a
    hard-coded 0.01 fails."""
    g = gen(64)
    scales = torch.tensor([1.0, 0.5, 0.2, 0.09, 0.05, 0.001, 0.0, 0.3])
    mu = torch.randn(2000, 8, generator=g) * scales + 3.0  # the offset does not matter
    expected = int((mu.var(dim=0) > 0.01).sum())
    out = call(fn, mu.clone(), name="active_units")
    try:
        got = int(out)
    except (TypeError, ValueError, RuntimeError):
        fail(f"active_units should return one integer, got {type(out).__name__}.",
             "count the dimensions: (variance > threshold).sum().item().")
    if got == int((mu.var(dim=1) > 0.01).sum()):
        fail("you computed the variance across latent dimensions; it should be across data points.",
             "use mu.var(dim=0): one variance per latent dimension.")
    if got == int((mu.abs().mean(dim=0) > 0.01).sum()) and got != expected:
        fail("you counted dimensions with nonzero mean; activity is about variance over the data.",
             "a dimension whose mean code is the same for every x carries no information.")
    if got != expected:
        fail(f"got {got} active units, expected {expected}.", "count dims with mu.var(dim=0) > threshold.")
    other = call(fn, mu.clone(), threshold=0.15, name="active_units")
    expected_other = int((mu.var(dim=0) > 0.15).sum())
    if int(other) != expected_other:
        fail(f"with threshold=0.15 you count {int(other)} active units, expected {expected_other}.",
             "compare the variances with the threshold argument, not with a fixed 0.01.")
    passed(f"active_units counts {expected} of 8 dimensions whose code varies with x "
           f"({expected_other} above threshold 0.15).")


@fallback_for("active_units")
def _active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    """The course's version of exercise ``active_units`` (for ``try_yours``)."""
    return int((mu.var(dim=0) > threshold).sum())
