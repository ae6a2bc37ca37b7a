"""Export Ray Tune experiment directories to two Parquet tables.

    python -m analysis.export <experiment-dir> [<experiment-dir> ...] [--out DIR]

Reads the trial directories directly (params.json, result.json lines, error.txt and the newest
experiment_state-*.json when present) instead of going through Tune's ResultGrid, so it works on
finished, interrupted and still-running sweeps and needs no Ray cluster. Writes
``trials.parquet`` (one row per trial) and ``epochs.parquet`` (one row per trial and epoch);
the schema is described in README.md ("Analysing results") and stored in the Parquet metadata with a version.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
METADATA_KEY = b"actsweep"
TRIALS_FILE = "trials.parquet"
EPOCHS_FILE = "epochs.parquet"

STATUSES = ("terminated", "stopped_early", "diverged", "errored", "running")

# Keys Tune adds to every result row; they describe the run, not the model, so they are not metrics.
_TUNE_BOOKKEEPING = frozenset(
    {
        "timestamp", "checkpoint_dir_name", "done", "trial_id", "date", "pid", "hostname",
        "node_ip", "config", "experiment_tag", "time_since_restore", "iterations_since_restore",
        "should_checkpoint", "experiment_id", "episodes_total", "timesteps_total",
        "timesteps_since_restore", "warmup_time",
    }
)
# Tune's clock and counter are kept in the epochs table (not as trial metrics).
_TUNE_CLOCK = ("training_iteration", "time_total_s", "time_this_iter_s")

TRIAL_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "experiment": (pa.string(), "experiment directory name (Tune's RunConfig.name)"),
    "trial_id": (pa.string(), "Tune trial id, unique within an experiment"),
    "trial_dir": (pa.string(), "trial directory name inside the experiment directory"),
    "family": (pa.string(), "config `family` (sweep family)"),
    "status": (pa.string(), "terminated | stopped_early | diverged | errored | running"),
    "activation": (pa.string(), "config `activation` (the scientific variable)"),
    "seed": (pa.int64(), "config `seed`"),
    "repeat": (pa.int64(), "config `repeat` (repeat index of the same settings)"),
    "epochs_completed": (pa.int64(), "epochs reported (highest epoch in result.json, 0 if none)"),
    "wall_seconds": (pa.float64(), "last time_total_s reported by Tune (null if nothing reported)"),
    "accelerator_seconds": (pa.float64(), "wall_seconds x config gpus_per_trial"),
    "stop_reason": (pa.string(), "last non-empty stop_reason reported, null if none"),
    "error": (pa.string(), "last line of error.txt (the exception), null if none"),
}
EPOCH_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "experiment": (pa.string(), "experiment directory name"),
    "trial_id": (pa.string(), "Tune trial id (join key with trials.parquet)"),
    "epoch": (pa.int64(), "1-based epoch (reported `epoch`, else Tune's training_iteration)"),
    "training_iteration": (pa.int64(), "Tune's report counter"),
    "time_total_s": (pa.float64(), "Tune's cumulative trial time at this report"),
    "time_this_iter_s": (pa.float64(), "Tune's time for this report"),
}
# Config keys promoted to fixed columns (always present, typed even when absent from the config).
_PROMOTED_CONFIG = ("family", "activation", "seed", "repeat")

_ACCURACY_LIKE = re.compile(r"(acc|auc|precision|recall|f1)", re.IGNORECASE)
_LOSS_LIKE = re.compile(r"(loss|error|mse|mae|perplexity)", re.IGNORECASE)
_TRIAL_ID = re.compile(r"_([0-9a-f]{5}_\d{5})(?:_|$)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class ExportError(ValueError):
    """A user-facing problem with the experiment directories (the CLI exits 2 with its message)."""


def metric_direction(name: str) -> str | None:
    """'max' for accuracy-like metrics, 'min' for loss-like ones, None when 'best' is meaningless."""
    if _ACCURACY_LIKE.search(name):
        return "max"
    if _LOSS_LIKE.search(name):
        return "min"
    return None


@dataclass(frozen=True)
class _Trial:
    experiment: str
    trial_dir: str
    trial_id: str
    config: dict[str, Any]
    rows: list[dict[str, Any]]  # one per epoch, deduplicated, epoch-ordered
    state_status: str | None  # Tune's status from experiment_state, if known
    error: str | None
    done: bool  # Tune's `done` flag on the last result line


# --------------------------------------------------------------------------- reading


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
        if not prefix and key in _TUNE_BOOKKEEPING:
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


def _read_experiment(experiment_dir: Path) -> list[_Trial]:
    states = _read_state(experiment_dir)
    trials = []
    for trial_dir in sorted(path for path in experiment_dir.iterdir() if path.is_dir()):
        params_path = trial_dir / "params.json"
        state = states.get(trial_dir.name)
        raw_rows = _read_json_lines(trial_dir / "result.json")
        config = None
        if params_path.is_file():
            try:
                config = json.loads(params_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                logger.warning("unreadable %s; using the config Tune stored elsewhere", params_path)
        if isinstance(config, dict):
            pass
        elif state is not None and isinstance(state.get("config"), dict):
            config = state["config"]  # Tune creates the directory before it writes params.json
        elif raw_rows and isinstance(raw_rows[-1].get("config"), dict):
            config = raw_rows[-1]["config"]
        else:
            logger.debug("skipping %s: not a trial directory", trial_dir)
            continue
        trial_id = _trial_id(trial_dir, raw_rows, state)
        state = state or states.get(trial_id)
        trials.append(
            _Trial(
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


# --------------------------------------------------------------------------- deriving


def _is_diverged(rows: list[dict[str, Any]]) -> bool:
    return any(
        row.get("diverged") is True or str(row.get("stop_reason") or "").startswith("diverged")
        for row in rows
    )


def _status(trial: _Trial, epochs_completed: int) -> str:
    """Map Tune's state plus the files to the five statuses; divergence wins over how it ended."""
    if _is_diverged(trial.rows):
        return "diverged"
    if trial.error is not None or trial.state_status == "ERROR":
        return "errored"
    finished = trial.state_status == "TERMINATED"
    if trial.state_status is None or not finished:
        # No state, or a stale one (the state file is saved periodically): trust Tune's done flag.
        finished = trial.done
    if not finished:
        return "running"
    budget = trial.config.get("epochs")
    if isinstance(budget, (int, float)) and not isinstance(budget, bool) and epochs_completed < budget:
        return "stopped_early"
    return "terminated"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _metric_names(trials: Sequence[_Trial]) -> list[str]:
    names = set()
    for trial in trials:
        for row in trial.rows:
            for key, value in row.items():
                if key in ("epoch", *_TUNE_CLOCK):
                    continue
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    names.add(key)
    return sorted(names)


