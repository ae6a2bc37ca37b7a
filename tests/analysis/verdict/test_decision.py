"""analysis.verdict.decision.decide / decide_all: statsmodels' and SciPy's numbers, the classes, the edge cases."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

from analysis.verdict import decision, power
from analysis.verdict.decision import DecisionLevels, Outcome
from analysis.verdict.words import sentence

MARGIN = 0.01


def _fixtures() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Accuracies on a 256-image validation set (multiples of 1/256), n = 2..10, with ties."""
    rng = np.random.default_rng(11)
    cases = []
    for n in range(2, 11):
        a = rng.integers(180, 220, size=n) / 256
        cases.append((f"random n={n}", a, rng.integers(180, 220, size=n) / 256))
        shift = rng.choice([-2, -1, 0, 0, 1, 3], size=n) / 256
        if np.ptp(shift) == 0:
            shift[0] += 1 / 256
        cases.append((f"ties n={n}", a, a - shift))
        cases.append((f"close n={n}", a, a - rng.normal(0.002, 0.004, size=n)))
    return cases


FIXTURES = _fixtures()


@pytest.mark.parametrize("name, a, b", FIXTURES, ids=[case[0] for case in FIXTURES])
def test_p_values_and_interval_are_statsmodels_and_scipys(name: str, a: np.ndarray, b: np.ndarray) -> None:
    result = decision.decide(a, b, MARGIN)
    equivalence, (_, p_low, _), (_, p_high, _) = ttost_paired(a, b, -MARGIN, MARGIN)
    two_sided = scipy_stats.ttest_rel(a, b)
    interval = two_sided.confidence_interval(0.95)
    d = a - b
    assert result.n == len(a) and not result.zero_spread
    assert result.p_value == pytest.approx(two_sided.pvalue, rel=1e-12)
    assert (result.ci_low, result.ci_high) == pytest.approx((interval.low, interval.high), rel=1e-12)
    assert result.p_equivalence == pytest.approx(equivalence, rel=1e-12)
    assert result.p_not_worse_a == pytest.approx(p_low, rel=1e-12)
    assert result.p_not_worse_b == pytest.approx(p_high, rel=1e-12)
    # the non-inferiority halves, by SciPy's one-sample test as well
    assert result.p_not_worse_a == pytest.approx(scipy_stats.ttest_1samp(d, -MARGIN, alternative="greater").pvalue)
    assert result.p_not_worse_b == pytest.approx(scipy_stats.ttest_1samp(d, MARGIN, alternative="less").pvalue)
    # one comparison: nothing to adjust
    assert (result.p_value_adjusted, result.p_equivalence_adjusted) == (result.p_value, result.p_equivalence)
    lower_is_better = decision.decide(a, b, MARGIN, higher_is_better=False)
    assert lower_is_better.p_not_worse_a == result.p_not_worse_b
    assert lower_is_better.p_not_worse_b == result.p_not_worse_a


@pytest.mark.parametrize("name, a, b", FIXTURES, ids=[case[0] for case in FIXTURES])
def test_the_outcome_follows_the_documented_precedence(name: str, a: np.ndarray, b: np.ndarray) -> None:
    result = decision.decide(a, b, MARGIN)
    equivalent = result.p_equivalence < 0.05
    significant = result.p_value < 0.05
    a_not_worse, b_not_worse = result.p_not_worse_a < 0.05, result.p_not_worse_b < 0.05
    if equivalent:
        expected = Outcome.EQUIVALENT
    elif significant:
        expected = Outcome.A_BETTER if result.mean_difference > 0 else Outcome.B_BETTER
    elif a_not_worse:
        expected = Outcome.A_NOT_WORSE
    elif b_not_worse:
        expected = Outcome.B_NOT_WORSE
    else:
        expected = Outcome.INCONCLUSIVE
    assert result.outcome is expected and result.difference_significant == significant


