"""The raw tests of one paired comparison, one difference per seed, before anything is decided.

`evidence` runs SciPy's paired t-test (`ttest_rel`) and statsmodels' TOST (`ttost_paired`, whose
halves are the two non-inferiority tests) on the seeds' differences, the one-sided test of a
difference beyond the margin, and McNemar's exact test of the failures
(analysis.verdict.seeds); `interval` is the t interval that matches a test at a level (the
fixed design's 95% and 90% intervals, or a look's repeated confidence interval); `probability`
is the chance that A beats B on a fresh seed. With zero spread exact sign tests stand in for the
t-tests. analysis.verdict.decision decides on these.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import special as scipy_special
from scipy import stats as scipy_stats
from statsmodels.stats.weightstats import ttost_paired

from analysis.verdict.seeds import SeedPairs
from analysis.verdict.stats import Values

_T_CLIP = 1000.0  # |t| past which the effect-size bounds are 0 or 1 in double precision (see probability)


@dataclass(frozen=True)
class Evidence:
    """The tests of one comparison on d = a - b (not yet oriented by higher_is_better)."""

    n: int  # seeds with a value on both sides
    mean: float
    std: float
    t_statistic: float
    p_two_sided: float
    p_above_low: float  # H0: mean(d) <= -margin
    p_below_high: float  # H0: mean(d) >= +margin
    p_beyond: float  # H0: |mean(d)| <= margin on the mean's side (the difference is no larger than the margin)
    zero_spread: bool
    failures_a: int = 0  # seeds on which an arm failed (analysis.verdict.seeds)
    failures_b: int = 0
    p_failures: float = 1.0
    std_without_failures: float = math.nan  # sd of the differences on seeds where neither arm failed


def _sign_p(successes: int, trials: int, alternative: str) -> float:
    """Exact sign test (scipy.stats.binomtest at 1/2); no untied pairs means no evidence: p = 1."""
    if trials == 0:
        return 1.0
    return float(scipy_stats.binomtest(successes, trials, 0.5, alternative=alternative).pvalue)


def _rounding(a_values: np.ndarray, b_values: np.ndarray) -> float:
    """What rounding alone can put into a - b: a few ulps of the values at float32, the precision
    Keras computes and reports metrics in (two SELU seeds whose arm means differed by exactly the same
    2 test images came out 3e-8 apart, and read as a spread: a t p of 1e-8, an interval of zero width)."""
    return 4 * float(np.finfo(np.float32).eps) * max(float(np.abs(a_values).max()), float(np.abs(b_values).max()), 1.0)


def _zero_spread(differences: np.ndarray, margin: float, rounding: float) -> dict:
    """Every difference equals c: the t statistics are +-inf or 0/0, and their p-values (0 or NaN)
    would call two tied seeds "equivalent". Exact sign tests stand in: n equal signs give
    p = 2 * 0.5**n two-sided and 0.5**n one-sided, valid whatever the spread really is."""
    n = int(differences.size)
    c = float(differences.mean())
    c = 0.0 if abs(c) <= rounding else c  # ties computed two ways (0.1 + 0.2 vs 0.3) are ties
    untied = n if c != 0.0 else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t_statistic = float(scipy_stats.ttest_1samp(differences, 0.0).statistic)
    all_signs = _sign_p(n, n, "greater")
    return dict(n=n, mean=c, std=0.0, t_statistic=t_statistic,
                p_two_sided=_sign_p(untied if c > 0 else 0, untied, "two-sided"),
                p_above_low=all_signs if c > -margin else 1.0, p_below_high=all_signs if c < margin else 1.0,
                p_beyond=all_signs if abs(c) > margin else 1.0, zero_spread=True)


def _t_tests(a_values: np.ndarray, b_values: np.ndarray, margin: float) -> dict:
    differences = a_values - b_values
    two_sided = scipy_stats.ttest_rel(a_values, b_values)
    _, (_, p_above_low, _), (_, p_below_high, _) = ttost_paired(a_values, b_values, -margin, margin)
    mean = float(differences.mean())
    side = "greater" if mean >= 0 else "less"
    beyond = scipy_stats.ttest_1samp(differences, math.copysign(margin, mean), alternative=side)
    return dict(n=int(differences.size), mean=mean, std=float(differences.std(ddof=1)),
                t_statistic=float(two_sided.statistic), p_two_sided=float(two_sided.pvalue),
                p_above_low=float(p_above_low), p_below_high=float(p_below_high), p_beyond=float(beyond.pvalue),
                zero_spread=False)


def evidence(pairs: SeedPairs | tuple[Values, Values], margin: float) -> Evidence:
    """The tests on the seeds with a value on both sides (a plain (a, b) pair of arrays: the finite
    pairs, no failures)."""
    pairs = pairs if isinstance(pairs, SeedPairs) else SeedPairs.of(*pairs)
    a_values, b_values = pairs.tested()
    clean = pairs.a[~(pairs.failed_a | pairs.failed_b)] - pairs.b[~(pairs.failed_a | pairs.failed_b)]
    clean = clean[np.isfinite(clean)]
    failures = dict(failures_a=pairs.failures_a, failures_b=pairs.failures_b, p_failures=pairs.failures_p_value(),
                    std_without_failures=float(clean.std(ddof=1)) if clean.size >= 2 else math.nan)
    n = int(a_values.size)
    if n < 2:
        mean = float((a_values - b_values).mean()) if n else math.nan
        nan = math.nan
        return Evidence(n, mean, nan, nan, nan, nan, nan, nan, False, **failures)
    rounding = _rounding(a_values, b_values)
    differences = a_values - b_values
    if float(np.ptp(differences)) <= rounding:
        return Evidence(**_zero_spread(differences, margin, rounding), **failures)
    return Evidence(**_t_tests(a_values, b_values, margin), **failures)


def interval(found: Evidence, level: float) -> tuple[float, float]:
    """The t interval whose exclusion of a value is the two-sided t-test rejecting it at `level`
    (0.05: the 95% interval; twice a one-sided level: the interval TOST tests; a look's nominal
    level: the repeated confidence interval). Zero spread: the difference itself."""
    if found.n < 2:
        return math.nan, math.nan
    if found.zero_spread:
        return found.mean, found.mean
    half = float(scipy_stats.t.isf(level / 2.0, found.n - 1)) * found.std / math.sqrt(found.n)
    return found.mean - half, found.mean + half


def probability(found: Evidence, sign: float, confidence: float) -> tuple[float, float, float]:
    """P(A beats B on a fresh seed) with its interval.

    Under the t-test's own model (normal differences, mean mu, sd sigma, in the better direction)
    it is Phi(mu / sigma). Its interval comes from the exact interval of the noncentrality of the
    observed t (scipy.special.nctdtrinc, the noncentral-t inversion), divided by sqrt(n): a
    monotone map, so the coverage is exact under the model, with no bootstrap at n = 2..10.
    With zero spread the model has no scale: the observed share of wins (ties count half) with
    exact Clopper-Pearson bounds (binomtest) stands in.
    """
    n = found.n
    if n < 2:
        return math.nan, math.nan, math.nan
    if found.zero_spread:
        return _zero_spread_probability(n, sign * found.mean, confidence)
    t_value = sign * found.t_statistic
    # nctdtrinc's time grows with |t|; past max(1000, 40 sqrt(n)) both bounds are 0 or 1 anyway.
    limit = max(_T_CLIP, 40.0 * math.sqrt(n))
    clipped = float(np.clip(t_value, -limit, limit))
    tail = (1.0 - confidence) / 2
    nc_low, nc_high = scipy_special.nctdtrinc(n - 1, [1.0 - tail, tail], clipped)
    root_n = math.sqrt(n)
    return (float(scipy_stats.norm.cdf(t_value / root_n)), float(scipy_stats.norm.cdf(nc_low / root_n)),
            float(scipy_stats.norm.cdf(nc_high / root_n)))


def _zero_spread_probability(n: int, goodness: float, confidence: float) -> tuple[float, float, float]:
    """All n seeds won (or lost, or tied): Clopper-Pearson on the n outcomes. All tied: with the
    tie probability at least L (its exact lower bound), P = P(win) + P(tie)/2 lies in [L/2, 1 - L/2]."""
    all_n = scipy_stats.binomtest(n, n).proportion_ci(confidence, method="exact")
    if goodness > 0:
        return 1.0, float(all_n.low), 1.0
    if goodness < 0:
        return 0.0, 0.0, 1.0 - float(all_n.low)
    return 0.5, float(all_n.low) / 2, 1.0 - float(all_n.low) / 2


__all__ = ["Evidence", "evidence", "interval", "probability"]
