"""Paired comparisons of activations (arms), each at one stated budget.

They take the trials table and a budget (analysis.verdict.budget): the full budget by default, or
`at_epoch` with the epochs table. In a search, trials that did not reach the budget (stopped by
the scheduler) are counted in each row (`cut_short`) and never enter a mean or a test. In a
confirmation every trial is meant to reach it: one that failed scores in its arm's result and is
counted per arm (analysis.verdict.seeds).

Every comparison has one difference per seed (analysis.verdict.seeds) and is decided with a margin
(analysis.verdict.decision.decide_all): equivalent, a winner, not worse, or inconclusive, with
Benjamini-Hochberg across all the comparisons of the table. A confirmation run in looks is
decided as its stage decided, look by look (analysis.verdict.looks).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
import pandas as pd

from analysis.store.arms import label_keys
from analysis.store.schema import DEFAULT_METRIC, higher_is_better, setting_columns
from analysis.verdict import stats, words
from analysis.verdict.budget import AtBudget, at_budget
from analysis.verdict.confirmation import PAIRED_ON, is_confirmation
from analysis.verdict.decision import DEFAULT_MARGIN, Verdict, decide_all
from analysis.verdict.looks import LookPlan, look_verdicts, plan_of
from analysis.verdict.seeds import SeedPairs, failed_trial, failure_score, per_seed, seed_means
from analysis.verdict.two_way import TwoWayInterval, over_seeds_and_images
from trainables.correctness import KEY as CORRECTNESS

logger = logging.getLogger(__name__)

# A verdict's fields under the table's names (the rest keep their own).
_RENAMED = {"p_value_adjusted": "p_adjusted", "alpha": "level_two_sided", "alpha_one_sided": "level_one_sided"}
_VERDICT_COLUMNS = [_RENAMED.get(field.name, field.name) for field in fields(Verdict)]


@dataclass(frozen=True)
class PairedComparison:
    """arm_a minus arm_b, one difference per seed, decided with a margin: a Verdict with its context.

    The arms are activations (or `by`'s values; a confirmation's `confirm_arm`). Every field of the
    verdict (analysis.verdict.decision.Verdict: outcome, n in seeds, intervals, p-values, failures
    per arm) reads as an attribute and a column, three under the table's names (p_adjusted,
    level_two_sided, level_one_sided). `seeds` is the seeds the verdict used (a look's, for a
    confirmation run in looks), `cut_short` the arms' trials that did not reach the budget,
    `mean_a` / `mean_b` the arms' means over the seeds tested, `sentence` the verdict in words,
    `two_way` the interval over seeds and test images (analysis.verdict.two_way; a confirmation's
    test accuracy at the budget, where the trials reported their per-image correctness).
    """

    family: str | None
    metric: str
    budget: str
    arm_a: str
    arm_b: str
    verdict: Verdict
    seeds: int
    cut_short: int
    mean_a: float
    mean_b: float
    wilcoxon_p: float
    sentence: str
    matched_on: tuple[str, ...]
    two_way: TwoWayInterval | None = None

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):
            raise AttributeError(name)
        verdict = object.__getattribute__(self, "verdict")
        original = next((key for key, value in _RENAMED.items() if value == name), name)
        try:
            return getattr(verdict, original)
        except AttributeError:
            raise AttributeError(f"PairedComparison has no field {name!r}") from None

    @staticmethod
    def columns() -> list[str]:
        return [*_CONTEXT, "outcome", "seeds", *(name for name in _VERDICT_COLUMNS if name != "outcome"),
                "decision_low", "decision_high", "decision_level", *_EXTRA, *_TWO_WAY]

    def as_dict(self) -> dict[str, object]:
        """One table row: the context, the verdict's fields, and the interval its outcome used."""
        low, high, level = self.verdict.decision_interval()
        own = {_RENAMED.get(name, name): value for name, value in asdict(self.verdict).items()}
        row = {name: getattr(self, name) for name in (*_CONTEXT, "seeds", *_EXTRA)}
        two_way = self.two_way
        return {**row, **own, "outcome": str(self.verdict.outcome), "decision_low": low, "decision_high": high,
                "decision_level": level,
                **{f"two_way_{name}": getattr(two_way, name) if two_way else None for name in ("low", "high", "level",
                                                                                              "holds")}}