def test_each_class_on_data_made_for_it() -> None:
    base = np.array([0.90, 0.91, 0.89, 0.92, 0.90, 0.91])
    cases = {
        # inside the margin and significant: equivalent, and the record says the difference is real
        Outcome.EQUIVALENT: base - np.array([0.005, 0.006, 0.004, 0.005, 0.006, 0.004]) * -1,
        Outcome.A_BETTER: base - np.array([0.03, 0.025, 0.035, 0.03, 0.028, 0.032]),
        Outcome.B_BETTER: base + np.array([0.03, 0.025, 0.035, 0.03, 0.028, 0.032]),
        # mean +0.01 with sd 0.016: no winner (p = 0.19), not within the margin, but not worse than -0.01
        Outcome.A_NOT_WORSE: base - np.array([0.03, -0.005, 0.02, 0.0, 0.025, -0.01]),
        Outcome.B_NOT_WORSE: base + np.array([0.03, -0.005, 0.02, 0.0, 0.025, -0.01]),
        Outcome.INCONCLUSIVE: base - np.array([0.03, -0.03, 0.02, -0.02, 0.01, 0.0]),
    }
    for expected, b in cases.items():
        result = decision.decide(base, b, MARGIN)
        assert result.outcome is expected, (expected, result)
    equivalent = decision.decide(base, cases[Outcome.EQUIVALENT], MARGIN)
    assert equivalent.difference_significant and equivalent.p_value < 0.05
    # lower is better (a loss): A's larger values make B the better one
    assert decision.decide(base, cases[Outcome.A_BETTER], MARGIN, higher_is_better=False).outcome is Outcome.B_BETTER
    lower_is_better = decision.decide(base, cases[Outcome.A_NOT_WORSE], MARGIN, higher_is_better=False)
    assert lower_is_better.outcome is Outcome.B_NOT_WORSE


def test_both_not_worse_without_equivalence_names_the_stronger_side() -> None:
    # Possible only when the TOST family's adjustment is harsher than the halves'.
    levels = DecisionLevels.fixed(0.05)
    assert decision._classify(1.0, 0.001, 0.5, 0.06, 0.01, 0.04, levels) is Outcome.A_NOT_WORSE
    assert decision._classify(1.0, 0.001, 0.5, 0.06, 0.04, 0.01, levels) is Outcome.B_NOT_WORSE
    assert decision._classify(1.0, 0.001, 0.5, 0.04, 0.01, 0.04, levels) is Outcome.EQUIVALENT
    assert decision._classify(1.0, -0.02, 0.01, 0.5, 0.01, 0.9, levels) is Outcome.B_BETTER


def test_decide_all_adjusts_each_family_with_benjamini_hochberg() -> None:
    rng = np.random.default_rng(5)
    pairs = []
    for shift in (0.0, 0.004, 0.012, 0.03, -0.02, 0.0):
        b = 0.9 + rng.normal(0, 0.01, size=8)
        pairs.append((b + shift + rng.normal(0, 0.008, size=8), b))
    verdicts = decision.decide_all(pairs, MARGIN)
    singles = [decision.decide(a, b, MARGIN) for a, b in pairs]
    for field in ("p_value", "p_equivalence", "p_not_worse_a", "p_not_worse_b"):
        raw = [getattr(single, field) for single in singles]
        assert [getattr(v, field) for v in verdicts] == pytest.approx(raw, rel=1e-12)
        expected = scipy_stats.false_discovery_control(raw, method="bh")
        assert [getattr(v, field + "_adjusted") for v in verdicts] == pytest.approx(expected, rel=1e-12)
    assert all(v.comparisons == len(pairs) for v in verdicts)
    for verdict in verdicts:  # every decision is on its adjusted p-value
        assert (verdict.outcome is Outcome.EQUIVALENT) == (verdict.p_equivalence_adjusted < 0.05)


def test_a_raw_winner_that_does_not_survive_the_adjustment_is_not_called() -> None:
    base = np.array([0.70, 0.71, 0.72, 0.73, 0.74])
    winner = base + np.array([0.030, 0.006, 0.036, 0.003, 0.033])  # raw p just under 0.05
    offsets = ([0.06, -0.09, 0.03, -0.06, 0.045], [0.03, -0.06, 0.0, 0.05, -0.02])
    noise = [base + np.array(offset) for offset in offsets]
    alone = decision.decide(winner, base, 0.001)
    assert alone.p_value < 0.05 and alone.outcome is Outcome.A_BETTER
    together = decision.decide_all([(winner, base), (noise[0], base), (noise[1], base)], 0.001)
    assert together[0].p_value_adjusted >= 0.05 and together[0].outcome is not Outcome.A_BETTER
    assert "Benjamini-Hochberg over 3 comparisons" in sentence(together[0], "b", "a")


