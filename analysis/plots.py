"""Matplotlib figures over exported tables (Agg canvas, no pyplot state).

Figures are built on matplotlib.figure.Figure with an Agg canvas so library code never touches
the global pyplot backend; save_plots writes PNGs, figure_png gives bytes for notebooks.
"""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.schema import DEFAULT_METRIC, RESULT_STATUSES, varying_settings

logger = logging.getLogger(__name__)


def _new_figure(width: float = 6.4, height: float = 4.2, columns: int = 1) -> Figure:
    figure = Figure(figsize=(width * columns, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _legend(axes) -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")


def figure_png(figure: Figure) -> bytes:
    """PNG bytes (for IPython.display.Image in the notebook)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def learning_curves(
    trials: pd.DataFrame,
    epochs: pd.DataFrame,
    family: str,
    metric: str = "val_accuracy",
    statuses: tuple[str, ...] = RESULT_STATUSES,
) -> Figure:
    """Mean over seeds per activation with a +-1 std band (min..max is too wide with few seeds)."""
    figure = _new_figure()
    axes = figure.add_subplot()
    selected = (trials["family"] == family) & trials["status"].isin(statuses)
    members = trials.loc[selected, ["experiment", "trial_id", "activation"]]
    curves = epochs.merge(members, on=["experiment", "trial_id"])
    if metric not in curves.columns or curves.empty:
        axes.text(0.5, 0.5, f"no {metric} reported", ha="center", va="center", transform=axes.transAxes)
    else:
        for activation, rows in curves.groupby("activation", sort=True):
            by_epoch = rows.groupby("epoch")[metric].agg(["mean", "std", "count"]).sort_index()
            x = by_epoch.index.to_numpy(dtype=float)
            mean = by_epoch["mean"].to_numpy(dtype=float)
            spread = by_epoch["std"].fillna(0.0).to_numpy(dtype=float)
            line = axes.plot(x, mean, label=f"{activation} (n={rows['trial_id'].nunique()})")[0]
            axes.fill_between(x, mean - spread, mean + spread, alpha=0.2, color=line.get_color(), linewidth=0)
        _legend(axes)
    axes.set(title=f"{family}: {metric} (mean \u00b1 std over seeds)", xlabel="epoch", ylabel=metric)
    axes.grid(alpha=0.3)
    return figure


def _scatter_against(axes, trials: pd.DataFrame, column: str, metric: str) -> None:
    values = trials[column]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if numeric:
        positions = values.astype(float)
    else:
        categories = sorted(values.astype(str).unique())
        positions = values.astype(str).map({name: index for index, name in enumerate(categories)}).astype(float)
        axes.set_xticks(range(len(categories)), categories, rotation=30, fontsize="small")
    for activation, rows in trials.groupby("activation", sort=True):
        axes.scatter(positions.loc[rows.index], rows[metric].astype(float), label=str(activation), alpha=0.7, s=20)
    finite = positions[np.isfinite(positions)]
    if numeric and len(finite) and finite.min() > 0 and finite.max() / finite.min() > 100:
        axes.set_xscale("log")  # learning rates and weight decays span decades
    axes.set(xlabel=column, ylabel=metric)
    axes.grid(alpha=0.3)


def best_vs_hyperparameters(
    trials: pd.DataFrame, family: str, metric: str = DEFAULT_METRIC
) -> Figure:
    """One panel per hyperparameter swept in the family (the activation when nothing else varies)."""
    members = trials[(trials["family"] == family) & trials["status"].isin(RESULT_STATUSES)]
    parameters = varying_settings(members) or ["activation"]
    figure = _new_figure(width=4.5, columns=len(parameters))
    for index, parameter in enumerate(parameters):
        axes = figure.add_subplot(1, len(parameters), index + 1)
        _scatter_against(axes, members, parameter, metric)
        if index == 0:
            _legend(axes)
    figure.suptitle(f"{family}: {metric} vs swept hyperparameters")
    return figure


def accuracy_vs_compute(trials: pd.DataFrame, metric: str = DEFAULT_METRIC, family: str | None = None) -> Figure:
    """Best metric against accelerator-seconds spent; wall seconds on CPU-only sweeps (where that is 0)."""
    members = trials if family is None else trials[trials["family"] == family]
    members = members[members[metric].notna()]
    cost_column = "accelerator_seconds"
    if not (members[cost_column].astype(float).fillna(0.0) > 0).any():
        cost_column = "wall_seconds"
    figure = _new_figure()
    axes = figure.add_subplot()
    for (group_family, activation), rows in members.groupby(["family", "activation"], sort=True):
        label = str(activation) if family is not None else f"{group_family}/{activation}"
        axes.scatter(rows[cost_column].astype(float), rows[metric].astype(float), label=label, alpha=0.7, s=20)
    _legend(axes)
    axes.set(title=f"{metric} vs compute" + (f" ({family})" if family else ""), xlabel=cost_column, ylabel=metric)
    axes.grid(alpha=0.3)
    return figure


def _safe(name: object) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name))


def save_plots(
    trials: pd.DataFrame, epochs: pd.DataFrame, out_dir: str | os.PathLike, metric: str = DEFAULT_METRIC
) -> list[Path]:
    """Write every plot as PNG into out_dir; returns the paths in a fixed order."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    curve_metric = metric.removeprefix("best_").removeprefix("last_")
    paths = []
    figures: list[tuple[str, Figure]] = []
    for family in sorted(trials["family"].dropna().unique()):
        figures.append((f"{_safe(family)}_learning_curves.png", learning_curves(trials, epochs, family, curve_metric)))
        if metric in trials.columns:
            figures.append((f"{_safe(family)}_{metric}_vs_hyperparameters.png", best_vs_hyperparameters(trials, family, metric)))
    if metric in trials.columns:
        figures.append((f"{metric}_vs_compute.png", accuracy_vs_compute(trials, metric)))
    for file_name, figure in figures:
        path = directory / file_name
        figure.savefig(path, dpi=100)
        paths.append(path)
        logger.info("wrote %s", path)
    return paths