_CONTEXT = ("family", "metric", "budget", "arm_a", "arm_b")
_EXTRA = ("cut_short", "mean_a", "mean_b", "wilcoxon_p", "sentence", "matched_on")
_TWO_WAY = ("two_way_low", "two_way_high", "two_way_level", "two_way_holds")


@dataclass(frozen=True)
class _Paired:
    """One comparison's per-seed values, before it is decided beside the others."""

    family: str | None
    arm_a: str
    arm_b: str
    pairs: SeedPairs
    cut_short: int
    matched_on: tuple[str, ...]


def _match_columns(trials: pd.DataFrame, side_a: pd.DataFrame, side_b: pd.DataFrame, by: str) -> list[str]:
    """Every setting both sides set, plus family, seed and repeat.

    Confirmation trials compared by something other than their arm (say activation alone) differ
    in their nuisance settings by design (each arm keeps its own best): they match on family,
    configuration rank, seed and the arm's other keys, and are then averaged per seed.
    """
    if is_confirmation(trials):
        return [*PAIRED_ON, "confirm_rank", *(key for key in arm_keys(trials) if key != by)]
    candidates = ["family", *setting_columns(trials), "seed", "repeat"]
    return [
        column
        for column in dict.fromkeys(candidates)
        if column in trials.columns and side_a[column].notna().any() and side_b[column].notna().any()
    ]


def arm_keys(trials: pd.DataFrame) -> list[str]:
    """The keys of a confirmation's arm labels ('activation=selu,batch_norm=True' -> both keys)."""
    labels = trials["confirm_arm"].dropna() if "confirm_arm" in trials.columns else pd.Series(dtype=str)
    return label_keys(str(labels.iloc[0])) if len(labels) else []


def _refuse_ambiguous(side: pd.DataFrame, match_on: list[str], name: str) -> None:
    if side.empty or not match_on:
        return
    duplicated = side.duplicated(match_on, keep=False)
    if duplicated.any():
        example = side.loc[duplicated, match_on].iloc[0].to_dict()
        raise ValueError(
            f"several {name!r} runs share the settings {example}; pass match_on=... with a column that tells them apart"
        )


def _matched(side_a: pd.DataFrame, side_b: pd.DataFrame, match_on: list[str], metric: str) -> SeedPairs:
    """The metric of both sides on matching runs with a finite value on both, averaged per seed."""
    if side_a.empty or side_b.empty or not match_on:
        return SeedPairs.of([], [])
    pairs = side_a[[*match_on, metric]].merge(side_b[[*match_on, metric]], on=match_on, suffixes=("_a", "_b"))
    values_a = pairs[f"{metric}_a"].to_numpy(dtype=float, na_value=np.nan)
    values_b = pairs[f"{metric}_b"].to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values_a) & np.isfinite(values_b)
    seeds = pairs["seed"].to_numpy()[finite] if "seed" in match_on else None
    return seed_means(values_a[finite], values_b[finite], seeds)


def _pair(at: AtBudget, trials: pd.DataFrame, name_a: str, name_b: str, family: str | None,
          match_on: Sequence[str] | None, by: str = "activation") -> _Paired:
    selected = at.trials
    if family is not None:
        selected, trials = selected[selected["family"] == family], trials[trials["family"] == family]
    side_a = selected[selected[by] == name_a]
    side_b = selected[selected[by] == name_b]
    match_on = list(match_on) if match_on is not None else _match_columns(at.trials, side_a, side_b, by)
    _refuse_ambiguous(side_a, match_on, name_a)
    _refuse_ambiguous(side_b, match_on, name_b)
    involved = trials[trials[by].isin([name_a, name_b])]
    return _Paired(family, name_a, name_b, _matched(side_a, side_b, match_on, at.metric),
                   len(involved) - len(side_a) - len(side_b), tuple(match_on))


def _row(paired: _Paired, verdict: Verdict, metric: str, budget: str, seeds: int) -> PairedComparison:
    a, b = paired.pairs.tested()
    return PairedComparison(
        family=paired.family, metric=metric, budget=budget, arm_a=paired.arm_a, arm_b=paired.arm_b, verdict=verdict,
        seeds=seeds, cut_short=paired.cut_short, mean_a=float(a.mean()) if a.size else math.nan,
        mean_b=float(b.mean()) if b.size else math.nan, wilcoxon_p=stats.wilcoxon_signed_rank(a, b)[1],
        sentence=words.sentence(verdict, paired.arm_a, paired.arm_b, metric), matched_on=paired.matched_on,
    )


