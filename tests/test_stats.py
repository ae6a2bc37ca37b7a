"""analysis.stats against hand-computed numbers and scipy's own tests on fixed data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from analysis import stats

# Best val accuracies of two activations on the same five seeds.
RELU = [0.812, 0.830, 0.805, 0.848, 0.821]
SELU = [0.801, 0.832, 0.809, 0.820, 0.815]


def test_mean_interval_matches_hand_computation() -> None:
    # mean 3, s = sqrt(2.5), t_{0.975,4} = 2.7764451051977987 -> half width 1.9632431 (by hand).
    interval = stats.mean_confidence_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert interval.n == 5 and interval.mean == pytest.approx(3.0)
    assert interval.std == pytest.approx(math.sqrt(2.5))
    assert interval.ci_low == pytest.approx(3.0 - 1.9632431, abs=1e-6)
    assert interval.ci_high == pytest.approx(3.0 + 1.9632431, abs=1e-6)


def test_mean_interval_matches_scipy_t_interval() -> None:
    interval = stats.mean_confidence_interval(RELU, confidence=0.9)
    low, high = scipy_stats.t.interval(0.9, len(RELU) - 1, loc=np.mean(RELU), scale=scipy_stats.sem(RELU))
    assert (interval.ci_low, interval.ci_high) == pytest.approx((low, high), rel=1e-12)


def test_mean_interval_small_and_non_finite_samples() -> None:
    single = stats.mean_confidence_interval([0.7, math.nan])
    assert single.n == 1 and single.mean == 0.7 and math.isnan(single.ci_low) and math.isnan(single.std)
    empty = stats.mean_confidence_interval([])
    assert empty.n == 0 and math.isnan(empty.mean)
    with pytest.raises(ValueError, match="confidence"):
        stats.mean_confidence_interval([1.0, 2.0], confidence=95)


def test_paired_t_test_matches_scipy_ttest_rel() -> None:
    result = stats.paired_t_test(RELU, SELU)
    expected = scipy_stats.ttest_rel(RELU, SELU)
    assert result.n == 5 and result.degrees_of_freedom == 4
    assert result.t_statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-10)
    low, high = expected.confidence_interval(0.95)
    assert (result.ci_low, result.ci_high) == pytest.approx((low, high), rel=1e-10)
    assert result.mean_difference == pytest.approx(np.mean(np.subtract(RELU, SELU)))


def test_paired_t_test_hand_computed() -> None:
    # d = (1, 2, 3): mean 2, s = 1, t = 2 / (1 / sqrt 3) = 3.4641016; p = 2 * t.sf(3.4641016, 2) = 0.0741799.
    result = stats.paired_t_test([2.0, 4.0, 6.0], [1.0, 2.0, 3.0])
    assert result.t_statistic == pytest.approx(2 * math.sqrt(3))
    assert result.p_value == pytest.approx(0.0741799, abs=1e-6)


def test_paired_t_test_degenerate_cases() -> None:
    same = stats.paired_t_test([0.8, 0.9], [0.8, 0.9])
    assert same.p_value == 1.0 and same.mean_difference == 0.0
    shifted = stats.paired_t_test([0.81, 0.91, 0.71], [0.80, 0.90, 0.70])
    assert shifted.p_value == pytest.approx(0.0, abs=1e-9) or shifted.p_value < 1e-6
    one = stats.paired_t_test([0.8], [0.7])
    assert one.n == 1 and math.isnan(one.p_value) and one.mean_difference == pytest.approx(0.1)
    dropped = stats.paired_t_test([0.8, math.nan, 0.9, 0.7], [0.7, 0.6, 0.85, 0.71])
    assert dropped.n == 3
    with pytest.raises(ValueError, match="equal lengths"):
        stats.paired_t_test([1.0, 2.0], [1.0])


def test_wilcoxon_exact_matches_scipy() -> None:
    a = [0.91, 0.83, 0.88, 0.79, 0.95, 0.86, 0.90, 0.84]
    b = [0.90, 0.80, 0.84, 0.81, 0.88, 0.80, 0.95, 0.76]
    statistic, p_value = stats.wilcoxon_signed_rank(a, b)
    expected = scipy_stats.wilcoxon(a, b, method="exact")
    assert statistic == expected.statistic and p_value == pytest.approx(expected.pvalue, rel=1e-12)


def test_wilcoxon_normal_approximation_with_ties_matches_scipy() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=60).round(1), rng.normal(size=60).round(1)  # ties and zeros
    statistic, p_value = stats.wilcoxon_signed_rank(a, b)
    expected = scipy_stats.wilcoxon(a, b, method="asymptotic")
    assert statistic == expected.statistic and p_value == pytest.approx(expected.pvalue, rel=1e-10)


def test_wilcoxon_hand_computed_and_empty() -> None:
    # Differences 1..4 all positive: T- = 0, exact p = 2 / 2^4 = 0.125.
    assert stats.wilcoxon_signed_rank([1.0, 2.0, 3.0, 4.0], [0.0, 0.0, 0.0, 0.0]) == (0.0, 0.125)
    statistic, p_value = stats.wilcoxon_signed_rank([0.5, 0.6], [0.5, 0.6])
    assert math.isnan(statistic) and math.isnan(p_value)


def test_verdict_words() -> None:
    significant = stats.paired_t_test([0.85, 0.86, 0.87, 0.88], [0.80, 0.80, 0.82, 0.82])
    assert significant.p_value < 0.05
    assert stats.verdict("selu", "relu", significant).startswith("selu is better than relu")
    assert stats.verdict("selu", "relu", significant, metric="loss", higher_is_better=False).startswith("relu is better")
    noisy = stats.paired_t_test(RELU, SELU)
    assert noisy.p_value >= 0.05
    assert "not distinguishable" in stats.verdict("relu", "selu", noisy)
    assert "not distinguishable" in stats.verdict("relu", "selu", stats.paired_t_test([0.9], [0.1]))
    assert not stats.is_distinguishable(0.01, n=1) and stats.is_distinguishable(0.01, n=2)
    assert not stats.is_distinguishable(0.05, n=10) and not stats.is_distinguishable(math.nan, n=10)
