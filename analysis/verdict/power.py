"""Power and seeds: how many paired seeds a comparison needs to be decided.

`superiority_power` and `equivalence_power` are statsmodels' TTestPower (with SciPy's far-tail NaN
handled); `pairs_for_power` plans a fixed design's N before a confirmation runs, `seeds_to_decide` tells
an inconclusive verdict (analysis.verdict.decision) how many seeds a new confirmation needs.
The group-sequential plan's power is analysis.verdict.sequential's.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestPower

from analysis.verdict.stats import SIGNIFICANCE_LEVEL, check_margin

TARGET_POWER = 0.8
MAX_PLANNED_PAIRS = 100_000  # beyond this a seed count is not advice any more: reported as None


def _smallest_n(power: Callable[[int], float], start: int) -> int | None:
    """Smallest n >= start with power(n) >= TARGET_POWER (power rises with n), or None past the cap."""
    low, high = start, max(start, 2)
    while power(high) < TARGET_POWER:
        if high >= MAX_PLANNED_PAIRS:
            return None
        low, high = high + 1, min(2 * high, MAX_PLANNED_PAIRS)
    while low < high:
        middle = (low + high) // 2
        if power(middle) >= TARGET_POWER:
            high = middle
        else:
            low = middle + 1
    return high


def superiority_power(effect_size: float, n: int, level: float) -> float:
    """Power of the two-sided paired t-test (statsmodels TTestPower) at |mean| / sd = effect_size."""
    power = float(TTestPower().power(effect_size=effect_size, nobs=n, alpha=level, alternative="two-sided"))
    if math.isnan(power):
        # SciPy's noncentral t returns NaN for a tail of about 1e-170 at large noncentrality (nct.cdf(-4.3,
        # 2, 17.3); scipy 1.17 also nct.cdf(2.27, 8.76, 38.5), the near side's complement, so statsmodels'
        # one-sided power is NaN too). Such a tail is zero to double precision: the near side's survival
        # function, which SciPy computes directly, is the power.
        degrees = n - 1
        critical = scipy_stats.t.isf(level / 2.0, degrees)
        power = float(scipy_stats.nct.sf(critical, degrees, abs(effect_size) * math.sqrt(n)))
    return power


def pairs_for_power(std: float, margin: float, alpha: float = SIGNIFICANCE_LEVEL) -> int | None:
    """Paired seeds a fixed design needs for 80% power to call a difference of one margin at a
    paired difference's sd `std` (two-sided t-test at alpha, statsmodels): how a confirmation's N is
    planned. None past MAX_PLANNED_PAIRS; 2 when even two pairs suffice."""
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"std must be a positive number, got {std!r}")
    return _smallest_n(lambda n: superiority_power(check_margin(margin) / std, n, alpha), 2)


def equivalence_power(mean: float, std: float, margin: float, n: int, level: float) -> float:
    """Lower bound on the TOST power at a true mean inside the margin: P1 + P2 - 1 (Bonferroni),
    where P1, P2 are statsmodels' TTestPower for the two one-sided tests at `level`. statsmodels
    has no TOST power for t; the bound is conservative (exact when one side dominates)."""
    power = TTestPower()
    lower = power.power(effect_size=(mean + margin) / std, nobs=n, alpha=level, alternative="larger")
    upper = power.power(effect_size=(margin - mean) / std, nobs=n, alpha=level, alternative="larger")
    return float(max(lower + upper - 1.0, 0.0))


def seeds_to_decide(std: float, margin: float, alpha: float, comparisons: int, *,
                    zero_spread: bool = False, difference: float = 0.0) -> tuple[int | None, str | None]:
    """Seeds a NEW confirmation needs to decide a comparison this one left open, and for which decision.

    Planned at the margin, not at the observed difference: 80% power to call a difference of one
    margin (two-sided t-test) and 80% power to show equivalence when there is no difference
    (TOST), whichever needs more, at the observed spread of one difference per seed. The
    observed difference is not used: power computed at it (post-hoc power) says nothing the
    p-value did not, and its advice swings with the noise (at no true difference and an sd of
    three margins it ranged past a hundred seeds). This confirmation's alpha is spent, so its
    seeds cannot simply be extended: the count is for fresh seeds, at level alpha / m for m
    comparisons (Bonferroni, which implies Benjamini-Hochberg: enough whatever the others do).
    With zero spread (all `difference`), the count is what the exact sign tests need if the
    differences stay equal.
    """
    level = alpha / max(comparisons, 1)
    if zero_spread:  # n equal differences: the sign tests need 0.5**n below the level (two-sided: twice it)
        if abs(difference) >= margin:
            return max(2, math.floor(math.log2(2.0 / level)) + 1), "superiority"
        return max(2, math.floor(math.log2(1.0 / level)) + 1), "equivalence"
    if not (math.isfinite(std) and std > 0):
        return None, None
    superiority = _smallest_n(lambda seeds: superiority_power(margin / std, seeds, level), 2)
    equivalence = _smallest_n(lambda seeds: equivalence_power(0.0, std, margin, seeds, level), 2)
    if superiority is None or equivalence is None:
        return None, "superiority" if superiority is None else "equivalence"
    return (superiority, "superiority") if superiority >= equivalence else (equivalence, "equivalence")


__all__ = ["MAX_PLANNED_PAIRS", "TARGET_POWER", "equivalence_power", "pairs_for_power", "seeds_to_decide",
           "superiority_power"]
