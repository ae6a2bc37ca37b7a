"""The verdict in words: one sentence per comparison, and the report's verdict lines.

`sentence` words an analysis.verdict.decision.Verdict with the numbers that carry it: the
difference and the interval its test used (labelled with its level, and "repeated" after looks),
the margin, the p-value that decided, the seeds, the look, the failures per arm, the probability
of a win on a fresh seed, and the seeds a new confirmation needs for a comparison left open;
`verdict_lines` adds the seeds each comparison used and, where the trials give it, the interval
over seeds and test images (analysis.verdict.two_way), for the report (analysis.report) and the
engine's summary after a confirmation stage.
"""

from __future__ import annotations

import math

import pandas as pd

from analysis.verdict.decision import WINNERS, Outcome, Verdict


def _format_p(p_value: float, adjusted: float, comparisons: int) -> str:
    text = f"{p_value:.3g}"
    if comparisons > 1 and math.isfinite(adjusted):
        text += f" (Benjamini-Hochberg over {comparisons} comparisons: {adjusted:.3g})"
    return text


def _interval(result: Verdict, flip: float) -> str:
    low, high, coverage = result.decision_interval()
    low, high = sorted((flip * low, flip * high))
    kind = " repeated" if result.interval_kind == "repeated" else ""
    adjusted = result.adjusted_level()
    across = (f" (false-coverage adjusted over the {result.comparisons} comparisons: computed at "
              f"{100 * (1 - adjusted):.3g}%)" if adjusted is not None else "")
    return (f"difference {flip * result.mean_difference:+.4f}, {coverage:.0%}{kind} CI{across} "
            f"[{low:+.4f}, {high:+.4f}]")


def _better_named(result: Verdict, name_a: str, name_b: str) -> str:
    goodness = result.mean_difference if result.higher_is_better else -result.mean_difference
    return name_a if goodness > 0 else name_b


def sentence(result: Verdict, name_a: str, name_b: str, metric: str = "best_val_accuracy") -> str:
    """One plain-words line for a report, with the numbers that carry the verdict."""
    if result.n < 2:
        return (f"{name_a} vs {name_b} on {metric} is inconclusive: {result.n} seed(s) with both arms' values, "
                f"at least 2 needed for a test{_failures(result, name_a, name_b)}.")
    outcome = result.outcome
    first_is_b = outcome in (Outcome.B_BETTER, Outcome.B_NOT_WORSE)
    first, second = (name_b, name_a) if first_is_b else (name_a, name_b)
    flip = -1.0 if first_is_b else 1.0
    numbers = _interval(result, flip)
    tail = f", {result.n} seeds"
    if result.look is not None:
        tail += f", look {result.look} of {result.looks}"
    margin = f"{result.margin:.4f}"
    if outcome is Outcome.EQUIVALENT:
        text = (f"{first} is equivalent to {second} within ±{margin} on {metric} ({numbers}, TOST p = "
                f"{_format_p(result.p_equivalence, result.p_equivalence_adjusted, result.comparisons)}{tail})")
        if result.difference_significant or result.superiority_look is not None:
            where = (f"paired t p = {result.p_value:.3g}" if result.difference_significant
                     else f"at look {result.superiority_look}")
            text += (f"; {_better_named(result, name_a, name_b)} is better, but by less than the margin: practically "
                     f"equivalent (the difference itself is significant, {where})")
    elif outcome in WINNERS:
        by = "by more than the margin " if result.beyond_margin else ""
        text = (f"{first} is better than {second} {by}on {metric} ({numbers}, margin ±{margin}, paired t p = "
                f"{_format_p(result.p_value, result.p_value_adjusted, result.comparisons)}{tail})")
        if not result.beyond_margin:
            text += "; whether by more than the margin is not shown"
        if result.superiority_look is not None and result.superiority_look != result.look:
            text += f" (the superiority boundary was crossed at look {result.superiority_look})"
    elif outcome in (Outcome.A_NOT_WORSE, Outcome.B_NOT_WORSE):
        p_raw, p_adjusted = ((result.p_not_worse_b, result.p_not_worse_b_adjusted) if first_is_b
                             else (result.p_not_worse_a, result.p_not_worse_a_adjusted))
        text = (f"{first} is not worse than {second} by more than {margin} on {metric} ({numbers}, "
                f"non-inferiority p = {_format_p(p_raw, p_adjusted, result.comparisons)}{tail}); "
                f"neither better nor equivalent within ±{margin}")
    else:
        text = (f"{first} vs {second} on {metric} is inconclusive at margin ±{margin} ({numbers}, paired t p = "
                f"{result.p_value:.3g}, TOST p = {result.p_equivalence:.3g}{tail})")
        if result.seeds_needed_total is not None:
            text += (f"; a new confirmation of about {result.seeds_needed_total} seeds would decide it (80% power at a "
                     "difference of one margin and for equivalence at none, at the observed spread; this "
                     "confirmation's alpha is spent)")
    text += _failures(result, name_a, name_b)
    text += _probability_words(result, first, second, flip)
    if result.zero_spread:
        text += f"; all {result.n} differences are equal, so exact sign tests stand in for the t-tests"
    return text + "."


