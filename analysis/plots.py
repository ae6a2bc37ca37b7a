"""Matplotlib figures over exported tables (Agg canvas, no pyplot state).

Figures are built on matplotlib.figure.Figure with an Agg canvas so library code never touches
the global pyplot backend; save_plots writes PNGs, figure_png gives bytes for notebooks.
Trials that ran their full budget are drawn filled, trials cut short hollow, so a trial stopped
after one epoch never looks like one that ran them all.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis.store.schema import DEFAULT_METRIC, FULL_BUDGET_STATUS, higher_is_better, varying_settings

logger = logging.getLogger(__name__)

# A numeric setting with at most this many distinct values is a sweep's choice list: categorical.
MAX_NUMERIC_CATEGORIES = 6
MAX_CONFIGURATIONS = 8


def _new_figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_png(figure: Figure) -> bytes:
    """PNG bytes (for IPython.display.Image in the notebook)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")  # the verdict words right of the axes
    return buffer.getvalue()


def _configuration_labels(members: pd.DataFrame) -> pd.Series:
    """'relu' or 'relu, lr=0.01': the activation plus every setting that varies in the family."""
    settings = varying_settings(members)
    parts = [members["activation"].astype(str)]
    parts += [f"{name}=" + members[name].astype(str) for name in settings]
    labels = parts[0]
    for part in parts[1:]:
        labels = labels + ", " + part
    return labels


def _top_configurations(members: pd.DataFrame, labels: pd.Series, score: str | None) -> list[str]:
    """At most MAX_CONFIGURATIONS labels, the best by mean score over seeds when there are more."""
    unique = sorted(labels.unique())
    if len(unique) <= MAX_CONFIGURATIONS or score is None or score not in members.columns:
        return unique[:MAX_CONFIGURATIONS]
    means = members[score].astype(float).groupby(labels).mean()
    ranked = means.sort_values(ascending=not higher_is_better(score), na_position="last")
    return sorted(ranked.index[:MAX_CONFIGURATIONS])


def _draw_curve(axes, rows: pd.DataFrame, metric: str, label: str, color: str) -> None:
    by_epoch = rows.groupby("epoch")[metric].agg(["mean", "std"]).sort_index()
    x = by_epoch.index.to_numpy(dtype=float)
    mean = by_epoch["mean"].to_numpy(dtype=float)
    spread = by_epoch["std"].to_numpy(dtype=float)  # NaN where one seed is left: no band there
    axes.plot(x, mean, color=color, label=f"{label} (n={rows['trial_id'].nunique()})", marker="o", markersize=3)
    axes.fill_between(x, mean - spread, mean + spread, color=color, alpha=0.2, linewidth=0)


def _draw_alive(axes, curves: pd.DataFrame, shown: list[str], colors: list[str]) -> None:
    """Stacked bars: trials that reported each epoch, per configuration."""
    counts = curves.groupby(["epoch", "configuration"])["trial_id"].nunique().unstack(fill_value=0)
    counts = counts.reindex(columns=shown, fill_value=0)
    base = np.zeros(len(counts))
    for configuration, color in zip(shown, colors):
        heights = counts[configuration].to_numpy(dtype=float)
        axes.bar(counts.index.to_numpy(dtype=float), heights, bottom=base, color=color, width=0.6, alpha=0.8)
        base += heights
    axes.set(xlabel="epoch", ylabel="trials alive")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def learning_curves(trials: pd.DataFrame, epochs: pd.DataFrame, family: str, metric: str = "val_accuracy") -> Figure:
    """Per configuration: mean over its seeds with a +-1 std band, and the trials alive per epoch.

    Under ASHA the mean at a late epoch covers only the surviving trials; the lower panel shows
    how many that is, so a band over one survivor is never read as a band over all seeds.
    """
    members = trials[trials["family"] == family]
    labels = _configuration_labels(members)
    shown = _top_configurations(members, labels, f"best_{metric}")
    figure = _new_figure(8.0, 5.4 + 0.2 * len(shown))
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    curves = epochs.merge(members[["experiment", "trial_id"]].assign(configuration=labels), on=["experiment", "trial_id"])
    if metric not in curves.columns or curves.empty:
        top.text(0.5, 0.5, f"no {metric} reported", ha="center", va="center", transform=top.transAxes)
        return figure
    colors = [f"C{index % 10}" for index in range(len(shown))]
    for configuration, color in zip(shown, colors):
        _draw_curve(top, curves[curves["configuration"] == configuration], metric, configuration, color)
    _draw_alive(bottom, curves[curves["configuration"].isin(shown)], shown, colors)
    total = curves["configuration"].nunique()
    subset = f"; best {len(shown)} of {total} configurations" if len(shown) < total else ""
    top.set(title=f"{family}: {metric}, mean \u00b1 std over seeds per configuration{subset}", ylabel=metric)
    figure.legend(*top.get_legend_handles_labels(), loc="outside lower center", fontsize="small")
    for axes in (top, bottom):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    return figure


