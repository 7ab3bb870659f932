"""Lesson-6d checks: correct answers pass, stubs are 'not implemented', each diagnosed mistake
is caught with its own message."""
import math

import pytest
import torch
from torch import nn

from conftest import assert_check_accepts_and_flags_stub

from vae_utils import checks
from vae_utils.checks import _lesson6d
from vae_utils.checks._common import CheckFailure
from vae_utils.vae import VAE

pytestmark = pytest.mark.usefixtures("check_inputs")


# --- count_parameters ---------------------------------------------------------------------
def count_ok(layers):
    total = 0
    for kind, a, b, *k in layers:
        total += a * b + b if kind == "linear" else a * b * k[0] ** 2 + b
    return total


def _count(linear, conv):
    def count_parameters(layers):
        return sum(linear(a, b) if kind == "linear" else conv(a, b, *k) for kind, a, b, *k in layers)
    return count_parameters


@pytest.mark.parametrize("wrong,match", [
    (_count(lambda a, b: a * b, lambda a, b, k: a * b * k * k), "biases are missing"),
    (_count(lambda a, b: a * b + a, lambda a, b, k: a * b * k * k + a), r"per \*input\*"),
    (_count(lambda a, b: a * b + b, lambda a, b, k: a * b * k + b), "k²"),
    (_count(lambda a, b: a * b + b, lambda a, b, k: b * k * k + b), "spans all c_in"),
    (_count(lambda a, b: a * b + b, lambda a, b, k: a * b * k * k + a * b), "one per output channel"),
    (_count(lambda a, b: a * b + b + 1, lambda a, b, k: a * b * k * k + b), r"fully connected stack .*expected"),
    (lambda layers: [count_ok(layers)], "one number"),
])
def test_count_parameters_diagnoses(wrong, match):
    with pytest.raises(CheckFailure, match=match):
        checks.count_parameters(wrong)


def test_count_parameters_passes_and_flags_stub(capsys):
    assert_check_accepts_and_flags_stub(checks.count_parameters, count_ok, capsys)
    checks.count_parameters(lambda layers: float(count_ok(layers)))  # a float count is fine


@pytest.mark.parametrize("arch,hidden", [("mlp", 400), ("conv", 100), ("conv", 400)])
def test_count_parameters_reference_matches_the_course_vae(arch, hidden):
    # The layer list lesson 6d writes for each VAE, counted by the course's version.
    if arch == "mlp":
        layers = [("linear", 784, hidden), ("linear", hidden, 20), ("linear", hidden, 20),
                  ("linear", 20, hidden), ("linear", hidden, 784)]
    else:
        layers = [("conv", 1, 32, 4), ("conv", 32, 64, 4), ("linear", 64 * 7 * 7, hidden),
                  ("linear", hidden, 20), ("linear", hidden, 20), ("linear", 20, hidden),
                  ("linear", hidden, 64 * 7 * 7), ("conv", 64, 32, 4), ("conv", 32, 1, 4)]
    measured = sum(p.numel() for p in VAE(20, arch=arch, hidden=hidden).parameters())
    assert _lesson6d._count_parameters(layers) == measured == count_ok(layers)


def test_count_parameters_conv_transpose_counts_like_conv():
    assert count_ok([("conv", 64, 32, 4)]) == sum(p.numel() for p in nn.ConvTranspose2d(64, 32, 4).parameters())


# --- mixture_map --------------------------------------------------------------------------
def _phi(x):
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def _phi_inv(v):
    return math.sqrt(2) * torch.erfinv(2 * v - 1)


def map_ok(eps, means, sd, weights):
    u = _phi(eps)
    c = torch.cumsum(weights, 0)
    k = torch.searchsorted(c, u, right=True).clamp(max=len(weights) - 1)
    v = (u - (c[k] - weights[k])) / weights[k]
    return means[k] + sd * _phi_inv(v)


def map_equal_weights(eps, means, sd, weights):
    K = len(weights)
    u = _phi(eps)
    k = (u * K).floor().long().clamp(max=K - 1)
    return means[k] + sd * _phi_inv(u * K - k)


def map_sampler(eps, means, sd, weights):
    k = torch.multinomial(weights, len(eps), replacement=True)
    return means[k] + sd * torch.randn(len(eps), dtype=means.dtype)


def map_reuses_eps(eps, means, sd, weights):
    u = _phi(eps)
    k = torch.searchsorted(torch.cumsum(weights, 0), u, right=True).clamp(max=len(weights) - 1)
    return means[k] + sd * eps


def _mode_and_v(eps, weights):
    u = _phi(eps)
    c = torch.cumsum(weights, 0)
    k = torch.searchsorted(c, u, right=True).clamp(max=len(weights) - 1)
    return k, (u - (c[k] - weights[k])) / weights[k]


def map_variance(eps, means, sd, weights):
    k, v = _mode_and_v(eps, weights)
    return means[k] + sd ** 2 * _phi_inv(v)


def map_eps_as_u(eps, means, sd, weights):
    c = torch.cumsum(weights, 0)
    k = torch.searchsorted(c, eps, right=True).clamp(max=len(weights) - 1)  # eps is not uniform
    return means[k] + sd * _phi_inv(_mode_and_v(eps, weights)[1])


def map_unclamped_edges(eps, means, sd, weights):
    x = map_ok(eps, means, sd, weights)
    x[0] = float("inf")
    return x


