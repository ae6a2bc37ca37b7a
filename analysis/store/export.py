"""Export Ray Tune experiment directories to two Parquet tables.

    python -m analysis.store.export <experiment-dir> [<experiment-dir> ...] [--out DIR]

Reads the trial directories directly (analysis.store.tune_files), so it works on finished,
interrupted and still-running sweeps and needs no Ray cluster. Writes ``trials.parquet`` (one
row per trial) and ``epochs.parquet`` (one row per trial and epoch), atomically
(analysis.store.atomic); the columns are defined in analysis.store.schema and described in docs/results.md,
and the Parquet metadata stores the schema version. A pack trial (several trials of one configuration
trained as one Tune trial) is exported as its members, one row each (analysis.store.packs).
Experiments and the output may be local directories or object-storage URIs (s3://bucket/prefix/name;
analysis.store.storage).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from analysis.store import storage
from analysis.store.arms import STATE_FILE as FAIR_ASHA_FILE
from analysis.store.arms import rungs_from_state
from analysis.store.atomic import write_tables_atomically
from analysis.cli_parser import OneLineParser
from analysis.store.schema import (
    CORRECTNESS_FIELDS,
    EPOCH_FIELDS,
    EPOCHS_FILE,
    PACK_FIELDS,
    PROMOTED_CONFIG,
    SCHEMA_VERSION,
    STATUSES,
    TRIAL_FIELDS,
    TRIALS_FILE,
    TUNE_CLOCK,
    ExportError,
    infer_type,
    make_table,
    metric_direction,
    typed_column,
)
from analysis.store.packs import unpack
from analysis.store.tables import Tables, read_metadata, read_tables
from analysis.store.trial_summary import metric_names, trial_record
from analysis.store.tune_files import TrialFiles, read_experiment

__all__ = [
    "EPOCHS_FILE", "SCHEMA_VERSION", "TRIALS_FILE", "ExportError", "Tables", "build_tables",
    "export_experiment", "main", "read_metadata", "read_tables",
]

logger = logging.getLogger(__name__)

Column = tuple[pa.Field, pa.Array]


def _config_column_names(trials: Sequence[TrialFiles]) -> dict[str, str]:
    """Config key -> column name; a key that collides with a derived column gets a `param_` prefix."""
    keys = sorted({key for trial in trials for key in trial.config})
    taken = {*TRIAL_FIELDS, *PACK_FIELDS}
    names = {}
    for key in keys:
        if key in PROMOTED_CONFIG:
            names[key] = key
        elif key in taken or key.startswith(("best_", "last_")):
            names[key] = f"param_{key}"
            logger.warning("config key %r collides with a derived column; exported as %r", key, names[key])
        else:
            names[key] = key
    return names


def _experiment_location(directory: str | os.PathLike) -> storage.Location:
    """A local experiment by its real path (symlinks resolved, as its name is exported); a URI as given."""
    return storage.locate(directory if storage.is_remote(directory) else Path(directory).resolve())


def _read_all(experiment_dirs: Sequence[str | os.PathLike]) -> list[TrialFiles]:
    trials: list[TrialFiles] = []
    seen: set[str] = set()
    for directory in experiment_dirs:
        location = _experiment_location(directory)
        if not location.is_dir():
            raise ExportError(f"experiment directory {storage.redact(directory)!r} does not exist")
        if location.uri in seen:
            continue
        seen.add(location.uri)
        found = [member for trial in read_experiment(location) for member in unpack(trial)]
        if not found:
            raise ExportError(
                f"no Tune trial directories (with params.json or result.json) in {storage.redact(directory)!r}; "
                "pass <storage_path>/<experiment name>"
            )
        trials.extend(found)
    if not trials:
        raise ExportError("no experiment directories given")
    trials.sort(key=_order)
    return trials


def _order(trial: TrialFiles) -> tuple[str, str, int, str]:
    """By experiment and trial id; a pack's members at their pack's id, in member order (m2 before m10)."""
    if trial.pack_trial_id is None:
        return trial.experiment, trial.trial_id, -1, trial.trial_dir
    return trial.experiment, trial.pack_trial_id, int(trial.pack_member or 0), trial.trial_dir


def _fixed_columns(trials: Sequence[TrialFiles], records: list[dict[str, Any]]) -> list[Column]:
    columns = []
    for name, (arrow_type, description) in TRIAL_FIELDS.items():
        if name in PROMOTED_CONFIG:
            values = [trial.config.get(name) for trial in trials]
            inferred = infer_type(values)
            if inferred != arrow_type and any(value is not None for value in values):
                arrow_type = inferred  # e.g. a float seed: keep the data, not the documented type
        else:
            values = [record[name] for record in records]
        columns.append(typed_column(name, values, arrow_type, description))
    return columns


def _pack_columns(trials: Sequence[TrialFiles]) -> list[Column]:
    """pack_trial_id and pack_member, only when a pack's members are among the trials (schema.PACK_FIELDS)."""
    if all(trial.pack_trial_id is None for trial in trials):
        return []
    return [typed_column(name, [getattr(trial, name) for trial in trials], arrow_type, description)
            for name, (arrow_type, description) in PACK_FIELDS.items()]


