"""Small-sample statistics for comparing activations across seeds.

Written with numpy and scipy.stats distributions only (t.ppf, t.sf, norm.sf) so the formulas are
visible and tested against scipy's own tests on fixed numbers. Sweeps have 3-10 seeds per
setting, so every function copes with n < 2 (NaN intervals) and zero spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

SIGNIFICANCE_LEVEL = 0.05


@dataclass(frozen=True)
class MeanInterval:
    """Mean with sample standard deviation (ddof=1) and a t-distribution confidence interval."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class PairedTest:
    """Paired t-test of a - b; the interval is for the mean difference."""

    n: int
    mean_difference: float
    std_difference: float
    ci_low: float
    ci_high: float
    t_statistic: float
    degrees_of_freedom: int
    p_value: float


def _finite_values(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def mean_confidence_interval(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> MeanInterval:
    """mean +- t_{(1+c)/2, n-1} * s / sqrt(n); non-finite values are ignored, n < 2 gives NaN bounds."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    array = _finite_values(values)
    n = int(array.size)
    if n == 0:
        return MeanInterval(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(array.mean())
    if n < 2:
        return MeanInterval(n, mean, math.nan, math.nan, math.nan)
    std = float(array.std(ddof=1))
    half_width = float(scipy_stats.t.ppf((1.0 + confidence) / 2.0, n - 1)) * std / math.sqrt(n)
    return MeanInterval(n, mean, std, mean - half_width, mean + half_width)


def paired_t_test(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> PairedTest:
    """Two-sided paired t-test on d = a - b (pairs with a non-finite side are dropped).

    Zero spread: identical pairs give p = 1, a constant non-zero shift gives p = 0 (t = +-inf).
    """
    a_array, b_array = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a_array.shape != b_array.shape:
        raise ValueError(f"paired samples need equal lengths, got {a_array.size} and {b_array.size}")
    differences = a_array - b_array
    differences = differences[np.isfinite(differences)]
    interval = mean_confidence_interval(differences, confidence)
    n = interval.n
    if n < 2:
        return PairedTest(n, interval.mean, math.nan, math.nan, math.nan, math.nan, max(n - 1, 0), math.nan)
    degrees_of_freedom = n - 1
    standard_error = interval.std / math.sqrt(n)
    if standard_error == 0.0:
        if interval.mean == 0.0:
            return PairedTest(n, 0.0, 0.0, 0.0, 0.0, 0.0, degrees_of_freedom, 1.0)
        t_statistic = math.copysign(math.inf, interval.mean)
        return PairedTest(n, interval.mean, 0.0, interval.mean, interval.mean, t_statistic, degrees_of_freedom, 0.0)
    t_statistic = interval.mean / standard_error
    p_value = min(1.0, 2.0 * float(scipy_stats.t.sf(abs(t_statistic), degrees_of_freedom)))
    return PairedTest(
        n, interval.mean, interval.std, interval.ci_low, interval.ci_high, t_statistic, degrees_of_freedom, p_value
    )


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties get their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=float)
    sorted_values = values[order]
    start = 0
    while start < values.size:
        end = start
        while end + 1 < values.size and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def _exact_signed_rank_cdf(statistic: float, n: int) -> float:
    """P(T+ <= statistic) under H0 for n untied ranks: count subsets of {1..n} by rank sum."""
    max_sum = n * (n + 1) // 2
    counts = np.zeros(max_sum + 1, dtype=float)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[: max_sum + 1 - rank].copy()
    return float(counts[: int(math.floor(statistic)) + 1].sum() / 2.0**n)


def wilcoxon_signed_rank(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Two-sided Wilcoxon signed-rank test on a - b; returns (min(T+, T-), p).

    Zero differences are dropped (Wilcox). Exact null distribution when n <= 50 and no ties,
    otherwise the normal approximation with tie correction and no continuity correction
    (scipy.stats.wilcoxon's defaults). Fewer than one non-zero difference gives NaN.
    """
    differences = np.asarray(a, dtype=float).ravel() - np.asarray(b, dtype=float).ravel()
    differences = differences[np.isfinite(differences)]
    differences = differences[differences != 0.0]
    n = int(differences.size)
    if n == 0:
        return math.nan, math.nan
    ranks = _ranks(np.abs(differences))
    positive = float(ranks[differences > 0].sum())
    negative = float(ranks[differences < 0].sum())
    statistic = min(positive, negative)
    has_ties = np.unique(np.abs(differences)).size < n
    if n <= 50 and not has_ties:
        p_value = min(1.0, 2.0 * _exact_signed_rank_cdf(statistic, n))
        return statistic, p_value
    mean = n * (n + 1) / 4.0
    _, tie_counts = np.unique(np.abs(differences), return_counts=True)
    variance = n * (n + 1) * (2 * n + 1) / 24.0 - float((tie_counts**3 - tie_counts).sum()) / 48.0
    if variance <= 0.0:
        return statistic, math.nan
    z = (statistic - mean) / math.sqrt(variance)
    return statistic, min(1.0, 2.0 * float(scipy_stats.norm.sf(abs(z))))


def is_distinguishable(p_value: float, n: int, minimum_n: int = 2, alpha: float = SIGNIFICANCE_LEVEL) -> bool:
    """True only for a finite p below alpha with at least minimum_n pairs."""
    return n >= minimum_n and math.isfinite(p_value) and p_value < alpha


def verdict(
    name_a: str,
    name_b: str,
    test: PairedTest,
    *,
    metric: str = "best_val_accuracy",
    higher_is_better: bool = True,
    alpha: float = SIGNIFICANCE_LEVEL,
) -> str:
    """One plain-words sentence; says "not distinguishable" whenever p >= alpha or n is too small."""
    if test.n < 2 or not math.isfinite(test.p_value):
        return f"{name_a} and {name_b} are not distinguishable: only {test.n} paired run(s), at least 2 needed for a test."
    interval = f"mean difference {test.mean_difference:+.4f}, 95% CI [{test.ci_low:+.4f}, {test.ci_high:+.4f}]"
    evidence = f"paired t p = {test.p_value:.3g}, n = {test.n}"
    if not is_distinguishable(test.p_value, test.n, alpha=alpha):
        return f"{name_a} and {name_b} are not distinguishable on {metric} ({interval}; {evidence} >= {alpha})."
    a_better = (test.mean_difference > 0) == higher_is_better
    better, worse = (name_a, name_b) if a_better else (name_b, name_a)
    return f"{better} is better than {worse} on {metric} ({interval}; {evidence} < {alpha})."


__all__ = [
    "MeanInterval",
    "PairedTest",
    "SIGNIFICANCE_LEVEL",
    "is_distinguishable",
    "mean_confidence_interval",
    "paired_t_test",
    "verdict",
    "wilcoxon_signed_rank",
]
