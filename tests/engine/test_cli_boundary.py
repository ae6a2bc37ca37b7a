"""The input boundary (issue 11): every mistake is one line and exit code 2, before Ray starts.

Most cases call the scripts' own entry point, `sweeps.engine.runner.main(SWEEP, argv)`, in this
process (the same code a shell runs, without paying a Keras import per case); the cases
that are about the process itself (--help time, imports, tracebacks) run the script.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sweeps import aprelu_cifar, relu_family_beans, selu_mnist
from sweeps.engine.errors import UsageError
from sweeps.engine.plan import plan_for
from sweeps.engine.runner import main
from support.hostile_data import hostile_cifar_archive


def run_main(sweep, argv, tmp_path, capsys) -> tuple[int, str]:
    """Exit code and stderr of one command line; nothing may be left under the storage path."""
    storage = tmp_path / "results"
    code = main(sweep, ["--storage-path", str(storage), *argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 2 or (len(lines) == 1 and lines[0].startswith("error: ")), err
    assert not storage.exists() or not any(storage.iterdir()), list(storage.iterdir())
    return code, err


@pytest.mark.parametrize("argv, message", [
    (["--set", "lr=abc"], "--set lr=abc: expected a finite number"),
    (["--set", "lr=nan"], "expected a finite number"),
    (["--set", "nesterov=no"], "--set nesterov=no: expected true/false/1/0"),
    (["--set", "epochs=50"], "use --max-epochs"),
    (["--set", "seed=7"], "use --seed"),
    (["--set", "dataset=mnist"], "use --dataset"),
    (["--set", "repeat=2"], "use --repeats"),
    (["--set", "data_dir=/tmp"], "use --data-dir"),
    (["--set", "gpus_per_trial=1"], "use --gpus-per-trial"),
    (["--metric", "best_val_acc"], "--metric 'best_val_acc' is not reported"),
    (["--metric", "test_accuracy"], "test metrics are never used for decisions"),
    (["--max-epoch", "20"], "unrecognized arguments: --max-epoch"),  # no abbreviations
    (["--smoke", "--set", "lr=[0.1, -1]"], "lr=-1.0 is invalid"),  # every grid value, not the first
    (["--smoke", "--set", "reduction=[4, 0]"], "reduction=0 is invalid"),
    (["--smoke", "--set", "weight_decay=-1"], "weight_decay=-1.0 is invalid"),
    (["--smoke", "--set", "image_size=[32, 64]"], "one value for the whole sweep"),
    (["--name", "../elsewhere"], "plain name"),
    (["--name", "a/b"], "plain name"),
    (["--record", "3"], "not a record of aprelu_cifar (available: 1, 16)"),
    (["--repeats", "2", "--seed", str(2**32 - 1)], "below 2**32"),
    (["--cpus-per-trial", "inf"], "positive number"),
    (["--reduction-factor", "1"], "above 1"),
    (["--validation", "test", "--validation-split", "per-seed"], "the validation split is the test split"),
    (["--record", "1", "--validation-split", "per-seed"], "the validation split is the test split"),
    (["--dataset", "beans", "--validation-split", "per-seed"], "beans ships its own validation split"),
    (["--validation-split", "random"], "argument --validation-split: invalid choice"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(argv, message, tmp_path, capsys):
    code, err = run_main(aprelu_cifar.SWEEP, argv, tmp_path, capsys)
    assert code == 2 and message in err, err


def test_record_on_a_sweep_without_records_is_one_line(tmp_path, capsys):
    code, err = run_main(selu_mnist.SWEEP, ["--record", "1"], tmp_path, capsys)
    assert code == 2 and "selu_mnist has no published tuning records" in err


def test_set_values_are_typed_by_their_key(tmp_path):
    plan = plan_for(selu_mnist.SWEEP, [
        "--smoke", "--storage-path", str(tmp_path), "--set", "mixed_precision=False", "--set", "batch_norm=1",
        "--set", "lr=1e-2", "--set", "batch_size=64", "--set", "train_limit=null", "--set", "kernel_initializer=lecun_normal",
    ])
    space = plan.param_space
    assert space["mixed_precision"] is False and space["batch_norm"] is True
    assert space["lr"] == 0.01 and isinstance(space["batch_size"], int) and space["train_limit"] is None
    assert space["kernel_initializer"] == "lecun_normal"
    with pytest.raises(UsageError, match="expected an integer"):
        plan_for(selu_mnist.SWEEP, ["--smoke", "--storage-path", str(tmp_path), "--set", "batch_size=1.5"])


def test_explicit_max_epochs_wins_over_the_record_budget(tmp_path):
    plan = plan_for(aprelu_cifar.SWEEP, ["--record", "1", "--max-epochs", "20", "--storage-path", str(tmp_path)])
    assert plan.max_epochs == 20 and plan.param_space["epochs"] == 20


def test_resume_of_a_sweep_that_never_ran_checks_no_data(tmp_path, capsys, monkeypatch):
    import sweeps.engine.preflight

    def must_not_run(*args, **kwargs):
        raise AssertionError("the data was checked (a download) before the resume check")

    monkeypatch.setattr(sweeps.engine.preflight, "check_data", must_not_run)
    code, err = run_main(aprelu_cifar.SWEEP, ["--resume", "--name", "never-ran"], tmp_path, capsys)
    assert code == 2 and "nothing to resume: no experiment 'never-ran'" in err


def test_hostile_archive_is_refused_before_ray_starts(tmp_path, capsys, monkeypatch):
    import sweeps.engine.runner
    import sweeps.engine.steps

    def no_ray(plan):
        raise AssertionError("Ray started before the data was checked")

    monkeypatch.setattr(sweeps.engine.steps, "start_ray", no_ray)
    data = tmp_path / "data"
    data.mkdir()
    hostile_cifar_archive(data)
    code, err = run_main(aprelu_cifar.SWEEP, ["--data-dir", str(data)], tmp_path, capsys)
    assert code == 2 and "cifar-10-python.tar.gz" in err
    assert not (tmp_path / "x").exists()


def _mount_tmpfs(path: Path, options: str) -> bool:
    path.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    return result.returncode == 0


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory this process cannot write: chmod for a user, a read-only tmpfs for root."""
    path = tmp_path / "read-only"
    if os.geteuid() != 0:
        path.mkdir()
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    if not _mount_tmpfs(path, "ro,size=1m"):
        pytest.skip("root without permission to mount a read-only tmpfs")
    yield path
    subprocess.run(["umount", str(path)], check=False)


