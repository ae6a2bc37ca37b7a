"""Write several Parquet tables so that a crash leaves either all old or all new files.

On a local disk every table goes to a temp file beside its target, and the temp files are renamed
over the targets once all are written. Object storage has no rename: there every table is first
serialised in memory (a crash while serialising writes nothing), then each is uploaded as one
object, which appears whole or not at all (analysis.store.storage), in the order given: the caller puts
the table whose presence marks a complete export (trials.parquet) last. A failure between two
uploads leaves the earlier tables new and the later ones old; running the export again repairs it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from analysis.store import storage


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


def write_tables_atomically(tables: Mapping[str, pa.Table], out_dir: str | os.PathLike) -> dict[str, Path | str]:
    """Write every table into out_dir (a local directory or a URI), all-or-nothing as far as the
    storage allows (module docstring); returns file name -> its Path (local) or URI."""
    if storage.is_remote(out_dir):
        return _upload_tables(tables, storage.locate(out_dir))
    return _replace_local_tables(tables, Path(out_dir))


def _upload_tables(tables: Mapping[str, pa.Table], out_dir: storage.Location) -> dict[str, Path | str]:
    """Serialise every table in memory, then upload each as one object, in the mapping's order."""
    serialised = {}
    for file_name, table in tables.items():
        buffer = pa.BufferOutputStream()
        _write_parquet(table, buffer)
        serialised[file_name] = buffer.getvalue().to_pybytes()
    for file_name, data in serialised.items():
        out_dir.child(file_name).write_bytes_atomically(data)
    return {file_name: out_dir.child(file_name).uri for file_name in tables}


def _replace_local_tables(tables: Mapping[str, pa.Table], out_dir: Path) -> dict[str, Path | str]:
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
