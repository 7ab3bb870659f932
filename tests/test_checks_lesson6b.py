"""Lesson-6b checks: correct predictions pass, stubs are 'not implemented', and each usual wrong
derivation fails with its own diagnosis."""
import math

import pytest
import torch

from conftest import assert_check_accepts_and_flags_stub

from vae_utils import checks

pytestmark = pytest.mark.usefixtures("check_inputs")


def ess_ok(s, k):
    s2 = s ** 2
    return torch.where(s2 > 0.5, ((2 * s2 - 1).clamp(min=0).sqrt() / s2) ** k, torch.zeros_like(s))


def ess_numpy_style(s, k):
    # Another correct answer: a Python loop over floats, returning a list.
    return [((2 * v * v - 1) ** 0.5 / (v * v)) ** k if v * v > 0.5 else 0.0 for v in s.tolist()]


def ess_nan_below(s, k):
    s2 = s ** 2
    return ((2 * s2 - 1).sqrt() / s2) ** k                       # NaN where s² < ½


def ess_abs(s, k):
    s2 = s ** 2
    return ((2 * s2 - 1).abs().sqrt() / s2) ** k                 # finite but wrong below ½


def ess_inverted(s, k):
    s2 = s ** 2
    return torch.where(s2 > 0.5, (s2 / (2 * s2 - 1).clamp(min=1e-300).sqrt()) ** k, torch.zeros_like(s))


def ess_cv2(s, k):
    return torch.where(s ** 2 > 0.5, ess_inverted(s, k) - 1, torch.zeros_like(s))


def ess_s_for_s2(s, k):
    return torch.where(s ** 2 > 0.5, ((2 * s - 1).clamp(min=0).sqrt() / s) ** k, torch.zeros_like(s))


def ess_no_root(s, k):
    s2 = s ** 2
    return torch.where(s2 > 0.5, ((2 * s2 - 1) / s2) ** k, torch.zeros_like(s))


def ess_no_power(s, k):
    return ess_ok(s, 1)


def ess_half_power(s, k):
    return ess_ok(s, 1) ** (k / 2)


def ess_flat(s, k):
    return ess_ok(s, k)[0]


def elbo_ok(elbo_q, prior_ll, alpha):
    return (1 - alpha) * (elbo_q - math.log(1 - alpha)) + alpha * (prior_ll - math.log(alpha))


def elbo_average(elbo_q, prior_ll, alpha):
    return (1 - alpha) * elbo_q + alpha * prior_ll


def elbo_swapped(elbo_q, prior_ll, alpha):
    return alpha * (elbo_q - math.log(alpha)) + (1 - alpha) * (prior_ll - math.log(1 - alpha))


def elbo_sign(elbo_q, prior_ll, alpha):
    return (1 - alpha) * (elbo_q + math.log(1 - alpha)) + alpha * (prior_ll + math.log(alpha))


def elbo_only_prior_term(elbo_q, prior_ll, alpha):
    return (1 - alpha) * elbo_q + alpha * (prior_ll - math.log(alpha))


def elbo_only_q_term(elbo_q, prior_ll, alpha):
    return (1 - alpha) * (elbo_q - math.log(1 - alpha)) + alpha * prior_ll


def elbo_logsumexp(elbo_q, prior_ll, alpha):
    return torch.logaddexp(math.log(1 - alpha) + elbo_q, math.log(alpha) + prior_ll)


def elbo_scalar(elbo_q, prior_ll, alpha):
    return elbo_ok(elbo_q, prior_ll, alpha).mean()


@pytest.mark.parametrize("check,good", [
    (checks.predicted_ess_fraction, ess_ok), (checks.predicted_ess_fraction, ess_numpy_style),
    (checks.defensive_elbo, elbo_ok)])
def test_correct_answers_pass_and_stubs_do_not(check, good, capsys):
    assert_check_accepts_and_flags_stub(check, good, capsys)


@pytest.mark.parametrize("check,wrong,match", [
    (checks.predicted_ess_fraction, ess_nan_below, r"(?s)NaN at s = .*return 0 there"),
    (checks.predicted_ess_fraction, ess_abs, r"infinite there, so ESS/N → 0"),
    (checks.predicted_ess_fraction, ess_inverted, r"you returned 1 \+ CV²"),
    (checks.predicted_ess_fraction, ess_cv2, r"you returned CV²"),
    (checks.predicted_ess_fraction, ess_s_for_s2, r"with s where the variance s² belongs"),
    (checks.predicted_ess_fraction, ess_no_root, r"square root is missing"),
    (checks.predicted_ess_fraction, ess_no_power, r"one-dimensional answer; with k = \d independent"),
    (checks.predicted_ess_fraction, ess_half_power, r"the power is k/2"),
    (checks.predicted_ess_fraction, ess_flat, r"has shape \(\), expected \(9,\)"),
    (checks.defensive_elbo, elbo_average, r"you averaged the two ELBOs"),
    (checks.defensive_elbo, elbo_swapped, r"α and 1 − α are swapped"),
    (checks.defensive_elbo, elbo_sign, r"wrong sign"),
    (checks.defensive_elbo, elbo_only_prior_term, r"only the prior's share"),
    (checks.defensive_elbo, elbo_only_q_term, r"only the encoder's share"),
    (checks.defensive_elbo, elbo_logsumexp, r"log of an average of exp"),
    (checks.defensive_elbo, elbo_scalar, r"has shape \(\), expected \(6,\)"),
])
def test_usual_wrong_derivations_are_diagnosed(check, wrong, match):
    with pytest.raises(AssertionError, match=match):
        check(wrong)


def test_a_prediction_off_by_a_little_fails_with_the_formula():
    with pytest.raises(AssertionError, match=r"is off.*\n  Hint: ESS/N → 1/\(1 \+ CV²\)"):
        checks.predicted_ess_fraction(lambda s, k: ess_ok(s, k) * 1.001)
    with pytest.raises(AssertionError, match=r"is off.*\n  Hint: L_1 = \(1 − α\)"):
        checks.defensive_elbo(lambda e, p, a: elbo_ok(e, p, a) + 0.01)


def test_the_infinite_variance_region_is_in_every_draw_of_the_inputs():
    seen = []

    def spy(s, k):
        seen.append((s.clone(), k))
        return ess_ok(s, k)

    for seed in (0, 1, 2027, 5):
        checks.predicted_ess_fraction(spy, seed=seed)
    for s, k in seen:
        assert (s ** 2 < 0.48).sum() == 3 and (s ** 2 > 0.53).sum() == 6
    assert {k for _, k in seen} >= {1} and len({k for _, k in seen}) > 1


def test_the_course_versions_match_the_closed_forms():
    from vae_utils.checks._lesson6b import _defensive_elbo, _predicted_ess_fraction
    s = torch.tensor([0.5, 1 / math.sqrt(2), 1.0, 1.5], dtype=torch.float64)
    torch.testing.assert_close(_predicted_ess_fraction(s, 20),
                               torch.tensor([0.0, 0.0, 1.0, (math.sqrt(3.5) / 2.25) ** 20], dtype=torch.float64))
    # The mixture's L_1 is the components' ELBOs averaged plus the entropy of the choice.
    a = 0.1
    h = -(a * math.log(a) + (1 - a) * math.log(1 - a))
    assert _defensive_elbo(-90.0, -500.0, a) == pytest.approx(0.9 * -90 + 0.1 * -500 + h)
