"""The table schema: which columns exist, their Arrow types, and which role each column plays.

The one place that says which trial columns are identities (who ran), resources (what it ran
on), settings (what was compared) and results (what came out); export, report and plots all
import it, so they cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa

SCHEMA_VERSION = 2  # 2: num_failures, gpu_ids, node_id, best_checkpoint(_epoch), nested config leaves, nulls
METADATA_KEY = b"actsweep"
TRIALS_FILE = "trials.parquet"
EPOCHS_FILE = "epochs.parquet"

STATUSES = ("terminated", "stopped_early", "time_budget", "diverged", "errored", "running", "interrupted")
# A running sweep's driver holds this file in the experiment folder and deletes it when it ends
# (sweeps.engine.lease): an unfinished trial of an experiment without it is interrupted, not running.
DRIVER_LEASE_FILE = "driver.lease.json"
DEFAULT_METRIC = "best_val_accuracy"
# The one status of a trial that ran its whole `epochs` budget: the full-budget comparisons use it.
FULL_BUDGET_STATUS = "terminated"

TRIAL_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "experiment": (pa.string(), "experiment directory name (Tune's RunConfig.name)"),
    "trial_id": (pa.string(), "Tune trial id, unique within an experiment"),
    "trial_dir": (pa.string(), "trial directory name inside the experiment directory"),
    "family": (pa.string(), "config `family` (sweep family)"),
    "status": (pa.string(), "terminated | stopped_early | time_budget | diverged | errored | running | interrupted"),
    "activation": (pa.string(), "config `activation` (the scientific variable)"),
    "seed": (pa.int64(), "config `seed`"),
    "repeat": (pa.int64(), "config `repeat` (repeat index of the same settings)"),
    "epochs_completed": (pa.int64(), "epochs reported (highest epoch in result.json, 0 if none)"),
    "wall_seconds": (pa.float64(), "last time_total_s reported by Tune (null if nothing reported)"),
    "accelerator_seconds": (pa.float64(), "wall_seconds x config gpus_per_trial"),
    "stop_reason": (pa.string(), "last non-empty stop_reason reported, null if none"),
    "error": (pa.string(), "last line of error.txt (the exception), null if none"),
    "num_failures": (pa.int64(), "times the trial failed (Tune retries up to max_failures); 0 if never"),
    "gpu_ids": (pa.string(), "GPU ids Ray gave the trial, comma-separated (\"0\", \"1,3\"); null without GPU"),
    "node_id": (pa.string(), "Ray node id (hex) the trial last ran on; null if not reported"),
    "best_checkpoint": (pa.string(), "absolute path of the kept checkpoint with the best checkpoint metric"),
    "best_checkpoint_epoch": (pa.int64(), "epoch of best_checkpoint"),
}
# A pack's members (analysis.store.packs): columns only in tables that hold one, so the tables of
# lone trials keep their columns and bytes; a lone trial beside members has nulls there.
PACK_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "pack_trial_id": (pa.string(), "Tune trial id of the pack that trained this trial with others of its "
                                   "configuration (trial_dir is the pack's); null for a lone trial"),
    "pack_member": (pa.int64(), "this trial's index in its pack (its member_<i>); null for a lone trial"),
}
# Reported once, with the last epoch of the budget (trainables.correctness): a trials column, not a
# curve; only in tables where a trial reported it, so earlier tables keep their columns and bytes.
CORRECTNESS_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "test_correct": (pa.string(), "which test images the trial got right at the budget's last epoch, one bit each "
                                  "(\"<count>:<base64 of numpy.packbits>\", trainables.correctness); null if it "
                                  "did not finish"),
}
EPOCH_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "experiment": (pa.string(), "experiment directory name"),
    "trial_id": (pa.string(), "Tune trial id (join key with trials.parquet)"),
    "epoch": (pa.int64(), "1-based epoch (reported `epoch`, else Tune's training_iteration)"),
    "training_iteration": (pa.int64(), "Tune's report counter"),
    "time_total_s": (pa.float64(), "Tune's cumulative trial time at this report"),
    "time_this_iter_s": (pa.float64(), "Tune's time for this report"),
}
# Ranks checkpoints when the experiment state does not name the sweep's metric.
DEFAULT_CHECKPOINT_METRIC = "val_accuracy"
# Tune's clock and counter are kept in the epochs table (not as trial metrics).
TUNE_CLOCK = ("training_iteration", "time_total_s", "time_this_iter_s")

# Column roles. Config keys that identify a run (promoted to fixed columns, typed even when
# absent), and those naming its resources: neither is a setting being compared.
PROMOTED_CONFIG = ("family", "activation", "seed", "repeat")
RESOURCE_CONFIG = ("cpus_per_trial", "gpus_per_trial")
# A confirmation trial's bookkeeping (analysis.verdict.confirmation): which search trial, arm and rank, and
# the stage's look plan (analysis.verdict.looks): margin, most seeds, seeds per look, this seed's look.
CONFIRM_CONFIG = ("confirms", "confirm_arm", "confirm_rank", "confirm_margin", "confirm_seeds", "confirm_batch",
                  "confirm_look")
NON_SETTING_COLUMNS = frozenset({*PROMOTED_CONFIG, *RESOURCE_CONFIG, *CONFIRM_CONFIG, *PACK_FIELDS,
                                 *CORRECTNESS_FIELDS})
RESULT_PREFIXES = ("best_", "last_")

_ACCURACY_LIKE = re.compile(r"(acc|auc|precision|recall|f1)", re.IGNORECASE)
_LOSS_LIKE = re.compile(r"(loss|error|mse|mae|perplexity)", re.IGNORECASE)


class ExportError(ValueError):
    """A user-facing problem with the experiment directories (the CLI exits 2 with its message)."""


def metric_direction(name: str) -> str | None:
    """'max' for accuracy-like metrics, 'min' for loss-like ones, None when 'best' is meaningless."""
    if _ACCURACY_LIKE.search(name):
        return "max"
    if _LOSS_LIKE.search(name):
        return "min"
    return None


def higher_is_better(metric: str) -> bool:
    """For a trials column such as best_val_accuracy or last_loss."""
    base = metric.removeprefix("best_").removeprefix("last_")
    return metric_direction(base) != "min"


def config_columns(trials: pd.DataFrame) -> list[str]:
    """Config columns from read_tables' attrs, else everything that is not derived by the export."""
    recorded = trials.attrs.get("config_columns")
    if recorded:
        return [column for column in recorded if column in trials.columns]
    return [
        column
        for column in trials.columns
        if column not in TRIAL_FIELDS or column in PROMOTED_CONFIG
        if column not in PACK_FIELDS and not column.startswith(RESULT_PREFIXES)
    ]


