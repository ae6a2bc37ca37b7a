"""analysis.verdict.stats gives SciPy's answers, on fixtures with ties, zero differences and n = 2..10."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats as scipy_stats

from analysis.verdict import stats
from analysis.verdict.decision import DEFAULT_MARGIN, decide
from analysis.verdict.words import sentence

# Best val accuracies of two activations on the same five seeds.
RELU = [0.812, 0.830, 0.805, 0.848, 0.821]
SELU = [0.801, 0.832, 0.809, 0.820, 0.815]


def _fixtures() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Accuracies on a 256-image validation set (multiples of 1/256): ties and zeros are common."""
    rng = np.random.default_rng(3)
    cases = []
    for n in range(2, 11):
        a = rng.integers(180, 220, size=n) / 256
        cases.append((f"random n={n}", a, rng.integers(180, 220, size=n) / 256))
        shift = rng.choice([-1, 0, 0, 1], size=n) / 256  # ties and zero differences
        cases.append((f"ties n={n}", a, a - shift))
    cases.append(("issue example", np.array([0.801, 0.801, 0.8, 0.801, 0.799]), np.full(5, 0.8)))
    return cases


def _same(ours: float, scipys: float) -> bool:
    return (math.isnan(ours) and math.isnan(scipys)) or ours == pytest.approx(scipys, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name, a, b", _fixtures(), ids=[case[0] for case in _fixtures()])
def test_paired_tests_equal_scipy(name: str, a: np.ndarray, b: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected_t = scipy_stats.ttest_rel(a, b)
        expected_interval = expected_t.confidence_interval(0.95)
        expected_w = scipy_stats.wilcoxon(a, b)
    result = stats.paired_t_test(a, b)
    assert result.n == len(a) and result.degrees_of_freedom == expected_t.df
    assert _same(result.t_statistic, expected_t.statistic) and _same(result.p_value, expected_t.pvalue)
    assert _same(result.ci_low, expected_interval.low) and _same(result.ci_high, expected_interval.high)
    statistic, p_value = stats.wilcoxon_signed_rank(a, b)
    assert _same(statistic, expected_w.statistic) and _same(p_value, expected_w.pvalue)


def test_the_issue_example_gives_scipys_wilcoxon_p() -> None:
    # differences [.001, .001, 0, .001, -.001]: the old hand-written test said 0.317.
    _, p_value = stats.wilcoxon_signed_rank([0.001, 0.001, 0.0, 0.001, -0.001], [0.0] * 5)
    assert p_value == pytest.approx(0.625)


@pytest.mark.parametrize("n", range(2, 11))
def test_mean_interval_equals_scipy_t_interval(n: int) -> None:
    values = np.random.default_rng(n).integers(180, 220, size=n) / 256
    interval = stats.mean_confidence_interval(values, confidence=0.9)
    low, high = scipy_stats.t.interval(0.9, n - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert (interval.ci_low, interval.ci_high) == pytest.approx((low, high), rel=1e-12)
    assert interval.std == pytest.approx(np.std(values, ddof=1))


def test_mean_interval_hand_computed_small_and_degenerate_samples() -> None:
    # mean 3, s = sqrt(2.5), t_{0.975,4} = 2.7764451051977987 -> half width 1.9632431 (by hand).
    interval = stats.mean_confidence_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (interval.ci_low, interval.ci_high) == pytest.approx((3.0 - 1.9632431, 3.0 + 1.9632431), abs=1e-6)
    single = stats.mean_confidence_interval([0.7, math.nan])
    assert single.n == 1 and single.mean == 0.7 and math.isnan(single.ci_low) and math.isnan(single.std)
    assert stats.mean_confidence_interval([]).n == 0
    constant = stats.mean_confidence_interval([0.75, 0.75, 0.75])
    assert (constant.std, constant.ci_low, constant.ci_high) == (0.0, 0.75, 0.75)
    with pytest.raises(ValueError, match="confidence"):
        stats.mean_confidence_interval([1.0, 2.0], confidence=95)


def test_paired_t_test_drops_non_finite_pairs_and_handles_too_few() -> None:
    dropped = stats.paired_t_test([0.8, math.nan, 0.9, 0.7], [0.7, 0.6, 0.85, 0.71])
    expected = scipy_stats.ttest_rel([0.8, 0.9, 0.7], [0.7, 0.85, 0.71])
    assert dropped.n == 3 and dropped.p_value == pytest.approx(expected.pvalue)
    one = stats.paired_t_test([0.8], [0.7])
    assert one.n == 1 and math.isnan(one.p_value) and one.mean_difference == pytest.approx(0.1)
    for a, b in (([math.nan], [0.5]), ([0.6], [0.5]), ([0.6, math.nan], [0.5, 0.5])):
        statistic, p_value = stats.wilcoxon_signed_rank(a, b)
        assert math.isnan(statistic) and math.isnan(p_value)
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired_t_test([1.0, 2.0], [1.0])


def test_verdict_words() -> None:
    """The situations the removed stats.verdict() worded, as decide and words.sentence word them."""
    a, b = [0.85, 0.86, 0.87, 0.88], [0.80, 0.80, 0.82, 0.82]
    assert stats.paired_t_test(a, b).p_value < 0.05
    significant = decide(a, b, DEFAULT_MARGIN)
    assert significant.outcome == "a_better"
    assert sentence(significant, "selu", "relu").startswith("selu is better than relu")
    lower_is_better = decide(a, b, DEFAULT_MARGIN, higher_is_better=False)
    assert sentence(lower_is_better, "selu", "relu", "loss").startswith("relu is better")
    assert stats.paired_t_test(RELU, SELU).p_value >= 0.05
    noisy = decide(RELU, SELU, DEFAULT_MARGIN)
    assert noisy.outcome not in ("a_better", "b_better") and "better than" not in sentence(noisy, "relu", "selu")
    assert "at least 2 needed" in sentence(decide([0.9], [0.1], DEFAULT_MARGIN), "relu", "selu")
    identical = decide([0.8, 0.9], [0.8, 0.9], DEFAULT_MARGIN)
    assert identical.outcome == "inconclusive" and "all 2 differences are equal" in sentence(identical, "relu", "selu")


def test_adjusted_p_values_are_scipys_benjamini_hochberg_and_keep_nan():
    raw = [0.01, 0.04, math.nan, 0.03, 0.5]
    adjusted = stats.adjust_p_values(raw)
    finite = [0.01, 0.04, 0.03, 0.5]
    expected = scipy_stats.false_discovery_control(finite, method="bh")
    assert np.allclose(adjusted[[0, 1, 3, 4]], expected) and math.isnan(adjusted[2])


def test_several_comparisons_are_decided_on_adjusted_p_values():
    import pandas as pd

    from analysis.verdict.comparisons import paired_comparisons

    rows = []
    # Three arms on five shared seeds: "b" is ahead of "a" by a margin whose raw p is just below 0.05.
    # "c" is noise around "a" (its comparisons have large p-values), so b's p is not the largest and BH raises it.
    margins = {"a": [0.0] * 5, "b": [0.010, 0.002, 0.012, 0.001, 0.011], "c": [0.02, -0.03, 0.01, -0.02, 0.015]}
    for arm, margin in margins.items():
        for seed, extra in enumerate(margin):
            rows.append({"experiment": "x", "trial_id": f"{arm}{seed}", "family": "f", "status": "terminated",
                         "activation": arm, "seed": seed, "repeat": 0, "epochs": 3, "epochs_completed": 3,
                         "best_val_accuracy": 0.7 + 0.01 * seed + extra})
    table = paired_comparisons(pd.DataFrame(rows), "best_val_accuracy", margin=0.001).set_index(["arm_a", "arm_b"])
    a_b = table.loc[("a", "b")]
    assert a_b["p_value"] < 0.05 <= a_b["p_adjusted"]  # by chance alone, one in twenty such pairs looks real
    assert a_b["outcome"] not in ("a_better", "b_better") and a_b["comparisons"] == 3
    assert table.loc[("a", "c"), "outcome"] not in ("a_better", "b_better")