def test_many_comparisons() -> None:
    rng = np.random.default_rng(9)
    pairs = [(0.9 + rng.normal(0, 0.01, 6), 0.9 + rng.normal(0, 0.01, 6)) for _ in range(60)]
    verdicts = decision.decide_all(pairs, MARGIN, details=False)
    assert len(verdicts) == 60 and all(v.comparisons == 60 for v in verdicts)
    assert sum(v.outcome in (Outcome.A_BETTER, Outcome.B_BETTER) for v in verdicts) <= 3


def test_zero_spread_uses_exact_sign_tests() -> None:
    ones = np.full(5, 0.5)
    inside = decision.decide(ones + 0.004, ones, MARGIN)  # five equal differences inside the margin
    assert inside.zero_spread and inside.outcome is Outcome.EQUIVALENT
    assert inside.p_equivalence == pytest.approx(scipy_stats.binomtest(5, 5, 0.5, alternative="greater").pvalue)
    assert inside.p_value == pytest.approx(scipy_stats.binomtest(5, 5, 0.5).pvalue) == 0.0625
    assert inside.probability_a_beats_b == 1.0
    assert inside.probability_low == pytest.approx(scipy_stats.binomtest(5, 5).proportion_ci(0.95, "exact").low)
    beyond = decision.decide(np.full(6, 0.52), np.full(6, 0.5), MARGIN)  # six equal differences of 2 points
    assert beyond.outcome is Outcome.A_BETTER and beyond.p_value == pytest.approx(2 * 0.5**6)
    assert beyond.p_equivalence == 1.0
    two_ties = decision.decide([0.8, 0.9], [0.8, 0.9], MARGIN)  # two tied seeds prove nothing
    assert two_ties.outcome is Outcome.INCONCLUSIVE and two_ties.p_equivalence == 0.25 and two_ties.p_value == 1.0
    assert two_ties.seeds_needed_for == "equivalence" and two_ties.seeds_needed_total == 5
    assert two_ties.probability_a_beats_b == 0.5 and two_ties.probability_low < 0.5 < two_ties.probability_high
    all_ties = decision.decide(np.linspace(0.7, 0.8, 5), np.linspace(0.7, 0.8, 5), MARGIN)
    assert all_ties.outcome is Outcome.EQUIVALENT and all_ties.mean_difference == 0.0
    assert "exact sign tests" in sentence(all_ties, "a", "b")
    shifted = decision.decide(np.array([0.81, 0.83, 0.82]), np.array([0.80, 0.82, 0.81]), MARGIN)  # 0.01 up to rounding
    assert shifted.zero_spread and shifted.std_difference == 0.0
    computed_twice = decision.decide(np.full(6, 0.1) + 0.2, np.full(6, 0.3), MARGIN)  # differences of 5.6e-17
    assert computed_twice.zero_spread and computed_twice.p_value == 1.0 and computed_twice.outcome is Outcome.EQUIVALENT


def test_small_and_non_finite_samples() -> None:
    two = decision.decide([0.80, 0.83], [0.78, 0.80], MARGIN)
    assert two.n == 2 and two.p_value == pytest.approx(scipy_stats.ttest_rel([0.80, 0.83], [0.78, 0.80]).pvalue)
    for a, b in (([0.8], [0.7]), ([], []), ([0.8, math.nan], [0.7, 0.6])):
        result = decision.decide(a, b, MARGIN)
        assert result.n < 2 and result.outcome is Outcome.INCONCLUSIVE
        assert math.isnan(result.p_value) and math.isnan(result.p_equivalence) and result.seeds_needed_total is None
        assert "at least 2 needed" in sentence(result, "a", "b")
    a = [0.8, math.nan, 0.9, 0.7, math.inf, 0.75]
    b = [0.7, 0.6, 0.85, 0.71, 0.7, -math.inf]
    kept = decision.decide([0.8, 0.9, 0.7], [0.7, 0.85, 0.71], MARGIN)
    assert decision.decide(a, b, MARGIN) == kept
    with pytest.raises(ValueError, match="equal lengths"):
        decision.decide([0.1, 0.2], [0.1], MARGIN)


@pytest.mark.parametrize("margin", [0.0, -0.01, math.nan, math.inf])
def test_a_margin_that_is_not_positive_is_refused_by_value(margin: float) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(margin))):
        decision.decide([0.8, 0.9], [0.7, 0.8], margin)
    with pytest.raises(ValueError, match="margin"):
        decision.decide_all([([0.8, 0.9], [0.7, 0.8])], margin)


