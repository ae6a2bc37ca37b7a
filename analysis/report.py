"""Reports over exported tables: leaderboard, paired comparisons, compute, reproduction.

    python -m analysis.report <tables-dir> [--plots DIR]

prints Markdown. Every report is a function returning a pandas DataFrame (or a dataclass) so the
notebook and tests call the same code; the CLI only formats.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import stats
from analysis.published import PUBLISHED, PublishedResult
from analysis.schema import (
    DEFAULT_METRIC,
    NON_SETTING_COLUMNS,
    RESULT_STATUSES,
    STATUSES,
    ExportError,
    config_columns,
    higher_is_better,
    varying_settings,
)
from analysis.tables import Tables, read_tables

logger = logging.getLogger(__name__)


def _require_column(trials: pd.DataFrame, column: str) -> None:
    if column not in trials.columns:
        choices = [c for c in trials.columns if c.startswith(("best_", "last_")) and not c.endswith("_epoch")]
        raise ValueError(f"metric {column!r} is not a trials column; available: {', '.join(choices)}")


def _select(trials: pd.DataFrame, statuses: Iterable[str] | None) -> pd.DataFrame:
    if statuses is None:
        return trials
    statuses = tuple(statuses)
    unknown = set(statuses) - set(STATUSES)
    if unknown:
        raise ValueError(f"unknown status {sorted(unknown)}; valid: {', '.join(STATUSES)}")
    return trials[trials["status"].isin(statuses)]


def _format_value(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "n/a"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.6g}"
    return str(value)


# --------------------------------------------------------------------------- leaderboard


def leaderboard(
    trials: pd.DataFrame,
    metric: str = DEFAULT_METRIC,
    *,
    statuses: Iterable[str] | None = RESULT_STATUSES,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per family, one row per activation and setting group: n, mean, std and t-interval over seeds.

    Groups are the activation plus every other setting that varies within the family (seed,
    repeat and resources excluded), so repeats of one setting are pooled and nothing else is.
    """
    _require_column(trials, metric)
    selected = _select(trials, statuses)
    rows = []
    for family, family_trials in selected.groupby("family", dropna=False, sort=True):
        settings = varying_settings(family_trials)
        keys = ["activation", *settings] if "activation" in family_trials.columns else settings
        grouped = family_trials.groupby(keys, dropna=False, sort=True) if keys else [((), family_trials)]
        for group_values, group in grouped:
            group_values = group_values if isinstance(group_values, tuple) else (group_values,)
            by_name = dict(zip(keys, group_values))
            interval = stats.mean_confidence_interval(group[metric].to_numpy(dtype=float, na_value=np.nan), confidence)
            rows.append(
                {
                    "family": family,
                    "activation": by_name.pop("activation", None),
                    "settings": ", ".join(f"{name}={_format_value(value)}" for name, value in by_name.items()),
                    "n": interval.n,
                    "mean": interval.mean,
                    "std": interval.std,
                    "ci_low": interval.ci_low,
                    "ci_high": interval.ci_high,
                    "mean_epochs": float(group["epochs_completed"].astype(float).mean()),
                    "trials": len(group),
                }
            )
    columns = ["family", "activation", "settings", "n", "mean", "std", "ci_low", "ci_high", "mean_epochs", "trials"]
    table = pd.DataFrame(rows, columns=columns)
    ascending = not higher_is_better(metric)
    table = table.sort_values(
        ["family", "mean", "activation", "settings"], ascending=[True, ascending, True, True], na_position="last", kind="mergesort"
    )
    table.attrs["metric"] = metric
    return table.reset_index(drop=True)


# --------------------------------------------------------------------------- paired comparison