def _trial_record(trial: _Trial, metrics: Sequence[str]) -> dict[str, Any]:
    rows = trial.rows
    epochs_completed = max((row["epoch"] for row in rows), default=0)
    times = [row["time_total_s"] for row in rows if _finite(row.get("time_total_s"))]
    wall_seconds = float(max(times)) if times else None
    gpus = trial.config.get("gpus_per_trial")
    accelerator_seconds = (
        wall_seconds * float(gpus) if wall_seconds is not None and _finite(gpus) else None
    )
    stop_reasons = [str(row["stop_reason"]) for row in rows if row.get("stop_reason")]
    record: dict[str, Any] = {
        "experiment": trial.experiment,
        "trial_id": trial.trial_id,
        "trial_dir": trial.trial_dir,
        "status": _status(trial, epochs_completed),
        "epochs_completed": int(epochs_completed),
        "wall_seconds": wall_seconds,
        "accelerator_seconds": accelerator_seconds,
        "stop_reason": stop_reasons[-1] if stop_reasons else None,
        "error": trial.error,
    }
    for name in metrics:
        reported = [(row["epoch"], row[name]) for row in rows if name in row and row[name] is not None]
        record[f"last_{name}"] = float(reported[-1][1]) if reported else None
        direction = metric_direction(name)
        if direction is None:
            continue
        finite = [(epoch, float(value)) for epoch, value in reported if _finite(value)]
        if finite:
            pick = max if direction == "max" else min
            # Ties go to the earliest epoch: sort key (value, -epoch) for max, (value, epoch) for min.
            sign = -1 if direction == "max" else 1
            best_epoch, best_value = pick(finite, key=lambda item: (item[1], sign * item[0]))
            record[f"best_{name}"], record[f"best_{name}_epoch"] = best_value, best_epoch
        else:
            record[f"best_{name}"], record[f"best_{name}_epoch"] = None, None
    return record


