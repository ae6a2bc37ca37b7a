"""Read a Tune experiment directory as it lies on disk, without Ray.

params.json, result.json lines, error.txt and the newest experiment_state-*.json when present:
this works on finished, interrupted and still-running sweeps alike.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# Keys Tune adds to every result row; they describe the run, not the model, so they are not metrics.
TUNE_BOOKKEEPING = frozenset(
    {
        "timestamp", "checkpoint_dir_name", "done", "trial_id", "date", "pid", "hostname",
        "node_ip", "config", "experiment_tag", "time_since_restore", "iterations_since_restore",
        "should_checkpoint", "experiment_id", "episodes_total", "timesteps_total",
        "timesteps_since_restore", "warmup_time",
    }
)
_TRIAL_ID = re.compile(r"_([0-9a-f]{5}_\d{5})(?:_|$)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class TrialFiles:
    """What one trial directory (plus Tune's experiment state) says about the trial."""

    experiment: str
    trial_dir: str
    trial_id: str
    config: dict[str, Any]
    rows: list[dict[str, Any]]  # one per epoch, deduplicated, epoch-ordered
    state_status: str | None  # Tune's status from experiment_state, if known
    error: str | None
    done: bool  # Tune's `done` flag on the last result line


def _read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Rows of result.json; a torn last line (sweep still writing) is skipped, not fatal."""
    rows = []
    if not path.is_file():
        return rows
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("skipping unreadable line %d of %s", line_number, path)
                continue
            if isinstance(row, dict):
                rows.append(row)
    return rows


def _read_state(experiment_dir: Path) -> dict[str, dict[str, Any]]:
    """Trial states from the newest experiment_state-*.json, keyed by trial dir name and trial id."""
    state_files = sorted(experiment_dir.glob("experiment_state-*.json"))
    if not state_files:
        return {}
    try:
        state = json.loads(state_files[-1].read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        logger.warning("ignoring unreadable %s: %s", state_files[-1], error)
        return {}
    by_key: dict[str, dict[str, Any]] = {}
    for entry in state.get("trial_data", []):
        # Ray 2.x stores each trial as [trial state JSON text, runtime metadata JSON text].
        trial_text = entry[0] if isinstance(entry, (list, tuple)) and entry else entry
        try:
            trial = json.loads(trial_text) if isinstance(trial_text, str) else dict(trial_text)
        except (TypeError, ValueError):
            continue
        for key in (trial.get("relative_logdir"), trial.get("trial_id")):
            if key:
                by_key[str(key)] = trial
    return by_key


def _flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested metric dicts as Ray's progress.csv does ('a/b'); the nested config is dropped."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if not prefix and key in TUNE_BOOKKEEPING:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}/"))
        else:
            flat[name] = value
    return flat


def _epoch_rows(raw_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per epoch; a restored trial re-reports epochs, and the latest report wins."""
    by_epoch: dict[int, dict[str, Any]] = {}
    for raw in raw_rows:
        row = _flatten(raw)
        epoch = row.pop("epoch", None)
        if epoch is None or isinstance(epoch, bool):
            epoch = raw.get("training_iteration")
        try:
            epoch = int(epoch)
        except (TypeError, ValueError):
            logger.warning("skipping a result row without epoch or training_iteration")
            continue
        by_epoch[epoch] = row
    return [{"epoch": epoch, **by_epoch[epoch]} for epoch in sorted(by_epoch)]


def _last_error_line(path: Path) -> str | None:
    if not path.is_file():
        return None
    lines = [_ANSI.sub("", line).strip() for line in path.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else "error.txt is empty"


def _trial_id(trial_dir: Path, raw_rows: list[dict[str, Any]], state: Mapping[str, Any] | None) -> str:
    for row in reversed(raw_rows):
        if row.get("trial_id"):
            return str(row["trial_id"])
    if state and state.get("trial_id"):
        return str(state["trial_id"])
    match = _TRIAL_ID.search(trial_dir.name)
    return match.group(1) if match else trial_dir.name


def _config(
    trial_dir: Path, state: Mapping[str, Any] | None, raw_rows: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """params.json, else the config Tune stored elsewhere; None for a directory that is no trial."""
    params_path = trial_dir / "params.json"
    config = None
    if params_path.is_file():
        try:
            config = json.loads(params_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            logger.warning("unreadable %s; using the config Tune stored elsewhere", params_path)
    if isinstance(config, dict):
        return config
    if state is not None and isinstance(state.get("config"), dict):
        return state["config"]  # Tune creates the directory before it writes params.json
    if raw_rows and isinstance(raw_rows[-1].get("config"), dict):
        return raw_rows[-1]["config"]
    return None


def read_experiment(experiment_dir: Path) -> list[TrialFiles]:
    """Every trial directory of one experiment, in directory-name order."""
    states = _read_state(experiment_dir)
    trials = []
    for trial_dir in sorted(path for path in experiment_dir.iterdir() if path.is_dir()):
        state = states.get(trial_dir.name)
        raw_rows = _read_json_lines(trial_dir / "result.json")
        config = _config(trial_dir, state, raw_rows)
        if config is None:
            logger.debug("skipping %s: not a trial directory", trial_dir)
            continue
        trial_id = _trial_id(trial_dir, raw_rows, state)
        state = state or states.get(trial_id)
        trials.append(
            TrialFiles(
                experiment=experiment_dir.name,
                trial_dir=trial_dir.name,
                trial_id=trial_id,
                config=dict(config),
                rows=_epoch_rows(raw_rows),
                state_status=str(state["status"]).upper() if state and state.get("status") else None,
                error=_last_error_line(trial_dir / "error.txt"),
                done=bool(raw_rows) and raw_rows[-1].get("done") is True,
            )
        )
    return trials
