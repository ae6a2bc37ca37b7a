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
    num_failures: int  # Tune's failure count (experiment_state), else the failures in error.txt
    checkpoints: dict[int, str]  # epoch -> absolute path of each checkpoint still on disk
    sweep_metric: str | None  # the metric Tune ranked trials by, when the state says


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


@dataclass(frozen=True)
class _ExperimentState:
    trials: dict[str, dict[str, Any]]  # by trial dir name and by trial id
    metric: str | None


def _parse_entry(entry: Any) -> dict[str, Any] | None:
    """Ray 2.x stores each trial as [trial state JSON text, runtime metadata JSON text]."""
    parts = list(entry) if isinstance(entry, (list, tuple)) else [entry]
    try:
        trial = json.loads(parts[0]) if isinstance(parts[0], str) else dict(parts[0])
        runtime = json.loads(parts[1]) if len(parts) > 1 and isinstance(parts[1], str) else {}
    except (TypeError, ValueError, IndexError):
        return None
    trial["num_failures"] = runtime.get("num_failures") if isinstance(runtime, dict) else None
    return trial


def _read_state(experiment_dir: Path) -> _ExperimentState:
    """Trial states from the newest experiment_state-*.json, and the metric Tune ranked by."""
    state_files = sorted(experiment_dir.glob("experiment_state-*.json"))
    if not state_files:
        return _ExperimentState({}, None)
    try:
        state = json.loads(state_files[-1].read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        logger.warning("ignoring unreadable %s: %s", state_files[-1], error)
        return _ExperimentState({}, None)
    by_key: dict[str, dict[str, Any]] = {}
    for entry in state.get("trial_data", []):
        trial = _parse_entry(entry)
        for key in (trial.get("relative_logdir"), trial.get("trial_id")) if trial else ():
            if key:
                by_key[str(key)] = trial
    # TuneConfig(metric=...) as the tune controller saves it; absent with other Ray versions.
    runner = state.get("runner_data")
    metric = runner.get("_metric") if isinstance(runner, dict) else None
    return _ExperimentState(by_key, metric if isinstance(metric, str) and metric else None)


def _flatten(row: Mapping[str, Any], prefix: str = "", drop: frozenset[str] = TUNE_BOOKKEEPING) -> dict[str, Any]:
    """Flatten nested dicts as Ray's progress.csv does ('a/b'); top-level keys in `drop` are left out."""
    flat: dict[str, Any] = {}
    for key, value in row.items():
        if not prefix and key in drop:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}/", drop))
        else:
            flat[name] = value
    return flat


def _epoch_of(raw: Mapping[str, Any]) -> int | None:
    epoch = raw.get("epoch")
    if epoch is None or isinstance(epoch, bool):
        epoch = raw.get("training_iteration")
    try:
        return int(epoch)
    except (TypeError, ValueError):
        logger.warning("skipping a result row without epoch or training_iteration")
        return None


def _epoch_rows(raw_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per epoch; a restored trial re-reports epochs, and the latest report wins.

    An empty string reported for a text metric (no stop reason, no GPU) becomes null.
    """
    by_epoch: dict[int, dict[str, Any]] = {}
    for raw in raw_rows:
        epoch = _epoch_of(raw)
        if epoch is None:
            continue
        row = {key: (None if value == "" else value) for key, value in _flatten(raw).items() if key != "epoch"}
        by_epoch[epoch] = row
    return [{"epoch": epoch, **by_epoch[epoch]} for epoch in sorted(by_epoch)]


def _checkpoints(trial_dir: Path, raw_rows: list[dict[str, Any]]) -> dict[int, str]:
    """Epoch -> checkpoint directory for the reports that carried one and whose directory Tune kept."""
    found: dict[int, str] = {}
    for raw in raw_rows:
        name, epoch = raw.get("checkpoint_dir_name"), _epoch_of(raw)
        if isinstance(name, str) and name and epoch is not None:
            found[epoch] = name  # a replayed epoch's later checkpoint wins, like its metrics
    return {epoch: str(trial_dir / name) for epoch, name in sorted(found.items()) if (trial_dir / name).is_dir()}


def _error_text(path: Path) -> list[str] | None:
    """The non-empty lines of error.txt, ANSI colours stripped; None when there is no error.txt."""
    if not path.is_file():
        return None
    lines = [_ANSI.sub("", line).strip() for line in path.read_text(errors="replace").splitlines()]
    return [line for line in lines if line]


def _num_failures(state: Mapping[str, Any] | None, error_lines: list[str] | None) -> int:
    """Tune's count when the state has one; else Tune's "Failure # N" headers in error.txt."""
    try:
        return int(state["num_failures"])  # type: ignore[index]
    except (TypeError, KeyError, ValueError):
        if error_lines is None:
            return 0
        return sum(line.startswith("Failure # ") for line in error_lines) or 1


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
    if not isinstance(config, dict) and state is not None and isinstance(state.get("config"), dict):
        config = state["config"]  # Tune creates the directory before it writes params.json
    if not isinstance(config, dict) and raw_rows and isinstance(raw_rows[-1].get("config"), dict):
        config = raw_rows[-1]["config"]
    # Nested config dicts (other Tune code) become one key per leaf, `opt/lr`, as metrics do.
    return _flatten(config, drop=frozenset()) if isinstance(config, dict) else None


def read_experiment(experiment_dir: Path) -> list[TrialFiles]:
    """Every trial directory of one experiment, in directory-name order."""
    experiment_state = _read_state(experiment_dir)
    states = experiment_state.trials
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
        error_lines = _error_text(trial_dir / "error.txt")
        trials.append(
            TrialFiles(
                experiment=experiment_dir.name,
                trial_dir=trial_dir.name,
                trial_id=trial_id,
                config=config,
                rows=_epoch_rows(raw_rows),
                state_status=str(state["status"]).upper() if state and state.get("status") else None,
                error=None if error_lines is None else (error_lines[-1] if error_lines else "error.txt is empty"),
                done=bool(raw_rows) and raw_rows[-1].get("done") is True,
                num_failures=_num_failures(state, error_lines),
                checkpoints=_checkpoints(trial_dir, raw_rows),
                sweep_metric=experiment_state.metric,
            )
        )
    return trials