@dataclass(frozen=True)
class PairedComparison:
    """activation_a minus activation_b on runs that share every other setting and the seed."""

    family: str | None
    metric: str
    activation_a: str
    activation_b: str
    n: int
    mean_a: float
    mean_b: float
    mean_difference: float
    ci_low: float
    ci_high: float
    t_statistic: float
    p_value: float
    wilcoxon_p: float
    distinguishable: bool
    verdict: str
    matched_on: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def paired_comparison(
    trials: pd.DataFrame,
    activation_a: str,
    activation_b: str,
    *,
    family: str | None = None,
    metric: str = DEFAULT_METRIC,
    match_on: Sequence[str] | None = None,
    statuses: Iterable[str] | None = RESULT_STATUSES,
) -> PairedComparison:
    """Pair runs of two activations on identical settings (seed, repeat and every other config key).

    A config key that one activation never sets (e.g. an aprelu-only `reduction`) is left out of
    the match. Several runs of one activation on the same key are ambiguous and raise ValueError.
    """
    _require_column(trials, metric)
    selected = _select(trials, statuses)
    if family is not None:
        selected = selected[selected["family"] == family]
    side_a = selected[selected["activation"] == activation_a]
    side_b = selected[selected["activation"] == activation_b]
    if match_on is None:
        candidates = ["family", *(c for c in config_columns(trials) if c not in NON_SETTING_COLUMNS), "seed", "repeat"]
        match_on = [
            column
            for column in dict.fromkeys(candidates)
            if column in selected.columns and side_a[column].notna().any() and side_b[column].notna().any()
        ]
    match_on = list(match_on)
    for side, name in ((side_a, activation_a), (side_b, activation_b)):
        duplicated = side.duplicated(match_on, keep=False)
        if duplicated.any():
            example = side.loc[duplicated, match_on].iloc[0].to_dict()
            raise ValueError(
                f"several {name!r} runs share the settings {example}; pass match_on=... with a column that tells them apart"
            )
    pairs = side_a[[*match_on, metric]].merge(side_b[[*match_on, metric]], on=match_on, suffixes=("_a", "_b"))
    values_a = pairs[f"{metric}_a"].to_numpy(dtype=float, na_value=np.nan)
    values_b = pairs[f"{metric}_b"].to_numpy(dtype=float, na_value=np.nan)
    finite = np.isfinite(values_a) & np.isfinite(values_b)
    values_a, values_b = values_a[finite], values_b[finite]
    test = stats.paired_t_test(values_a, values_b)
    _, wilcoxon_p = stats.wilcoxon_signed_rank(values_a, values_b) if test.n else (math.nan, math.nan)
    higher = higher_is_better(metric)
    return PairedComparison(
        family=family,
        metric=metric,
        activation_a=activation_a,
        activation_b=activation_b,
        n=test.n,
        mean_a=float(values_a.mean()) if test.n else math.nan,
        mean_b=float(values_b.mean()) if test.n else math.nan,
        mean_difference=test.mean_difference,
        ci_low=test.ci_low,
        ci_high=test.ci_high,
        t_statistic=test.t_statistic,
        p_value=test.p_value,
        wilcoxon_p=wilcoxon_p,
        distinguishable=stats.is_distinguishable(test.p_value, test.n),
        verdict=stats.verdict(activation_a, activation_b, test, metric=metric, higher_is_better=higher),
        matched_on=tuple(match_on),
    )


def paired_comparisons(
    trials: pd.DataFrame,
    metric: str = DEFAULT_METRIC,
    *,
    statuses: Iterable[str] | None = RESULT_STATUSES,
    min_pairs: int = 2,
) -> pd.DataFrame:
    """Every pair of activations within each family with at least min_pairs paired runs."""
    _require_column(trials, metric)
    selected = _select(trials, statuses)
    rows = []
    for family, family_trials in selected.groupby("family", sort=True):
        activations = sorted(family_trials["activation"].dropna().unique())
        for activation_a, activation_b in itertools.combinations(activations, 2):
            try:
                comparison = paired_comparison(
                    family_trials, activation_a, activation_b, family=family, metric=metric, statuses=None
                )
            except ValueError as error:
                logger.warning("skipping %s vs %s in %s: %s", activation_a, activation_b, family, error)
                continue
            if comparison.n >= max(min_pairs, 1):
                rows.append(comparison.as_dict())
    columns = [field for field in PairedComparison.__dataclass_fields__]
    return pd.DataFrame(rows, columns=columns)


# --------------------------------------------------------------------------- compute


def compute_accounting(trials: pd.DataFrame) -> pd.DataFrame:
    """Epochs and seconds spent per status vs running every trial to its `epochs` budget.

    A trial's full-budget cost extrapolates its own seconds per epoch; a trial that reported no
    epoch uses its family's pooled rate. accelerator_seconds is wall time x gpus_per_trial, so it
    is 0 on CPU-only sweeps: the wall-second columns are there for those.
    """
    frame = trials.copy()
    completed = frame["epochs_completed"].astype(float).fillna(0.0)
    budget = frame["epochs"].astype(float) if "epochs" in frame.columns else completed.copy()
    frame["_budget"] = np.maximum(budget.fillna(completed), completed)
    for column in ("wall_seconds", "accelerator_seconds"):
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

    def summarize(group: pd.DataFrame, label: str) -> dict[str, object]:
        spent_epochs = float(group["epochs_completed"].astype(float).fillna(0).sum())
        budget_epochs = float(group["_budget"].sum())
        row = {"status": label, "trials": len(group), "trial_epochs": int(spent_epochs), "budget_epochs": int(budget_epochs)}
        row["epochs_fraction"] = spent_epochs / budget_epochs if budget_epochs else math.nan
        for column in ("wall_seconds", "accelerator_seconds"):
            spent = float(group[f"_spent_{column}"].sum())
            full = float(group[f"_budget_{column}"].sum(min_count=1)) if len(group) else math.nan
            row[column] = spent
            row[f"budget_{column}"] = full
            row[f"{column}_saved"] = full - spent if math.isfinite(full) else math.nan
        return row

    rows = [summarize(frame[frame["status"] == status], status) for status in STATUSES if (frame["status"] == status).any()]
    rows.append(summarize(frame, "total"))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- reproduction


