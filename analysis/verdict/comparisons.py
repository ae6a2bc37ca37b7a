"""Leaderboard and paired comparisons of activations (arms), each at one stated budget.

Both take the trials table and a budget (analysis.verdict.budget): the full budget by default, or
`at_epoch` with the epochs table. Trials that did not reach the budget are counted in each row
(`cut_short`) and never enter a mean or a test.

Every comparison is decided with a margin (analysis.verdict.decision.decide_all): equivalent, a winner,
not worse, or inconclusive, with Benjamini-Hochberg across all the comparisons of the table.
A confirmation run in looks is decided as its stage decided, look by look (analysis.verdict.looks).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from analysis.store.arms import label_keys
from analysis.store.schema import DEFAULT_METRIC, higher_is_better, setting_columns, varying_settings
from analysis.verdict import stats, words
from analysis.verdict.budget import AtBudget, at_budget
from analysis.verdict.confirmation import PAIRED_ON, is_confirmation
from analysis.verdict.decision import DEFAULT_MARGIN, Verdict, decide_all
from analysis.verdict.looks import LookPlan, look_verdicts, plan_of

logger = logging.getLogger(__name__)

LEADERBOARD_COLUMNS = [
    "family", "activation", "settings", "budget", "n", "mean", "std", "ci_low", "ci_high", "cut_short",
]


def format_setting(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)


def _group_rows(at: AtBudget, family: object, family_trials: pd.DataFrame, confidence: float) -> list[dict]:
    """One row per activation and swept setting; repeats of one setting are pooled over seeds."""
    keys = ["activation", *varying_settings(family_trials)]
    rows = []
    for group_values, group in family_trials.groupby(keys, dropna=False, sort=True):
        by_name = dict(zip(keys, group_values if isinstance(group_values, tuple) else (group_values,)))
        reached = group.index.intersection(at.trials.index)
        values = at.trials.loc[reached, at.metric].to_numpy(dtype=float, na_value=np.nan)
        interval = stats.mean_confidence_interval(values, confidence)
        rows.append(
            {
                "family": family,
                "activation": by_name.pop("activation"),
                "settings": ", ".join(f"{name}={format_setting(value)}" for name, value in by_name.items()),
                "budget": at.budget,
                "n": interval.n,
                "mean": interval.mean,
                "std": interval.std,
                "ci_low": interval.ci_low,
                "ci_high": interval.ci_high,
                "cut_short": len(group) - len(reached),
            }
        )
    return rows


def leaderboard(
    trials: pd.DataFrame,
    metric: str = DEFAULT_METRIC,
    *,
    epochs: pd.DataFrame | None = None,
    at_epoch: int | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per family, one row per activation and setting group: n, mean, std and t-interval over seeds.

    n counts the trials that reached the budget with a finite value; cut_short the group's
    trials that did not reach it (stopped early, diverged, errored or still running).
    """
    at = at_budget(trials, metric, epochs=epochs, at_epoch=at_epoch)
    rows = []
    for family, family_trials in trials.groupby("family", dropna=False, sort=True):
        rows += _group_rows(at, family, family_trials, confidence)
    table = pd.DataFrame(rows, columns=LEADERBOARD_COLUMNS)
    ascending = not higher_is_better(metric)
    table = table.sort_values(
        ["family", "mean", "activation", "settings"], ascending=[True, ascending, True, True], na_position="last", kind="mergesort"
    )
    table.attrs["metric"] = metric
    table.attrs["budget"] = at.budget
    return table.reset_index(drop=True)


@dataclass(frozen=True)
class PairedComparison:
    """arm_a minus arm_b on runs that share every other setting and the seed, decided with a margin.

    The arms are activations (or `by`'s values; a confirmation's `confirm_arm`). The p-values,
    interval and probability are analysis.verdict.decision.Verdict's (see its docstring); `seeds` is the
    seeds per configuration the verdict used (a look's, for a confirmation run in looks), `look`
    and `looks` where it was decided (None without looks), `sentence` the verdict in words.
    """

    family: str | None
    metric: str
    budget: str
    arm_a: str
    arm_b: str
    outcome: str
    margin: float
    n: int
    seeds: int
    look: int | None
    looks: int | None
    cut_short: int
    mean_a: float
    mean_b: float
    mean_difference: float
    ci_low: float
    ci_high: float
    t_statistic: float
    p_value: float
    p_adjusted: float  # Benjamini-Hochberg over the table's comparisons (= p_value for one)
    p_equivalence: float  # TOST: the larger of the two one-sided p-values
    p_equivalence_adjusted: float
    p_not_worse_a: float
    p_not_worse_a_adjusted: float
    p_not_worse_b: float
    p_not_worse_b_adjusted: float
    level_two_sided: float  # what the adjusted two-sided p-value was compared with (alpha, or the look's level)
    level_one_sided: float  # ... the adjusted one-sided ones (TOST halves, not-worse)
    difference_significant: bool
    probability_a_beats_b: float
    probability_low: float
    probability_high: float
    seeds_needed_total: int | None  # inconclusive only: pairs for 80% power at the observed spread
    more_seeds: int | None
    more_seeds_for: str | None
    comparisons: int
    wilcoxon_p: float
    sentence: str
    matched_on: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class _Paired:
    """One comparison's paired values, before it is decided beside the others."""

    family: str | None
    arm_a: str
    arm_b: str
    values_a: np.ndarray
    values_b: np.ndarray
    cut_short: int
    matched_on: tuple[str, ...]


