"""The decision model: one paired comparison, decided with a margin, is exactly one Outcome.

`decide` (one comparison) and `decide_all` (a report's comparisons, Benjamini-Hochberg across
them) take the tests from SciPy and statsmodels (`ttest_rel`, `ttost_paired`, `binomtest`,
`nctdtrinc`) and return a `Verdict`: the class, every p-value raw and adjusted, the interval,
the probability that A beats B on a fresh seed, and for an inconclusive comparison the seeds
that would decide it (analysis.verdict.power). `DecisionLevels` are what the p-values are
compared with: alpha for a fixed design, a look's nominal levels for a group-sequential one
(analysis.verdict.sequential). The verdict in words is analysis.verdict.words.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import special as scipy_special
from scipy import stats as scipy_stats
from statsmodels.stats.weightstats import ttost_paired

from analysis.verdict.power import pairs_needed
from analysis.verdict.stats import SIGNIFICANCE_LEVEL, Values, adjust_p_values, check_level, check_margin, finite_pairs

# The smallest difference that matters when nothing else is said: one accuracy point. Sweeps
# declare their own (sweeps.engine.sweep.Sweep.margin), users set it with --margin.
DEFAULT_MARGIN = 0.01
_T_CLIP = 1000.0  # |t| past which the effect-size bounds are 0 or 1 in double precision (see _probability)


class Outcome(StrEnum):
    """The verdict classes; a StrEnum, so `outcome == "equivalent"` works in reports and tables."""

    EQUIVALENT = "equivalent"
    A_BETTER = "a_better"
    B_BETTER = "b_better"
    A_NOT_WORSE = "a_not_worse"
    B_NOT_WORSE = "b_not_worse"
    INCONCLUSIVE = "inconclusive"


CONCLUSIVE = frozenset({Outcome.EQUIVALENT, Outcome.A_BETTER, Outcome.B_BETTER})


@dataclass(frozen=True)
class DecisionLevels:
    """Levels the adjusted p-values are compared with: `two_sided` for superiority, `one_sided` for
    each one-sided test (TOST halves, non-inferiority). A fixed design uses alpha for both; a
    group-sequential look (analysis.verdict.sequential) uses that look's nominal levels."""

    two_sided: float
    one_sided: float
    look: int | None = None  # 1-based
    looks: int | None = None

    @classmethod
    def fixed(cls, alpha: float) -> DecisionLevels:
        return cls(alpha, alpha)


@dataclass(frozen=True)
class _Evidence:
    """The raw tests of one comparison, on d = a - b (not yet oriented by higher_is_better)."""

    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    t_statistic: float
    p_two_sided: float
    p_above_low: float  # H0: mean(d) <= -margin
    p_below_high: float  # H0: mean(d) >= +margin
    zero_spread: bool


@dataclass(frozen=True)
class Verdict:
    """One paired comparison A vs B decided with a margin (analysis.verdict.decision.decide / decide_all).

    mean_difference, ci_low and ci_high are a - b in the metric's units, whichever direction is
    better. p_not_worse_a tests H0 "A is worse than B by the margin or more", p_not_worse_b the
    mirror; p_equivalence is the TOST p-value (the larger of the two). The *_adjusted p-values are
    Benjamini-Hochberg over the `comparisons` decided together (equal to the raw ones for one).
    probability_a_beats_b: the chance that A does better than B on a fresh seed, with its interval.
    seeds_needed_total / more_seeds: for an inconclusive comparison only, the paired seeds that
    would give 80% power for `more_seeds_for` ("superiority" or "equivalence") at the observed
    mean and spread; None where they cannot be estimated (fewer than 2 pairs) or exceed 100000.
    In words: analysis.verdict.words.sentence.
    """

    outcome: Outcome
    n: int
    margin: float
    mean_difference: float
    std_difference: float
    ci_low: float
    ci_high: float
    confidence: float
    t_statistic: float
    p_value: float
    p_equivalence: float
    p_not_worse_a: float
    p_not_worse_b: float
    p_value_adjusted: float
    p_equivalence_adjusted: float
    p_not_worse_a_adjusted: float
    p_not_worse_b_adjusted: float
    comparisons: int
    alpha: float
    alpha_one_sided: float
    higher_is_better: bool
    difference_significant: bool
    zero_spread: bool
    probability_a_beats_b: float
    probability_low: float
    probability_high: float
    seeds_needed_total: int | None
    more_seeds: int | None
    more_seeds_for: str | None
    look: int | None = None
    looks: int | None = None

    @property
    def decided(self) -> bool:
        return self.outcome is not Outcome.INCONCLUSIVE

    @property
    def conclusive(self) -> bool:
        """Equivalent or a winner: what a group-sequential look stops on (analysis.verdict.sequential)."""
        return self.outcome in CONCLUSIVE


