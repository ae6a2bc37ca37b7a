"""Small-sample statistics for comparing activations across seeds, from SciPy.

The tests are SciPy's own (`ttest_rel` with its `confidence_interval`, `wilcoxon`,
`t.interval`); this module keeps only what SciPy does not do: dropping non-finite pairs,
returning NaN instead of warnings for samples too small to test, and the verdict words.
Sweeps have 2-10 seeds per setting, where ties and zero differences are the normal case.
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


def _finite_pairs(a: Values, b: Values) -> tuple[np.ndarray, np.ndarray]:
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
    a_values, b_values = _finite_pairs(a, b)
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
    a_values, b_values = _finite_pairs(a, b)
    if a_values.size < 2:
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-zero differences: SciPy says p = 1
        result = scipy_stats.wilcoxon(a_values, b_values)
    return float(result.statistic), float(result.pvalue)


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
    adjusted: tuple[float, int] | None = None,
) -> str:
    """One plain-words sentence; says "not distinguishable" whenever p >= alpha or n is too small.

    `adjusted` is (p, m): the p-value adjusted for the m comparisons reported beside this one;
    the decision is then taken on it, and the sentence gives both.
    """
    if test.n < 2:
        return f"{name_a} and {name_b} are not distinguishable: only {test.n} paired run(s), at least 2 needed for a test."
    if not math.isfinite(test.p_value):
        return f"{name_a} and {name_b} are not distinguishable on {metric}: all {test.n} paired differences are zero."
    # Signed as a - b whichever side the sentence names first: the reader needs the order.
    interval = (f"mean difference {name_a} - {name_b} {test.mean_difference:+.4f}, "
                f"95% CI [{test.ci_low:+.4f}, {test.ci_high:+.4f}]")
    evidence = f"paired t p = {test.p_value:.3g}, n = {test.n}"
    p_value = test.p_value
    if adjusted is not None and adjusted[1] > 1:
        p_value = adjusted[0]
        evidence += f"; Benjamini-Hochberg over {adjusted[1]} comparisons: p = {p_value:.3g}"
    if not is_distinguishable(p_value, test.n, alpha=alpha):
        return f"{name_a} and {name_b} are not distinguishable on {metric} ({interval}; {evidence} >= {alpha})."
    a_better = (test.mean_difference > 0) == higher_is_better
    better, worse = (name_a, name_b) if a_better else (name_b, name_a)
    return f"{better} is better than {worse} on {metric} ({interval}; {evidence} < {alpha})."


def adjust_p_values(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg (SciPy's false_discovery_control) over the finite p-values; NaN stays NaN.

    Several pairwise comparisons (three arms make three) at alpha each would call some
    difference real by chance; the adjusted p-values keep the expected share of false
    "better" verdicts at alpha.
    """
    values = np.asarray(p_values, dtype=float)
    adjusted = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    if finite.any():
        adjusted[finite] = scipy_stats.false_discovery_control(values[finite], method="bh")
    return adjusted


__all__ = [
    "MeanInterval",
    "adjust_p_values",
    "PairedTest",
    "SIGNIFICANCE_LEVEL",
    "is_distinguishable",
    "mean_confidence_interval",
    "paired_t_test",
    "verdict",
    "wilcoxon_signed_rank",
]
