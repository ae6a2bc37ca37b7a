"""Real sweeps through Ray, on tiny configurations: the engine's end-to-end behaviour.

Each test runs a sweep script as a user would (a subprocess with its own local Ray
instance), then reads what Tune wrote. Slow by nature (tens of seconds each).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis.store.arms import arm_counts
from support.cluster import kill_process_groups
from support.families import cheap_scripts
from sweeps.engine.lease import LEASE_FILE
from trainables.recovery import recorded_checkpoints
from trainables.schedules import step_decay

pytestmark = pytest.mark.slow


def sweep_command(repo_root: str, script: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(repo_root) / "sweeps" / script), *args]


def run_sweep(repo_root: str, script: str, *args: str, timeout: int = 400) -> subprocess.CompletedProcess:
    result = subprocess.run(sweep_command(repo_root, script, *args), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(path.parent for path in experiment.glob("*/params.json"))


def rows(trial: Path) -> list[dict]:
    path = trial / "result.json"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def trial_statuses(experiment: Path) -> dict[str, str]:
    """Trial id -> status, from the experiment state Tune saves for resuming."""
    states = sorted(experiment.glob("experiment_state-*.json"))
    if not states:
        return {}
    try:
        state = json.loads(states[-1].read_text())
    except json.JSONDecodeError:  # being rewritten
        return {}
    trials = (json.loads(trial_json) for trial_json, _ in state["trial_data"])
    return {trial["trial_id"]: trial["status"] for trial in trials}


def test_smoke_sweep_asha_checkpoints_and_tables(smoke_experiment):
    experiment, output = smoke_experiment
    trials = trial_dirs(experiment)
    assert len(trials) == 6
    epochs_run = [max(row["epoch"] for row in rows(trial)) for trial in trials]
    assert max(epochs_run) == 4, epochs_run
    assert min(epochs_run) < 4, f"ASHA stopped no trial early: {epochs_run}"
    for trial in trials:
        checkpoints = sorted(trial.glob("checkpoint_*"))
        assert checkpoints, trial
        assert (checkpoints[-1] / "model.keras").is_file() and (checkpoints[-1] / "state.json").is_file()
        for row in rows(trial):
            assert 0.0 <= row["val_accuracy"] <= 1.0 and row["images_per_second"] > 0
            assert row["diverged"] is False and row["stop_reason"] == ""
    assert (experiment / "trials.parquet").is_file() and (experiment / "epochs.parquet").is_file()
    assert "best trial: val_accuracy=" in output


def test_killed_driver_resumes_without_rerunning_finished_trials(repo_root, tmp_path):
    name = "killed"
    experiment = tmp_path / name
    args = [
        "--smoke", "--storage-path", str(tmp_path), "--name", name, "--scheduler", "fifo",
        "--max-epochs", "6", "--max-concurrent", "1", "--set", "units=16",
        "--set", "train_limit=null", "--set", "batch_size=2",  # slow epochs: ~1000 steps
        "--set", "lr_decay_every=2", "--set", "lr_decay_factor=0.5",
    ]
    driver = subprocess.Popen(
        sweep_command(repo_root, "antirectifier_mnist.py", *args), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:  # kill once one trial is done and the next is mid-way
            statuses = trial_statuses(experiment)
            running = [trial for trial in trial_dirs(experiment) if 2 <= len(rows(trial)) < 6]
            # ... and Tune's saved state names its checkpoint: rows are written before the state is
            # saved (every few seconds), and a kill in between restarts the trial from scratch
            if "TERMINATED" in statuses.values() and running and recorded_checkpoints(str(experiment)):
                break
            assert driver.poll() is None, "the sweep ended before it could be interrupted"
            time.sleep(0.5)  # reading Tune's state costs CPU the sweep needs
        else:
            pytest.fail("the sweep never reached a state worth interrupting")
    finally:
        kill_process_groups([driver.pid])  # the driver, its Ray and the trial workers, as a crash would
        driver.wait()
    before = {trial.name: len(rows(trial)) for trial in trial_dirs(experiment)}
    finished = [trial for trial, count in before.items() if count == 6]
    assert finished, before
    # The crashed driver's lease is still there, naming a process that is gone on this machine:
    # the resume takes it at once (sweeps.engine.lease).
    left = json.loads((experiment / LEASE_FILE).read_text())
    assert left["pid"] == driver.pid

    run_sweep(repo_root, "antirectifier_mnist.py", *args, "--resume", "--name", name)
    assert not (experiment / LEASE_FILE).exists()
    after = {trial.name: rows(trial) for trial in trial_dirs(experiment)}
    assert len(after) == 2
    for trial in finished:
        assert len(after[trial]) == 6, "a finished trial was re-run"
    for trial, history in after.items():
        assert sorted({row["epoch"] for row in history}) == [1, 2, 3, 4, 5, 6], (trial, history)
        for row in history:  # the right learning rate at every epoch, before and after the restore
            assert row["lr"] == pytest.approx(step_decay(row["epoch"] - 1, 1e-3, 0.5, 2))
    resumed = [row for history in after.values() for row in history
               if row["iterations_since_restore"] == 1 and row["epoch"] > 1]
    assert resumed, "no trial continued from a checkpoint"
    assert set(trial_statuses(experiment).values()) == {"TERMINATED"}


@pytest.mark.parametrize("script", cheap_scripts(), ids=lambda script: script.stem)
def test_every_cheap_sweep_script_runs_its_smoke_sweep(repo_root, tmp_path, script):
    """Found by glob (tests/support/families.py); the costlier smoke sweeps are planned in test_runner_smoke_plans.
    One script runs with `--dashboard` (which turns actor reuse off, ~5 s a trial here; so one width,
    2 trials instead of 4): the others start Ray as users do by default, where budget-fair ASHA's
    trials (paused ones too) reuse actors."""
    watched = script.stem == "antirectifier_mnist"
    result = run_sweep(repo_root, script.name, "--smoke", "--storage-path", str(tmp_path), "--name", "smoke",
                       *(["--dashboard", "--set", "units=16"] if watched else []))
    experiment = tmp_path / "smoke"
    assert trial_dirs(experiment) and all(rows(trial) for trial in trial_dirs(experiment))
    assert (experiment / "trials.parquet").is_file()
    assert "best trial: val_accuracy=" in result.stdout
    # The dashboard is local only: bound to the loopback address, never 0.0.0.0.
    assert ("Ray dashboard: http://127.0.0.1:" in result.stdout) == watched, result.stdout[-2000:]
    if not watched:  # its trials on reused actors (tests/engine/test_tune_run.py), paused ones too
        counts = arm_counts(experiment)
        assert len(counts) > 1 and len({tuple(kept) for kept in counts.values()}) == 1, counts  # rungs decided alike


def test_export_of_a_real_smoke_sweep(smoke_experiment):
    from analysis.store.export import export_experiment, read_tables

    experiment, _ = smoke_experiment
    tables = read_tables(experiment)  # what the runner wrote at the end of the sweep
    trials, epochs = tables.trials, tables.epochs
    assert len(trials) == len(trial_dirs(experiment)) == 6
    assert set(trials["status"]) <= {"terminated", "stopped_early"} and "stopped_early" in set(trials["status"])
    assert len(epochs) == sum(len(rows(trial)) for trial in trial_dirs(experiment))
    assert not any(column.startswith("config/") for column in trials.columns)
    assert str(trials["reduction"].dtype).lower() == "int64" and trials["stages"].map(type).eq(str).all()
    assert trials["best_val_accuracy"].between(0, 1).all()
    assert (trials["epochs_completed"] == epochs.groupby("trial_id")["epoch"].max().reindex(trials["trial_id"]).values).all()
    before = (experiment / "trials.parquet").read_bytes()
    export_experiment([experiment], out_dir=experiment)
    assert (experiment / "trials.parquet").read_bytes() == before  # idempotent
