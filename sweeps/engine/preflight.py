"""Checks of the outside world before Ray starts: the experiment directory, the storage
path, the cluster address and the data, in that order (a `--resume` of a sweep that never
ran fails before anything is downloaded). What the command line alone refuses (a missing
extra, credentials in a URI) was checked before the plan (`sweeps.engine.early_checks`).
"""

from __future__ import annotations

import os
import shutil
import tempfile

from analysis.store import storage
from sweeps.engine.admission import check_address
from sweeps.engine.errors import UsageError
from sweeps.engine.locations import check_object_storage, exists, experiment_dirs, is_dir
from sweeps.engine.plan import Plan
from trainables.data import DataError, check_dataset

# A sweep writes checkpoints (a few MB per trial) and its tables; below this the first
# checkpoint would fail inside a trial, far from the cause.
MIN_FREE_BYTES = 64 * 1024 * 1024


def preflight(plan: Plan) -> None:
    """Raise UsageError, in one line, for anything outside the command line that would fail."""
    check_experiment_dir(plan)
    check_storage(plan.storage_path)
    if plan.address:
        check_address(plan.address)
    check_data(plan.dataset, plan.data_dir)


def check_experiment_dir(plan: Plan) -> None:
    """The experiment to resume is there; a new one (and its confirmation) is not. On object
    storage too: a prefix with objects under it is a folder (sweeps.engine.locations)."""
    search, confirmation = experiment_dirs(plan)
    if plan.resume and not is_dir(search):
        raise UsageError(f"nothing to resume: no experiment {plan.name!r} under {plan.storage_path}")
    if not plan.resume and exists(search):
        raise UsageError(f"experiment {plan.name!r} already exists under {plan.storage_path}: "
                         "pass --resume, or another --name")
    if plan.confirm is not None and not plan.resume and exists(confirmation):  # found now, not after the search
        raise UsageError(f"experiment {storage.name(confirmation)!r} already exists under {plan.storage_path}: "
                         "pass --resume, or another --name")


def existing_experiments(plan: Plan) -> frozenset[str]:
    """The experiment directories there before this run: a usage error never removes them."""
    return frozenset(path for path in experiment_dirs(plan) if exists(path))


def check_storage(storage_path: str) -> None:
    """The storage path can be created and written, and (on a disk) has room for checkpoints."""
    if storage.is_remote(storage_path):
        check_object_storage(storage_path)  # a probe written and deleted; free space is the provider's
        return
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


def check_data(dataset: str, data_dir: str | None) -> None:
    """The files a dataset needs are there and readable (archive members, shapes, labels)."""
    try:
        check_dataset(dataset, data_dir)
    except DataError as error:
        raise UsageError(str(error)) from None
