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


# --- predictions: the measuring cells wait for the learner's own -------------------------------
@pytest.mark.parametrize("name,args", [
    ("predicted_ess_fraction", (torch.tensor([1.0, 1.5], dtype=torch.float64), 20)),
    ("defensive_elbo", (torch.tensor([-90.0]), torch.tensor([-500.0]), 0.1))])
def test_try_yours_gives_no_prediction_while_the_learner_has_made_none(name, args, capsys):
    def unsolved(*a):
        raise NotImplementedError
    unsolved.__name__ = name
    assert checks.try_yours(unsolved, *args) is None
    assert "make your prediction" in capsys.readouterr().out
    solved = {"predicted_ess_fraction": ess_ok, "defensive_elbo": elbo_ok}[name]
    solved_named = lambda *a: solved(*a)  # noqa: E731
    solved_named.__name__ = name
    torch.testing.assert_close(torch.as_tensor(checks.try_yours(solved_named, *args)),
                               torch.as_tensor(solved(*args)))


# --- likelihood_report: a choice from the pilot table ------------------------------------------
def report(proposal, K):
    return lambda: {"proposal": proposal, "K": K}


def test_the_cheapest_choice_within_one_nat_passes_and_a_stub_does_not(capsys):
    assert_check_accepts_and_flags_stub(checks.likelihood_report, report("widened", 1000), capsys)


@pytest.mark.parametrize("answer,match", [
    (report("prior", 1000), r"79\.90 nats below.*\n  Hint: the prior's samples almost never land"),
    (report("prior", 5000), r"drew the prior 1,000 times per digit, no more"),
    (report("encoder", 1000), r"encoder proposal at K = 1,000 the mean bound is 1\.27 nats below"),
    (report("widened", 100), r"1\.27 nats below the largest measured, more than the 1 nat"),
    (report("encoder", 5000), r"within 1 nat \(gap 0\.92\).*fewer samples per digit"),
    (report("widened", 5000), r"within 1 nat \(gap 0\.00\).*fewer samples per digit"),
    (report("defensive", 5000), r"1\.08 nats below"),
    (report("widened", 500), r"K = 500 is not on the pilot's grid"),
    (report("widened", 1000.0), r"K = 1000\.0 is not on the pilot's grid"),
    (report("posterior", 1000), r"unknown proposal 'posterior'"),
    (lambda: ("widened", 1000), r"should return a dict with the keys 'proposal' and 'K'"),
])
def test_likelihood_report_names_what_is_wrong_with_a_choice(answer, match):
    with pytest.raises(AssertionError, match=match):
        checks.likelihood_report(answer)


def test_the_accepted_choice_follows_from_the_table_and_its_tolerance():
    from vae_utils.checks._lesson6b import REPORT_GAPS, REPORT_TOLERANCE, report_choice
    assert report_choice() == ("widened", 1000)
    # The answer is not on a knife's edge: the next-cheaper row misses, the chosen one clears, by
    # more than twice the Monte Carlo s.e. of one run's mean (about 0.1 nats, measured in the lesson).
    assert REPORT_GAPS["widened"][100] - REPORT_TOLERANCE > 0.2
    assert REPORT_TOLERANCE - REPORT_GAPS["widened"][1000] > 0.2
    # A stricter requirement or a table without the widened encoder changes the answer.
    assert report_choice(tolerance=0.1) == ("widened", 5000)
    assert report_choice({k: v for k, v in REPORT_GAPS.items() if k != "widened"}) == ("encoder", 5000)
    with pytest.raises(ValueError, match="within 0.5 nats"):
        report_choice({"prior": REPORT_GAPS["prior"]}, tolerance=0.5)
