"""The confirmation stage's verdicts, look by look: one function for the engine (while the stage
runs, to decide whether to add seeds) and the report (after, to say what was decided and when).

A confirmation run in looks (sweeps.engine.confirm) adds `confirm_batch` new seeds to every
chosen configuration at each look, up to `confirm_seeds`, and stops once every comparison of
arms is settled (analysis.verdict.sequential). Its trials carry that plan in their config
(`confirm_margin`, `confirm_seeds`, `confirm_batch`, and the 1-based `confirm_look` of their
seed), so the verdicts are a pure function of the trials' values: `look_verdicts` replays the
looks on them, exactly as the stage did.

The seed is the unit (analysis.verdict.seeds): each arm's value on a seed is the mean over its K
configurations on it, a failed trial scored and counted, so a comparison has one difference per
seed and the looks are counted in seeds.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from analysis.verdict import sequential
from analysis.verdict.decision import Outcome, Verdict
from analysis.verdict.seeds import SeedPairs, per_seed
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
        """The noisiest arms (sd of a per-seed difference) these looks still decide a one-margin
        difference for 80% of the time (analysis.verdict.sequential.spread_for_power)."""
        return sequential.spread_for_power(self.looks, self.margin, self.alpha, spending=self.spending)

    def still_open(self) -> tuple[float, ...]:
        """P(a comparison is still open when each look is due), at the plan's design point
        (analysis.verdict.boundaries.still_open): what sizes the looks (sweeps.engine.look_size)."""
        return tuple(float(share) for share in sequential.still_open(self.looks, self.alpha, spending=self.spending))

    def describe(self, why: str = "") -> str:
        """`why`: how the batch was chosen (sweeps.engine.look_size), if not asked for."""
        return (f"looks at {', '.join(map(str, self.looks))} seed(s) per configuration (batch {self.batch}"
                f"{f' {why}' if why else ''}, at most {self.max_seeds}), margin ±{self.margin:g}")

    def seeds_for(self, fixed_seeds: int) -> int:
        """The most seeds a new confirmation in looks of this batch needs for the power of
        `fixed_seeds` in one look (analysis.verdict.sequential.max_pairs_for_power)."""
        if fixed_seeds <= self.batch:
            return fixed_seeds
        return sequential.max_pairs_for_power(fixed_seeds, self.batch, self.alpha, spending=self.spending)


@dataclass(frozen=True)
class ArmVerdict:
    """One comparison of two arms at the stage's verdict, and the seeds it had used by then."""

    family: str | None
    arm_a: str
    arm_b: str
    verdict: Verdict
    seeds: int  # seeds by the verdict's look (the plan's count; verdict.n: those with a value on both sides)
    pairs: SeedPairs  # every seed both arms ran, to the last look in the rows


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


def look_verdicts(rows: pd.DataFrame, plan: LookPlan, value: str, *, higher_is_better: bool = True,
                  look: int | None = None, details: bool = True, failure_score: float | None = 0.0) -> list[ArmVerdict]:
    """Every pair of arms decided at `look` (1-based; default: the furthest look in `rows`).

    `rows` has one row per confirmation trial that ended: family, confirm_arm, seed, confirm_look
    and the `value` column, NaN for a trial that failed (diverged, errored or cut short before the
    budget: it scores `failure_score` in its arm's mean, analysis.verdict.seeds). Comparisons
    that stopped at an earlier look keep the verdict and seeds of that look.
    """
    if rows.empty:
        return []
    look = int(rows["confirm_look"].max()) if look is None else look
    look_index = min(look, len(plan.looks)) - 1
    trials = pd.DataFrame({"family": rows["family"], "arm": rows["confirm_arm"].astype(str), "seed": rows["seed"],
                           "value": rows[value].astype(float), "look": rows["confirm_look"]})
    comparisons = []
    for family, members in trials.groupby("family", sort=True, dropna=False):
        for arm_a, arm_b in itertools.combinations(sorted(members["arm"].unique()), 2):
            comparisons.append((family, arm_a, arm_b, per_seed(members, arm_a, arm_b, score=failure_score)))
    if not comparisons:
        return []
    verdicts = sequential.decide_at_look(
        [pairs for *_, pairs in comparisons], look_index, plan.looks, plan.margin, alpha=plan.alpha,
        higher_is_better=higher_is_better, spending=plan.spending, details=details)
    return [ArmVerdict(family=family, arm_a=arm_a, arm_b=arm_b, verdict=_planned(verdict, plan),
                       seeds=plan.looks[(verdict.look or look_index + 1) - 1], pairs=pairs)
            for (family, arm_a, arm_b, pairs), verdict in zip(comparisons, verdicts)]


def _planned(verdict: Verdict, plan: LookPlan) -> Verdict:
    """An open comparison's seeds for a new confirmation, in looks of this plan's batch."""
    if verdict.outcome is not Outcome.INCONCLUSIVE or verdict.seeds_needed_total is None:
        return verdict
    return dataclasses.replace(verdict, seeds_needed_total=plan.seeds_for(verdict.seeds_needed_total))


def stage_finished(verdicts: Sequence[ArmVerdict], plan: LookPlan, look: int) -> bool:
    """Whether the stage stops after `look` (1-based): every comparison settled, or the last look."""
    return sequential.finished([item.verdict for item in verdicts], look - 1, plan.looks)


__all__ = ["ArmVerdict", "LookPlan", "PLAN_CONFIG", "look_verdicts", "plan_of", "stage_finished"]