def _sign_p(successes: int, trials: int, alternative: str) -> float:
    """Exact sign test (scipy.stats.binomtest at 1/2); no untied pairs means no evidence: p = 1."""
    if trials == 0:
        return 1.0
    return float(scipy_stats.binomtest(successes, trials, 0.5, alternative=alternative).pvalue)


def _rounding(a_values: np.ndarray, b_values: np.ndarray) -> float:
    """What rounding alone can put into a - b: a few ulps of the values."""
    return 4 * np.finfo(float).eps * max(float(np.abs(a_values).max()), float(np.abs(b_values).max()), 1.0)


def _zero_spread_evidence(differences: np.ndarray, margin: float, rounding: float) -> _Evidence:
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
    return _Evidence(
        n=n, mean=c, std=0.0, ci_low=c, ci_high=c, t_statistic=t_statistic,
        p_two_sided=_sign_p(untied if c > 0 else 0, untied, "two-sided"),
        p_above_low=_sign_p(n, n, "greater") if c > -margin else 1.0,
        p_below_high=_sign_p(n, n, "greater") if c < margin else 1.0,
        zero_spread=True,
    )


def _evidence(a: Values, b: Values, margin: float, confidence: float) -> _Evidence:
    """ttest_rel (two-sided, with its interval) and ttost_paired (whose halves are the two
    non-inferiority tests) on the finite pairs."""
    a_values, b_values = finite_pairs(a, b)
    differences = a_values - b_values
    n = int(differences.size)
    if n < 2:
        mean = float(differences.mean()) if n else math.nan
        nan = math.nan
        return _Evidence(n, mean, nan, nan, nan, nan, nan, nan, nan, False)
    rounding = _rounding(a_values, b_values)
    if float(np.ptp(differences)) <= rounding:
        return _zero_spread_evidence(differences, margin, rounding)
    two_sided = scipy_stats.ttest_rel(a_values, b_values)
    interval = two_sided.confidence_interval(confidence)
    _, (_, p_above_low, _), (_, p_below_high, _) = ttost_paired(a_values, b_values, -margin, margin)
    return _Evidence(
        n=n, mean=float(differences.mean()), std=float(differences.std(ddof=1)),
        ci_low=float(interval.low), ci_high=float(interval.high), t_statistic=float(two_sided.statistic),
        p_two_sided=float(two_sided.pvalue), p_above_low=float(p_above_low), p_below_high=float(p_below_high),
        zero_spread=False,
    )


def _oriented(evidence: _Evidence, higher_is_better: bool) -> tuple[float, float, float]:
    """(goodness sign, p "A not worse", p "B not worse"): with lower-is-better, d's upper test is A's."""
    if higher_is_better:
        return 1.0, evidence.p_above_low, evidence.p_below_high
    return -1.0, evidence.p_below_high, evidence.p_above_low


