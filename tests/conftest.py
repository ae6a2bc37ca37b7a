"""Shared fixtures: quiet TensorFlow, one small local Ray instance for the sweep tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import pytest  # noqa: E402
from filelock import FileLock  # noqa: E402

from support import netns  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    """An xdist worker gets a network namespace of its own before any test starts Ray (why:
    tests/support/netns.py)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        netns.isolate(worker)


@pytest.fixture(scope="session")
def repo_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def smoke_experiment(repo_root, tmp_path_factory, worker_id):
    """One real `aprelu_cifar.py --smoke` sweep, shared by the engine and analysis tests.

    Returns (experiment directory, the driver's stdout). Under pytest-xdist it runs once for all
    workers (pytest-xdist's documented recipe: a file lock in the run's shared temporary folder),
    not once per worker that needs it: the tests only read it.
    """
    if worker_id == "master":  # one process: the session fixture is already once per run
        return _smoke_sweep(repo_root, tmp_path_factory.mktemp("ray_results"))
    shared = tmp_path_factory.getbasetemp().parent  # this run's folder, above every worker's own
    record = shared / "smoke_experiment.json"
    with FileLock(str(shared / "smoke_experiment.lock")):
        if not record.is_file():
            experiment, stdout = _smoke_sweep(repo_root, shared / "smoke_results")
            record.write_text(json.dumps({"experiment": str(experiment), "stdout": stdout}))
    found = json.loads(record.read_text())
    return Path(found["experiment"]), found["stdout"]


def _smoke_sweep(repo_root: str, storage: Path) -> tuple[Path, str]:
    result = subprocess.run(
        [sys.executable, str(Path(repo_root) / "sweeps" / "aprelu_cifar.py"), "--smoke",
         "--storage-path", str(storage), "--name", "smoke"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return storage / "smoke", result.stdout


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with real sweeps first. The suite runs on two xdist workers, one file at a time each
    (`--dist loadfile`, pyproject.toml); handing out the longest files first keeps the run from
    ending on one worker still busy with a cluster test. The order inside a file is kept."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)
