"""The verdict's interval when the test images vary too: a two-way bootstrap over seeds and images.

A confirmation's verdict compares the arms over training randomness, every seed scored on the same
test images (analysis.verdict.variation). On a small test split that sample is a second source of
variation the seeds do not cover: digits has 359 test images, so two arms whose models disagree on
3% of them have a test-sampling standard error of about 0.009 on their difference, the size of a
one-point margin. With each trial's correctness per test image (trainables.correctness, the
`test_correct` column) the difference can be resampled over both: seeds with replacement and,
independently, test images with replacement, each replicate the mean over the drawn seeds of the
arms' accuracy difference on the drawn images (Owen's pigeonhole bootstrap for crossed factors,
Annals of Applied Statistics 2007; it overstates the variance a little, so the interval errs on the
wide side). SciPy's `bootstrap` resamples one axis of observations; it has no crossed design, so the
resampling is written here.

The interval is at the level of the interval the verdict's decision used (the TOST interval for
equivalent and not worse, the two-sided one for a winner; at a look, the look's level; across
comparisons, adjusted as that one is: analysis.verdict.decision.Verdict.ci_level), and `holds`
says whether it supports the same class: a winner's still excludes 0, an equivalence's still lies
within the margin, a "not worse" still stays above minus the margin.
It is shown beside the verdict, which stays the calibrated decision over seeds: the looks' error
rates were measured for that test, not for this interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.verdict.decision import Outcome, Verdict
from trainables.correctness import KEY, decode

REPLICATES = 4000
CHUNK = 250  # replicates drawn at a time: the image counts of a chunk are CHUNK x images integers


@dataclass(frozen=True)
class TwoWayInterval:
    """The mean difference's interval over seeds and test images; `holds`: None for an open verdict."""

    low: float
    high: float
    level: float
    images: int
    holds: bool | None


def correctness_by_seed(rows: pd.DataFrame, arm: str, seeds: np.ndarray, score: float) -> np.ndarray | None:
    """Seeds x images: the arm's mean correctness over its configurations on each seed, a failed trial
    scoring `score` on every image (as in its arm's accuracy). None where a finished trial has no
    correctness (tables written before it was reported) or the trials disagree on the images."""
    side = rows[rows["confirm_arm"] == arm]
    matrix = []
    for seed in seeds:
        bits = []
        for value, text in zip(side.loc[side["seed"] == seed, "value"], side.loc[side["seed"] == seed, KEY]):
            if not math.isfinite(value):
                bits.append(None)  # a failure: filled with its score once the image count is known
            elif isinstance(text, str):
                bits.append(decode(text).astype(float))
            else:
                return None
        matrix.append(bits)
    images = {len(item) for seed_bits in matrix for item in seed_bits if item is not None}
    if len(images) != 1 or any(not seed_bits for seed_bits in matrix):
        return None
    count = images.pop()
    return np.array([np.mean([item if item is not None else np.full(count, score) for item in seed_bits], axis=0)
                     for seed_bits in matrix])


def two_way_interval(a: np.ndarray, b: np.ndarray, level: float, *, replicates: int = REPLICATES,
                     seed: int = 0) -> tuple[float, float]:
    """Percentile interval of mean(a - b) with seeds (rows) and images (columns) resampled independently."""
    difference = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    seeds, images = difference.shape
    generator = np.random.default_rng(seed)
    draws = []
    for start in range(0, replicates, CHUNK):
        size = min(CHUNK, replicates - start)
        seed_counts = generator.multinomial(seeds, np.full(seeds, 1.0 / seeds), size=size)
        image_counts = generator.multinomial(images, np.full(images, 1.0 / images), size=size)
        draws.append(np.einsum("rs,si,ri->r", seed_counts, difference, image_counts) / (seeds * images))
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(np.concatenate(draws), [tail, 1.0 - tail])
    return float(low), float(high)


def _holds(verdict: Verdict, low: float, high: float) -> bool | None:
    margin = verdict.margin
    return {Outcome.A_BETTER: low > 0, Outcome.B_BETTER: high < 0, Outcome.EQUIVALENT: -margin < low and high < margin,
            Outcome.A_NOT_WORSE: low > -margin, Outcome.B_NOT_WORSE: high < margin}.get(verdict.outcome)


def over_seeds_and_images(rows: pd.DataFrame, arm_a: str, arm_b: str, seeds: np.ndarray, verdict: Verdict,
                         score: float | None) -> TwoWayInterval | None:
    """The verdict's two-way interval on `rows` (confirmation_rows with the `test_correct` column) over
    `seeds`, or None where the tables cannot give one (no correctness, a metric without a score)."""
    if KEY not in rows.columns or score is None or len(seeds) < 2 or not verdict.higher_is_better:
        return None
    a, b = (correctness_by_seed(rows, arm, seeds, score) for arm in (arm_a, arm_b))
    if a is None or b is None or a.shape != b.shape:
        return None
    tost = verdict.outcome in (Outcome.EQUIVALENT, Outcome.A_NOT_WORSE, Outcome.B_NOT_WORSE)
    level = 1.0 - ((verdict.tost_level if tost else verdict.ci_level)
                   or (2.0 * verdict.alpha_one_sided if tost else verdict.alpha))
    low, high = two_way_interval(a, b, level)
    return TwoWayInterval(low, high, level, a.shape[1], _holds(verdict, low, high))


__all__ = ["TwoWayInterval", "correctness_by_seed", "over_seeds_and_images", "two_way_interval"]
