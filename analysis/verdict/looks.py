"""The confirmation stage's verdicts, look by look: one function for the engine (while the stage
runs, to decide whether to add seeds) and the report (after, to say what was decided and when).

A confirmation run in looks (sweeps.engine.confirm) adds `confirm_batch` new seeds to every
chosen configuration at each look, up to `confirm_seeds`, and stops once every comparison of
arms is decided (analysis.verdict.sequential). Its trials carry that plan in their config
(`confirm_margin`, `confirm_seeds`, `confirm_batch`, and the 1-based `confirm_look` of their
seed), so the verdicts are a pure function of the trials' values: `look_verdicts` replays the
looks on them, exactly as the stage did.

Arms pair by (configuration rank, seed), as every confirmation does (analysis.verdict.confirmation):
K configurations per arm give K pairs per seed, so the looks are counted in seeds and each pair
arrives at the look of its seed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.verdict import sequential
from analysis.verdict.confirmation import PAIRED_ON
from analysis.verdict.decision import Verdict
from analysis.verdict.stats import SIGNIFICANCE_LEVEL

PLAN_CONFIG = ("confirm_margin", "confirm_seeds", "confirm_batch", "confirm_look")


@dataclass(frozen=True)
class LookPlan:
    """A confirmation in looks: at most `max_seeds` seeds per configuration, `batch` per look."""

    max_seeds: int
    batch: int
    margin: float
    alpha: float = SIGNIFICANCE_LEVEL
    spending: str = sequential.DEFAULT_SPENDING

    def __post_init__(self) -> None:
        if self.max_seeds < 1 or self.batch < 1:
            raise ValueError(f"a look plan needs max_seeds >= 1 and batch >= 1, got {self.max_seeds}, {self.batch}")
        if not (math.isfinite(self.margin) and self.margin > 0):
            raise ValueError(f"margin must be a positive number in the metric's units, got {self.margin!r}")

    @property
    def looks(self) -> tuple[int, ...]:
        """Seeds per configuration at each look: batch, 2 batch, ... and max_seeds last; a look of one
        seed is skipped when there are more (one pair per configuration rank tests little)."""
        return tuple(seeds for seeds in range(self.batch, self.max_seeds, self.batch) if seeds >= 2) + (self.max_seeds,)

    def look_of(self, position: int) -> int:
        """The 1-based look at which the seed at 0-based `position` (in seed order) is run."""
        return next(index for index, seeds in enumerate(self.looks, start=1) if position < seeds)

    def spread_for_power(self) -> float:
        """The noisiest arms (sd of a paired difference) these looks still decide a one-margin difference
        for 80% of the time, with one pair per seed (analysis.verdict.sequential.spread_for_power)."""
        return sequential.spread_for_power(self.looks, self.margin, self.alpha, spending=self.spending)

    def describe(self) -> str:
        return (f"looks at {', '.join(map(str, self.looks))} seed(s) per configuration (batch {self.batch}, "
                f"at most {self.max_seeds}), margin ±{self.margin:g}")


@dataclass(frozen=True)
class ArmVerdict:
    """One comparison of two arms at the stage's verdict, and the seeds it had used by then."""

    family: str | None
    arm_a: str
    arm_b: str
    verdict: Verdict
    seeds: int  # seeds per configuration by the verdict's look
    values_a: np.ndarray
    values_b: np.ndarray


def plan_of(trials: pd.DataFrame) -> LookPlan | None:
    """The look plan the confirmation trials carry, None for tables without one (a search, or a
    confirmation from before looks); ValueError when the trials disagree on it."""
    if not all(column in trials.columns for column in PLAN_CONFIG):
        return None
    values = trials[list(PLAN_CONFIG[:3])].dropna().drop_duplicates()
    values = values[values["confirm_seeds"] > 0]
    if values.empty:
        return None
    if len(values) > 1:
        raise ValueError(f"the confirmation trials were run under {len(values)} different look plans; "
                         "report each experiment on its own")
    margin, seeds, batch = values.iloc[0]
    return LookPlan(max_seeds=int(seeds), batch=int(batch), margin=float(margin))


def _pairs(rows: pd.DataFrame, arm_a: str, arm_b: str, value: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values of both arms matched on (family, rank, seed), in seed order, and each pair's 0-based look."""
    side_a = rows[rows["confirm_arm"] == arm_a]
    side_b = rows[rows["confirm_arm"] == arm_b]
    merged = side_a[[*PAIRED_ON, "confirm_look", value]].merge(
        side_b[[*PAIRED_ON, value]], on=list(PAIRED_ON), suffixes=("_a", "_b"))
    merged = merged.sort_values(["seed", "confirm_rank"], kind="mergesort")
    return (merged[f"{value}_a"].to_numpy(dtype=float, na_value=np.nan),
            merged[f"{value}_b"].to_numpy(dtype=float, na_value=np.nan),
            merged["confirm_look"].to_numpy(dtype=int) - 1)


def look_verdicts(rows: pd.DataFrame, plan: LookPlan, value: str, *, higher_is_better: bool = True,
                  look: int | None = None, details: bool = True) -> list[ArmVerdict]:
    """Every pair of arms decided at `look` (1-based; default: the furthest look in `rows`).

    `rows` has one row per confirmation trial: family, confirm_arm, confirm_rank, seed, confirm_look
    and the `value` column (NaN for a trial that did not reach the budget: its pairs are dropped).
    Comparisons frozen at an earlier look keep the verdict and seeds of that look.
    """
    if rows.empty:
        return []
    look = int(rows["confirm_look"].max()) if look is None else look
    look_index = min(look, len(plan.looks)) - 1
    comparisons = []
    for family, members in rows.groupby("family", sort=True, dropna=False):
        arms = sorted(members["confirm_arm"].dropna().astype(str).unique())
        for arm_a, arm_b in itertools.combinations(arms, 2):
            comparisons.append((family, arm_a, arm_b, *_pairs(members, arm_a, arm_b, value)))
    if not comparisons:
        return []
    verdicts = sequential.decide_at_look(
        [(a, b) for _, _, _, a, b, _ in comparisons], look_index, plan.looks, plan.margin, alpha=plan.alpha,
        higher_is_better=higher_is_better, spending=plan.spending, details=details,
        arrivals=[arrival for *_, arrival in comparisons])
    return [ArmVerdict(family=family, arm_a=arm_a, arm_b=arm_b, verdict=verdict,
                       seeds=plan.looks[(verdict.look or look_index + 1) - 1], values_a=a, values_b=b)
            for (family, arm_a, arm_b, a, b, _), verdict in zip(comparisons, verdicts)]


def stage_finished(verdicts: Sequence[ArmVerdict], plan: LookPlan, look: int) -> bool:
    """Whether the stage stops after `look` (1-based): every comparison conclusive, or the last look."""
    return sequential.finished([item.verdict for item in verdicts], look - 1, plan.looks)


__all__ = ["ArmVerdict", "LookPlan", "PLAN_CONFIG", "look_verdicts", "plan_of", "stage_finished"]
