"""Compare like with like: every comparison is made at one budget, by the trials that reached it.

Under ASHA most trials stop early, so a trial's best accuracy over 2 epochs must never be ranked
against another's over 100. The default budget is each trial's full `epochs` budget (only
trials that ran it, status `terminated`); `at_epoch=E` compares every trial that reported epoch
E, with its value at E read from epochs.parquet. The others are returned as `cut_short`,
to be counted and listed, never mixed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.store.schema import FULL_BUDGET_STATUS, metric_direction

CUT_SHORT_COLUMNS = ["experiment", "trial_id", "family", "activation", "seed", "status", "epochs_completed", "epochs"]


@dataclass(frozen=True)
class AtBudget:
    """Trials that reached the budget (their `metric` column holds the value at it), and the rest."""

    budget: str  # "full budget (4 epochs)" or "epoch 2": printed beside every comparison
    metric: str
    trials: pd.DataFrame
    cut_short: pd.DataFrame


def require_metric(trials: pd.DataFrame, metric: str) -> None:
    """ValueError naming the choices when metric is not a trials column."""
    if metric not in trials.columns:
        choices = [c for c in trials.columns if c.startswith(("best_", "last_")) and not c.endswith("_epoch")]
        raise ValueError(f"metric {metric!r} is not a trials column; available: {', '.join(choices)}")


def _budget_epochs(trials: pd.DataFrame) -> pd.Series:
    if "epochs" in trials.columns:
        return pd.to_numeric(trials["epochs"], errors="coerce")
    return pd.Series(np.nan, index=trials.index)


def _cut_short(trials: pd.DataFrame) -> pd.DataFrame:
    frame = trials.assign(epochs=_budget_epochs(trials))
    return frame.reindex(columns=CUT_SHORT_COLUMNS).reset_index(drop=True)


def _full_budget(trials: pd.DataFrame, metric: str) -> AtBudget:
    reached = trials["status"].eq(FULL_BUDGET_STATUS).fillna(False).astype(bool)
    budgets = sorted({int(value) for value in _budget_epochs(trials).dropna()})
    label = "full budget" + (f" ({', '.join(map(str, budgets))} epochs)" if budgets else "")
    return AtBudget(label, metric, trials[reached].copy(), _cut_short(trials[~reached]))


def _value_at_epoch(epochs: pd.DataFrame, metric: str, epoch: int) -> pd.DataFrame:
    """Per trial: `last_m` is m at the epoch, `best_m` the best m up to and including it."""
    kind, _, base = metric.partition("_")
    if kind not in ("best", "last") or base not in epochs.columns:
        raise ValueError(f"--at-epoch needs a best_<m> or last_<m> metric whose <m> is an epochs column, got {metric!r}")
    keys = ["experiment", "trial_id"]
    reached = epochs.loc[epochs["epoch"] == epoch, keys]
    if kind == "last":
        values = epochs.loc[epochs["epoch"] == epoch, [*keys, base]]
    else:
        upto = epochs.loc[epochs["epoch"] <= epoch, [*keys, base]].astype({base: float})
        grouped = upto.groupby(keys, sort=False)[base]
        values = (grouped.max() if metric_direction(base) != "min" else grouped.min()).reset_index()
    return reached.merge(values, on=keys, how="left").rename(columns={base: metric})


def _at_epoch(trials: pd.DataFrame, epochs: pd.DataFrame, metric: str, epoch: int) -> AtBudget:
    values = _value_at_epoch(epochs, metric, epoch)
    keys = ["experiment", "trial_id"]
    merged = trials.drop(columns=[metric]).merge(values, on=keys, how="left", indicator=True)
    reached = (merged["_merge"] == "both").to_numpy()
    merged = merged.drop(columns="_merge")[trials.columns]
    merged.index = trials.index
    return AtBudget(f"epoch {epoch}", metric, merged[reached].copy(), _cut_short(trials[~reached]))


def at_budget(
    trials: pd.DataFrame, metric: str, *, epochs: pd.DataFrame | None = None, at_epoch: int | None = None
) -> AtBudget:
    """The trials comparable at the budget (full by default, else epoch at_epoch from `epochs`)."""
    require_metric(trials, metric)
    if at_epoch is None:
        return _full_budget(trials, metric)
    if at_epoch < 1:
        raise ValueError(f"--at-epoch must be at least 1, got {at_epoch}")
    if epochs is None:
        raise ValueError("comparing at an epoch needs the epochs table")
    at = _at_epoch(trials, epochs, metric, at_epoch)
    at.trials.attrs.update(trials.attrs)
    return at
