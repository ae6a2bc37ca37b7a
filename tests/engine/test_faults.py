"""Faults from the machine and the people around a sweep, through the real command line (issue 24):
real Ray, real signals, real processes.

- SIGTERM (Slurm, Kubernetes, `timeout`) to a running driver: Tune saves, exit 143, one line with
  the resume command and no crash dump; an export then reads its trials `interrupted`, not
  `running`; that command finishes the sweep, every (trial, epoch) once.
- A second driver on a running experiment, with or without --resume: refused, one line naming the
  live one, before Ray starts.
- Local trial workers run at the driver's CPU priority; with --polite at Ray's +15.
- A trial whose worker is SIGKILLed with no retries left: `errored` in trials.parquet with the
  cause and its failure count, exit 1 and one line naming it; the --resume it prints retries it.

Nothing waits on time: each step waits for a condition (a row, a checkpoint named in Tune's
saved state), and a trial worker is frozen (SIGSTOP) while the test acts mid-trial.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.cluster import first_worker_pid, frozen, result_rows, start_sweep, trial_dirs, wait_until

from analysis.store.export import build_tables
from analysis.store.tables import read_tables
from sweeps.engine.lease import LEASE_FILE
from trainables import recovery

pytestmark = pytest.mark.slow

SCRIPT = "antirectifier_mnist.py"
EPOCHS = 3
# 2 trials (antirectifier, relu) one at a time; 256 steps of batch 8: an epoch takes about a second.
FLAGS = ["--smoke", "--scheduler", "fifo", "--max-concurrent", "1", "--max-epochs", str(EPOCHS), "--set", "units=16",
         "--set", "train_limit=2048", "--set", "batch_size=8", "--verbose", "0"]


def run_command(repo_root: str, command: list[str]) -> subprocess.CompletedProcess:
    """A command the runner printed (`python sweeps/...`), run with this Python from the repository."""
    assert command[0] == "python"
    return subprocess.run([sys.executable, *command[1:]], cwd=repo_root, capture_output=True, text=True, timeout=600)


def printed_command(stderr: str, marker: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if marker in line]
    assert len(lines) == 1, stderr[-3000:]
    return shlex.split(lines[0].split(marker, 1)[1])


def assert_every_epoch_once(experiment: Path, trials: int) -> None:
    tables = read_tables(experiment)
    assert len(tables.trials) == trials and set(tables.trials["status"]) == {"terminated"}, tables.trials
    assert len(tables.epochs) == trials * EPOCHS
    for trial_id, group in tables.epochs.groupby("trial_id"):
        assert sorted(group["epoch"]) == list(range(1, EPOCHS + 1)), (trial_id, list(group["epoch"]))


def second_driver(repo_root: str, storage: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(Path(repo_root) / "sweeps" / SCRIPT), *FLAGS, "--storage-path",
                           str(storage), "--name", "x", *extra], capture_output=True, text=True, timeout=300)


def test_sigterm_saves_and_exits_143_a_second_driver_is_refused_and_resume_finishes(repo_root, tmp_path):
    storage = tmp_path / "results"
    experiment = storage / "x"
    driver = start_sweep(repo_root, SCRIPT, *FLAGS, "--storage-path", str(storage), "--name", "x",
                         logs=tmp_path / "logs")
    try:
        wait_until(lambda: recovery.recorded_checkpoints(str(experiment)), driver,
                   what="Tune's saved state named a checkpoint of a running trial")
        worker = first_worker_pid(experiment)
        # A local instance's trial workers run at the driver's priority (Ray's own default is +15).
        assert os.getpriority(os.PRIO_PROCESS, worker) == os.getpriority(os.PRIO_PROCESS, driver.pid)
        with frozen(worker):  # the first trial cannot finish meanwhile
            for extra in ((), ("--resume",)):
                refused = second_driver(repo_root, storage, *extra)
                assert refused.returncode == 2, refused.stdout[-2000:] + refused.stderr[-2000:]
                assert refused.stderr.strip().startswith(
                    f"error: experiment 'x' is being run by another driver (pid {driver.pid} on host "), refused.stderr
                assert "\n" not in refused.stderr.strip() and "Traceback" not in refused.stderr
            assert (experiment / LEASE_FILE).is_file()  # the refused drivers left the experiment alone
        os.kill(driver.pid, signal.SIGTERM)  # to the driver only, as Kubernetes and `kill` send it
        assert driver.wait() == 143, driver.stderr()[-3000:]
    finally:
        driver.end()
    stderr, stdout = driver.stderr(), driver.stdout()
    assert "SIGTERM received" not in stderr + stdout and "Traceback" not in stderr, stderr[-3000:]
    assert "tables:" not in stdout and not (experiment / "trials.parquet").exists()
    assert not (experiment / LEASE_FILE).exists()
    saved = recovery.recorded_checkpoints(str(experiment))
    assert saved, "the stopped sweep saved no unfinished trial to resume"
    # An export of the stopped sweep (no tables written): its driver is gone, so nothing is `running`.
    statuses = set(build_tables([experiment])[0].column("status").to_pylist())
    assert "running" not in statuses and "interrupted" in statuses, statuses
    command = printed_command(stderr, "interrupted by SIGTERM; resume with: ")
    assert command[-3:] == ["--resume", "--name", "x"]

    resumed = run_command(repo_root, command)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert_every_epoch_once(experiment, trials=2)
    assert len(trial_dirs(experiment)) == 2  # no trial created twice
    continued = [row for trial in trial_dirs(experiment) for row in result_rows(trial)
                 if row["iterations_since_restore"] == 1 and row["epoch"] > 1]
    assert continued, "no trial continued from its checkpoint"


def test_a_worker_killed_with_no_retries_left_is_errored_exit_1_and_resume_retries_it(repo_root, tmp_path):
    storage = tmp_path / "results"
    experiment = storage / "x"
    driver = start_sweep(repo_root, SCRIPT, *FLAGS, "--max-failures", "0", "--polite", "--storage-path", str(storage),
                         "--name", "x", logs=tmp_path / "logs")
    try:
        wait_until(lambda: first_worker_pid(experiment), driver, what="the first trial reported an epoch")
        pid = first_worker_pid(experiment)
        # --polite keeps Ray's niceness for trial workers: 15 above the driver's (at most 19).
        expected = min(19, os.getpriority(os.PRIO_PROCESS, driver.pid) + 15)
        assert os.getpriority(os.PRIO_PROCESS, pid) == expected
        with frozen(pid):
            (trial,) = [trial for trial in trial_dirs(experiment) if result_rows(trial)]
            assert len(result_rows(trial)) < EPOCHS, "the worker's trial had finished"
            os.kill(pid, signal.SIGKILL)
        assert driver.wait() == 1, driver.stdout()[-2000:] + driver.stderr()[-3000:]
    finally:
        driver.end()
    killed_id = result_rows(trial)[0]["trial_id"]
    tables = read_tables(experiment)
    rows = tables.trials.set_index("trial_id")
    assert rows.loc[killed_id, "status"] == "errored" and rows.loc[killed_id, "num_failures"] == 1
    assert "worker process has died" in rows.loc[killed_id, "error"]
    assert rows.loc[killed_id, "epochs_completed"] < EPOCHS
    assert set(rows.drop(index=killed_id)["status"]) == {"terminated"}  # the sweep went on
    command = printed_command(driver.stderr(), "; retry them with: ")
    (line,) = [line for line in driver.stderr().splitlines() if line.startswith("error: ")]
    assert line.startswith(f"error: 1 of 2 trial(s) errored ({killed_id}); the first: worker died (pid {pid})")

    retried = run_command(repo_root, command)
    assert retried.returncode == 0, retried.stdout[-2000:] + retried.stderr[-3000:]
    assert_every_epoch_once(experiment, trials=2)
    assert read_tables(experiment).trials.set_index("trial_id").loc[killed_id, "num_failures"] == 1