def _classify(sign: float, mean: float, p_two_sided: float, p_equivalence: float, p_not_worse_a: float,
              p_not_worse_b: float, levels: DecisionLevels) -> Outcome:
    """Equivalence first, then superiority, then non-inferiority (see decide)."""
    def rejects(p_value: float, level: float) -> bool:
        return math.isfinite(p_value) and p_value < level

    if rejects(p_equivalence, levels.one_sided):
        return Outcome.EQUIVALENT
    if rejects(p_two_sided, levels.two_sided):
        return Outcome.A_BETTER if sign * mean > 0 else Outcome.B_BETTER
    a_not_worse = rejects(p_not_worse_a, levels.one_sided)
    b_not_worse = rejects(p_not_worse_b, levels.one_sided)
    if a_not_worse and b_not_worse:  # possible only when the TOST family's adjustment held it back
        a_not_worse = (p_not_worse_a, -sign * mean) <= (p_not_worse_b, sign * mean)
        b_not_worse = not a_not_worse
    if a_not_worse:
        return Outcome.A_NOT_WORSE
    if b_not_worse:
        return Outcome.B_NOT_WORSE
    return Outcome.INCONCLUSIVE


def _probability(evidence: _Evidence, sign: float, confidence: float) -> tuple[float, float, float]:
    """P(A beats B on a fresh seed) with its interval.

    Under the t-test's own model (normal differences, mean mu, sd sigma, in the better direction)
    it is Phi(mu / sigma). Its interval comes from the exact interval of the noncentrality of the
    observed t (scipy.special.nctdtrinc, the noncentral-t inversion), divided by sqrt(n): a
    monotone map, so the coverage is exact under the model, with no bootstrap at n = 2..10.
    With zero spread the model has no scale: the observed share of wins (ties count half) with
    exact Clopper-Pearson bounds (binomtest) stands in.
    """
    n = evidence.n
    if n < 2:
        return math.nan, math.nan, math.nan
    if evidence.zero_spread:
        return _zero_spread_probability(n, sign * evidence.mean, confidence)
    t_value = sign * evidence.t_statistic
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


def _verdict(evidence: _Evidence, adjusted: tuple[float, float, float, float], comparisons: int, margin: float,
             levels: DecisionLevels, confidence: float, higher_is_better: bool, details: bool) -> Verdict:
    sign, p_not_worse_a, p_not_worse_b = _oriented(evidence, higher_is_better)
    p_equivalence = max(evidence.p_above_low, evidence.p_below_high)
    p_adjusted, p_equivalence_adjusted, p_a_adjusted, p_b_adjusted = adjusted
    outcome = _classify(sign, evidence.mean, p_adjusted, p_equivalence_adjusted, p_a_adjusted, p_b_adjusted, levels)
    probability = _probability(evidence, sign, confidence) if details else (math.nan,) * 3
    needed, needed_for = (None, None)
    if details and outcome is Outcome.INCONCLUSIVE:
        needed, needed_for = pairs_needed(evidence.n, evidence.mean, evidence.std, margin, levels.two_sided,
                                          levels.one_sided, comparisons, zero_spread=evidence.zero_spread)
    return Verdict(
        outcome=outcome, n=evidence.n, margin=margin, mean_difference=evidence.mean,
        std_difference=evidence.std, ci_low=evidence.ci_low, ci_high=evidence.ci_high, confidence=confidence,
        t_statistic=evidence.t_statistic, p_value=evidence.p_two_sided, p_equivalence=p_equivalence,
        p_not_worse_a=p_not_worse_a, p_not_worse_b=p_not_worse_b, p_value_adjusted=p_adjusted,
        p_equivalence_adjusted=p_equivalence_adjusted, p_not_worse_a_adjusted=p_a_adjusted,
        p_not_worse_b_adjusted=p_b_adjusted, comparisons=comparisons, alpha=levels.two_sided,
        alpha_one_sided=levels.one_sided, higher_is_better=higher_is_better,
        difference_significant=math.isfinite(p_adjusted) and p_adjusted < levels.two_sided,
        zero_spread=evidence.zero_spread, probability_a_beats_b=probability[0], probability_low=probability[1],
        probability_high=probability[2], seeds_needed_total=needed,
        more_seeds=None if needed is None else max(needed - evidence.n, 1),
        more_seeds_for=needed_for, look=levels.look, looks=levels.looks,
    )


