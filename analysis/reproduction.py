"""The seed experiments' published numbers beside this project's, at the published epoch count."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from analysis.verdict import stats
from analysis.published import PUBLISHED, PublishedResult
from analysis.store.schema import higher_is_better

REPRODUCTION_COLUMNS = [
    "key", "description", "metric", "published", "budget", "n", "mean", "ci_low", "ci_high", "best",
    "best_trial_id", "difference", "cut_short",
]


def _matches(trials: pd.DataFrame, match: Mapping[str, Any]) -> pd.Series:
    mask = pd.Series(True, index=trials.index)
    for column, value in match.items():
        if column not in trials.columns:
            return pd.Series(False, index=trials.index)
        mask &= trials[column].eq(value).fillna(False).astype(bool)
    return mask


def test_split_metric(published_metric: str, epochs: pd.DataFrame) -> str:
    """The seeds validated on their test split; ours reports that split as test_* under both
    protocols (with held-out validation val_* is not the test split), so compare test_* to them."""
    test = published_metric.replace("val_", "test_", 1)
    return test if published_metric.startswith("val_") and test in epochs.columns else published_metric


def _row(result: PublishedResult, matching: pd.DataFrame, epochs: pd.DataFrame) -> dict[str, object]:
    keys = ["experiment", "trial_id"]
    at_epoch = epochs.loc[epochs["epoch"] == result.epochs].merge(matching[keys], on=keys)
    metric = test_split_metric(result.metric, at_epoch)
    values = at_epoch[metric].astype(float) if metric in at_epoch.columns else pd.Series(dtype=float)
    interval = stats.mean_confidence_interval(values.to_numpy())
    row: dict[str, object] = {
        "key": result.key, "description": result.description, "metric": metric,
        "published": result.value, "budget": f"epoch {result.epochs}", "n": interval.n,
        "mean": interval.mean, "ci_low": interval.ci_low, "ci_high": interval.ci_high,
        "best": math.nan, "best_trial_id": None, "difference": interval.mean - result.value,
        "cut_short": len(matching) - len(at_epoch),
    }
    if values.notna().any():
        best = values.idxmax() if higher_is_better(metric) else values.idxmin()
        row.update(best=float(values[best]), best_trial_id=at_epoch.loc[best, "trial_id"])
    return row


def reproduction_table(
    trials: pd.DataFrame, epochs: pd.DataFrame, published: Sequence[PublishedResult] = PUBLISHED
) -> pd.DataFrame:
    """Each published number with trials of its family on its dataset, beside the reproduced ones.

    The budget is the published epoch count: only trials that reported that epoch count, with
    their value at it (mean and t-interval over them, and the best); the matching trials that
    stopped before it are counted in cut_short.
    """
    rows = []
    for result in published:
        same_data = {key: result.match[key] for key in ("family", "dataset") if key in result.match}
        if _matches(trials, same_data).any():  # never a digits stand-in against MNIST's number
            rows.append(_row(result, trials[_matches(trials, result.match)], epochs))
    return pd.DataFrame(rows, columns=REPRODUCTION_COLUMNS)