def test_probability_of_beating_is_phi_of_the_standardized_mean_with_the_noncentral_t_interval() -> None:
    a = np.array([0.82, 0.84, 0.80, 0.85, 0.83, 0.81])
    b = np.array([0.81, 0.82, 0.81, 0.82, 0.80, 0.81])
    result = decision.decide(a, b, MARGIN)
    d = a - b
    n, t_value = d.size, scipy_stats.ttest_1samp(d, 0.0).statistic
    assert result.probability_a_beats_b == pytest.approx(scipy_stats.norm.cdf(d.mean() / d.std(ddof=1)))
    nc_low = math.sqrt(n) * scipy_stats.norm.ppf(result.probability_low)
    nc_high = math.sqrt(n) * scipy_stats.norm.ppf(result.probability_high)
    # the bounds solve the noncentral-t tail equations (scipy.stats.nct)
    assert scipy_stats.nct.sf(t_value, n - 1, nc_low) == pytest.approx(0.025, rel=1e-6)
    assert scipy_stats.nct.cdf(t_value, n - 1, nc_high) == pytest.approx(0.025, rel=1e-6)
    flipped = decision.decide(a, b, MARGIN, higher_is_better=False)
    assert flipped.probability_a_beats_b == pytest.approx(1 - result.probability_a_beats_b)
    assert flipped.probability_low == pytest.approx(1 - result.probability_high)


def test_statsmodels_noncentrality_interval_agrees() -> None:
    effect_size = pytest.importorskip("statsmodels.stats.effect_size")
    if not hasattr(effect_size, "_noncentrality_t"):
        pytest.skip("this statsmodels has no _noncentrality_t")
    a, b = np.array([0.82, 0.84, 0.80, 0.85]), np.array([0.81, 0.82, 0.81, 0.80])
    result = decision.decide(a, b, MARGIN)
    t_value = scipy_stats.ttest_rel(a, b).statistic
    low, high = effect_size._noncentrality_t(t_value, 3, alpha=0.05).confint
    expected = scipy_stats.norm.cdf(np.array([low, high]) / 2.0)
    assert (result.probability_low, result.probability_high) == pytest.approx(tuple(expected), rel=1e-9)


def test_probability_interval_covers_at_its_level() -> None:
    rng = np.random.default_rng(2)
    effect, n, runs = 0.5, 6, 400
    truth = scipy_stats.norm.cdf(effect)
    covered = 0
    for _ in range(runs):
        d = rng.normal(effect * 0.01, 0.01, size=n)
        result = decision.decide(d, np.zeros(n), 1.0)
        covered += result.probability_low <= truth <= result.probability_high
    interval = scipy_stats.binomtest(covered, runs).proportion_ci(0.99)
    assert interval.low <= 0.95 <= interval.high


def test_huge_t_statistics_give_certain_probabilities_quickly() -> None:
    d = np.array([1.0, 1.0 + 1e-5, 1.0 - 1e-5])  # a spread above float32 rounding, a t of 1.7e5
    result = decision.decide(d + 0.5, np.full(3, 0.5), MARGIN)
    assert not result.zero_spread and result.probability_low == pytest.approx(1.0)


def _smallest(power, start: int = 2) -> int:
    n = start
    while power(n) < 0.8:
        n += 1
    return n


def test_seeds_for_an_open_comparison_are_planned_at_the_margin_not_at_the_observed_difference() -> None:
    rng = np.random.default_rng(4)
    b = 0.9 + rng.normal(0, 0.01, 4)
    a = b + np.array([0.03, -0.01, 0.035, 0.0])  # mean 0.014, noisy: inconclusive
    result = decision.decide(a, b, MARGIN)
    assert result.outcome is Outcome.INCONCLUSIVE
    sd = result.std_difference
    superiority = math.ceil(TTestPower().solve_power(effect_size=MARGIN / sd, alpha=0.05, power=0.8,
                                                     alternative="two-sided"))
    equivalence = _smallest(lambda n: power.equivalence_power(0.0, sd, MARGIN, n, 0.05))
    assert result.seeds_needed_total == max(superiority, equivalence)
    assert result.seeds_needed_for == ("superiority" if superiority >= equivalence else "equivalence")
    # the same spread around another observed difference gives the same advice: it is not post-hoc power
    shifted = decision.decide(a - result.mean_difference + 0.002, b, MARGIN)
    assert shifted.outcome is Outcome.INCONCLUSIVE and shifted.seeds_needed_total == result.seeds_needed_total
    expected = f"a new confirmation of about {result.seeds_needed_total} seeds would decide it"
    assert expected in sentence(result, "a", "b")
    # decided comparisons need no advice
    assert decision.decide(b + 0.05 + rng.normal(0, 0.001, 4), b, MARGIN).seeds_needed_total is None
    four_equal = decision.decide(b + 0.05, b, MARGIN)  # four equal differences: the sign test needs six
    assert four_equal.outcome is Outcome.INCONCLUSIVE and four_equal.zero_spread
    assert (four_equal.seeds_needed_total, four_equal.seeds_needed_for) == (6, "superiority")