# --------------------------------------------------------------------------- typing


def _infer_type(values: Iterable[Any]) -> pa.DataType:
    """One Arrow type per column: bool, int64, float64 (int/float mix) or string (anything else)."""
    kinds = set()
    for value in values:
        if value is None:
            continue
        if isinstance(value, bool):
            kinds.add("bool")
        elif isinstance(value, int):
            kinds.add("int")
        elif isinstance(value, float):
            kinds.add("float")
        else:
            kinds.add("string")
    if kinds == {"bool"}:
        return pa.bool_()
    if kinds == {"int"}:
        return pa.int64()
    if kinds and kinds <= {"int", "float"}:
        return pa.float64()
    return pa.string()


def _to_arrow_value(value: Any, arrow_type: pa.DataType) -> Any:
    if value is None:
        return None
    if pa.types.is_string(arrow_type):
        if isinstance(value, str):
            return value
        # Lists (e.g. stages given as a sequence) become compact JSON text, one value per cell.
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    if pa.types.is_floating(arrow_type):
        return float(value)
    return value


def _column(name: str, values: list[Any], arrow_type: pa.DataType, description: str) -> tuple[pa.Field, pa.Array]:
    field = pa.field(name, arrow_type, metadata={b"description": description.encode()})
    return field, pa.array([_to_arrow_value(value, arrow_type) for value in values], type=arrow_type)


def _table(columns: list[tuple[pa.Field, pa.Array]], metadata: Mapping[str, Any]) -> pa.Table:
    schema = pa.schema(
        [field for field, _ in columns],
        metadata={METADATA_KEY: json.dumps(dict(metadata), sort_keys=True).encode()},
    )
    return pa.Table.from_arrays([array for _, array in columns], schema=schema)


def _config_column_names(trials: Sequence[_Trial]) -> dict[str, str]:
    """Config key -> column name; a key that collides with a derived column gets a `param_` prefix."""
    keys = sorted({key for trial in trials for key in trial.config})
    taken = set(TRIAL_FIELDS)
    names = {}
    for key in keys:
        if key in _PROMOTED_CONFIG:
            names[key] = key
        elif key in taken or key.startswith(("best_", "last_")):
            names[key] = f"param_{key}"
            logger.warning("config key %r collides with a derived column; exported as %r", key, names[key])
        else:
            names[key] = key
    return names