def _is_categorical(values: pd.Series) -> bool:
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return not numeric or values.nunique(dropna=True) <= MAX_NUMERIC_CATEGORIES


def _positions(axes, values: pd.Series) -> pd.Series:
    """x positions: category indexes (labelled ticks) or the numbers (log scale over decades)."""
    if _is_categorical(values):
        categories = sorted(values.dropna().unique(), key=lambda value: (str(type(value)), value))
        names = [f"{value:g}" if isinstance(value, (float, np.floating)) else str(value) for value in categories]
        axes.set_xticks(range(len(categories)), names, fontsize="small")
        axes.set_xlim(-0.5, len(categories) - 0.5)
        return values.map({value: index for index, value in enumerate(categories)}).astype(float)
    positions = values.astype(float)
    finite = positions[np.isfinite(positions)]
    if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 100:
        axes.set_xscale("log")  # learning rates and weight decays span decades
    return positions


def _scatter_panel(axes, members: pd.DataFrame, parameter: str, metric: str, colors: dict) -> None:
    positions = _positions(axes, members[parameter])
    categorical = _is_categorical(members[parameter])
    activations = sorted(colors)
    for index, activation in enumerate(activations):
        rows = members[members["activation"] == activation]
        offset = (index - (len(activations) - 1) / 2) * 0.08 if categorical else 0.0
        x = positions.loc[rows.index] + offset
        finished = rows["status"].eq(FULL_BUDGET_STATUS).to_numpy()
        values = rows[metric].astype(float).to_numpy()
        axes.scatter(x[finished], values[finished], color=colors[activation], s=22, alpha=0.8)
        axes.scatter(x[~finished], values[~finished], facecolors="none", edgecolors=colors[activation], s=22, alpha=0.8)
    axes.set_xlabel(parameter)
    axes.grid(alpha=0.3)


def _legend_handles(axes, colors: dict) -> None:
    for activation, color in sorted(colors.items()):
        axes.scatter([], [], color=color, s=22, label=str(activation))
    axes.scatter([], [], color="gray", s=22, label="ran its full budget")
    axes.scatter([], [], facecolors="none", edgecolors="gray", s=22, label="cut short (best so far)")


def best_vs_hyperparameters(trials: pd.DataFrame, family: str, metric: str = DEFAULT_METRIC) -> Figure:
    """A grid of small panels, one per hyperparameter swept in the family (activation if none)."""
    members = trials[(trials["family"] == family) & trials[metric].notna()]
    parameters = varying_settings(members) or ["activation"]
    columns = min(3, len(parameters))
    rows = math.ceil(len(parameters) / columns)
    figure = _new_figure(max(3.3 * columns + 1.8, 7.0), 2.7 * rows + 0.6)
    grid = figure.subplots(rows, columns, sharey=True, squeeze=False)
    colors = {activation: f"C{index % 10}" for index, activation in enumerate(sorted(members["activation"].dropna().unique()))}
    for axes, parameter in zip(grid.flat, parameters):
        _scatter_panel(axes, members, parameter, metric, colors)
    for axes in grid.flat[len(parameters):]:
        axes.set_visible(False)
    for axes in grid[:, 0]:
        axes.set_ylabel(metric)
    _legend_handles(grid.flat[0], colors)
    figure.legend(*grid.flat[0].get_legend_handles_labels(), loc="outside right center", fontsize="small")
    figure.suptitle(f"{family}: {metric} vs swept hyperparameters ({len(members)} trials)", fontsize="medium")
    return figure


def accuracy_vs_compute(trials: pd.DataFrame, metric: str = DEFAULT_METRIC, family: str | None = None) -> Figure:
    """Best metric against accelerator-seconds spent; wall seconds on CPU-only sweeps (where that is 0)."""
    members = trials if family is None else trials[trials["family"] == family]
    members = members[members[metric].notna()]
    cost_column = "accelerator_seconds"
    if not (members[cost_column].astype(float).fillna(0.0) > 0).any():
        cost_column = "wall_seconds"
    figure = _new_figure(8.0, 4.4)
    axes = figure.add_subplot()
    groups = members.groupby(["family", "activation"], sort=True)
    colors = {}
    for index, ((group_family, activation), rows) in enumerate(groups):
        label = str(activation) if family is not None else f"{group_family}/{activation}"
        colors[label] = f"C{index % 10}"
        finished = rows["status"].eq(FULL_BUDGET_STATUS)
        cost, value = rows[cost_column].astype(float), rows[metric].astype(float)
        axes.scatter(cost[finished], value[finished], color=colors[label], s=22, alpha=0.8)
        axes.scatter(cost[~finished], value[~finished], facecolors="none", edgecolors=colors[label], s=22, alpha=0.8)
    _legend_handles(axes, colors)
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    where = f" ({family})" if family else ""
    cpu_only = "; no GPU was used, so wall seconds" if cost_column == "wall_seconds" else ""
    axes.set(title=f"{metric} vs compute{where}{cpu_only}", xlabel=cost_column, ylabel=metric)
    axes.grid(alpha=0.3)
    return figure


