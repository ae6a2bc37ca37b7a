"""One trial's derived values: its status, cost, and best and last value of every metric."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from analysis.store.schema import DEFAULT_CHECKPOINT_METRIC, TUNE_CLOCK, metric_direction
from analysis.store.tune_files import TrialFiles


def _is_diverged(rows: list[dict[str, Any]]) -> bool:
    return any(
        row.get("diverged") is True or str(row.get("stop_reason") or "").startswith("diverged")
        for row in rows
    )


def trial_status(trial: TrialFiles, epochs_completed: int) -> str:
    """Tune's final state decides; divergence wins over how it ended.

    A trial that failed, was retried and then finished is finished (its failures are counted in
    num_failures), although error.txt exists. Without a usable state, Tune's done flag decides.
    An unfinished trial is running only while a driver holds the experiment (its lease file);
    once none does, it is errored (it has an error file) or interrupted (`--resume` continues it).
    """
    if _is_diverged(trial.rows):
        return "diverged"
    if trial.state_status == "ERROR":
        return "errored"
    # The state file is saved periodically, so a RUNNING state may be stale: the done flag wins.
    finished = trial.state_status == "TERMINATED" or trial.done
    if not finished:
        still_retrying = trial.state_status in ("RUNNING", "PENDING", "PAUSED") and trial.driver_running
        if trial.error is not None and not still_retrying:
            return "errored"
        return "running" if trial.driver_running else "interrupted"
    budget = trial.config.get("epochs")
    if not isinstance(budget, (int, float)) or isinstance(budget, bool) or epochs_completed >= budget:
        return "terminated"
    # Tune writes done=True on the last result of a trial it stops itself (scheduler, own end);
    # a trial stopped with the whole experiment (TuneConfig.time_budget_s) keeps done=False.
    return "time_budget" if trial.state_status == "TERMINATED" and not trial.done else "stopped_early"


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric_names(trials: Sequence[TrialFiles]) -> list[str]:
    """Every numeric reported key except the epoch and Tune's clock, sorted."""
    names = set()
    for trial in trials:
        for row in trial.rows:
            for key, value in row.items():
                if key in ("epoch", *TUNE_CLOCK):
                    continue
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    names.add(key)
    return sorted(names)


def _best_and_last(rows: list[dict[str, Any]], name: str) -> dict[str, Any]:
    reported = [(row["epoch"], row[name]) for row in rows if name in row and row[name] is not None]
    record: dict[str, Any] = {f"last_{name}": float(reported[-1][1]) if reported else None}
    direction = metric_direction(name)
    if direction is None:
        return record
    finite_values = [(epoch, float(value)) for epoch, value in reported if finite(value)]
    if finite_values:
        pick = max if direction == "max" else min
        # Ties go to the earliest epoch: sort key (value, -epoch) for max, (value, epoch) for min.
        sign = -1 if direction == "max" else 1
        best_epoch, best_value = pick(finite_values, key=lambda item: (item[1], sign * item[0]))
        record[f"best_{name}"], record[f"best_{name}_epoch"] = best_value, best_epoch
    else:
        record[f"best_{name}"], record[f"best_{name}_epoch"] = None, None
    return record


def _last_reported(rows: list[dict[str, Any]], name: str) -> Any:
    values = [row[name] for row in rows if row.get(name) is not None]
    return str(values[-1]) if values else None


def best_checkpoint(trial: TrialFiles) -> tuple[str | None, int | None]:
    """The kept checkpoint whose epoch has the best sweep metric (earliest on ties)."""
    metric = trial.sweep_metric if trial.sweep_metric and metric_direction(trial.sweep_metric) else DEFAULT_CHECKPOINT_METRIC
    sign = 1.0 if metric_direction(metric) == "max" else -1.0
    values = {row["epoch"]: row.get(metric) for row in trial.rows}
    scored = [(sign * float(values[epoch]), -epoch) for epoch in trial.checkpoints if finite(values.get(epoch))]
    if not scored:
        return None, None
    epoch = -max(scored)[1]
    return trial.checkpoints[epoch], epoch


def trial_record(trial: TrialFiles, metrics: Sequence[str]) -> dict[str, Any]:
    """The derived (non-config) values of one trials.parquet row."""
    rows = trial.rows
    epochs_completed = max((row["epoch"] for row in rows), default=0)
    times = [row["time_total_s"] for row in rows if finite(row.get("time_total_s"))]
    wall_seconds = float(max(times)) if times else None
    gpus = trial.config.get("gpus_per_trial")
    accelerator_seconds = wall_seconds * float(gpus) if wall_seconds is not None and finite(gpus) else None
    checkpoint, checkpoint_epoch = best_checkpoint(trial)
    record: dict[str, Any] = {
        "experiment": trial.experiment,
        "trial_id": trial.trial_id,
        "trial_dir": trial.trial_dir,
        "status": trial_status(trial, epochs_completed),
        "epochs_completed": int(epochs_completed),
        "wall_seconds": wall_seconds,
        "accelerator_seconds": accelerator_seconds,
        "stop_reason": _last_reported(rows, "stop_reason"),
        "error": trial.error,
        "num_failures": trial.num_failures,
        "gpu_ids": _last_reported(rows, "gpu_ids"),
        "node_id": _last_reported(rows, "node_id"),
        "best_checkpoint": checkpoint,
        "best_checkpoint_epoch": checkpoint_epoch,
    }
    for name in metrics:
        record.update(_best_and_last(rows, name))
    return record