def setting_columns(trials: pd.DataFrame) -> list[str]:
    """Config columns that describe what was compared (identities and resources excluded)."""
    return [column for column in config_columns(trials) if column not in NON_SETTING_COLUMNS]


def varying_settings(trials: pd.DataFrame) -> list[str]:
    """Setting columns (besides activation) that take more than one value in these trials."""
    return [column for column in setting_columns(trials) if trials[column].nunique(dropna=False) > 1]


# --------------------------------------------------------------------------- Arrow typing


def infer_type(values: Iterable[Any]) -> pa.DataType:
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


def typed_column(name: str, values: list[Any], arrow_type: pa.DataType, description: str) -> tuple[pa.Field, pa.Array]:
    """A field carrying its description in its metadata, and the values converted to its type."""
    field = pa.field(name, arrow_type, metadata={b"description": description.encode()})
    return field, pa.array([_to_arrow_value(value, arrow_type) for value in values], type=arrow_type)


def make_table(columns: list[tuple[pa.Field, pa.Array]], metadata: Mapping[str, Any]) -> pa.Table:
    """A table whose schema metadata holds the actsweep JSON (version, table, column lists)."""
    schema = pa.schema(
        [field for field, _ in columns],
        metadata={METADATA_KEY: json.dumps(dict(metadata), sort_keys=True).encode()},
    )
    return pa.Table.from_arrays([array for _, array in columns], schema=schema)
