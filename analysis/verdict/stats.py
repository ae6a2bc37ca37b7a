"""Small-sample statistics for comparing activations across seeds, from SciPy.

The tests are SciPy's own (`ttest_rel` with its `confidence_interval`, `wilcoxon`, `t.interval`,
`false_discovery_control`); this module keeps only what they do not do: dropping non-finite
pairs, returning NaN instead of warnings for samples too small to test. Sweeps have 2-10 seeds
per setting, where ties and zero differences are the normal case. The verdict built on these
(classes with a margin, power, words) is the rest of analysis.verdict.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

SIGNIFICANCE_LEVEL = 0.05

Values = Sequence[float] | np.ndarray


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
    """Paired t-test of a - b (scipy.stats.ttest_rel); the interval is for the mean difference."""

    n: int
    mean_difference: float
    std_difference: float
    ci_low: float
    ci_high: float
    t_statistic: float
    degrees_of_freedom: int
    p_value: float


def _finite_values(values: Values) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    return array[np.isfinite(array)]


def finite_pairs(a: Values, b: Values) -> tuple[np.ndarray, np.ndarray]:
    """a and b where both are finite (ValueError for unequal lengths)."""
    a_array, b_array = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a_array.shape != b_array.shape:
        raise ValueError(f"paired samples need equal lengths, got {a_array.size} and {b_array.size}")
    keep = np.isfinite(a_array) & np.isfinite(b_array)
    return a_array[keep], b_array[keep]


def mean_confidence_interval(values: Values, confidence: float = 0.95) -> MeanInterval:
    """scipy.stats.t.interval around the mean; non-finite values ignored, n < 2 gives NaN bounds.

    With zero spread the interval is the mean itself (t.interval answers NaN for scale 0).
    """
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
    if std == 0.0:
        return MeanInterval(n, mean, 0.0, mean, mean)
    low, high = scipy_stats.t.interval(confidence, n - 1, loc=mean, scale=scipy_stats.sem(array))
    return MeanInterval(n, mean, std, float(low), float(high))


def paired_t_test(a: Values, b: Values, confidence: float = 0.95) -> PairedTest:
    """Two-sided scipy.stats.ttest_rel on the pairs where both sides are finite.

    Fewer than 2 pairs: NaN statistic and p (SciPy's answer too, without its warnings).
    All differences zero: SciPy's NaN t and p; a constant non-zero shift: t = +-inf, p = 0.
    """
    a_values, b_values = finite_pairs(a, b)
    n = int(a_values.size)
    differences = a_values - b_values
    mean_difference = float(differences.mean()) if n else math.nan
    if n < 2:
        return PairedTest(n, mean_difference, math.nan, math.nan, math.nan, math.nan, max(n - 1, 0), math.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # degenerate samples: the NaN says it
        result = scipy_stats.ttest_rel(a_values, b_values)
        interval = result.confidence_interval(confidence)
    return PairedTest(
        n=n,
        mean_difference=mean_difference,
        std_difference=float(differences.std(ddof=1)),
        ci_low=float(interval.low),
        ci_high=float(interval.high),
        t_statistic=float(result.statistic),
        degrees_of_freedom=int(result.df),
        p_value=float(result.pvalue),
    )


def wilcoxon_signed_rank(a: Values, b: Values) -> tuple[float, float]:
    """scipy.stats.wilcoxon(a, b) (its defaults) on the finite pairs; (NaN, NaN) under 2 pairs.

    (SciPy raises for one pair given as two samples; no test is possible there anyway.)
    """
    a_values, b_values = finite_pairs(a, b)
    if a_values.size < 2:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-zero differences: SciPy says p = 1
        result = scipy_stats.wilcoxon(a_values, b_values)
    return float(result.statistic), float(result.pvalue)


def adjust_p_values(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg (SciPy's false_discovery_control) over the finite p-values; NaN stays NaN.

    Several pairwise comparisons (three arms make three) at alpha each would call some
    difference real by chance; the adjusted p-values keep the expected share of false
    "better" verdicts at alpha.
    """
    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    if finite.sum() == 1:  # one p-value is its own adjustment (what SciPy returns, without its overhead)
        adjusted[finite] = values[finite]
    elif finite.any():
        adjusted[finite] = scipy_stats.false_discovery_control(values[finite], method="bh")
    return adjusted


def check_margin(margin: float) -> float:
    """The margin as a float; ValueError unless it is a positive finite number."""
    value = float(margin)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"margin must be a positive finite number in the metric's units, got {margin!r}")
    return value


def check_level(name: str, value: float) -> None:
    """ValueError unless a test level (alpha, a look's level) lies in (0, 1)."""
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")


__all__ = [
    "SIGNIFICANCE_LEVEL", "MeanInterval", "PairedTest", "Values", "adjust_p_values", "check_level", "check_margin",
    "finite_pairs", "mean_confidence_interval", "paired_t_test", "wilcoxon_signed_rank",
]
