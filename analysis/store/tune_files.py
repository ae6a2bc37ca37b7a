"""Read a Tune experiment directory as it lies on storage, without Ray.

params.json, result.json lines, error.txt and the newest experiment_state-*.json when present:
this works on finished, interrupted and still-running sweeps alike, on a local disk or object
storage (analysis.store.storage; one listing per folder, then only the files that are there).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from analysis.store.schema import DRIVER_LEASE_FILE
from analysis.store.storage import Entry, Location, locate

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
_REMOTE_READERS = 16  # trials read at once from object storage, where each file is a request


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
    checkpoints: dict[int, str]  # epoch -> absolute path (or URI) of each checkpoint still on storage
    sweep_metric: str | None  # the metric Tune ranked trials by, when the state says
    driver_running: bool = True  # the experiment holds a driver's lease: its unfinished trials may run
    pack_trial_id: str | None = None  # a pack's member (analysis.store.packs): the Tune trial that trained it
    pack_member: int | None = None  # and its index in that pack


def _read_json_lines(path: Location, files: Mapping[str, Entry]) -> list[dict[str, Any]]:
    """Rows of result.json; a torn last line (sweep still writing) is skipped, not fatal."""
    rows = []
    if not _is_file(files, path):
        return rows
    with path.open_text() as handle:
        for line_number, line in enumerate(handle, 1):
            line = line.strip()
            if not line:
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("skipping unreadable line %d of %s", line_number, path.uri)
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


def _is_file(files: Mapping[str, Entry], path: Location) -> bool:
    """Whether the folder listing `files` (of path's folder) holds path as a file."""
    entry = files.get(path.name)
    return entry is not None and not entry.is_dir


def _read_state(experiment_dir: Location, entries: list[Entry]) -> _ExperimentState:
    """Trial states from the newest experiment_state-*.json, and the metric Tune ranked by."""
    state_files = sorted(entry.name for entry in entries
                         if entry.name.startswith("experiment_state-") and entry.name.endswith(".json"))
    if not state_files:
        return _ExperimentState({}, None)
    newest = experiment_dir.child(state_files[-1])
    try:
        state = json.loads(newest.read_text())
    except (OSError, json.JSONDecodeError) as error:
        logger.warning("ignoring unreadable %s: %s", newest.uri, error)
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


def _checkpoints(trial_dir: Location, files: Mapping[str, Entry], raw_rows: list[dict[str, Any]]) -> dict[int, str]:
    """Epoch -> checkpoint directory for the reports that carried one and whose directory Tune kept."""
    found: dict[int, str] = {}
    for raw in raw_rows:
        name, epoch = raw.get("checkpoint_dir_name"), _epoch_of(raw)
        if isinstance(name, str) and name and epoch is not None:
            found[epoch] = name  # a replayed epoch's later checkpoint wins, like its metrics
    return {epoch: trial_dir.child(name).uri for epoch, name in sorted(found.items())
            if _is_kept(trial_dir, files, name)}


def _is_kept(trial_dir: Location, files: Mapping[str, Entry], name: str) -> bool:
    """Tune names a checkpoint by a plain folder name, found in the trial's listing; anything else is asked for."""
    if "/" not in name:
        return name in files and files[name].is_dir
    return trial_dir.child(name).is_dir()


def _error_text(path: Location, files: Mapping[str, Entry]) -> list[str] | None:
    """The non-empty lines of error.txt, ANSI colours stripped; None when there is no error.txt."""
    if not _is_file(files, path):
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


def _trial_id(trial_dir: Location, raw_rows: list[dict[str, Any]], state: Mapping[str, Any] | None) -> str:
    for row in reversed(raw_rows):
        if row.get("trial_id"):
            return str(row["trial_id"])
    if state and state.get("trial_id"):
        return str(state["trial_id"])
    match = _TRIAL_ID.search(trial_dir.name)
    return match.group(1) if match else trial_dir.name


def _config(
    trial_dir: Location, files: Mapping[str, Entry], state: Mapping[str, Any] | None, raw_rows: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """params.json, else the config Tune stored elsewhere; None for a directory that is no trial."""
    params_path = trial_dir.child("params.json")
    config = None
    if _is_file(files, params_path):
        try:
            config = json.loads(params_path.read_text())
        except json.JSONDecodeError:
            logger.warning("unreadable %s; using the config Tune stored elsewhere", params_path.uri)
    if not isinstance(config, dict) and state is not None and isinstance(state.get("config"), dict):
        config = state["config"]  # Tune creates the directory before it writes params.json
    if not isinstance(config, dict) and raw_rows and isinstance(raw_rows[-1].get("config"), dict):
        config = raw_rows[-1]["config"]
    # Nested config dicts (other Tune code) become one key per leaf, `opt/lr`, as metrics do.
    return _flatten(config, drop=frozenset()) if isinstance(config, dict) else None


def _read_trial(
    experiment_dir: Location, name: str, experiment_state: _ExperimentState, driver_running: bool = True
) -> TrialFiles | None:
    """One trial directory, or None when it is no trial directory."""
    states = experiment_state.trials
    trial_dir = experiment_dir.child(name)
    files = {entry.name: entry for entry in trial_dir.list_dir()}
    state = states.get(name)
    raw_rows = _read_json_lines(trial_dir.child("result.json"), files)
    config = _config(trial_dir, files, state, raw_rows)
    if config is None:
        logger.debug("skipping %s: not a trial directory", trial_dir.uri)
        return None
    trial_id = _trial_id(trial_dir, raw_rows, state)
    state = state or states.get(trial_id)
    error_lines = _error_text(trial_dir.child("error.txt"), files)
    return TrialFiles(
        experiment=experiment_dir.name,
        trial_dir=name,
        trial_id=trial_id,
        config=config,
        rows=_epoch_rows(raw_rows),
        state_status=str(state["status"]).upper() if state and state.get("status") else None,
        error=None if error_lines is None else (error_lines[-1] if error_lines else "error.txt is empty"),
        done=bool(raw_rows) and raw_rows[-1].get("done") is True,
        num_failures=_num_failures(state, error_lines),
        checkpoints=_checkpoints(trial_dir, files, raw_rows),
        sweep_metric=experiment_state.metric,
        driver_running=driver_running,
    )


def read_experiment(experiment_dir: str | os.PathLike | Location) -> list[TrialFiles]:
    """Every trial directory of one experiment (a local path or a URI), in directory-name order."""
    experiment = experiment_dir if isinstance(experiment_dir, Location) else locate(experiment_dir)
    entries = experiment.list_dir()
    experiment_state = _read_state(experiment, entries)
    names = [entry.name for entry in entries if entry.is_dir]
    driver = any(entry.name == DRIVER_LEASE_FILE and not entry.is_dir for entry in entries)
    if experiment.remote:  # each file a round trip: read several trials at once
        with ThreadPoolExecutor(max_workers=_REMOTE_READERS) as pool:
            found = list(pool.map(lambda name: _read_trial(experiment, name, experiment_state, driver), names))
    else:
        found = [_read_trial(experiment, name, experiment_state, driver) for name in names]
    return [trial for trial in found if trial is not None]
