"""The verdict in words: one sentence per comparison, and the report's verdict lines.

`sentence` words an analysis.verdict.decision.Verdict with the numbers that carry it (the
difference and its interval, the margin, the p-value that decided, the look, the probability of
a win on a fresh seed, the seeds that would decide an inconclusive comparison); `verdict_lines`
adds the seeds each comparison used, for the report (analysis.report) and the engine's summary
after a confirmation stage.
"""

from __future__ import annotations

import math

import pandas as pd

from analysis.verdict.decision import Outcome, Verdict


def _format_p(p_value: float, adjusted: float, comparisons: int) -> str:
    text = f"{p_value:.3g}"
    if comparisons > 1 and math.isfinite(adjusted):
        text += f" (Benjamini-Hochberg over {comparisons} comparisons: {adjusted:.3g})"
    return text


def sentence(result: Verdict, name_a: str, name_b: str, metric: str = "best_val_accuracy") -> str:
    """One plain-words line for a report, with the numbers that carry the verdict."""
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


def verdict_lines(comparisons: pd.DataFrame | None) -> list[str]:
    """One line per comparison: the verdict in words with its difference, interval, margin and seeds."""
    if comparisons is None or comparisons.empty:
        return []
    most = comparisons.attrs.get("max_seeds")
    lines = []
    for row in comparisons.itertuples(index=False):
        seeds = f"{row.seeds} seed(s) per configuration" + (f" of at most {most}" if most else "")
        lines.append(f"{row.sentence.removesuffix('.')}. Used {seeds}, {row.n} pair(s).")
    return lines


__all__ = ["sentence", "verdict_lines"]