def _correctness_columns(trials: Sequence[TrialFiles]) -> list[Column]:
    """test_correct, only when a trial reported it (schema.CORRECTNESS_FIELDS): its last report."""
    columns = []
    for name, (arrow_type, description) in CORRECTNESS_FIELDS.items():
        values = [next((row[name] for row in reversed(trial.rows) if row.get(name) is not None), None)
                  for trial in trials]
        if any(value is not None for value in values):
            columns.append(typed_column(name, values, arrow_type, description))
    return columns


def _config_columns(trials: Sequence[TrialFiles]) -> tuple[list[Column], list[str]]:
    columns, names = [], []
    for key, column_name in _config_column_names(trials).items():
        if key in PROMOTED_CONFIG:
            continue
        values = [trial.config.get(key) for trial in trials]
        columns.append(typed_column(column_name, values, infer_type(values), f"config `{key}`"))
        names.append(column_name)
    return columns, names


def _metric_columns(metrics: Sequence[str], records: list[dict[str, Any]]) -> tuple[list[Column], list[str]]:
    columns, names = [], []
    for name in metrics:
        direction = metric_direction(name)
        if direction is not None:
            word = "highest" if direction == "max" else "lowest"
            names += [f"best_{name}", f"best_{name}_epoch"]
            columns.append(typed_column(f"best_{name}", [r[f"best_{name}"] for r in records], pa.float64(), f"{word} finite {name} over epochs"))
            columns.append(typed_column(f"best_{name}_epoch", [r[f"best_{name}_epoch"] for r in records], pa.int64(), f"epoch of best_{name} (earliest on ties)"))
        names.append(f"last_{name}")
        columns.append(typed_column(f"last_{name}", [r[f"last_{name}"] for r in records], pa.float64(), f"{name} at the last reported epoch"))
    return columns, names


def _trials_table(trials: Sequence[TrialFiles]) -> pa.Table:
    metrics = metric_names(trials)
    records = [trial_record(trial, metrics) for trial in trials]
    config_columns, config_names = _config_columns(trials)
    metric_columns, metric_column_names = _metric_columns(metrics, records)
    metadata = {
        "schema_version": SCHEMA_VERSION,
        "table": "trials",
        "config_columns": sorted([*PROMOTED_CONFIG, *config_names]),
        "metric_columns": metric_column_names,
        "statuses": list(STATUSES),
    }
    columns = [*_fixed_columns(trials, records), *_pack_columns(trials), *config_columns, *metric_columns,
               *_correctness_columns(trials)]
    return make_table(columns, metadata)


def _epochs_table(trials: Sequence[TrialFiles]) -> pa.Table:
    epoch_rows = [
        {"experiment": trial.experiment, "trial_id": trial.trial_id, **row}
        for trial in trials
        for row in trial.rows
    ]
    reported = sorted({key for row in epoch_rows for key in row} - set(EPOCH_FIELDS) - set(CORRECTNESS_FIELDS))
    columns = []
    for name, (arrow_type, description) in EPOCH_FIELDS.items():
        values = [row.get(name) for row in epoch_rows]
        if name in TUNE_CLOCK:
            inferred = infer_type(values)
            arrow_type = arrow_type if inferred in (arrow_type, pa.int64()) else inferred
        columns.append(typed_column(name, values, arrow_type, description))
    for name in reported:
        values = [row.get(name) for row in epoch_rows]
        arrow_type = infer_type(values)
        if pa.types.is_integer(arrow_type) and metric_direction(name) is not None:
            arrow_type = pa.float64()  # an accuracy reported as 1 is still a float metric
        columns.append(typed_column(name, values, arrow_type, f"reported `{name}`"))
    return make_table(columns, {"schema_version": SCHEMA_VERSION, "table": "epochs", "metric_columns": reported})


