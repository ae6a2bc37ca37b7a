"""benchmarks/object_storage.py, without its sweeps: the command it times is a valid sweep command,
its upload timing copies checkpoints where it says, and its summary is the ratio of the medians."""

from __future__ import annotations

import sys

import pytest

from support import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import object_storage  # noqa: E402


def test_the_timed_command_is_a_valid_sweep_command(tmp_path):
    from sweeps.antirectifier_mnist import SWEEP
    from sweeps.engine.plan import plan_for

    command = object_storage.sweep_command("s3://bucket/bench", "s3-0", 6)
    assert command[1] == str(REPO_ROOT / "sweeps" / "antirectifier_mnist.py")
    plan = plan_for(SWEEP, command[2:])
    assert (plan.scheduler, plan.max_epochs, plan.experiment_dir) == ("fifo", 6, "s3://bucket/bench/s3-0")


def test_upload_seconds_copies_every_kept_checkpoint(tmp_path):
    pytest.importorskip("moto.server", reason="needs moto's server: pip install 'moto[server]'")
    from support.s3 import s3_server

    for trial, index in (("train_a", 1), ("train_a", 2), ("train_b", 2)):
        checkpoint = tmp_path / "exp" / trial / f"checkpoint_{index:06d}"
        checkpoint.mkdir(parents=True)
        (checkpoint / "model.keras").write_bytes(b"x" * 1000)
    with s3_server() as s3:
        seconds = object_storage.upload_seconds(tmp_path / "exp", s3.uri("uploads"))
        assert len(seconds) == 3 and all(value > 0 for value in seconds)
        assert s3.keys("uploads/") == [f"uploads/{index}/model.keras" for index in range(3)]


def test_the_summary_is_the_ratio_of_median_wall_times():
    result = object_storage.summary([10.0, 12.0, 30.0], [15.0, 18.0, 16.0], uploads=[0.1, 0.3],
                                    local_epochs=[0.2, 0.2, 0.4], s3_epochs=[0.5, 0.5], trials=4, max_epochs=6,
                                    checkpoint_bytes=1000)
    assert result["ratio"] == pytest.approx(16.0 / 12.0)
    assert result["checkpoint_upload_seconds_per_trial"] == pytest.approx({"copied": 1.2, "added_to_epochs": 1.8})
