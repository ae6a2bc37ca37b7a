"""Where a sweep's experiments live, for the engine: a local folder or object storage, alike.

`analysis.store.storage` owns the filesystem choice (a path or an `s3://` / `gs://` URI, reached
through pyarrow); this module applies it to a sweep: the names and folders of the search's and
its confirmation's experiments, the checks before Ray starts (exists? writable?), what Tune is given (storage
filesystem, restore source, trial folder names), and the cleanup after a usage error.
Storage failures become `UsageError`s of one line that never shows a secret.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from analysis.store import storage
from analysis.store.schema import TRIALS_FILE
from analysis.store.storage import StorageError
from sweeps.engine.errors import UsageError

log = logging.getLogger(__name__)

CONFIRM_SUFFIX = "-confirm"  # the confirmation stage's experiment sits beside its search as <name>-confirm
STORAGE_ERRNOS = (errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.ENOTDIR)

# Where the trackers' local files go when the experiments are on object storage (an SQLite
# database, an Aim repository and W&B's offline runs are local files): Tune's default.
LOCAL_FALLBACK = os.path.expanduser("~/ray_results")


@contextmanager
def _as_usage_error() -> Iterator[None]:
    """Object storage that cannot be reached, read or written: one line, exit 2."""
    try:
        yield
    except StorageError as error:
        raise UsageError(str(error)) from None


def confirm_name(name: str) -> str:
    return f"{name}{CONFIRM_SUFFIX}"


def experiment_names(name: str) -> list[str]:
    """The experiments a sweep named `name` may run: its search and its confirmation."""
    return [name, confirm_name(name)]


def experiment_dirs(plan: Any) -> tuple[str, str]:
    """The search's folder and its confirmation's (`<name>-confirm` beside it), paths or URIs."""
    return plan.experiment_dir, storage.join(storage.parent(plan.experiment_dir), confirm_name(plan.name))


def storage_error_message(error: OSError, storage_path: str) -> str | None:
    """One line for a write failure under the storage path during the run, else None."""
    if error.errno in STORAGE_ERRNOS:
        where = error.filename or storage_path
        return f"cannot write {where}: {error.strerror} (storage path {storage_path})"
    return None


def exists(path: str) -> bool:
    with _as_usage_error():
        return storage.exists(path)


def is_dir(path: str) -> bool:
    with _as_usage_error():
        return storage.is_dir(path)


def is_file(path: str) -> bool:
    with _as_usage_error():
        return storage.is_file(path)


def read_text(path: str) -> str:
    with _as_usage_error():
        return storage.read_text(path)


def check_object_storage(storage_path: str) -> None:
    """Write a probe under the storage path, read it back and delete it: bucket, endpoint and
    credentials work, and the server stores what it is sent, before Ray starts and before the
    sweep writes anything (a server that kept an upload's aws-chunked framing once made the
    driver's own lease unreadable, reported as "another driver took its lease")."""
    probe = storage.join(storage_path, f".probe-{secrets.token_hex(8)}")
    written = f'{{"actsweep": "write probe", "token": "{secrets.token_hex(8)}"}}\n'.encode()
    where = f"--storage-path {storage.redact(storage_path)}"
    try:
        location = storage.locate(probe)
        location.write_bytes_atomically(written)
        try:
            problem = storage.round_trip_problem(written, location.read_bytes())
        finally:
            location.delete_file()
    except (StorageError, OSError) as error:
        raise UsageError(f"{where} is not usable: {storage.one_line(error)}") from None
    if problem:
        raise UsageError(f"{where} is not usable: {problem}")


def tune_storage(storage_path: str) -> dict[str, Any]:
    """RunConfig's storage arguments: a local path alone, or a URI's path on the filesystem
    resolved once here (with its endpoint), which Tune hands to every trial worker."""
    with _as_usage_error():
        path, filesystem = storage.ray_storage(storage_path)
    return {"storage_path": path, "storage_filesystem": filesystem}


def restore_source(experiment_dir: str) -> tuple[str, Any]:
    """(path, storage_filesystem) for Tuner.can_restore / Tuner.restore / ExperimentAnalysis."""
    with _as_usage_error():
        return storage.ray_storage(experiment_dir)


def trial_dirname_creator(storage_path: str, chosen: Callable[[Any], str] | None) -> Callable[[Any], str] | None:
    """Trial folder names: on object storage `storage.trial_dirname` (no '=' or ','), which every
    S3-compatible server signs alike (ray-project/ray#29845 saw '=' break signatures); on a disk
    the search's own choice (None: Tune's descriptive names, which TensorBoard shows as run names)."""
    return storage.trial_dirname if storage.is_remote(storage_path) else chosen


def tracker_root(storage_path: str) -> str:
    """A local folder for a tracker's files: the storage path itself, or LOCAL_FALLBACK for a URI."""
    return LOCAL_FALLBACK if storage.is_remote(storage_path) else storage_path


def remove_unfinished_experiment(plan: Any, keep: frozenset[str] = frozenset()) -> None:
    """After a usage error: nothing this run half-wrote stays behind.

    Only directories this run created go (the search's and its confirmation's, on a disk or on
    object storage); one that was there before it started (`keep`: an interrupted sweep the user
    forgot --resume for) or that holds finished tables is never touched. Never fails the caller
    (it runs while reporting another error).
    """
    for directory in experiment_dirs(plan):
        if directory in keep:
            continue
        try:
            location = storage.locate(directory)
            if location.is_dir() and not location.child(TRIALS_FILE).is_file():
                location.delete_dir()
        except (StorageError, OSError) as error:
            log.warning("could not remove the unfinished experiment %s: %s", storage.redact(directory),
                        storage.one_line(error))