def build_tables(experiment_dirs: Sequence[str | os.PathLike]) -> tuple[pa.Table, pa.Table]:
    """Read the experiments and return (trials, epochs) Arrow tables with schema metadata."""
    trials = _read_all(experiment_dirs)
    return _with_rungs(_trials_table(trials), trials, experiment_dirs), _epochs_table(trials)


def _with_rungs(table: pa.Table, trials: Sequence[TrialFiles], experiment_dirs: Sequence[str | os.PathLike]) -> pa.Table:
    """Budget-fair ASHA's per-arm record (analysis.store.arms) as columns arm, rung, rung_epoch.

    Only when an experiment ran that scheduler, so other exports keep their columns."""
    by_trial = {(location.name, trial_id): row for location in map(_experiment_location, experiment_dirs)
                for trial_id, row in _trial_rungs(location).items()}
    if not by_trial:
        return table
    # the scheduler saw a pack as one trial: its members share the pack's record
    rows = [by_trial.get((trial.experiment, trial.pack_trial_id or trial.trial_id), {}) for trial in trials]
    table = _stopped_by_rung(table, rows)
    descriptions = {"arm": (pa.string(), "budget-fair ASHA arm (stratification keys' values)"),
                    "rung": (pa.int64(), "highest rung reached in its arm (-1 none; the last is the full budget)"),
                    "rung_epoch": (pa.int64(), "epoch of that rung")}
    for name, (arrow_type, description) in descriptions.items():
        column = f"asha_{name}" if name in table.column_names else name  # a config key of that name
        field, array = typed_column(column, [row.get(name) for row in rows], arrow_type, description)
        table = table.append_column(field, array)
    return table


def _trial_rungs(experiment: storage.Location) -> dict[str, dict[str, Any]]:
    """analysis.store.arms.rungs_from_state of the experiment's fair_asha.json; empty without one."""
    record = experiment.child(FAIR_ASHA_FILE)
    return rungs_from_state(json.loads(record.read_text())) if record.exists() else {}


def _stopped_by_rung(table: pa.Table, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """The scheduler's own record wins for trials it stopped at a rung.

    Ray's `stop_trial` on a PAUSED trial does not always refresh the saved experiment state,
    so such a trial can read as still running (or as ended by the time budget)."""
    statuses = table.column("status").to_pylist()
    fixed = ["stopped_early" if row.get("stopped") and status in ("running", "interrupted", "time_budget") else status
             for status, row in zip(statuses, rows)]
    if fixed == statuses:
        return table
    index = table.schema.get_field_index("status")
    return table.set_column(index, table.schema.field(index), pa.array(fixed, type=table.schema.field(index).type))


def export_experiment(
    experiment_dirs: Sequence[str | os.PathLike] | str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
) -> tuple[Path | str, Path | str]:
    """Export one or more experiment directories; returns (trials_path, epochs_path).

    out_dir defaults to the (single) experiment directory; merging several needs an explicit one.
    Paths are local Paths, or URIs (str) when out_dir is on object storage. epochs.parquet is
    written before trials.parquet, whose presence marks a complete export (analysis.store.atomic).
    """
    if isinstance(experiment_dirs, (str, os.PathLike)):
        experiment_dirs = [experiment_dirs]
    experiment_dirs = list(experiment_dirs)
    if out_dir is None:
        if len(experiment_dirs) != 1:
            raise ExportError(f"got {len(experiment_dirs)} experiment directories; pass --out DIR to merge them")
        out_dir = experiment_dirs[0]
    trials_table, epochs_table = build_tables(experiment_dirs)
    paths = write_tables_atomically({EPOCHS_FILE: epochs_table, TRIALS_FILE: trials_table}, out_dir)
    logger.info("exported %d trials, %d epochs to %s", trials_table.num_rows, epochs_table.num_rows,
                storage.redact(out_dir))
    return paths[TRIALS_FILE], paths[EPOCHS_FILE]


def _parser() -> OneLineParser:
    parser = OneLineParser(prog="python -m analysis.store.export", description=__doc__.splitlines()[0])
    parser.add_argument("experiment_dirs", nargs="+",
                        help="Tune experiment directories (<storage_path>/<name>; a path or s3://bucket/prefix/<name>)")
    parser.add_argument("--out", default=None,
                        help="output directory or URI (default: the single experiment directory)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        trials_path, epochs_path = export_experiment(args.experiment_dirs, args.out)
    except (ExportError, storage.StorageError, OSError) as error:
        print(f"error: {storage.one_line(error)}", file=sys.stderr)
        return 2
    print(trials_path)
    print(epochs_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