def _matches(trials: pd.DataFrame, published: PublishedResult) -> pd.Series:
    mask = pd.Series(True, index=trials.index)
    for column, value in published.match.items():
        if column not in trials.columns:
            return pd.Series(False, index=trials.index)
        mask &= trials[column].eq(value).fillna(False).astype(bool)
    return mask


def reproduction_table(
    trials: pd.DataFrame,
    epochs: pd.DataFrame | None = None,
    published: Sequence[PublishedResult] = PUBLISHED,
) -> pd.DataFrame:
    """Each published number beside the best matching reproduced one and the epochs it ran.

    With the epochs table, also the best value reached exactly at the published epoch count.
    """
    rows = []
    for result in published:
        matching = trials[_matches(trials, result)]
        best_column = f"best_{result.metric}"
        row: dict[str, object] = {
            "key": result.key,
            "description": result.description,
            "metric": result.metric,
            "published": result.value,
            "published_epochs": result.epochs,
            "reproduced": math.nan,
            "reproduced_epoch": pd.NA,
            "epochs_run": pd.NA,
            "trial_id": None,
            "difference": math.nan,
            "at_published_epoch": math.nan,
            "trials": len(matching),
        }
        if best_column in matching.columns and matching[best_column].notna().any():
            higher = higher_is_better(result.metric)
            values = matching[best_column].astype(float)
            best = matching.loc[values.idxmax() if higher else values.idxmin()]
            row.update(
                reproduced=float(best[best_column]),
                reproduced_epoch=int(best[f"{best_column}_epoch"]),
                epochs_run=int(best["epochs_completed"]),
                trial_id=best["trial_id"],
                difference=float(best[best_column]) - result.value,
            )
        if epochs is not None and result.metric in epochs.columns and len(matching):
            keys = matching[["experiment", "trial_id"]]
            at_epoch = epochs[epochs["epoch"] == result.epochs].merge(keys, on=["experiment", "trial_id"])
            if at_epoch[result.metric].notna().any():
                values = at_epoch[result.metric].astype(float)
                row["at_published_epoch"] = float(values.max() if higher_is_better(result.metric) else values.min())
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- markdown


def to_markdown(table: pd.DataFrame, float_digits: int = 4) -> str:
    """A GitHub Markdown table (no tabulate dependency); missing values print as n/a."""
    if table.empty:
        return "_(no rows)_"

    def cell(value: object) -> str:
        if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value)):
            return "n/a"
        if isinstance(value, (bool, np.bool_)):
            return str(bool(value))
        if isinstance(value, (float, np.floating)):
            return f"{float(value):.{float_digits}f}"
        if isinstance(value, tuple):
            return ", ".join(map(str, value))
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(cell(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def render_report(tables: Tables, metric: str = DEFAULT_METRIC, plots_dir: str | Path | None = None) -> str:
    """The whole Markdown report; with plots_dir also writes the PNG plots and links them."""
    trials, epochs = tables.trials, tables.epochs
    sections = [f"# Sweep report\n\n{len(trials)} trials, {len(epochs)} trial-epochs, "
                f"experiments: {', '.join(sorted(trials['experiment'].unique()))}."]
    if metric in trials.columns:
        sections.append(f"## Leaderboard ({metric}, mean over seeds, 95% t-interval)\n\n" + to_markdown(leaderboard(trials, metric)))
        comparisons = paired_comparisons(trials, metric)
        shown = comparisons[["family", "activation_a", "activation_b", "n", "mean_difference", "ci_low", "ci_high", "p_value", "wilcoxon_p", "verdict"]]
        sections.append("## Paired comparisons (a - b, same seeds and settings)\n\n" + to_markdown(shown))
    else:
        sections.append(f"## Leaderboard\n\n_no {metric} column: no trial reported it yet_")
    sections.append("## Compute (spent vs every trial run to its epoch budget)\n\n" + to_markdown(compute_accounting(trials)))
    reproduction = reproduction_table(trials, epochs)
    sections.append("## Reproduction of published numbers\n\n" + to_markdown(reproduction.drop(columns=["description"])))
    if plots_dir is not None:
        from analysis import plots  # matplotlib only when plots are asked for

        paths = plots.save_plots(trials, epochs, plots_dir)
        sections.append("## Plots\n\n" + "\n".join(f"![{path.stem}]({path})" for path in paths))
    return "\n\n".join(sections) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.report", description="Print a Markdown report of exported tables.")
    parser.add_argument("tables_dir", help="directory holding trials.parquet and epochs.parquet")
    parser.add_argument("--plots", default=None, metavar="DIR", help="also write PNG plots to DIR")
    parser.add_argument("--metric", default=DEFAULT_METRIC, help=f"trials column to rank by (default {DEFAULT_METRIC})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        tables = read_tables(args.tables_dir)
        text = render_report(tables, args.metric, args.plots)
    except (ExportError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
