"""Checks of the outside world before Ray starts: the experiment directory, the storage
path, the cluster address and the data, in that order (a `--resume` of a sweep that never
ran fails before anything is downloaded).
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
from pathlib import Path

from sweeps.engine.cli import UsageError
from sweeps.engine.plan import Plan

# A sweep writes checkpoints (a few MB per trial) and its tables; below this the first
# checkpoint would fail inside a trial, far from the cause.
MIN_FREE_BYTES = 64 * 1024 * 1024
STORAGE_ERRNOS = (errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EDQUOT, errno.ENOTDIR)


def preflight(plan: Plan) -> None:
    """Raise UsageError, in one line, for anything outside the command line that would fail."""
    from sweeps.engine.integrations import missing_package

    if message := missing_package(plan.tools):  # --search optuna / --tracker without its extra
        raise UsageError(message)
    check_experiment_dir(plan)
    check_storage(plan.storage_path)
    if plan.address:
        check_address(plan.address)
    check_data(plan.dataset, plan.data_dir)


def check_experiment_dir(plan: Plan) -> None:
    if _is_remote(plan.storage_path):
        return
    exists = plan.experiment_dir.exists()
    if plan.resume and not plan.experiment_dir.is_dir():
        raise UsageError(f"nothing to resume: no experiment {plan.name!r} under {plan.storage_path}")
    if not plan.resume and exists:
        raise UsageError(f"experiment {plan.name!r} already exists under {plan.storage_path}: "
                         "pass --resume, or another --name")
    confirmation = experiment_dirs(plan)[1]
    if plan.confirm is not None and not plan.resume and confirmation.exists():  # found now, not after the search
        raise UsageError(f"experiment {confirmation.name!r} already exists under {plan.storage_path}: "
                         "pass --resume, or another --name")


def experiment_dirs(plan: Plan) -> tuple[Path, Path]:
    """The search's directory and its confirmation's (`<name>-confirm`), whether or not they exist."""
    from sweeps.engine.confirm import confirm_name

    return plan.experiment_dir, plan.experiment_dir.parent / confirm_name(plan.name)


def existing_experiments(plan: Plan) -> frozenset[Path]:
    """The experiment directories there before this run: a usage error never removes them."""
    if _is_remote(plan.storage_path):
        return frozenset()
    return frozenset(path for path in experiment_dirs(plan) if path.exists())


def check_storage(storage_path: str) -> None:
    """The storage path can be created and written, and has room for checkpoints."""
    if _is_remote(storage_path):
        return  # s3://, gs://: Tune's filesystem layer reports its own errors
    try:
        os.makedirs(storage_path, exist_ok=True)
        with tempfile.TemporaryFile(dir=storage_path) as probe:
            probe.write(b"x")
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(storage_path).free
    except OSError as error:
        raise UsageError(f"--storage-path {storage_path} is not writable: {error.strerror or error}") from None
    if free < MIN_FREE_BYTES:
        raise UsageError(f"--storage-path {storage_path} has {free // 1024} KiB free; a sweep needs at least "
                         f"{MIN_FREE_BYTES // 2**20} MiB for its checkpoints and tables")


def storage_error_message(error: OSError, storage_path: str) -> str | None:
    """One line for a write failure under the storage path during the run, else None."""
    if error.errno in STORAGE_ERRNOS:
        where = error.filename or storage_path
        return f"cannot write {where}: {error.strerror} (storage path {storage_path})"
    return None


def _is_remote(path: str) -> bool:
    return "://" in path


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast on an address with no cluster: `ray.init` would retry for minutes.

    "auto" is left to `ray.init`, which fails at once when no local cluster is recorded
    (there is no public Ray API to resolve it beforehand; start_ray turns that into one line).
    """
    if address == "auto":
        return
    host_port = address[len("ray://"):] if address.startswith("ray://") else address
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise UsageError(f"no Ray cluster answers at {address} ({error.strerror or error}); "
                         "start one with `ray start --head`") from None


def check_data(dataset: str, data_dir: str | None) -> None:
    """The files a dataset needs are there and readable (archive members, shapes, labels)."""
    from trainables.data import DataError, check_dataset

    try:
        check_dataset(dataset, data_dir)
    except DataError as error:
        raise UsageError(str(error)) from None


def remove_unfinished_experiment(plan: Plan, keep: frozenset[Path] = frozenset()) -> None:
    """After a usage error: nothing this run half-wrote stays behind.

    Only directories this run created go (the search's and its confirmation's); one that was
    there before it started (`keep`: an interrupted sweep the user forgot --resume for) or that
    holds finished tables is never touched.
    """
    from analysis.schema import TRIALS_FILE

    if _is_remote(plan.storage_path):
        return
    for directory in experiment_dirs(plan):
        if directory.is_dir() and directory not in keep and not (directory / TRIALS_FILE).is_file():
            shutil.rmtree(directory, ignore_errors=True)