def test_the_advice_is_stable_where_post_hoc_power_was_not() -> None:
    # no true difference, sd of a difference three margins: post-hoc power gave a median of 99 seeds with a wide
    # spread; planned at the margin the advice follows the spread alone
    rng = np.random.default_rng(12)
    advice = [decision.decide(rng.normal(0, 0.03, 10), np.zeros(10), MARGIN).seeds_needed_total for _ in range(60)]
    advice = np.array([value for value in advice if value is not None])
    planned = max(power.pairs_for_power(0.03, MARGIN), _smallest(lambda n: power.equivalence_power(0, 0.03, MARGIN,
                                                                                                   n, 0.05)))
    assert abs(np.median(advice) - planned) <= 0.35 * planned
    assert np.percentile(advice, 90) <= 3 * planned


@pytest.mark.parametrize("sd", [0.0059, 0.0137, 0.0201, 0.03])
def test_a_confirmation_is_planned_with_statsmodels_sample_size(sd: float) -> None:
    solved = TTestPower().solve_power(effect_size=MARGIN / sd, alpha=0.05, power=0.8, alternative="two-sided")
    assert power.pairs_for_power(sd, MARGIN) == math.ceil(solved)
    with pytest.raises(ValueError, match="std must be"):
        power.pairs_for_power(0.0, MARGIN)


def test_power_of_a_huge_effect_is_its_near_side_where_scipy_loses_the_far_one() -> None:
    # statsmodels' two-sided power is NaN here (SciPy's nct.cdf underflows on the far side)
    assert math.isnan(TTestPower().power(effect_size=10.0, nobs=3, alpha=0.05, alternative="two-sided"))
    near = scipy_stats.nct.sf(scipy_stats.t.isf(0.025, 2), 2, 10.0 * math.sqrt(3))
    assert power.superiority_power(10.0, 3, 0.05) == pytest.approx(near) and near > 0.99
    assert power.pairs_for_power(0.001, MARGIN) == 3  # not 4: n = 3 was NaN, so "not enough"


def test_power_is_a_number_where_scipy_loses_the_near_sides_complement_too() -> None:
    # SciPy 1.17's nct.cdf is NaN at (2.27, 8.76, 38.5): statsmodels' one-sided power was NaN as well,
    # and brentq over it (spread_for_power, the dry run's power line) stops on a NaN
    n = 9.758764211257144
    assert math.isnan(TTestPower().power(effect_size=12.3365, nobs=n, alpha=0.025, alternative="larger"))
    assert power.superiority_power(12.3365, n, 0.05) == pytest.approx(1.0)


def test_seeds_with_several_comparisons_are_planned_at_bonferronis_level() -> None:
    a = np.array([0.902, 0.885, 0.91, 0.897])
    b = np.full(4, 0.9)
    alone = decision.decide(a, b, MARGIN)
    together = decision.decide_all([(a, b), (b + 0.05, b - 0.05 + np.array([0.0, 0.001, 0.0, 0.002]))], MARGIN)[0]
    assert together.outcome is Outcome.INCONCLUSIVE and together.seeds_needed_total > alone.seeds_needed_total
    sd = together.std_difference
    needed = together.seeds_needed_total
    assert max(power.superiority_power(MARGIN / sd, needed, 0.025),
               power.equivalence_power(0.0, sd, MARGIN, needed, 0.025)) >= 0.8
    assert min(power.superiority_power(MARGIN / sd, needed - 1, 0.025),
               power.equivalence_power(0.0, sd, MARGIN, needed - 1, 0.025)) < 0.8


