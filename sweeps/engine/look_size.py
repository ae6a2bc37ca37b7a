"""`--confirm-batch auto` (the default): how many seeds a confirmation look adds, from what a look costs.

A look of B new seeds per configuration costs the wall time of its trials. On a CPU a pack of B seeds
(sweeps.engine.packing) trains them for less than B lone trials, so a big look costs less per seed; a
small look lets a settled comparison stop sooner. `choose` weighs the two: for each B from 2 to the
most seeds N, the wall time of every look, counted in lone trials (rounds of trials over the slots,
each as long as its largest pack: `packing.look_wall`), times the chance that a comparison is still
open when the look is due (`analysis.verdict.boundaries.still_open`, at the plan's design point: a
one-margin difference on arms as noisy as N seeds decide 80% of the time), summed; the least wins,
ties going to the smaller B (fewer seeds). Without packs (`--pack off`, another backend) a look's trials
cost what they cost one by one, so the smallest look that fills the slots wins; where no pack cost is
measured (a GPU) the looks stay at DEFAULT_CONFIRM_BATCH.

The looks are fixed before the first seed runs, from the machine and the plan only, never from the
data, so the alpha spending holds for whichever B is chosen (any planned looks do). A resumed
confirmation keeps the B it started with (`sweeps.engine.packing.resolve`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from analysis.verdict.looks import LookPlan


@dataclass(frozen=True)
class LookSize:
    """The chosen seeds per look, its expected wall time and the smallest look's (lone-trial units)."""

    batch: int
    expected: float
    smallest: float  # at B = 2, for the comparison in the reason

    def reason(self, slots: int) -> str:
        if self.smallest <= 0:
            return f"auto: at most {self.batch} seed(s), one look"
        if self.batch == 2:
            return f"auto: the least expected wall time on {slots} trial slot(s)"
        return (f"auto: expected {self.expected:.1f} lone-trial times on {slots} trial slot(s), against "
                f"{self.smallest:.1f} for looks of 2 (a pack's measured cost, BENCHMARKS.md \"Fused trials\")")


def expected_wall(looks: LookPlan, look_wall: Callable[[int], float]) -> float:
    """Sum over the looks of a look's wall time (of the seeds it adds) times the chance it is needed."""
    added = [end - start for start, end in zip((0, *looks.looks), looks.looks)]
    return sum(float(open_) * look_wall(seeds) for open_, seeds in zip(looks.still_open(), added))


def choose(max_seeds: int, margin: float, wall_for: Callable[[int], Callable[[int], float]]) -> LookSize:
    """The look size with the least expected wall time. `wall_for(first)` gives the wall time of a look
    adding `seeds` for the packs a first look of `first` seeds would set up (the stage keeps them)."""
    if max_seeds <= 2:
        return LookSize(max_seeds, 0.0, 0.0)
    best: LookSize | None = None
    smallest = 0.0
    for batch in range(2, max_seeds + 1):
        looks = LookPlan(max_seeds=max_seeds, batch=batch, margin=margin)
        expected = expected_wall(looks, wall_for(looks.looks[0]))
        smallest = smallest or expected
        if best is None or expected < best.expected - 1e-9:
            best = LookSize(batch, expected, smallest)
    assert best is not None
    return LookSize(best.batch, best.expected, smallest)