def _failures(result: Verdict, name_a: str, name_b: str) -> str:
    if not (result.failures_a or result.failures_b):
        return ""
    text = (f"; failed seeds (diverged, errored or cut short; scored as the metric's worst value): {name_a} "
            f"{result.failures_a}, {name_b} {result.failures_b} (McNemar exact p = {result.p_failures:.3g})")
    if result.held_back:
        worse = name_a if result.failures_a > result.failures_b else name_b
        text += f"; {worse} failed on more seeds, so it is not called better, equivalent or not worse"
    return text


def _probability_words(result: Verdict, first: str, second: str, flip: float) -> str:
    if not math.isfinite(result.probability_a_beats_b):
        return ""
    values = (result.probability_a_beats_b, result.probability_low, result.probability_high)
    if flip < 0:
        values = (1 - values[0], 1 - values[2], 1 - values[1])
    return (f"; {first} beats {second} on a fresh seed with probability {values[0]:.2f} "
            f"({result.confidence:.0%} CI [{values[1]:.2f}, {values[2]:.2f}])")


def verdict_lines(comparisons: pd.DataFrame | None) -> list[str]:
    """One line per comparison: the verdict in words with its difference, interval, margin and seeds."""
    if comparisons is None or comparisons.empty:
        return []
    most = comparisons.attrs.get("max_seeds")
    lines = []
    for row in comparisons.itertuples(index=False):
        seeds = f"{row.seeds} seed(s)" + (f" of at most {most}" if most else "")
        lines.append(f"{row.sentence.removesuffix('.')}. Used {seeds}.{_two_way(row)}")
    return lines


def _two_way(row: object) -> str:
    """The interval over seeds and test images (analysis.verdict.two_way), oriented as the sentence."""
    low, high, level = (getattr(row, f"two_way_{name}", None) for name in ("low", "high", "level"))
    if low is None or high is None or level is None or not (math.isfinite(low) and math.isfinite(high)):
        return ""
    flip = -1.0 if str(row.outcome) in (Outcome.B_BETTER, Outcome.B_NOT_WORSE) else 1.0
    low, high = sorted((flip * low, flip * high))
    text = (f" Over seeds and test images (two-way bootstrap at the decision interval's nominal {100 * level:.3g}%): "
            f"[{low:+.4f}, {high:+.4f}]")
    holds = getattr(row, "two_way_holds", None)
    if holds is None or holds is pd.NA:
        return text + "."
    return text + ("; the verdict holds." if holds else "; the verdict does not hold when the test images vary too.")


__all__ = ["sentence", "verdict_lines"]