OUTCOME_COLORS = {"equivalent": "C2", "a_better": "C0", "b_better": "C0", "a_not_worse": "C1",
                  "b_not_worse": "C1", "inconclusive": "C7"}


OUTCOME_WORDS = {"equivalent": "equivalent", "a_better": "A better", "b_better": "B better",
                 "a_not_worse": "A not worse", "b_not_worse": "B not worse", "inconclusive": "inconclusive"}


def comparisons_plot(comparisons: pd.DataFrame) -> Figure:
    """Each comparison's mean difference (arm a - arm b) with the interval its verdict's test used (90% for
    equivalent and not worse, 95% otherwise; repeated after looks), against the +-margin band.

    One row per comparison (a paired_comparisons table), coloured by its verdict and labelled with
    the seeds it used; what a reader looks at first: where each interval lies against the band.
    """
    rows = comparisons.reset_index(drop=True)
    figure = _new_figure(10.0, 1.9 + 0.55 * max(len(rows), 1))
    axes = figure.add_subplot()
    if rows.empty:
        axes.text(0.5, 0.5, "no comparison with 2 or more pairs", ha="center", va="center", transform=axes.transAxes)
        return figure
    margin = float(rows["margin"].iloc[0])
    axes.axvspan(-margin, margin, color="C2", alpha=0.12, linewidth=0, label=f"\u00b1 margin ({margin:g})")
    axes.axvline(0.0, color="black", linewidth=0.8)
    positions = np.arange(len(rows))[::-1]
    for position, row in zip(positions, rows.itertuples(index=False)):
        color = OUTCOME_COLORS.get(row.outcome, "C7")
        low, high = row.decision_low, row.decision_high
        if np.isfinite(low) and np.isfinite(high):
            axes.plot([low, high], [position, position], color=color, linewidth=2.5, solid_capstyle="butt")
        axes.plot([row.mean_difference], [position], "o", color=color, markersize=7)
        look = f", look {row.look}/{row.looks}" if pd.notna(row.look) else ""
        axes.annotate(f"{OUTCOME_WORDS.get(row.outcome, row.outcome)} ({row.seeds} seeds{look})",
                      (1.01, position), xycoords=("axes fraction", "data"), va="center", fontsize="small", color=color)
    axes.set_yticks(positions, [f"A: {row.arm_a}\nB: {row.arm_b}" for row in rows.itertuples(index=False)],
                    fontsize="small")
    axes.set_ylim(-0.7, len(rows) - 0.3)
    metric = rows["metric"].iloc[0]
    several = len(rows) > 1  # then widened across the comparisons as the decisions were (Benjamini-Yekutieli)
    axes.set(xlabel=f"difference in {metric}, A \u2212 B: mean over the seeds,\nand the interval each verdict's test "
                    "used (90% equivalent / not worse, 95% otherwise" + (", adjusted across comparisons)" if several
                                                                          else ")"))
    axes.set_title(f"{metric}: paired differences against the \u00b1{margin:g} margin\n(green: equivalent, "
                   "blue: a winner, orange: not worse, grey: inconclusive)", fontsize="medium")
    axes.grid(alpha=0.3, axis="x")
    axes.legend(loc="lower left", fontsize="small")
    return figure


def _safe(name: object) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))


def save_plots(
    trials: pd.DataFrame, epochs: pd.DataFrame, out_dir: str | os.PathLike, metric: str = DEFAULT_METRIC,
    comparisons: pd.DataFrame | None = None,
) -> list[Path]:
    """Write every plot as PNG into out_dir; returns the paths in a fixed order (the comparisons first)."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    curve_metric = metric.removeprefix("best_").removeprefix("last_")
    figures: list[tuple[str, Figure]] = []
    if comparisons is not None and not comparisons.empty:
        figures.append((f"{_safe(metric)}_comparisons.png", comparisons_plot(comparisons)))
    for family in sorted(trials["family"].dropna().unique()):
        figures.append((f"{_safe(family)}_learning_curves.png", learning_curves(trials, epochs, family, curve_metric)))
        if metric in trials.columns:
            figures.append((f"{_safe(family)}_{metric}_vs_hyperparameters.png", best_vs_hyperparameters(trials, family, metric)))
    if metric in trials.columns:
        figures.append((f"{metric}_vs_compute.png", accuracy_vs_compute(trials, metric)))
    paths = []
    for file_name, figure in figures:
        path = directory / file_name
        figure.savefig(path, dpi=100, bbox_inches="tight")  # the verdict words right of the axes
        paths.append(path)
        logger.info("wrote %s", path)
    return paths