def _decided(paired: list[_Paired], at: AtBudget, margin: float) -> list[PairedComparison]:
    """A fixed design: every comparison decided at once, Benjamini-Hochberg across them."""
    if not paired:
        return []
    verdicts = decide_all([item.pairs for item in paired], margin, higher_is_better=higher_is_better(at.metric))
    return [_row(item, verdict, at.metric, at.budget, len(item.pairs)) for item, verdict in zip(paired, verdicts)]


def paired_comparison(
    trials: pd.DataFrame,
    activation_a: str,
    activation_b: str,
    *,
    family: str | None = None,
    metric: str = DEFAULT_METRIC,
    match_on: Sequence[str] | None = None,
    epochs: pd.DataFrame | None = None,
    at_epoch: int | None = None,
    margin: float = DEFAULT_MARGIN,
) -> PairedComparison:
    """Pair runs of two activations on identical settings (seed, repeat and every other config key),
    average them per seed, and decide with `margin` (analysis.verdict.decision.decide).

    Only runs that reached the budget are paired. A config key that one activation never sets
    (e.g. an aprelu-only `reduction`) is left out of the match. Several runs of one activation
    on the same key are ambiguous and raise ValueError.
    """
    at = at_budget(trials, metric, epochs=epochs, at_epoch=at_epoch)
    return _decided([_pair(at, trials, activation_a, activation_b, family, match_on)], at, margin)[0]


def confirmation_rows(trials: pd.DataFrame, at: AtBudget) -> pd.DataFrame:
    """One row per confirmation trial that ended: its arm, seed, look and value at the budget, NaN
    for a failure (analysis.verdict.seeds.failed_trial); trials still running are left out."""
    value = pd.Series(np.nan, index=trials.index)
    value.loc[at.trials.index] = at.trials[at.metric].astype(float)
    look = trials["confirm_look"] if "confirm_look" in trials.columns else pd.Series(1, index=trials.index)
    rows = pd.DataFrame({"family": trials["family"], "confirm_arm": trials["confirm_arm"], "seed": trials["seed"],
                         "confirm_look": look.fillna(1).astype(int), "status": trials["status"], "value": value})
    if CORRECTNESS in trials.columns:
        rows[CORRECTNESS] = trials[CORRECTNESS]
    standing = [failed_trial(status, index in at.trials.index, float(number))
                for index, status, number in zip(rows.index, rows["status"], rows["value"])]
    rows["value"] = [math.nan if failed else number for failed, number in zip(standing, rows["value"])]
    return rows[[failed is not None for failed in standing]]


def _with_two_way(decided: list[PairedComparison], paired: Sequence[_Paired], rows: pd.DataFrame,
                  metric: str) -> list[PairedComparison]:
    """Each verdict with its interval over seeds and test images, where the trials give one (two_way)."""
    score = failure_score(metric)
    return [replace(row, two_way=over_seeds_and_images(rows[rows["family"] == item.family], item.arm_a, item.arm_b,
                                                       item.pairs.seeds, row.verdict, score))
            for row, item in zip(decided, paired)]


def _confirmation(at: AtBudget, trials: pd.DataFrame, margin: float, min_pairs: int,
                  per_image: bool) -> list[PairedComparison]:
    """A confirmation decided in one look (no plan recorded, or --at-epoch): per seed, failures scored."""
    rows = confirmation_rows(trials, at)
    paired = []
    for family, members in rows.groupby("family", sort=True):
        members = members.rename(columns={"confirm_arm": "arm", "confirm_look": "look"}).astype({"arm": str})
        for arm_a, arm_b in itertools.combinations(sorted(members["arm"].unique()), 2):
            pairs = per_seed(members, arm_a, arm_b, score=failure_score(at.metric))
            if len(pairs.tested()[0]) >= max(min_pairs, 1):
                paired.append(_Paired(family, arm_a, arm_b, pairs, _cut_short(trials, at, family, arm_a, arm_b),
                                      PAIRED_ON))
    decided = _decided(paired, at, margin)
    return _with_two_way(decided, paired, rows, at.metric) if per_image else decided


def _cut_short(trials: pd.DataFrame, at: AtBudget, family: object, arm_a: str, arm_b: str) -> int:
    involved = trials[(trials["family"] == family) & trials["confirm_arm"].isin([arm_a, arm_b])]
    return len(involved) - len(involved.index.intersection(at.trials.index))