def build_tables(experiment_dirs: Sequence[str | os.PathLike]) -> tuple[pa.Table, pa.Table]:
    """Read the experiments and return (trials, epochs) Arrow tables with schema metadata."""
    trials: list[_Trial] = []
    seen: set[str] = set()
    for directory in experiment_dirs:
        path = Path(directory).resolve()
        if not path.is_dir():
            raise ExportError(f"experiment directory {str(directory)!r} does not exist")
        if str(path) in seen:
            continue
        seen.add(str(path))
        found = _read_experiment(path)
        if not found:
            raise ExportError(
                f"no Tune trial directories (with params.json or result.json) in {str(directory)!r}; "
                "pass <storage_path>/<experiment name>"
            )
        trials.extend(found)
    if not trials:
        raise ExportError("no experiment directories given")
    trials.sort(key=lambda trial: (trial.experiment, trial.trial_id, trial.trial_dir))

    metrics = _metric_names(trials)
    records = [_trial_record(trial, metrics) for trial in trials]
    config_names = _config_column_names(trials)

    trial_columns = []
    for name, (arrow_type, description) in TRIAL_FIELDS.items():
        if name in _PROMOTED_CONFIG:
            values = [trial.config.get(name) for trial in trials]
            inferred = _infer_type(values)
            if inferred != arrow_type and any(value is not None for value in values):
                arrow_type = inferred  # e.g. a float seed: keep the data, not the documented type
        else:
            values = [record[name] for record in records]
        trial_columns.append(_column(name, values, arrow_type, description))
    config_columns = []
    for key, column_name in config_names.items():
        if key in _PROMOTED_CONFIG:
            continue
        values = [trial.config.get(key) for trial in trials]
        trial_columns.append(_column(column_name, values, _infer_type(values), f"config `{key}`"))
        config_columns.append(column_name)
    metric_columns = []
    for name in metrics:
        direction = metric_direction(name)
        if direction is not None:
            word = "highest" if direction == "max" else "lowest"
            metric_columns += [f"best_{name}", f"best_{name}_epoch"]
            trial_columns.append(_column(f"best_{name}", [r[f"best_{name}"] for r in records], pa.float64(), f"{word} finite {name} over epochs"))
            trial_columns.append(_column(f"best_{name}_epoch", [r[f"best_{name}_epoch"] for r in records], pa.int64(), f"epoch of best_{name} (earliest on ties)"))
        metric_columns.append(f"last_{name}")
        trial_columns.append(_column(f"last_{name}", [r[f"last_{name}"] for r in records], pa.float64(), f"{name} at the last reported epoch"))
    all_config = sorted([*(k for k in _PROMOTED_CONFIG), *config_columns])
    trials_table = _table(
        trial_columns,
        {
            "schema_version": SCHEMA_VERSION,
            "table": "trials",
            "config_columns": all_config,
            "metric_columns": metric_columns,
            "statuses": list(STATUSES),
        },
    )

    epoch_rows = [
        {"experiment": trial.experiment, "trial_id": trial.trial_id, **row}
        for trial in trials
        for row in trial.rows
    ]
    reported = sorted({key for row in epoch_rows for key in row} - set(EPOCH_FIELDS))
    epoch_columns = []
    for name, (arrow_type, description) in EPOCH_FIELDS.items():
        values = [row.get(name) for row in epoch_rows]
        if name in _TUNE_CLOCK:
            inferred = _infer_type(values)
            arrow_type = arrow_type if inferred in (arrow_type, pa.int64()) else inferred
        epoch_columns.append(_column(name, values, arrow_type, description))
    for name in reported:
        values = [row.get(name) for row in epoch_rows]
        arrow_type = _infer_type(values)
        if pa.types.is_integer(arrow_type) and metric_direction(name) is not None:
            arrow_type = pa.float64()  # an accuracy reported as 1 is still a float metric
        epoch_columns.append(_column(name, values, arrow_type, f"reported `{name}`"))
    epochs_table = _table(
        epoch_columns,
        {"schema_version": SCHEMA_VERSION, "table": "epochs", "metric_columns": reported},
    )
    return trials_table, epochs_table


# --------------------------------------------------------------------------- writing


