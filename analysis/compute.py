"""Compute accounting: what a sweep spent per status against running every trial to its budget."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.store.schema import STATUSES

_COST_COLUMNS = ("wall_seconds", "accelerator_seconds")


def _with_budget_costs(trials: pd.DataFrame) -> pd.DataFrame:
    """Adds _budget (epochs) and, per cost column, _spent_* and _budget_* (extrapolated) columns."""
    frame = trials.copy()
    completed = frame["epochs_completed"].astype(float).fillna(0.0)
    budget = frame["epochs"].astype(float) if "epochs" in frame.columns else completed.copy()
    frame["_budget"] = np.maximum(budget.fillna(completed), completed)
    for column in _COST_COLUMNS:
        spent = frame[column].astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = spent / completed.where(completed > 0)
        has_rate = rate.notna()
        pooled = (
            frame[has_rate].groupby("family", dropna=False)[column].sum()
            / completed[has_rate].groupby(frame.loc[has_rate, "family"], dropna=False).sum()
        )
        rate = rate.fillna(frame["family"].map(pooled))
        frame[f"_budget_{column}"] = rate * frame["_budget"]
        frame[f"_spent_{column}"] = spent.fillna(0.0)
    return frame


def _summarize(group: pd.DataFrame, label: str) -> dict[str, object]:
    spent_epochs = float(group["epochs_completed"].astype(float).fillna(0).sum())
    budget_epochs = float(group["_budget"].sum())
    row: dict[str, object] = {
        "status": label, "trials": len(group), "trial_epochs": int(spent_epochs), "budget_epochs": int(budget_epochs),
    }
    row["epochs_fraction"] = spent_epochs / budget_epochs if budget_epochs else math.nan
    for column in _COST_COLUMNS:
        spent = float(group[f"_spent_{column}"].sum())
        full = float(group[f"_budget_{column}"].sum(min_count=1)) if len(group) else math.nan
        row[column] = spent
        row[f"budget_{column}"] = full
        row[f"{column}_saved"] = full - spent if math.isfinite(full) else math.nan
    return row


def compute_accounting(trials: pd.DataFrame) -> pd.DataFrame:
    """Epochs and seconds spent per status vs running every trial to its `epochs` budget.

    A trial's full-budget cost extrapolates its own seconds per epoch; a trial that reported no
    epoch uses its family's pooled rate. accelerator_seconds is wall time x gpus_per_trial, so it
    is 0 on CPU-only sweeps: the wall-second columns are there for those.
    """
    frame = _with_budget_costs(trials)
    present = [status for status in STATUSES if (frame["status"] == status).any()]
    rows = [_summarize(frame[frame["status"] == status], status) for status in present]
    rows.append(_summarize(frame, "total"))
    return pd.DataFrame(rows)