@pytest.fixture
def full_dir(tmp_path):
    path = tmp_path / "full"
    if not _mount_tmpfs(path, "size=1m"):
        pytest.skip("cannot mount a small tmpfs here")
    yield path
    subprocess.run(["umount", str(path)], check=False)


def test_read_only_storage_path_is_one_line(read_only_dir, capsys):
    code = main(aprelu_cifar.SWEEP, ["--smoke", "--storage-path", str(read_only_dir / "results")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "is not writable" in err, err


def test_full_storage_path_is_one_line(full_dir, capsys):
    code = main(aprelu_cifar.SWEEP, ["--smoke", "--storage-path", str(full_dir)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "KiB free" in err, err
    assert not any(full_dir.iterdir())


def _script(repo_root: str, name: str) -> str:
    return str(Path(repo_root) / "sweeps" / name)


def test_help_imports_no_tensorflow_keras_or_tune(repo_root):
    """What made --help slow (~7 s) was importing Keras first; 0.3 s without it, measured by hand."""
    probe = (
        "import runpy, sys; sys.argv = [sys.argv[1], '--help']\n"
        "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
        "print('IMPORTED', 'tensorflow' in sys.modules, 'keras' in sys.modules, 'ray.tune' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, _script(repo_root, "aprelu_cifar.py")],
                            capture_output=True, text=True, timeout=60, cwd=repo_root)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--max-epochs" in result.stdout and result.stdout.strip().endswith("IMPORTED False False False")


def test_real_command_line_errors_have_no_traceback(repo_root, tmp_path):
    """Through the shell: the record KeyError and the lr TypeError of issue 11 are one line now."""
    cases = [(relu_family_beans, ["--record", "1"], "has no published tuning records"),
             (aprelu_cifar, ["--smoke", "--set", "lr=abc"], "expected a finite number")]
    for module, argv, message in cases:
        result = subprocess.run([sys.executable, _script(repo_root, f"{module.SWEEP.family}.py"),
                                 "--storage-path", str(tmp_path / "results"), *argv],
                                capture_output=True, text=True, timeout=180)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1 and message in lines[0], result.stderr[-2000:]
        assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


def test_storage_failure_during_the_run_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    import sweeps.engine.runner

    import sweeps.engine.steps

    def disk_full_midway(plan):
        state = os.path.join(plan.experiment_dir, "experiment_state.json")
        raise OSError(errno.ENOSPC, "No space left on device", state)

    monkeypatch.setattr(sweeps.engine.steps, "run", disk_full_midway)
    code, err = run_main(aprelu_cifar.SWEEP, ["--smoke", "--name", "x"], tmp_path, capsys)
    assert code == 2 and "No space left on device" in err and "experiment_state.json" in err, err


def test_other_os_errors_are_not_disguised_as_usage_errors(tmp_path, monkeypatch):
    import sweeps.engine.runner
    import sweeps.engine.steps

    def broken(plan):
        raise ConnectionResetError("a bug, not the user's storage")

    monkeypatch.setattr(sweeps.engine.steps, "run", broken)
    with pytest.raises(ConnectionResetError):
        main(aprelu_cifar.SWEEP, ["--smoke", "--storage-path", str(tmp_path)])
