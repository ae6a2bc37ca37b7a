"""The leaderboard: per family, one row per activation and swept setting, at one stated budget.

n counts the trials that reached the budget (analysis.verdict.budget) with a finite value, and each
row says how many of its trials were cut short; repeats of one setting are pooled over seeds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.store.schema import DEFAULT_METRIC, higher_is_better, varying_settings
from analysis.verdict import stats
from analysis.verdict.budget import AtBudget, at_budget

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
        rows.append({
            "family": family, "activation": by_name.pop("activation"),
            "settings": ", ".join(f"{name}={format_setting(value)}" for name, value in by_name.items()),
            "budget": at.budget, "n": interval.n, "mean": interval.mean, "std": interval.std,
            "ci_low": interval.ci_low, "ci_high": interval.ci_high, "cut_short": len(group) - len(reached),
        })
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
        ["family", "mean", "activation", "settings"], ascending=[True, ascending, True, True], na_position="last",
        kind="mergesort")
    table.attrs["metric"] = metric
    table.attrs["budget"] = at.budget
    return table.reset_index(drop=True)


__all__ = ["LEADERBOARD_COLUMNS", "format_setting", "leaderboard"]