def decide_all(
    pairs: Sequence[tuple[Values, Values]],
    margin: float,
    *,
    alpha: float = SIGNIFICANCE_LEVEL,
    higher_is_better: bool = True,
    levels: DecisionLevels | None = None,
    details: bool = True,
) -> list[Verdict]:
    """Decide every comparison (a, b) of one report, with Benjamini-Hochberg across them.

    Each family of p-values (two-sided superiority, TOST, A-not-worse, B-not-worse) is adjusted
    across the comparisons (scipy.stats.false_discovery_control via adjust_p_values; one
    comparison is left as it is) and each decision is taken on its adjusted p-value. See
    decide for the classes and their order. `levels` replaces alpha as the decision levels (a
    group-sequential look's nominal levels); the intervals stay at 1 - alpha. details=False
    skips the effect-size interval and the seed count (NaN / None), for simulations: the
    classes and p-values are the same.
    """
    margin = check_margin(margin)
    check_level("alpha", alpha)
    levels = levels or DecisionLevels.fixed(alpha)
    check_level("the two-sided level", levels.two_sided)
    check_level("the one-sided level", levels.one_sided)
    confidence = 1.0 - alpha
    evidences = [_evidence(a, b, margin, confidence) for a, b in pairs]
    oriented = [_oriented(evidence, higher_is_better) for evidence in evidences]
    families = [
        adjust_p_values([evidence.p_two_sided for evidence in evidences]),
        adjust_p_values([max(evidence.p_above_low, evidence.p_below_high) for evidence in evidences]),
        adjust_p_values([p_a for _, p_a, _ in oriented]),
        adjust_p_values([p_b for _, _, p_b in oriented]),
    ]
    comparisons = sum(evidence.n >= 2 for evidence in evidences)
    return [
        _verdict(evidence, tuple(float(family[index]) for family in families), comparisons, margin, levels,
                 confidence, higher_is_better, details)
        for index, evidence in enumerate(evidences)
    ]


def decide(
    a: Values,
    b: Values,
    margin: float,
    *,
    alpha: float = SIGNIFICANCE_LEVEL,
    higher_is_better: bool = True,
    details: bool = True,
) -> Verdict:
    """One paired comparison of A and B (d = a - b over the pairs where both are finite) with a
    margin > 0 in the metric's units: exactly one of

    - equivalent: TOST (statsmodels ttost_paired) shows -margin < mean(d) < +margin;
    - a_better / b_better: the two-sided paired t-test (scipy ttest_rel) rejects; the sign of the
      mean, read with higher_is_better, says which;
    - a_not_worse / b_not_worse: the one-sided test of "A worse by the margin or more" (resp. B)
      rejects, but neither of the above holds;
    - inconclusive: none of these.

    Taken in that order. Equivalence comes first because the margin is what the researcher said
    matters: a difference that is significant but inside the margin is "equivalent", and the
    record keeps difference_significant = True (the sentence says it). A winner comes before
    non-inferiority because it says more. Levels: the two-sided test at alpha, each one-sided
    test at alpha (TOST at alpha is the 1 - 2 alpha interval inside the margin). Fewer than two
    pairs: inconclusive. All differences equal (all ties included): exact sign tests replace the
    degenerate t-tests (zero_spread = True), so two tied seeds are not "equivalent"
    (p = 0.25) but five are (p = 0.031).
    """
    return decide_all([(a, b)], margin, alpha=alpha, higher_is_better=higher_is_better, details=details)[0]


__all__ = ["CONCLUSIVE", "DEFAULT_MARGIN", "DecisionLevels", "Outcome", "Verdict", "decide", "decide_all"]
