"""Leaderboard and paired comparisons of activations, each at one stated budget.

Both take the trials table and a budget (analysis.budget): the full budget by default, or
`at_epoch` with the epochs table. Trials that did not reach the budget are counted in each row
(`cut_short`) and never enter a mean or a test.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from analysis import stats
from analysis.arms import label_keys
from analysis.budget import AtBudget, at_budget
from analysis.confirmation import PAIRED_ON, is_confirmation
from analysis.schema import DEFAULT_METRIC, higher_is_better, setting_columns, varying_settings

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
    """activation_a minus activation_b on runs that share every other setting and the seed."""

    family: str | None
    metric: str
    budget: str
    activation_a: str
    activation_b: str
    n: int
    cut_short: int
    mean_a: float
    mean_b: float
    mean_difference: float
    ci_low: float
    ci_high: float
    t_statistic: float
    p_value: float
    p_adjusted: float  # Benjamini-Hochberg over the family's reported comparisons (= p_value for one)
    wilcoxon_p: float
    distinguishable: bool
    verdict: str
    matched_on: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _match_columns(trials: pd.DataFrame, side_a: pd.DataFrame, side_b: pd.DataFrame, by: str) -> list[str]:
    """Every setting both sides set, plus family, seed and repeat.

    Confirmation trials (analysis.confirmation) differ across arms in their nuisance settings by
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
    """The metric of both sides on matching runs, pairs with a non-finite side dropped."""
    if side_a.empty or side_b.empty or not match_on:
        return np.empty(0), np.empty(0)
    pairs = side_a[[*match_on, metric]].merge(side_b[[*match_on, metric]], on=match_on, suffixes=("_a", "_b"))
    values_a = pairs[f"{metric}_a"].to_numpy(dtype=float, na_value=np.nan)
    values_b = pairs[f"{metric}_b"].to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values_a) & np.isfinite(values_b)
    return values_a[finite], values_b[finite]


def _compare(at: AtBudget, trials: pd.DataFrame, name_a: str, name_b: str, family: str | None,
             match_on: Sequence[str] | None, by: str = "activation") -> PairedComparison:
    selected = at.trials
    if family is not None:
        selected, trials = selected[selected["family"] == family], trials[trials["family"] == family]
    side_a = selected[selected[by] == name_a]
    side_b = selected[selected[by] == name_b]
    match_on = list(match_on) if match_on is not None else _match_columns(at.trials, side_a, side_b, by)
    _refuse_ambiguous(side_a, match_on, name_a)
    _refuse_ambiguous(side_b, match_on, name_b)
    metric = at.metric
    values_a, values_b = _paired_values(side_a, side_b, match_on, metric)
    test = stats.paired_t_test(values_a, values_b)
    involved = trials[trials[by].isin([name_a, name_b])]
    return PairedComparison(
        family=family, metric=metric, budget=at.budget, activation_a=name_a, activation_b=name_b,
        n=test.n, cut_short=len(involved) - len(side_a) - len(side_b),
        mean_a=float(values_a.mean()) if test.n else math.nan,
        mean_b=float(values_b.mean()) if test.n else math.nan,
        mean_difference=test.mean_difference, ci_low=test.ci_low, ci_high=test.ci_high,
        t_statistic=test.t_statistic, p_value=test.p_value, p_adjusted=test.p_value,
        wilcoxon_p=stats.wilcoxon_signed_rank(values_a, values_b)[1],
        distinguishable=stats.is_distinguishable(test.p_value, test.n),
        verdict=stats.verdict(name_a, name_b, test, metric=metric, higher_is_better=higher_is_better(metric)),
        matched_on=tuple(match_on),
    )


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
) -> PairedComparison:
    """Pair runs of two activations on identical settings (seed, repeat and every other config key).

    Only runs that reached the budget are paired. A config key that one activation never sets
    (e.g. an aprelu-only `reduction`) is left out of the match. Several runs of one activation
    on the same key are ambiguous and raise ValueError.
    """
    at = at_budget(trials, metric, epochs=epochs, at_epoch=at_epoch)
    return _compare(at, trials, activation_a, activation_b, family, match_on)


def _adjusted(comparisons: list[PairedComparison]) -> list[PairedComparison]:
    """Decide each comparison on its p-value adjusted over all those reported beside it."""
    if len(comparisons) < 2:
        return comparisons
    adjusted = stats.adjust_p_values([comparison.p_value for comparison in comparisons])
    result = []
    for comparison, p_adjusted in zip(comparisons, adjusted):
        test = stats.PairedTest(n=comparison.n, mean_difference=comparison.mean_difference, std_difference=math.nan,
                                ci_low=comparison.ci_low, ci_high=comparison.ci_high,
                                t_statistic=comparison.t_statistic, degrees_of_freedom=comparison.n - 1,
                                p_value=comparison.p_value)
        result.append(replace(
            comparison, p_adjusted=float(p_adjusted),
            distinguishable=stats.is_distinguishable(float(p_adjusted), comparison.n),
            verdict=stats.verdict(comparison.activation_a, comparison.activation_b, test, metric=comparison.metric,
                                  higher_is_better=higher_is_better(comparison.metric),
                                  adjusted=(float(p_adjusted), len(comparisons))),
        ))
    return result


def paired_comparisons(
    trials: pd.DataFrame,
    metric: str = DEFAULT_METRIC,
    *,
    epochs: pd.DataFrame | None = None,
    at_epoch: int | None = None,
    min_pairs: int = 2,
    by: str | None = None,
) -> pd.DataFrame:
    """Every pair of activations (or of `by`'s values) within each family with at least min_pairs pairs.

    `by` defaults to the arm (`confirm_arm`) for a confirmation's tables, where each arm's own
    best configurations are compared (e.g. antirectifier at 256 units against relu at 512),
    else to `activation`. The columns activation_a / activation_b hold the compared values.
    """
    by = by or ("confirm_arm" if is_confirmation(trials) else "activation")
    at = at_budget(trials, metric, epochs=epochs, at_epoch=at_epoch)
    rows = []
    for family, family_trials in trials.groupby("family", sort=True):
        names = sorted(family_trials[by].dropna().astype(str).unique())
        compared = []
        for name_a, name_b in itertools.combinations(names, 2):
            try:
                comparison = _compare(at, trials, name_a, name_b, family, None, by)
            except ValueError as error:
                logger.warning("skipping %s vs %s in %s: %s", name_a, name_b, family, error)
                continue
            if comparison.n >= max(min_pairs, 1):
                compared.append(comparison)
        rows += [comparison.as_dict() for comparison in _adjusted(compared)]
    table = pd.DataFrame(rows, columns=list(PairedComparison.__dataclass_fields__))
    table.attrs["budget"] = at.budget
    table.attrs["by"] = by
    return table