@pytest.mark.parametrize("wrong,match", [
    (map_sampler, "random numbers of its own"),
    (map_equal_weights, "equal shares"),
    (map_reuses_eps, "cut-off piece of N"),
    (map_variance, r"sd² = .*not sd"),
    (map_eps_as_u, "make eps uniform first"),
    (map_unclamped_edges, "NaN or inf"),
    (lambda eps, means, sd, weights: map_ok(eps, means, sd, weights)[:-1], "shape"),
])
def test_mixture_map_diagnoses(wrong, match):
    with pytest.raises(CheckFailure, match=match):
        checks.mixture_map(wrong)


def test_mixture_map_passes_and_flags_stub(capsys):
    assert_check_accepts_and_flags_stub(checks.mixture_map, map_ok, capsys)


def test_mixture_map_accepts_another_valid_map(capsys):
    # Any deterministic map with the right distribution passes: here the modes in reverse order.
    def reversed_modes(eps, means, sd, weights):
        return map_ok(-eps, means.flip(0), sd, weights.flip(0))
    checks.mixture_map(reversed_modes)
    assert capsys.readouterr().out.startswith("✓")


def test_the_fallbacks_agree_with_the_worked_answers_and_are_off_limits():
    g = torch.Generator().manual_seed(5)
    eps = torch.randn(1000, generator=g, dtype=torch.float64)
    means, w = torch.tensor([-10.0, 0.0, 10.0], dtype=torch.float64), torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    assert torch.allclose(_lesson6d._mixture_map(eps, means, 0.5, w), map_ok(eps, means, 0.5, w), atol=1e-9)
    with pytest.raises(CheckFailure, match=r"calls the course's own vae_utils\.checks\._lesson6d\._count_parameters"):
        checks.count_parameters(lambda layers: _lesson6d._count_parameters(layers))
    with pytest.raises(CheckFailure, match=r"calls the course's own vae_utils\.checks\._lesson6d\._mixture_map"):
        checks.mixture_map(lambda eps, means, sd, weights: _lesson6d._mixture_map(eps, means, sd, weights))


def test_try_yours_waits_for_the_prediction_and_stands_in_for_the_map(capsys):
    def count_parameters(layers):
        raise NotImplementedError
    assert checks.try_yours(count_parameters, [("linear", 3, 2)]) is None     # a prediction: no answer shown
    assert "make your prediction" in capsys.readouterr().out
    count_parameters = lambda layers: 8  # noqa: E731
    count_parameters.__name__ = "count_parameters"
    assert checks.try_yours(count_parameters, [("linear", 3, 2)]) == 8

    def mixture_map(eps, means, sd, weights):
        raise NotImplementedError
    eps = torch.zeros(3, dtype=torch.float64)
    means, w = torch.tensor([-10.0, 10.0], dtype=torch.float64), torch.tensor([0.5, 0.5], dtype=torch.float64)
    assert checks.try_yours(mixture_map, eps, means, 1.0, w).shape == (3,)
    assert "uses the course's version" in capsys.readouterr().out


# --- sigma_choice: σ by held-out importance sampling ------------------------------------------
def test_the_held_out_argmax_passes_and_a_stub_does_not(capsys):
    from vae_utils.checks._lesson6d import SIGMA_HELDOUT, sigma_argmax
    assert_check_accepts_and_flags_stub(checks.sigma_choice, lambda: sigma_argmax(SIGMA_HELDOUT), capsys)
    checks.sigma_choice(lambda: torch.tensor(sigma_argmax(SIGMA_HELDOUT)))   # a 0-d tensor is a number too
    assert capsys.readouterr().out.startswith("✓")


def test_sigma_choice_names_what_is_wrong():
    from vae_utils.checks._lesson6d import SIGMA_GRID, SIGMA_HELDOUT, SIGMA_TRAINING, sigma_argmax
    best, train_best = sigma_argmax(SIGMA_HELDOUT), sigma_argmax(SIGMA_TRAINING)
    assert train_best != best            # the lesson's point: the training digits prefer another σ
    with pytest.raises(AssertionError, match=r"highest bound on the training digits.*\n  Hint: choose by the digits"):
        checks.sigma_choice(lambda: train_best)
    other = next(s for s in SIGMA_GRID if s not in (best, train_best))
    with pytest.raises(AssertionError, match=rf"bound at σ = {other:g} is \d+ nats per image below the best"):
        checks.sigma_choice(lambda: other)
    with pytest.raises(AssertionError, match=r"σ = 0.3 is not on the lesson's grid"):
        checks.sigma_choice(lambda: 0.3)
    with pytest.raises(AssertionError, match=r"should return one number"):
        checks.sigma_choice(lambda: [0.1, 0.2])


def test_the_sigma_tables_are_the_lessons_grid_with_a_clear_winner():
    from vae_utils.checks._lesson6d import SIGMA_GRID, SIGMA_HELDOUT, SIGMA_TRAINING
    assert tuple(SIGMA_HELDOUT) == tuple(SIGMA_TRAINING) == SIGMA_GRID
    for table in (SIGMA_HELDOUT, SIGMA_TRAINING):
        top, second = sorted(table.values())[-2:][::-1]
        assert top - second > 5          # nats per image: far beyond the noise of a K = 100 bound
