"""The shared command line through the real scripts: --help and errors as one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweeps import aprelu_cifar, selu_mnist


def _run_script(args, **kwargs):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=180, **kwargs)


@pytest.mark.slow  # seven processes, each importing Keras
def test_cli_errors_exit_2_without_traceback(tmp_path, repo_root):
    script = str(Path(repo_root) / "sweeps" / "aprelu_cifar.py")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        ["--num-samples", "-3"],
        ["--gpus-per-trial", "2"],
        ["--record", "99"],
        ["--data-dir", str(empty)],
        ["--resume", "--name", "never-ran", "--smoke"],
        ["--smoke", "--set", "optimizer=lbfgs"],
        ["--address", "127.0.0.1:1", "--smoke"],
    ]
    for argv in cases:
        result = _run_script([script, "--storage-path", str(tmp_path / "results"), *argv])
        assert result.returncode == 2, (argv, result.stderr[-2000:])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in result.stderr, (argv, result.stderr[-2000:])
        assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir()), argv


def test_help_documents_every_flag(repo_root):
    result = _run_script([str(Path(repo_root) / "sweeps" / "selu_mnist.py"), "--help"])
    assert result.returncode == 0
    for flag in ("--num-samples", "--max-epochs", "--scheduler", "--grace-period", "--reduction-factor",
                 "--metric", "--mode", "--cpus-per-trial", "--gpus-per-trial", "--max-concurrent",
                 "--storage-path", "--name", "--resume", "--max-failures", "--address", "--dashboard",
                 "--data-dir", "--dataset", "--seed", "--repeats", "--record", "--smoke", "--set"):
        assert flag in result.stdout, flag


@pytest.mark.parametrize(("sweep", "share"), [(aprelu_cifar.SWEEP, "0.5"), (selu_mnist.SWEEP, "0.25")])
def test_help_states_the_sweeps_own_gpu_share(sweep, share, capsys):
    from sweeps.engine.cli import parse_args

    with pytest.raises(SystemExit):
        parse_args(sweep, ["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert sweep.gpus_per_trial == float(share) and f"(default: {share} when the cluster has GPUs, else 0)" in text
