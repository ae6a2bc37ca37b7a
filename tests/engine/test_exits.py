"""Exit codes a script can trust, through real sweeps: 1 when a trial errored, 130 on
Ctrl-C (with the command that resumes, and no summary or tables as if finished), 2 for a
data error found after Ray started (Ray shut down, no experiment directory left) or a
`--resume` of a directory Tune never wrote an experiment into."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def script(repo_root: str, name: str) -> str:
    return str(Path(repo_root) / "sweeps" / name)


def test_every_trial_errored_exits_1_with_one_line(tmp_path, capsys, monkeypatch):
    """The runner's own code path with a trainable that always raises (the checks before Ray
    leave no user input that makes every trial fail, so the fault is injected)."""
    from ray import tune

    import sweeps.engine.runner

    import sweeps.engine.tune_run
    from sweeps import antirectifier_mnist

    def failing_trainable(plan, data, gpus):
        def train(config):
            raise ValueError("the model cannot take this data")

        return tune.with_resources(train, {"cpu": 1})

    monkeypatch.setattr(sweeps.engine.tune_run, "make_trainable", failing_trainable)
    code = sweeps.engine.runner.main(antirectifier_mnist.SWEEP, [
        "--smoke", "--max-failures", "0", "--storage-path", str(tmp_path), "--name", "broken", "--verbose", "0"])
    captured = capsys.readouterr()
    ours = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert code == 1, captured.out[-2000:] + captured.err[-3000:]
    assert len(ours) == 1 and ours[0].startswith("error: every trial errored (4: "), ours
    assert "; the first: ValueError: the model cannot take this data; retry them with: python " in ours[0], ours
    assert ours[0].endswith(" --resume --name broken"), ours
    assert "4 trial(s), 4 errored" in captured.out


def _rows(experiment: Path) -> int:
    return sum(len(path.read_text().splitlines()) for path in experiment.glob("*/result.json"))


def test_ctrl_c_exits_130_with_the_resume_command_and_no_summary(repo_root, tmp_path):
    name = "interrupted"
    args = ["--smoke", "--scheduler", "fifo", "--max-concurrent", "1", "--storage-path", str(tmp_path),
            "--name", name, "--verbose", "0"]
    driver = subprocess.Popen([sys.executable, script(repo_root, "antirectifier_mnist.py"), *args],
                              start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    experiment = tmp_path / name
    deadline = time.monotonic() + 300
    while _rows(experiment) < 1:  # a trial has reported: the sweep is under way
        assert driver.poll() is None and time.monotonic() < deadline, "the sweep ended before Ctrl-C"
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGINT)  # what a terminal sends to its foreground process group
    stdout, stderr = driver.communicate(timeout=180)
    assert driver.returncode == 130, stdout[-2000:] + stderr[-3000:]
    assert "best trial" not in stdout and "errored" not in stdout and "tables:" not in stdout, stdout[-2000:]
    assert not (experiment / "trials.parquet").exists()
    hint = [line for line in stderr.splitlines() if line.startswith("interrupted by SIGINT; resume with: ")]
    assert len(hint) == 1, stderr[-3000:]
    command = shlex.split(hint[0].split("resume with: ", 1)[1])
    assert command[-3:] == ["--resume", "--name", name] and "--smoke" in command
    # The printed command, run as printed, finishes the sweep: tests/engine/test_faults.py (SIGTERM,
    # the same stop path), where every (trial, epoch) is checked to be there once.


def test_data_error_after_ray_starts_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    import ray

    import sweeps.engine.preflight
    import sweeps.engine.runner
    import sweeps.engine.tune_run
    from sweeps import aprelu_cifar
    from support.hostile_data import hostile_cifar_archive

    monkeypatch.setattr(sweeps.engine.preflight, "check_data", lambda dataset, data_dir: None)  # as if it missed it
    data = tmp_path / "data"
    data.mkdir()
    hostile_cifar_archive(data)
    storage = tmp_path / "results"
    code = sweeps.engine.runner.main(aprelu_cifar.SWEEP, ["--data-dir", str(data), "--storage-path", str(storage),
                                                   "--name", "x", "--cpus-per-trial", "1"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert code == 2 and len(err) == 1 and "cifar-10-python.tar.gz" in err[0], err
    assert not ray.is_initialized(), "Ray was left running"
    assert not (storage / "x").exists()


def test_resume_of_a_directory_tune_never_wrote_is_one_line_exit_2(tmp_path, capsys):
    """Found only when restoring, after Ray started: Tune's own error was a traceback."""
    import ray

    import sweeps.engine.runner

    import sweeps.engine.tune_run
    from sweeps import antirectifier_mnist

    stopped = tmp_path / "x"
    (stopped / "driver_artifacts").mkdir(parents=True)  # a run killed before Tune saved its state
    code = sweeps.engine.runner.main(antirectifier_mnist.SWEEP, [
        "--smoke", "--dataset", "synthetic-mnist", "--storage-path", str(tmp_path), "--name", "x", "--resume",
        "--cpus-per-trial", "1", "--verbose", "0"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert code == 2 and err == [f"error: cannot resume 'x': {stopped} holds no Tune experiment (stopped before "
                                 "Tune saved one); delete it to start that sweep again"], err
    assert not ray.is_initialized(), "Ray was left running"
    assert (stopped / "driver_artifacts").is_dir()  # nothing of the user's removed


@pytest.mark.slow  # starts a local Ray instance
def test_a_gpu_share_on_a_machine_without_gpus_is_one_line_exit_2(repo_root, tmp_path):
    """Found after Ray starts (the cluster's resources): trials would wait for a GPU forever."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "") not in ("", "-1") or Path("/dev/nvidia0").exists():
        pytest.skip("this machine has a GPU")
    completed = subprocess.run([sys.executable, script(repo_root, "antirectifier_mnist.py"), "--smoke",
                                "--gpus-per-trial", "0.5", "--storage-path", str(tmp_path), "--name", "g"],
                               capture_output=True, text=True, timeout=300)
    assert completed.returncode == 2, completed.stdout[-2000:] + completed.stderr[-2000:]
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error: ")]  # Ray logs its start
    assert errors == [completed.stderr.splitlines()[-1]] and "Traceback" not in completed.stderr, completed.stderr
    assert errors[0].startswith("error: --gpus-per-trial 0.5: this machine has no GPU Ray can see")
    assert not any(tmp_path.iterdir()), "nothing may be written"