def _match_columns(trials: pd.DataFrame, side_a: pd.DataFrame, side_b: pd.DataFrame, by: str) -> list[str]:
    """Every setting both sides set, plus family, seed and repeat.

    Confirmation trials (analysis.verdict.confirmation) differ across arms in their nuisance settings by
    design (each arm keeps its own best), so they pair by family, configuration rank and seed,
    plus the arm's other keys when comparing by activation alone.
    """
    if is_confirmation(trials):
        others = [key for key in arm_keys(trials) if key != by and by != "confirm_arm"]
        return [*PAIRED_ON, *others]
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


def _paired_values(side_a: pd.DataFrame, side_b: pd.DataFrame, match_on: list[str], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The metric of both sides on matching runs (in seed order where there is one), pairs with a
    non-finite side dropped."""
    if side_a.empty or side_b.empty or not match_on:
        return np.empty(0), np.empty(0)
    pairs = side_a[[*match_on, metric]].merge(side_b[[*match_on, metric]], on=match_on, suffixes=("_a", "_b"))
    order = [column for column in ("seed", "confirm_rank", "repeat") if column in match_on]
    if order:
        pairs = pairs.sort_values(order, kind="mergesort")
    values_a = pairs[f"{metric}_a"].to_numpy(dtype=float, na_value=np.nan)
    values_b = pairs[f"{metric}_b"].to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values_a) & np.isfinite(values_b)
    return values_a[finite], values_b[finite]


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
    values_a, values_b = _paired_values(side_a, side_b, match_on, at.metric)
    involved = trials[trials[by].isin([name_a, name_b])]
    return _Paired(family, name_a, name_b, values_a, values_b, len(involved) - len(side_a) - len(side_b),
                   tuple(match_on))


def _seeds_per_pair_set(values: np.ndarray, ranks: int) -> int:
    return int(math.ceil(values.size / max(ranks, 1)))


def _row(paired: _Paired, verdict: Verdict, metric: str, budget: str, seeds: int) -> PairedComparison:
    finite = np.isfinite(paired.values_a) & np.isfinite(paired.values_b)
    a, b = paired.values_a[finite], paired.values_b[finite]
    return PairedComparison(
        family=paired.family, metric=metric, budget=budget, arm_a=paired.arm_a, arm_b=paired.arm_b,
        outcome=str(verdict.outcome), margin=verdict.margin, n=verdict.n, seeds=seeds, look=verdict.look,
        looks=verdict.looks, cut_short=paired.cut_short,
        mean_a=float(a.mean()) if a.size else math.nan, mean_b=float(b.mean()) if b.size else math.nan,
        mean_difference=verdict.mean_difference, ci_low=verdict.ci_low, ci_high=verdict.ci_high,
        t_statistic=verdict.t_statistic, p_value=verdict.p_value, p_adjusted=verdict.p_value_adjusted,
        p_equivalence=verdict.p_equivalence, p_equivalence_adjusted=verdict.p_equivalence_adjusted,
        p_not_worse_a=verdict.p_not_worse_a, p_not_worse_a_adjusted=verdict.p_not_worse_a_adjusted,
        p_not_worse_b=verdict.p_not_worse_b, p_not_worse_b_adjusted=verdict.p_not_worse_b_adjusted,
        level_two_sided=verdict.alpha, level_one_sided=verdict.alpha_one_sided,
        difference_significant=verdict.difference_significant,
        probability_a_beats_b=verdict.probability_a_beats_b, probability_low=verdict.probability_low,
        probability_high=verdict.probability_high, seeds_needed_total=verdict.seeds_needed_total,
        more_seeds=verdict.more_seeds, more_seeds_for=verdict.more_seeds_for, comparisons=verdict.comparisons,
        wilcoxon_p=stats.wilcoxon_signed_rank(a, b)[1],
        sentence=words.sentence(verdict, paired.arm_a, paired.arm_b, metric), matched_on=paired.matched_on,
    )


def _seeds(paired: _Paired, trials: pd.DataFrame) -> int:
    """Seeds behind a fixed-design comparison: its pairs over the configuration ranks paired per seed."""
    ranks = trials["confirm_rank"].nunique() if "confirm_rank" in paired.matched_on else 1
    return _seeds_per_pair_set(paired.values_a, ranks)


def _decided(paired: list[_Paired], at: AtBudget, trials: pd.DataFrame, margin: float) -> list[PairedComparison]:
    """A fixed design: every comparison decided at once, Benjamini-Hochberg across them."""
    if not paired:
        return []
    verdicts = decide_all([(item.values_a, item.values_b) for item in paired], margin,
                                higher_is_better=higher_is_better(at.metric))
    return [_row(item, verdict, at.metric, at.budget, _seeds(item, trials)) for item, verdict in zip(paired, verdicts)]


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
    and decide them with `margin` (analysis.verdict.decision.decide).

    Only runs that reached the budget are paired. A config key that one activation never sets
    (e.g. an aprelu-only `reduction`) is left out of the match. Several runs of one activation
    on the same key are ambiguous and raise ValueError.
    """
    at = at_budget(trials, metric, epochs=epochs, at_epoch=at_epoch)
    return _decided([_pair(at, trials, activation_a, activation_b, family, match_on)], at, trials, margin)[0]


def _sequential(at: AtBudget, trials: pd.DataFrame, plan: LookPlan, min_pairs: int) -> list[PairedComparison]:
    """A confirmation run in looks: the verdicts its stage reached (analysis.verdict.looks)."""
    # Only trials that reached the budget: one that did not (an interrupted run's leftover directory,
    # an errored or diverged trial) drops its pairs, as the stage did.
    rows = at.trials.loc[:, ["family", "confirm_arm", "confirm_rank", "seed", "confirm_look"]].copy()
    rows["value"] = at.trials[at.metric].astype(float)
    result = []
    for item in look_verdicts(rows, plan, "value", higher_is_better=higher_is_better(at.metric)):
        if item.verdict.n < max(min_pairs, 1):
            continue
        involved = trials[(trials["family"] == item.family) & trials["confirm_arm"].isin([item.arm_a, item.arm_b])]
        reached_here = involved.index.intersection(at.trials.index)
        paired = _Paired(item.family, item.arm_a, item.arm_b, item.values_a, item.values_b,
                         len(involved) - len(reached_here), tuple(PAIRED_ON))
        result.append(_row(paired, item.verdict, at.metric, at.budget, item.seeds))
    return result


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
    pairs, decided with a margin (resolve_margin), Benjamini-Hochberg across all of them.

    `by` defaults to the arm (`confirm_arm`) for a confirmation's tables, where each arm's own
    best configurations are compared (e.g. antirectifier at 256 units against relu at 512),
    else to `activation`. A confirmation run in looks (with the full budget) is decided look by
    look as its stage was. The columns arm_a / arm_b hold the compared values.
    """
    by = by or ("confirm_arm" if is_confirmation(trials) else "activation")
    margin = resolve_margin(trials, margin)
    at = at_budget(trials, metric, epochs=epochs, at_epoch=at_epoch)
    plan = plan_of(trials) if by == "confirm_arm" and at_epoch is None else None
    if plan is not None:
        rows = _sequential(at, trials, plan, min_pairs)
    else:
        paired = []
        for family, family_trials in trials.groupby("family", sort=True):
            names = sorted(family_trials[by].dropna().astype(str).unique())
            for name_a, name_b in itertools.combinations(names, 2):
                try:
                    item = _pair(at, trials, name_a, name_b, family, None, by)
                except ValueError as error:
                    logger.warning("skipping %s vs %s in %s: %s", name_a, name_b, family, error)
                    continue
                if item.values_a.size >= max(min_pairs, 1):
                    paired.append(item)
        rows = _decided(paired, at, trials, margin)
    table = pd.DataFrame([row.as_dict() for row in rows], columns=list(PairedComparison.__dataclass_fields__))
    table.attrs.update(budget=at.budget, by=by, margin=margin, looks=plan.looks if plan else None,
                       max_seeds=plan.max_seeds if plan else None)
    return table