def test_sentence_reads_as_the_report_needs() -> None:
    b = np.array([0.901, 0.905, 0.898, 0.903, 0.900, 0.904])
    a = b - np.array([0.0072, 0.0068, 0.0075, 0.0066, 0.0071, 0.0069])
    result = decision.decide(a, b, MARGIN)
    text = sentence(result, "antirectifier-256", "relu-512")
    pattern = (r"^antirectifier-256 is equivalent to relu-512 within ±0\.0100 on best_val_accuracy "
               r"\(difference -0\.0070, 90% CI \[-0\.00\d\d, -0\.00\d\d\], TOST p = [\d.e-]+, 6 seeds\)")
    assert re.match(pattern, text), text  # the interval TOST tested, labelled with its level
    assert "relu-512 is better, but by less than the margin: practically equivalent" in text
    assert "the difference itself is significant" in text
    loser = decision.decide(b - 0.03 + np.array([0, 0.01, -0.01, 0.005, 0, 0]), b, MARGIN)
    assert loser.outcome is Outcome.B_BETTER
    words = sentence(loser, "gelu", "relu", "val_accuracy")
    # first named minus second; by more than the margin: the one-sided test of "no more than 0.01" rejects
    assert words.startswith("relu is better than gelu by more than the margin on val_accuracy (difference +0.0")
    assert loser.beyond_margin and loser.p_beyond == pytest.approx(scipy_stats.ttest_1samp(
        b - (b - 0.03 + np.array([0, 0.01, -0.01, 0.005, 0, 0])), MARGIN, alternative="greater").pvalue)
    assert "relu beats gelu on a fresh seed with probability" in words


def test_decide_is_quiet_on_degenerate_samples() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # decide itself is quiet, degenerate samples included
        decision.decide([0.8, 0.8, 0.8], [0.8, 0.8, 0.8], MARGIN)
        decision.decide([0.8], [0.7], MARGIN)


def test_differences_equal_up_to_float32_rounding_are_a_zero_spread() -> None:
    """Keras reports float32: two seeds whose arm means differ by the same test images came out 3e-8
    apart in the SELU example, and read as a spread (t p 1e-8, a zero-width interval)."""
    selu = np.array([0.9708333611488342, 0.9708333313465118])
    result = decision.decide(selu, np.array([0.0822222232818603, 0.0822222232818603]), MARGIN)
    assert result.zero_spread and result.ci_low == result.ci_high


def test_intervals_across_comparisons_are_false_coverage_adjusted_to_match_the_decisions():
    """Benjamini-Yekutieli: R of m comparisons selected by BH (statsmodels' multipletests), each
    interval at level R/m x alpha; it excludes 0 exactly for the selected ones, also where a raw p
    under 0.05 was not selected."""
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(16)
    shifts = (0.03, 0.012, 0.008, 0.0, 0.0)
    pairs = [(base, base - shift + rng.normal(0, 0.012, 8)) for shift in shifts
             for base in [rng.normal(0.9, 0.01, 8)]]
    verdicts = decision.decide_all(pairs, MARGIN)
    raw = [scipy_stats.ttest_rel(a, b).pvalue for a, b in pairs]
    rejected = multipletests(raw, alpha=0.05, method="fdr_bh")[0]
    selected = int(rejected.sum())
    assert 1 <= selected < len(pairs) and any(p < 0.05 and not reject for p, reject in zip(raw, rejected))
    for verdict, reject, p_value in zip(verdicts, rejected, raw):
        assert verdict.difference_significant == bool(reject)
        assert verdict.ci_level == pytest.approx(0.05 * selected / len(pairs))
        assert (verdict.ci_low > 0 or verdict.ci_high < 0) == bool(reject), (p_value, verdict.ci_low, verdict.ci_high)
        plain = scipy_stats.ttest_rel(*pairs[verdicts.index(verdict)]).confidence_interval(1 - verdict.ci_level)
        assert (verdict.ci_low, verdict.ci_high) == pytest.approx((plain.low, plain.high))
    alone = decision.decide(*pairs[0], margin=MARGIN)
    assert alone.ci_level == 0.05 and alone.tost_level == pytest.approx(0.10) and alone.adjusted_level() is None
    winner = next(verdict for verdict in verdicts if verdict.outcome in decision.WINNERS)
    assert winner.adjusted_level() == pytest.approx(winner.ci_level)
    assert "false-coverage adjusted over the 5 comparisons" in sentence(winner, "a", "b")
