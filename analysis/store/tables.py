"""Read exported tables back into pandas, checking the schema version they were written with.

The tables may lie in a local directory or under a URI (s3://bucket/prefix/name; analysis.store.storage).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analysis.store import storage
from analysis.store.schema import EPOCHS_FILE, METADATA_KEY, SCHEMA_VERSION, TRIALS_FILE, ExportError


@dataclass(frozen=True)
class Tables:
    """Both tables of an export, plus what the metadata says about them."""

    trials: pd.DataFrame
    epochs: pd.DataFrame
    config_columns: tuple[str, ...]
    schema_version: int


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The actsweep metadata stored in a table's Parquet schema (a local path or a URI)."""
    filesystem, fs_path = storage.resolve(path)
    metadata = pq.read_schema(fs_path, filesystem=filesystem).metadata or {}
    if METADATA_KEY not in metadata:
        raise ExportError(f"{storage.redact(path)!r} has no {METADATA_KEY.decode()} metadata; "
                          "was it written by analysis.store.export?")
    return json.loads(metadata[METADATA_KEY])


def _to_pandas(path: storage.Location) -> pd.DataFrame:
    """Integer and bool columns keep their type when they hold nulls (nullable Int64/boolean)."""
    mapping = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return pq.read_table(path.path, filesystem=path.filesystem).to_pandas(types_mapper=mapping.get)


def _table_paths(tables_dir: str | os.PathLike) -> tuple[str | Path, str | Path]:
    """trials and epochs as messages name them: local Paths as before, URIs joined."""
    if storage.is_remote(tables_dir):
        return storage.join(tables_dir, TRIALS_FILE), storage.join(tables_dir, EPOCHS_FILE)
    return Path(tables_dir) / TRIALS_FILE, Path(tables_dir) / EPOCHS_FILE


def read_tables(tables_dir: str | os.PathLike) -> Tables:
    """Load trials.parquet and epochs.parquet from a directory (or URI) written by export_experiment."""
    trials_path, epochs_path = _table_paths(tables_dir)
    directory = tables_dir if storage.is_remote(tables_dir) else Path(tables_dir)
    trials_file, epochs_file = storage.locate(trials_path), storage.locate(epochs_path)
    for path, location in ((trials_path, trials_file), (epochs_path, epochs_file)):
        if not location.is_file():
            raise ExportError(f"{storage.redact(path)!r} not found; run `python -m analysis.store.export "
                              f"<experiment-dir> --out {storage.redact(directory)}` first")
    metadata = read_metadata(trials_path)
    version = int(metadata.get("schema_version", 0))
    if version > SCHEMA_VERSION:
        raise ExportError(f"{storage.redact(trials_path)} has schema version {version}; "
                          f"this code reads up to {SCHEMA_VERSION}")
    trials = _to_pandas(trials_file)
    epochs = _to_pandas(epochs_file)
    config_columns = tuple(metadata.get("config_columns", ()))
    trials.attrs["config_columns"] = config_columns
    return Tables(trials=trials, epochs=epochs, config_columns=config_columns, schema_version=version)