def _sequential(at: AtBudget, trials: pd.DataFrame, plan: LookPlan, min_pairs: int,
                per_image: bool) -> list[PairedComparison]:
    """A confirmation run in looks: the verdicts its stage reached (analysis.verdict.looks)."""
    rows = confirmation_rows(trials, at)
    result, paired_list = [], []
    for item in look_verdicts(rows, plan, "value", higher_is_better=higher_is_better(at.metric),
                              failure_score=failure_score(at.metric)):
        if item.verdict.n < max(min_pairs, 1):
            continue
        paired = _Paired(item.family, item.arm_a, item.arm_b, item.pairs.upto((item.verdict.look or 1) - 1),
                         _cut_short(trials, at, item.family, item.arm_a, item.arm_b), PAIRED_ON)
        result.append(_row(paired, item.verdict, at.metric, at.budget, item.seeds))
        paired_list.append(paired)
    return _with_two_way(result, paired_list, rows, at.metric) if per_image else result


def resolve_margin(trials: pd.DataFrame, margin: float | None) -> float:
    """The margin of the report: the confirmation stage's own (recorded with its trials), else the
    one given, else DEFAULT_MARGIN. A different margin for a stage run in looks is refused: its
    looks stopped on the margin it had."""
    plan = plan_of(trials) if is_confirmation(trials) else None
    if plan is None:
        return DEFAULT_MARGIN if margin is None else float(margin)
    if margin is not None and not math.isclose(margin, plan.margin):
        raise ValueError(f"these confirmation trials were decided in looks at margin {plan.margin:g} "
                         f"(confirm_margin); a margin of {margin:g} would re-decide looks that stopped on it")
    return plan.margin


def _search(at: AtBudget, trials: pd.DataFrame, by: str, margin: float, min_pairs: int) -> list[PairedComparison]:
    paired = []
    for family, family_trials in trials.groupby("family", sort=True):
        names = sorted(family_trials[by].dropna().astype(str).unique())
        for name_a, name_b in itertools.combinations(names, 2):
            try:
                item = _pair(at, trials, name_a, name_b, family, None, by)
            except ValueError as error:
                logger.warning("skipping %s vs %s in %s: %s", name_a, name_b, family, error)
                continue
            if len(item.pairs) >= max(min_pairs, 1):
                paired.append(item)
    return _decided(paired, at, margin)


def paired_comparisons(
    trials: pd.DataFrame,
    metric: str = DEFAULT_METRIC,
    *,
    epochs: pd.DataFrame | None = None,
    at_epoch: int | None = None,
    min_pairs: int = 2,
    by: str | None = None,
    margin: float | None = None,
) -> pd.DataFrame:
    """Every pair of activations (or of `by`'s values) within each family with at least min_pairs
    seeds, decided with a margin (resolve_margin), Benjamini-Hochberg across all of them.

    `by` defaults to the arm (`confirm_arm`) for a confirmation's tables, where each arm's own
    best configurations are compared (e.g. antirectifier at 256 units against relu at 512) on one
    difference per seed, failures scored; else to `activation`. A confirmation run in looks
    (with the full budget) is decided look by look as its stage was. The columns arm_a / arm_b
    hold the compared values; PairedComparison.columns() lists them all.
    """
    confirmation = is_confirmation(trials)
    by = by or ("confirm_arm" if confirmation else "activation")
    margin = resolve_margin(trials, margin)
    at = at_budget(trials, metric, epochs=epochs, at_epoch=at_epoch)
    plan = plan_of(trials) if by == "confirm_arm" and at_epoch is None else None
    per_image = at_epoch is None and at.metric == "last_test_accuracy"  # what test_correct's bits are
    if plan is not None:
        rows = _sequential(at, trials, plan, min_pairs, per_image)
    elif by == "confirm_arm" and confirmation:
        rows = _confirmation(at, trials, margin, min_pairs, per_image)
    else:
        rows = _search(at, trials, by, margin, min_pairs)
    table = pd.DataFrame([row.as_dict() for row in rows], columns=PairedComparison.columns())
    table.attrs.update(budget=at.budget, by=by, margin=margin, looks=plan.looks if plan else None,
                       max_seeds=plan.max_seeds if plan else None)
    return table


__all__ = ["PairedComparison", "arm_keys", "confirmation_rows", "paired_comparison", "paired_comparisons",
           "resolve_margin"]
