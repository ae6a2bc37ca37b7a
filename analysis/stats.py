"""Small-sample statistics for comparing activations across seeds, from SciPy and statsmodels.

The tests are SciPy's and statsmodels' own (`ttest_rel` with its `confidence_interval`,
`wilcoxon`, `t.interval`, `ttost_paired`, `TTestPower`, `binomtest`); this module keeps only
what they do not do: dropping non-finite pairs, returning NaN instead of warnings for samples
too small to test, the verdict classes with a margin (`decide`, `decide_all`) and their words.
Sweeps have 2-10 seeds per setting, where ties and zero differences are the normal case.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import special as scipy_special
from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import ttost_paired

SIGNIFICANCE_LEVEL = 0.05
# The smallest difference that matters when nothing else is said: one accuracy point. Sweeps
# declare their own (sweeps.engine.sweep.Sweep.margin), users set it with --margin.
DEFAULT_MARGIN = 0.01

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


# --- Verdicts with a margin -------------------------------------------------------------------

TARGET_POWER = 0.8
MAX_PLANNED_PAIRS = 100_000  # beyond this a seed count is not advice any more: reported as None
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
    group-sequential look (analysis.sequential) uses that look's nominal levels."""

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
    """One paired comparison A vs B decided with a margin (analysis.stats.decide / decide_all).

    mean_difference, ci_low and ci_high are a - b in the metric's units, whichever direction is
    better. p_not_worse_a tests H0 "A is worse than B by the margin or more", p_not_worse_b the
    mirror; p_equivalence is the TOST p-value (the larger of the two). The *_adjusted p-values are
    Benjamini-Hochberg over the `comparisons` decided together (equal to the raw ones for one).
    probability_a_beats_b: the chance that A does better than B on a fresh seed, with its interval.
    seeds_needed_total / more_seeds: for an inconclusive comparison only, the paired seeds that
    would give 80% power for `more_seeds_for` ("superiority" or "equivalence") at the observed
    mean and spread; None where they cannot be estimated (fewer than 2 pairs) or exceed 100000.
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
        """Equivalent or a winner: what a group-sequential look stops on (analysis.sequential)."""
        return self.outcome in CONCLUSIVE

    def sentence(self, name_a: str, name_b: str, metric: str = "best_val_accuracy") -> str:
        """One plain-words line for a report, with the numbers that carry the verdict."""
        return _sentence(self, name_a, name_b, metric)


def _check_margin(margin: float) -> float:
    value = float(margin)
    if not math.isfinite(value) or value <= 0.0:
        raise ValueError(f"margin must be a positive finite number in the metric's units, got {margin!r}")
    return value


def _check_level(name: str, value: float) -> None:
    if not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")


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
    a_values, b_values = _finite_pairs(a, b)
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
        # SciPy's noncentral t returns NaN for the far tail at large noncentrality (nct.cdf(-4.3, 2, 17.3));
        # that tail is negligible there, so the near side alone is the power.
        power = float(TTestPower().power(effect_size=abs(effect_size), nobs=n, alpha=level / 2.0, alternative="larger"))
    return power


def pairs_for_power(std: float, margin: float, alpha: float = SIGNIFICANCE_LEVEL) -> int | None:
    """Paired seeds a fixed design needs for 80% power to call a difference of one margin at a
    paired difference's sd `std` (two-sided t-test at alpha, statsmodels): how a confirmation's N is
    planned. None past MAX_PLANNED_PAIRS; 2 when even two pairs suffice."""
    if not (math.isfinite(std) and std > 0):
        raise ValueError(f"std must be a positive number, got {std!r}")
    return _smallest_n(lambda n: superiority_power(_check_margin(margin) / std, n, alpha), 2)


def equivalence_power(mean: float, std: float, margin: float, n: int, level: float) -> float:
    """Lower bound on the TOST power at a true mean inside the margin: P1 + P2 - 1 (Bonferroni),
    where P1, P2 are statsmodels' TTestPower for the two one-sided tests at `level`. statsmodels
    has no TOST power for t; the bound is conservative (exact when one side dominates)."""
    power = TTestPower()
    lower = power.power(effect_size=(mean + margin) / std, nobs=n, alpha=level, alternative="larger")
    upper = power.power(effect_size=(margin - mean) / std, nobs=n, alpha=level, alternative="larger")
    return float(max(lower + upper - 1.0, 0.0))


def _pairs_needed(evidence: _Evidence, margin: float, levels: DecisionLevels,
                  comparisons: int) -> tuple[int | None, str | None]:
    """Paired seeds for 80% power at the observed mean and spread, and for which decision.

    The reachable decision: superiority when |mean| >= margin (equivalence cannot hold there),
    else equivalence (the stronger of the decisions inside the margin). Planned at level / m
    for m comparisons: Bonferroni there implies Benjamini-Hochberg, so the count is enough for
    this comparison whatever the others do. With zero spread, the count is what the exact sign
    test needs if the differences stay equal.
    """
    if evidence.n < 2:
        return None, None
    target = "superiority" if abs(evidence.mean) >= margin else "equivalence"
    level = (levels.two_sided if target == "superiority" else levels.one_sided) / max(comparisons, 1)
    if evidence.zero_spread:
        sides = 2.0 if target == "superiority" else 1.0
        return max(2, math.floor(math.log2(sides / level)) + 1), target
    if target == "superiority":
        effect = abs(evidence.mean) / evidence.std
        return _smallest_n(lambda n: superiority_power(effect, n, level), 2), target
    return _smallest_n(lambda n: equivalence_power(evidence.mean, evidence.std, margin, n, level), 2), target


def _verdict(evidence: _Evidence, adjusted: tuple[float, float, float, float], comparisons: int, margin: float,
             levels: DecisionLevels, confidence: float, higher_is_better: bool, details: bool) -> Verdict:
    sign, p_not_worse_a, p_not_worse_b = _oriented(evidence, higher_is_better)
    p_equivalence = max(evidence.p_above_low, evidence.p_below_high)
    p_adjusted, p_equivalence_adjusted, p_a_adjusted, p_b_adjusted = adjusted
    outcome = _classify(sign, evidence.mean, p_adjusted, p_equivalence_adjusted, p_a_adjusted, p_b_adjusted, levels)
    probability = _probability(evidence, sign, confidence) if details else (math.nan,) * 3
    needed, needed_for = (None, None)
    if details and outcome is Outcome.INCONCLUSIVE:
        needed, needed_for = _pairs_needed(evidence, margin, levels, comparisons)
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
    margin = _check_margin(margin)
    _check_level("alpha", alpha)
    levels = levels or DecisionLevels.fixed(alpha)
    _check_level("the two-sided level", levels.two_sided)
    _check_level("the one-sided level", levels.one_sided)
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


def _format_p(p_value: float, adjusted: float, comparisons: int) -> str:
    text = f"{p_value:.3g}"
    if comparisons > 1 and math.isfinite(adjusted):
        text += f" (Benjamini-Hochberg over {comparisons} comparisons: {adjusted:.3g})"
    return text


def _sentence(result: Verdict, name_a: str, name_b: str, metric: str) -> str:
    if result.n < 2:
        return (f"{name_a} vs {name_b} on {metric} is inconclusive: {result.n} paired run(s), "
                f"at least 2 needed for a test.")
    outcome = result.outcome
    first_is_b = outcome in (Outcome.B_BETTER, Outcome.B_NOT_WORSE)
    first, second = (name_b, name_a) if first_is_b else (name_a, name_b)
    flip = -1.0 if first_is_b else 1.0
    low, high = sorted((flip * result.ci_low, flip * result.ci_high))
    numbers = (f"difference {flip * result.mean_difference:+.4f}, {result.confidence:.0%} CI "
               f"[{low:+.4f}, {high:+.4f}]")
    tail = f", n = {result.n}"
    if result.look is not None:
        tail += f", look {result.look} of {result.looks}"
    margin = f"{result.margin:.4f}"
    if outcome is Outcome.EQUIVALENT:
        text = (f"{first} is equivalent to {second} within ±{margin} on {metric} ({numbers}, TOST p = "
                f"{_format_p(result.p_equivalence, result.p_equivalence_adjusted, result.comparisons)}{tail})")
        if result.difference_significant:
            text += f"; the difference itself is significant (paired t p = {result.p_value:.3g}) but inside the margin"
    elif outcome in (Outcome.A_BETTER, Outcome.B_BETTER):
        text = (f"{first} is better than {second} on {metric} ({numbers}, margin ±{margin}, paired t p = "
                f"{_format_p(result.p_value, result.p_value_adjusted, result.comparisons)}{tail})")
    elif outcome in (Outcome.A_NOT_WORSE, Outcome.B_NOT_WORSE):
        p_raw, p_adjusted = ((result.p_not_worse_b, result.p_not_worse_b_adjusted) if first_is_b
                             else (result.p_not_worse_a, result.p_not_worse_a_adjusted))
        text = (f"{first} is not worse than {second} by more than {margin} on {metric} ({numbers}, "
                f"non-inferiority p = {_format_p(p_raw, p_adjusted, result.comparisons)}{tail}); "
                f"neither better nor equivalent within ±{margin}")
    else:
        text = (f"{first} vs {second} on {metric} is inconclusive at margin ±{margin} ({numbers}, paired t p = "
                f"{result.p_value:.3g}, TOST p = {result.p_equivalence:.3g}{tail})")
        if result.more_seeds is not None:
            aim = "a difference" if result.more_seeds_for == "superiority" else "equivalence"
            text += (f"; about {result.more_seeds} more paired seeds ({result.seeds_needed_total} in all) would "
                     f"give 80% power to show {aim} at the observed spread")
    text += _probability_words(result, first, second, flip)
    if result.zero_spread:
        text += f"; all {result.n} differences are equal, so exact sign tests stand in for the t-tests"
    return text + "."


def _probability_words(result: Verdict, first: str, second: str, flip: float) -> str:
    if not math.isfinite(result.probability_a_beats_b):
        return ""
    values = (result.probability_a_beats_b, result.probability_low, result.probability_high)
    if flip < 0:
        values = (1 - values[0], 1 - values[2], 1 - values[1])
    return (f"; {first} beats {second} on a fresh seed with probability {values[0]:.2f} "
            f"({result.confidence:.0%} CI [{values[1]:.2f}, {values[2]:.2f}])")


__all__ = [
    "CONCLUSIVE",
    "DEFAULT_MARGIN",
    "DecisionLevels",
    "MeanInterval",
    "Outcome",
    "adjust_p_values",
    "pairs_for_power",
    "PairedTest",
    "SIGNIFICANCE_LEVEL",
    "Verdict",
    "decide",
    "decide_all",
    "equivalence_power",
    "is_distinguishable",
    "mean_confidence_interval",
    "paired_t_test",
    "superiority_power",
    "verdict",
    "wilcoxon_signed_rank",
]
