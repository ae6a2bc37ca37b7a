"""Group-sequential verdicts: add seeds in batches, and stop a comparison once its class is settled.

The confirmation stage runs B seeds per look, up to N. Testing at alpha at every look would call
a winner by chance far more often than alpha (0.17 instead of 0.05 at six looks from 4 to 24
seeds, tests/analysis/verdict/test_sequential.py), so each look tests at a smaller nominal level
from Lan-DeMets alpha spending (analysis.verdict.boundaries: O'Brien-Fleming-like by default),
chosen so that the chance of a false rejection at ANY look is alpha. The significance-level
approach (Jennison & Turnbull 2000, for normal data of unknown variance) carries the z
boundaries to the t statistics: look k rejects when the t-test's p-value is below the nominal
level 1 - Phi(c_k) that the boundary c_k implies; every test of analysis.verdict.decision uses
it (the one-sided ones at one-sided alpha spending, the two-sided one at alpha/2 per side).

When a comparison stops, so that its class does not depend on when it stopped. A comparison
stops at the first look where it is equivalent, or better by more than the margin: a class that
more seeds would not change. A winner whose interval still reaches inside the margin does not
stop: in the fixed design, equivalence comes first, and at a true difference of 0.8 margins on
quiet arms the fixed design says "equivalent" 57% of the time, where stopping at the first
superiority crossing said "better" 94% of the time. The crossing is kept
(Verdict.superiority_look): a comparison that crossed and is not equivalent by the time it stops
is a winner, as a group-sequential test that rejected at any look has rejected. So both designs
give the same classes at the same rates (tests/analysis/verdict/test_calibration_designs.py:
within 0.02 at 0 to 1.5 margins), at the price of seeds: a difference near the margin runs to N.
Non-inferiority does not stop a comparison before the final look either: it is one half of
TOST. The final look decides with what is left of alpha, non-inferiority and inconclusive
included.

Intervals. The interval of a verdict at look k is the repeated confidence interval (Jennison &
Turnbull 1989): the t interval at the look's nominal level, which excludes 0 exactly when the
look's test rejects; RCIs cover the true difference at 1 - alpha simultaneously at every look,
so whenever the stage stopped. The mean at a stop is biased away from zero (stopping selects
the draws that crossed early); docs/verdicts.md gives the size, measured by simulation.

Everything here is a pure function of (the seeds in order, the look, the plan): an engine
killed and resumed between looks reaches the same verdicts from the same data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from analysis.verdict.boundaries import (  # the plan's functions, re-exported here
    DEFAULT_SPENDING,
    SPENDING,
    boundaries,
    check_looks,
    crossing_probabilities,
    max_pairs_for_power,
    nominal_alpha,
    plan_looks,
    sequential_power,
    spent,
    spread_for_power,
    still_open,
)
from analysis.verdict.decision import WINNERS, DecisionLevels, Outcome, Verdict, decide_all, hold_back
from analysis.verdict.seeds import SeedPairs
from analysis.verdict.stats import SIGNIFICANCE_LEVEL, Values

def look_levels(look_index: int, looks: Sequence[int], alpha: float = SIGNIFICANCE_LEVEL, *,
                spending: str = DEFAULT_SPENDING) -> DecisionLevels:
    """The decision levels (analysis.verdict.decision.DecisionLevels) at one look."""
    return DecisionLevels(
        two_sided=nominal_alpha(look_index, looks, alpha, sided=2, spending=spending),
        one_sided=nominal_alpha(look_index, looks, alpha, sided=1, spending=spending),
        look=look_index + 1, looks=len(looks),
    )


def _as_seed_pairs(item: SeedPairs | tuple[Values, Values], arrival: Values | None) -> tuple[SeedPairs, bool]:
    """(the comparison's seeds, whether its looks are counted by arrival rather than by prefix)."""
    if isinstance(item, SeedPairs):
        return item, True
    a, b = item
    return SeedPairs.of(a, b, arrival=arrival), arrival is not None


def decide_at_look(
    pairs_per_comparison: Sequence[SeedPairs | tuple[Values, Values]],
    look_index: int,
    looks: Sequence[int],
    margin: float,
    *,
    alpha: float = SIGNIFICANCE_LEVEL,
    higher_is_better: bool = True,
    spending: str = DEFAULT_SPENDING,
    details: bool = True,
    arrivals: Sequence[Values] | None = None,
) -> list[Verdict]:
    """The verdicts at look `look_index` (0-based) of a plan from plan_looks.

    Each comparison is a SeedPairs (its seeds' arrival says which look ran them) or (a, b) in
    seed order, of which look j uses the first looks[j] entries (with `arrivals`, one array per
    comparison of each seed's 0-based look, the seeds that arrived by then). Looks 0..look_index
    are replayed: at each, all comparisons are decided together (Benjamini-Hochberg across them,
    as decide_all) at that look's nominal levels; a comparison stops at its first settled verdict
    (equivalent, or better by more than the margin) and keeps that verdict, whose `look` says
    where (1-based). The first superiority crossing is remembered: a comparison that crossed and
    is neither equivalent nor settled by its last look is a winner (superiority_look). The others
    get their verdict at look_index: at the final look that is the answer, before it it is
    provisional.
    """
    looks = check_looks(looks)
    if not 0 <= look_index < len(looks):
        raise ValueError(f"look_index must be in 0..{len(looks) - 1}, got {look_index!r}")
    prepared = [_as_seed_pairs(item, None if arrivals is None else arrivals[index])
                for index, item in enumerate(pairs_per_comparison)]
    stopped: list[int | None] = [None] * len(prepared)
    crossed: list[tuple[int, Outcome] | None] = [None] * len(prepared)
    for index in range(look_index + 1):
        if all(look is not None for look in stopped):
            break
        verdicts = _decide_look(prepared, index, looks, margin, alpha, higher_is_better, spending, False)
        for position, verdict in enumerate(verdicts):
            if stopped[position] is not None:
                continue
            if crossed[position] is None and verdict.outcome in WINNERS:
                crossed[position] = (index, verdict.outcome)
            if verdict.settled:
                stopped[position] = index
    final = [look_index if look is None else look for look in stopped]
    by_look = {look: _decide_look(prepared, look, looks, margin, alpha, higher_is_better, spending, details)
               for look in sorted(set(final))}
    return [_remember(by_look[look][position], crossed[position]) for position, look in enumerate(final)]


def _remember(verdict: Verdict, crossed: tuple[int, Outcome] | None) -> Verdict:
    """A superiority crossing before the verdict's look makes a winner of what is not equivalent."""
    if crossed is None:
        return verdict
    look, winner = crossed
    outcome, held_back = verdict.outcome, verdict.held_back
    if outcome is not Outcome.EQUIVALENT and outcome not in WINNERS and not held_back:
        outcome = hold_back(winner, verdict.failures_a, verdict.failures_b)
        held_back = outcome is not winner
    return dataclasses.replace(verdict, outcome=outcome, held_back=held_back, superiority_look=look + 1,
                               seeds_needed_total=None if outcome in WINNERS else verdict.seeds_needed_total,
                               seeds_needed_for=None if outcome in WINNERS else verdict.seeds_needed_for)


def _decide_look(prepared: Sequence[tuple[SeedPairs, bool]], look_index: int, looks: tuple[int, ...], margin: float,
                 alpha: float, higher_is_better: bool, spending: str, details: bool) -> list[Verdict]:
    at_look = [pairs.upto(look_index) if by_arrival else pairs.first(looks[look_index])
               for pairs, by_arrival in prepared]
    return decide_all(at_look, margin, alpha=alpha, higher_is_better=higher_is_better,
                      levels=look_levels(look_index, looks, alpha, spending=spending), details=details)


def finished(verdicts: Sequence[Verdict], look_index: int, looks: Sequence[int]) -> bool:
    """Whether the engine may stop adding seeds: every comparison settled, or the final look."""
    return look_index >= len(check_looks(looks)) - 1 or all(verdict.settled for verdict in verdicts)


def pairs_spent(verdicts: Sequence[Verdict], looks: Sequence[int]) -> int:
    """Seeds per comparison the procedure ran: up to the last comparison's decision look."""
    looks = check_looks(looks)
    return looks[max((verdict.look or len(looks)) for verdict in verdicts) - 1] if verdicts else 0


__all__ = [
    "DEFAULT_SPENDING", "SPENDING", "boundaries", "crossing_probabilities", "decide_at_look", "finished",
    "look_levels", "max_pairs_for_power", "nominal_alpha", "pairs_spent", "plan_looks", "sequential_power", "spent",
    "spread_for_power",
]
