"""Hostile --data-dir files through the real command line: exit 2, one line, before Ray, nothing written."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainables.data.sources import SOURCES
from support.hostile_data import Exploit, cifar_archive


def hostile_data_dirs(root: Path) -> dict[str, tuple[str, Path, str]]:
    """case -> (sweep script and dataset, data dir, what the one line must say)."""
    cases = {}
    dotdot = root / "dotdot"
    dotdot.mkdir()
    cifar_archive(dotdot, extra={"../x": b"escaped"})
    cases["cifar10 ../x member"] = ("aprelu_cifar.py cifar10", dotdot, "member '../x'")
    objects = root / "objects"
    objects.mkdir()
    np.savez(objects / "mnist.npz", x_train=np.array([Exploit()] * 2, dtype=object), y_train=[0, 1],
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=[0])
    cases["mnist object array"] = ("selu_mnist.py mnist", objects, "allow_pickle=False")
    beans = root / "beans"
    beans.mkdir()
    SOURCES["beans"].write_sample(beans)
    (beans / "beans" / "train" / "healthy" / "payload.pkl").write_bytes(pickle.dumps(Exploit()))
    cases["beans stray file"] = ("relu_family_beans.py beans", beans, "payload.pkl is not a .jpg/.jpeg/.png")
    return cases


@pytest.mark.slow  # no Ray, but three CLI processes: about 15 s of CPU (check_dataset itself is tested fast elsewhere)
def test_hostile_data_dirs_exit_2_with_one_line_before_ray(tmp_path, repo_root):
    cases = hostile_data_dirs(tmp_path)
    storage = tmp_path / "results"
    running = {}
    for case, (script_and_dataset, data_dir, _) in cases.items():  # in parallel: each pays the imports
        script, dataset = script_and_dataset.split()
        command = [sys.executable, str(Path(repo_root) / "sweeps" / script), "--smoke", "--dataset", dataset,
                   "--data-dir", str(data_dir), "--storage-path", str(storage), "--name", case.split()[0]]
        running[case] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                         cwd=tmp_path)
    for case, process in running.items():
        stdout, stderr = process.communicate(timeout=300)
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert process.returncode == 2, (case, stdout[-1000:], stderr[-2000:])
        assert len(lines) == 1 and "Traceback" not in stderr, (case, stderr[-2000:])
        assert cases[case][2] in lines[0] and str(cases[case][1]) in lines[0], (case, lines[0])
        assert "Started a local Ray instance" not in stdout + stderr, case
    assert not storage.exists() or not any(storage.iterdir())
    assert not (tmp_path / "x").exists() and not (tmp_path / "pwned").exists()
