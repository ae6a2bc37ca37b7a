"""Write several Parquet tables so that a crash leaves either all old or all new files."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


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
            temp_path = out_dir / f".{file_name}.{secrets.token_hex(6)}.tmp"
            # Mode 0o666 less the umask, like any file the user writes (mkstemp would give 0600,
            # unreadable by a shared notebook server); O_EXCL as mkstemp.
            descriptor = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            temporary[file_name] = temp_path
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
