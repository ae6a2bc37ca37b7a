"""Read exported tables back into pandas, checking the schema version they were written with."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.schema import EPOCHS_FILE, METADATA_KEY, SCHEMA_VERSION, TRIALS_FILE, ExportError


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
