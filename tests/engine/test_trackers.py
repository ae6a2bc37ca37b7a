"""Experiment trackers, TensorBoard and the console, read back with each tool's own reader.

`--tracker mlflow --tracker wandb` in one tiny real sweep: MLflow (its default store, SQLite
beside the experiments; the test extra has `mlflow-skinny`, since the full package pins an
older pyarrow, and SQLAlchemy/Alembic come with optuna) must hold one run per trial whose
params and metric history match trials.parquet / epochs.parquet, and W&B in offline mode one offline
run per trial. The per-trial TensorBoard events of the shared smoke sweep must hold
`val_accuracy` for every epoch. The same tracked sweep's console must show Tune's table
but not the workers' TensorFlow notices and checkpoint lines, which stay in the trial logs.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


def run_sweep(repo_root: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(Path(repo_root) / "sweeps" / "antirectifier_mnist.py"), "--smoke", *args],
        capture_output=True, text=True, timeout=400, env={**os.environ, **(env or {})},
    )


@pytest.mark.skipif(importlib.util.find_spec("aim") is not None, reason="aim is installed here")
def test_a_missing_tracker_package_is_one_line_naming_the_extra(repo_root, tmp_path):
    result = run_sweep(repo_root, "--tracker", "aim", "--storage-path", str(tmp_path / "results"), "--name", "x")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1:] == [
        'error: --tracker aim needs the \'aim\' package: pip install -e ".[aim]"'
    ], result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not (tmp_path / "results" / "x").exists()


@pytest.mark.skipif(importlib.util.find_spec("sqlalchemy") is not None, reason="SQLAlchemy is installed")
def test_mlflow_default_sqlite_store_without_sqlalchemy_is_one_line(repo_root, tmp_path):
    pytest.importorskip("mlflow")
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    result = subprocess.run(
        [sys.executable, str(Path(repo_root) / "sweeps" / "antirectifier_mnist.py"), "--smoke", "--tracker", "mlflow",
         "--storage-path", str(tmp_path / "results"), "--name", "x"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --tracker mlflow with a database store (sqlite)")
    assert not (tmp_path / "results").exists()


def test_wandb_without_a_key_or_offline_mode_is_one_line(repo_root, tmp_path):
    pytest.importorskip("wandb")
    env = {key: value for key, value in os.environ.items()
           if key not in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_SETUP_API_KEY_HOOK")}
    env["HOME"] = str(tmp_path)  # no ~/.netrc login
    result = subprocess.run(
        [sys.executable, str(Path(repo_root) / "sweeps" / "antirectifier_mnist.py"), "--smoke", "--tracker", "wandb",
         "--storage-path", str(tmp_path / "results"), "--name", "x"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("error: --tracker wandb: no W&B API key")
    assert not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def tracked_sweep(repo_root, tmp_path_factory):
    """A 2-trial, 2-epoch sweep logged to MLflow (default SQLite store) and W&B (offline)."""
    pytest.importorskip("mlflow")
    pytest.importorskip("wandb")
    storage = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{storage / 'mlflow.db'}"  # the default: no --tracker-uri
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "MLFLOW_TRACKING_URI": ""}
    result = run_sweep(repo_root, "--scheduler", "fifo", "--max-epochs", "2", "--set", "units=16",
                       "--storage-path", str(storage), "--name", "tracked", "--tracker", "mlflow",
                       "--tracker", "wandb", env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return storage / "tracked", uri, result


@pytest.mark.slow
def test_mlflow_has_one_run_per_trial_matching_the_tables(tracked_sweep):
    import mlflow

    experiment, uri, _ = tracked_sweep
    trials = pd.read_parquet(experiment / "trials.parquet")
    epochs = pd.read_parquet(experiment / "epochs.parquet")
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("tracked").experiment_id])
    by_trial = {run.data.tags["trial_name"].split("_", 1)[1]: run for run in runs}
    assert sorted(by_trial) == sorted(trials["trial_id"]) and len(runs) == len(trials) == 2
    for trial in trials.itertuples():
        run = by_trial[trial.trial_id]
        config = json.loads(next(experiment.glob(f"*{trial.trial_id}*/params.json")).read_text())
        for key, value in config.items():
            assert run.data.params[key] == str(value), key
        assert run.data.params["lr"] == str(trial.lr) and run.data.params["units"] == str(trial.units)
        rows = epochs[epochs["trial_id"] == trial.trial_id].sort_values("epoch")
        history = sorted(client.get_metric_history(run.info.run_id, "val_accuracy"), key=lambda m: m.step)
        assert [m.step for m in history] == rows["epoch"].tolist()
        assert [m.value for m in history] == pytest.approx(rows["val_accuracy"].tolist())
        assert len(client.get_metric_history(run.info.run_id, "loss")) == len(rows)


@pytest.mark.slow
def test_wandb_offline_writes_one_run_per_trial(tracked_sweep):
    experiment, _, _ = tracked_sweep
    trials = pd.read_parquet(experiment / "trials.parquet")
    offline = sorted((experiment / "wandb").glob("offline-run-*"))
    assert len(offline) == len(trials) == 2
    assert {path.name.rsplit("-", 1)[1] for path in offline} == set(trials["trial_id"])
    assert all(any(path.glob("*.wandb")) for path in offline)


@pytest.mark.slow
def test_tensorboard_events_hold_val_accuracy_for_every_epoch(smoke_experiment):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    experiment, _ = smoke_experiment
    epochs = pd.read_parquet(experiment / "epochs.parquet")
    trials = pd.read_parquet(experiment / "trials.parquet")
    for trial in trials.itertuples():
        directory = experiment / trial.trial_dir
        reader = event_accumulator.EventAccumulator(str(directory))
        reader.Reload()
        scalars = reader.Scalars("ray/tune/val_accuracy")
        rows = epochs[epochs["trial_id"] == trial.trial_id].sort_values("epoch")
        assert [event.step for event in scalars] == rows["epoch"].tolist()
        assert [event.value for event in scalars] == pytest.approx(rows["val_accuracy"].tolist())
        assert "_hparams_/session_start_info" in reader.summary_metadata  # the HParams view


@pytest.mark.slow
def test_console_shows_the_status_table_not_the_workers_chatter(tracked_sweep):
    experiment, _, result = tracked_sweep
    console = result.stdout + result.stderr
    assert "Trial status:" in console and "best trial: val_accuracy=" in console
    for chatter in ("Checkpoint successfully created", "oneDNN", "absl::InitializeLog", "cuda_platform",
                    "(train pid=", "Experiment state snapshotting"):
        assert chatter not in console, chatter
    # ... and they are still in each trial's own log, in Ray's session directory.
    session = re.search(r"(/\S+/session_[^/\s]+)/artifacts/([^/\s]+)/tracked/", console)
    assert session, console[-2000:]
    logs = sorted(Path(session.group(1), "artifacts", session.group(2), "tracked", "working_dirs").glob("*/stderr"))
    assert len(logs) == 2 and all("Checkpoint successfully created" in log.read_text() for log in logs)
