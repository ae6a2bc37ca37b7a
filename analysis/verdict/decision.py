"""The decision model: one paired comparison, one difference per seed, decided with a margin.

`decide` (one comparison) and `decide_all` (a report's comparisons, Benjamini-Hochberg across
them) take the tests of analysis.verdict.evidence (SciPy's `ttest_rel`, statsmodels'
`ttost_paired`, exact sign tests, McNemar on the failures) and return a `Verdict`: the class,
every p-value raw and adjusted, the intervals that match the tests, the failures per arm, the
probability that A beats B on a fresh seed, and for a comparison left open the seeds a new
confirmation needs (analysis.verdict.power). `DecisionLevels` are what the p-values are compared
with: alpha for a fixed design, a look's nominal levels for a group-sequential one
(analysis.verdict.sequential). The verdict in words is analysis.verdict.words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from dataclasses import dataclass
from enum import StrEnum

from analysis.verdict.evidence import Evidence, evidence, interval, probability
from analysis.verdict.power import seeds_to_decide
from analysis.verdict.seeds import SeedPairs
from analysis.verdict.stats import SIGNIFICANCE_LEVEL, Values, adjust_p_values, check_level, check_margin

# The smallest difference that matters when nothing else is said: one accuracy point. Sweeps
# declare their own (sweeps.engine.sweep.Sweep.margin), users set it with --margin.
DEFAULT_MARGIN = 0.01


class Outcome(StrEnum):
    """The verdict classes; a StrEnum, so `outcome == "equivalent"` works in reports and tables."""

    EQUIVALENT = "equivalent"
    A_BETTER = "a_better"
    B_BETTER = "b_better"
    A_NOT_WORSE = "a_not_worse"
    B_NOT_WORSE = "b_not_worse"
    INCONCLUSIVE = "inconclusive"


CONCLUSIVE = frozenset({Outcome.EQUIVALENT, Outcome.A_BETTER, Outcome.B_BETTER})
WINNERS = frozenset({Outcome.A_BETTER, Outcome.B_BETTER})


@dataclass(frozen=True)
class DecisionLevels:
    """Levels the adjusted p-values are compared with: `two_sided` for superiority, `one_sided` for
    each one-sided test (TOST halves, non-inferiority, beyond the margin). A fixed design uses
    alpha for both; a group-sequential look (analysis.verdict.sequential) uses that look's nominal
    levels, and its intervals are then repeated confidence intervals."""

    two_sided: float
    one_sided: float
    look: int | None = None  # 1-based
    looks: int | None = None

    @classmethod
    def fixed(cls, alpha: float) -> DecisionLevels:
        return cls(alpha, alpha)

    @property
    def repeated(self) -> bool:
        return self.looks is not None and self.looks > 1


@dataclass(frozen=True)
class Verdict:
    """One paired comparison A vs B decided with a margin (decide / decide_all).

    n counts seeds: one difference a - b per seed (analysis.verdict.seeds). mean_difference and the
    intervals are a - b in the metric's units, whichever direction is better. [ci_low, ci_high]
    is the interval of the two-sided test (it excludes 0 exactly when the test rejects), at
    `confidence` = 1 - alpha: the 95% t interval of a fixed design, or at a look the repeated
    confidence interval (interval_kind "repeated": its nominal level is the look's, and it covers
    the true difference at 95% whenever the stage stopped). [tost_low, tost_high] is the interval
    of TOST and the non-inferiority tests (90% for tests at 5%): inside +-margin exactly when
    TOST rejects. p_not_worse_a tests H0 "A is worse than B by the margin or more", p_not_worse_b
    the mirror; p_beyond "the difference is no larger than the margin" on its own side, and
    beyond_margin says a winner is better by more than the margin. The *_adjusted p-values are
    Benjamini-Hochberg over the `comparisons` decided together. failures_a / failures_b: seeds
    on which the arm failed, p_failures McNemar's exact test of them; held_back: the arm that
    failed more would have been called better, equivalent or not worse, and was not.
    superiority_look: the look at which the two-sided test first rejected (sequential only).
    seeds_needed_total: for a comparison left open at its last look, the seeds a new confirmation
    needs (analysis.verdict.power.seeds_to_decide), for `seeds_needed_for`.
    ci_level / tost_level: the two-sided levels the intervals were computed at. With one comparison
    they are alpha and twice the one-sided level (a look's nominal levels after looks). With m
    comparisons adjusted by Benjamini-Hochberg, of which R were rejected in the interval's family,
    they are R/m times those (Benjamini & Yekutieli 2005, false-coverage-rate adjusted intervals; 1/m
    when none was): BH rejects a comparison exactly when its raw p-value is at most R/m times the
    level, so the interval shown excludes 0 (or lies inside the margin) exactly when the adjusted
    decision says so, and the selected comparisons' intervals miss at most alpha of the time on
    average. `confidence` stays the coverage the words state (1 - alpha).
    """

    outcome: Outcome
    n: int
    margin: float
    mean_difference: float
    std_difference: float
    ci_low: float
    ci_high: float
    tost_low: float
    tost_high: float
    confidence: float
    interval_kind: str
    t_statistic: float
    p_value: float
    p_equivalence: float
    p_not_worse_a: float
    p_not_worse_b: float
    p_beyond: float
    p_value_adjusted: float
    p_equivalence_adjusted: float
    p_not_worse_a_adjusted: float
    p_not_worse_b_adjusted: float
    p_beyond_adjusted: float
    comparisons: int
    alpha: float
    alpha_one_sided: float
    higher_is_better: bool
    difference_significant: bool
    beyond_margin: bool
    zero_spread: bool
    failures_a: int
    failures_b: int
    p_failures: float
    held_back: bool
    probability_a_beats_b: float
    probability_low: float
    probability_high: float
    seeds_needed_total: int | None
    seeds_needed_for: str | None
    look: int | None = None
    looks: int | None = None
    superiority_look: int | None = None
    ci_level: float | None = None  # the two-sided level [ci_low, ci_high] was computed at (see below)
    tost_level: float | None = None  # ... and [tost_low, tost_high]

    @property
    def decided(self) -> bool:
        return self.outcome is not Outcome.INCONCLUSIVE

    @property
    def conclusive(self) -> bool:
        """Equivalent or a winner."""
        return self.outcome in CONCLUSIVE

    @property
    def settled(self) -> bool:
        """What a group-sequential comparison stops on: equivalent, or better by more than the margin.
        A winner whose interval still reaches inside the margin goes on, since more seeds could show
        it within the margin (and equivalence comes first); see analysis.verdict.sequential."""
        return self.outcome is Outcome.EQUIVALENT or (self.outcome in WINNERS and self.beyond_margin)

    def decision_interval(self) -> tuple[float, float, float]:
        """(low, high, coverage) of the interval the outcome's test used: the TOST interval for
        equivalent and not worse (0.90 at alpha 0.05), the two-sided one otherwise (0.95)."""
        if self._tost_decided:
            return self.tost_low, self.tost_high, round(1.0 - 2.0 * (1.0 - self.confidence), 12)
        return self.ci_low, self.ci_high, self.confidence

    def adjusted_level(self) -> float | None:
        """The two-sided level the decision's interval was computed at where the Benjamini-Yekutieli
        adjustment across comparisons changed it (see ci_level), else None."""
        level, plain = ((self.tost_level, 2.0 * self.alpha_one_sided) if self._tost_decided
                        else (self.ci_level, self.alpha))
        return None if level is None or math.isclose(level, plain) else level

    @property
    def _tost_decided(self) -> bool:
        return self.outcome in (Outcome.EQUIVALENT, Outcome.A_NOT_WORSE, Outcome.B_NOT_WORSE)


def _rejects(p_value: float, level: float) -> bool:
    return math.isfinite(p_value) and p_value < level


def _classify(sign: float, mean: float, p_two_sided: float, p_equivalence: float, p_not_worse_a: float,
              p_not_worse_b: float, levels: DecisionLevels) -> Outcome:
    """Equivalence first, then superiority, then non-inferiority (see decide)."""
    if _rejects(p_equivalence, levels.one_sided):
        return Outcome.EQUIVALENT
    if _rejects(p_two_sided, levels.two_sided):
        return Outcome.A_BETTER if sign * mean > 0 else Outcome.B_BETTER
    a_not_worse = _rejects(p_not_worse_a, levels.one_sided)
    b_not_worse = _rejects(p_not_worse_b, levels.one_sided)
    if a_not_worse and b_not_worse:  # possible only when the TOST family's adjustment held it back
        a_not_worse = (p_not_worse_a, -sign * mean) <= (p_not_worse_b, sign * mean)
        b_not_worse = not a_not_worse
    if a_not_worse:
        return Outcome.A_NOT_WORSE
    if b_not_worse:
        return Outcome.B_NOT_WORSE
    return Outcome.INCONCLUSIVE


def hold_back(outcome: Outcome, failures_a: int, failures_b: int) -> Outcome:
    """The arm that failed on more seeds is never better, equivalent or not worse on its survivors:
    its win or its "not worse" becomes inconclusive, and equivalence becomes the other arm's "not
    worse" (which equivalence implies)."""
    if failures_a == failures_b:
        return outcome
    more_failures_a = failures_a > failures_b
    own_win, own_not_worse = ((Outcome.A_BETTER, Outcome.A_NOT_WORSE) if more_failures_a
                              else (Outcome.B_BETTER, Outcome.B_NOT_WORSE))
    if outcome in (own_win, own_not_worse):
        return Outcome.INCONCLUSIVE
    if outcome is Outcome.EQUIVALENT:
        return Outcome.B_NOT_WORSE if more_failures_a else Outcome.A_NOT_WORSE
    return outcome


def _oriented(found: Evidence, higher_is_better: bool) -> tuple[float, float, float]:
    """(goodness sign, p "A not worse", p "B not worse"): with lower-is-better, d's upper test is A's."""
    if higher_is_better:
        return 1.0, found.p_above_low, found.p_below_high
    return -1.0, found.p_below_high, found.p_above_low


def fcr_level(level: float, selected: int, tested: int) -> float:
    """The level of a Benjamini-Yekutieli interval: R of m selected by BH at `level` (see Verdict)."""
    return level if tested <= 1 else level * max(selected, 1) / tested


def _verdict(found: Evidence, adjusted: tuple[float, ...], selected: tuple[int, ...], sizes: tuple[int, ...],
             comparisons: int, margin: float, levels: DecisionLevels, alpha: float, higher_is_better: bool,
             details: bool) -> Verdict:
    sign, p_not_worse_a, p_not_worse_b = _oriented(found, higher_is_better)
    p_equivalence = max(found.p_above_low, found.p_below_high)
    p_adjusted, p_equivalence_adjusted, p_a_adjusted, p_b_adjusted, p_beyond_adjusted = adjusted
    tested = _classify(sign, found.mean, p_adjusted, p_equivalence_adjusted, p_a_adjusted, p_b_adjusted, levels)
    outcome = hold_back(tested, found.failures_a, found.failures_b)
    confidence = 1.0 - alpha
    ci_level = fcr_level(levels.two_sided, selected[0], sizes[0])
    family = {Outcome.A_NOT_WORSE: 2, Outcome.B_NOT_WORSE: 3}.get(tested, 1)  # the family that decided it
    tost_level = fcr_level(2.0 * levels.one_sided, selected[family], sizes[family])
    ci_low, ci_high = interval(found, ci_level)
    tost_low, tost_high = interval(found, tost_level)
    chance = probability(found, sign, confidence) if details else (math.nan,) * 3
    last_look = levels.look is None or levels.look == levels.looks
    needed, needed_for = (None, None)
    if details and last_look and outcome is Outcome.INCONCLUSIVE and found.n >= 2:
        # planned on the spread of the seeds without failures: a failure's score is not a spread to plan for
        spread = found.std_without_failures if found.failures_a or found.failures_b else found.std
        needed, needed_for = seeds_to_decide(spread, margin, alpha, comparisons, zero_spread=found.zero_spread,
                                             difference=found.mean)
    return Verdict(
        outcome=outcome, n=found.n, margin=margin, mean_difference=found.mean, std_difference=found.std,
        ci_low=ci_low, ci_high=ci_high, tost_low=tost_low, tost_high=tost_high, confidence=confidence,
        interval_kind="repeated" if levels.repeated else "t", t_statistic=found.t_statistic,
        p_value=found.p_two_sided, p_equivalence=p_equivalence, p_not_worse_a=p_not_worse_a,
        p_not_worse_b=p_not_worse_b, p_beyond=found.p_beyond, p_value_adjusted=p_adjusted,
        p_equivalence_adjusted=p_equivalence_adjusted, p_not_worse_a_adjusted=p_a_adjusted,
        p_not_worse_b_adjusted=p_b_adjusted, p_beyond_adjusted=p_beyond_adjusted, comparisons=comparisons,
        alpha=levels.two_sided, alpha_one_sided=levels.one_sided, higher_is_better=higher_is_better,
        difference_significant=_rejects(p_adjusted, levels.two_sided),
        beyond_margin=outcome in WINNERS and _rejects(p_beyond_adjusted, levels.one_sided),
        zero_spread=found.zero_spread, failures_a=found.failures_a, failures_b=found.failures_b,
        p_failures=found.p_failures, held_back=outcome is not tested, probability_a_beats_b=chance[0],
        probability_low=chance[1], probability_high=chance[2], seeds_needed_total=needed,
        seeds_needed_for=needed_for, look=levels.look, looks=levels.looks, ci_level=ci_level, tost_level=tost_level,
    )


def decide_all(
    pairs: Sequence[SeedPairs | tuple[Values, Values]],
    margin: float,
    *,
    alpha: float = SIGNIFICANCE_LEVEL,
    higher_is_better: bool = True,
    levels: DecisionLevels | None = None,
    details: bool = True,
) -> list[Verdict]:
    """Decide every comparison of one report, with Benjamini-Hochberg across them.

    Each comparison is a SeedPairs (one value per seed and arm, failures flagged: analysis.verdict.
    seeds) or a plain (a, b) pair of arrays, one entry per seed, whose non-finite pairs are left
    out. Each family of p-values (two-sided superiority, TOST, A-not-worse, B-not-worse, beyond
    the margin) is adjusted across the comparisons (scipy.stats.false_discovery_control via
    adjust_p_values; one comparison is left as it is) and each decision is taken on its adjusted
    p-value. See decide for the classes and their order. `levels` replaces alpha as the decision
    levels (a group-sequential look's nominal levels; the intervals are then the look's repeated
    intervals, which cover at 1 - alpha). details=False skips the effect-size interval and the
    seed count (NaN / None), for simulations: the classes and p-values are the same.
    """
    margin = check_margin(margin)
    check_level("alpha", alpha)
    levels = levels or DecisionLevels.fixed(alpha)
    check_level("the two-sided level", levels.two_sided)
    check_level("the one-sided level", levels.one_sided)
    found = [evidence(item, margin) for item in pairs]
    oriented = [_oriented(item, higher_is_better) for item in found]
    families = [
        adjust_p_values([item.p_two_sided for item in found]),
        adjust_p_values([max(item.p_above_low, item.p_below_high) for item in found]),
        adjust_p_values([p_a for _, p_a, _ in oriented]),
        adjust_p_values([p_b for _, _, p_b in oriented]),
        adjust_p_values([item.p_beyond for item in found]),
    ]
    comparisons = sum(item.n >= 2 for item in found)
    family_levels = (levels.two_sided, *(levels.one_sided,) * 4)
    selected = tuple(sum(_rejects(value, level) for value in family) for family, level in zip(families, family_levels))
    sizes = tuple(int(np.isfinite(family).sum()) for family in families)
    return [
        _verdict(item, tuple(float(family[index]) for family in families), selected, sizes, comparisons, margin,
                 levels, alpha, higher_is_better, details)
        for index, item in enumerate(found)
    ]


def decide(
    a: Values | SeedPairs,
    b: Values | None = None,
    margin: float = DEFAULT_MARGIN,
    *,
    alpha: float = SIGNIFICANCE_LEVEL,
    higher_is_better: bool = True,
    details: bool = True,
) -> Verdict:
    """One paired comparison of A and B, one value per seed (a SeedPairs as `a`, or two arrays),
    with a margin > 0 in the metric's units: exactly one of

    - equivalent: TOST (statsmodels ttost_paired) shows -margin < mean(d) < +margin, i.e. the 90%
      interval lies inside the margin; a difference that is also significant is "better, but
      within the margin": practically equivalent (difference_significant says so);
    - a_better / b_better: the two-sided paired t-test (scipy ttest_rel) rejects; the sign of the
      mean, read with higher_is_better, says which; beyond_margin: by more than the margin;
    - a_not_worse / b_not_worse: the one-sided test of "A worse by the margin or more" (resp. B)
      rejects, but neither of the above holds;
    - inconclusive: none of these.

    Taken in that order, then `hold_back`: the arm that failed on more seeds is never better,
    equivalent or not worse. Equivalence comes first because the margin is what the researcher
    said matters. Levels: the two-sided test at alpha, each one-sided test at alpha. Fewer than
    two seeds: inconclusive. All differences equal (all ties included): exact sign tests replace
    the degenerate t-tests (zero_spread = True), so two tied seeds are not "equivalent"
    (p = 0.25) but five are (p = 0.031).
    """
    pairs = a if isinstance(a, SeedPairs) else (a, b)
    return decide_all([pairs], margin, alpha=alpha, higher_is_better=higher_is_better, details=details)[0]


__all__ = ["CONCLUSIVE", "DEFAULT_MARGIN", "WINNERS", "DecisionLevels", "Outcome", "Verdict", "decide", "decide_all",
           "hold_back"]