def _write_parquet(table: pa.Table, handle: Any) -> None:
    """The one place that serialises a table (tests replace it to simulate a crash mid-write)."""
    pq.write_table(table, handle, compression="zstd")


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not supported on this platform / filesystem
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_tables_atomically(tables: Mapping[str, pa.Table], out_dir: Path) -> dict[str, Path]:
    """Write every table to a temp file beside its target, fsync, then os.replace them all.

    A crash before the replace leaves the old files untouched and removes the temp files.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    temporary: dict[str, Path] = {}
    try:
        for file_name, table in tables.items():
            descriptor, temp_name = tempfile.mkstemp(prefix=f".{file_name}.", suffix=".tmp", dir=out_dir)
            temporary[file_name] = Path(temp_name)
            with os.fdopen(descriptor, "wb") as handle:
                _write_parquet(table, handle)
                handle.flush()
                os.fsync(handle.fileno())
        for file_name, temp_path in temporary.items():
            os.replace(temp_path, out_dir / file_name)
        _fsync_directory(out_dir)
    finally:
        for temp_path in temporary.values():
            if temp_path.exists():
                temp_path.unlink()
    return {file_name: out_dir / file_name for file_name in tables}


def export_experiment(
    experiment_dirs: Sequence[str | os.PathLike] | str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
) -> tuple[Path, Path]:
    """Export one or more experiment directories; returns (trials_path, epochs_path).

    out_dir defaults to the (single) experiment directory; merging several needs an explicit one.
    """
    if isinstance(experiment_dirs, (str, os.PathLike)):
        experiment_dirs = [experiment_dirs]
    experiment_dirs = list(experiment_dirs)
    if out_dir is None:
        if len(experiment_dirs) != 1:
            raise ExportError(f"got {len(experiment_dirs)} experiment directories; pass --out DIR to merge them")
        out_dir = experiment_dirs[0]
    trials_table, epochs_table = build_tables(experiment_dirs)
    paths = write_tables_atomically({TRIALS_FILE: trials_table, EPOCHS_FILE: epochs_table}, Path(out_dir))
    logger.info("exported %d trials, %d epochs to %s", trials_table.num_rows, epochs_table.num_rows, out_dir)
    return paths[TRIALS_FILE], paths[EPOCHS_FILE]


# --------------------------------------------------------------------------- reading back


@dataclass(frozen=True)
class Tables:
    """Both tables of an export, plus what the metadata says about them."""

    trials: pd.DataFrame
    epochs: pd.DataFrame
    config_columns: tuple[str, ...]
    schema_version: int


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The actsweep metadata stored in a table's Parquet schema."""
    metadata = pq.read_schema(path).metadata or {}
    if METADATA_KEY not in metadata:
        raise ExportError(f"{str(path)!r} has no {METADATA_KEY.decode()} metadata; was it written by analysis.export?")
    return json.loads(metadata[METADATA_KEY])


def _to_pandas(path: Path) -> pd.DataFrame:
    """Integer and bool columns keep their type when they hold nulls (nullable Int64/boolean)."""
    mapping = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return pq.read_table(path).to_pandas(types_mapper=mapping.get)


def read_tables(tables_dir: str | os.PathLike) -> Tables:
    """Load trials.parquet and epochs.parquet from a directory written by export_experiment."""
    directory = Path(tables_dir)
    trials_path, epochs_path = directory / TRIALS_FILE, directory / EPOCHS_FILE
    for path in (trials_path, epochs_path):
        if not path.is_file():
            raise ExportError(f"{str(path)!r} not found; run `python -m analysis.export <experiment-dir> --out {directory}` first")
    metadata = read_metadata(trials_path)
    version = int(metadata.get("schema_version", 0))
    if version > SCHEMA_VERSION:
        raise ExportError(f"{trials_path} has schema version {version}; this code reads up to {SCHEMA_VERSION}")
    trials = _to_pandas(trials_path)
    epochs = _to_pandas(epochs_path)
    config_columns = tuple(metadata.get("config_columns", ()))
    trials.attrs["config_columns"] = config_columns
    return Tables(trials=trials, epochs=epochs, config_columns=config_columns, schema_version=version)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.export", description=__doc__.splitlines()[0])
    parser.add_argument("experiment_dirs", nargs="+", help="Tune experiment directories (<storage_path>/<name>)")
    parser.add_argument("--out", default=None, help="output directory (default: the single experiment directory)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        trials_path, epochs_path = export_experiment(args.experiment_dirs, args.out)
    except (ExportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(trials_path)
    print(epochs_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
