"""What a trial requests: the GPU-share rule shared by the runner and the dry run."""

from __future__ import annotations

import pytest

from sweeps import aprelu_cifar
from sweeps.engine.plan import plan_for
from sweeps.engine.resources import gpu_share
from sweeps.engine.tune_run import make_trainable


def test_trial_requests_exactly_its_gpu_share(tmp_path):
    plan = plan_for(aprelu_cifar.SWEEP, ["--smoke", "--storage-path", str(tmp_path), "--gpus-per-trial", "0.25"])
    trainable = make_trainable(plan, data=None, gpus=0.25)
    bundle = trainable._resources.required_resources  # what Tune will ask Ray for
    assert bundle["GPU"] == pytest.approx(0.25)
    assert bundle["CPU"] == pytest.approx(1.0)


def test_the_users_share_wins_else_the_sweeps_default_only_where_there_are_gpus():
    assert gpu_share(0.25, 0.5, cluster_gpus=0) == 0.25  # asked for: requested even without GPUs (Ray waits)
    assert gpu_share(None, 0.5, cluster_gpus=8) == 0.5
    assert gpu_share(None, 0.5, cluster_gpus=0) == 0.0
    assert gpu_share(0.0, 0.5, cluster_gpus=8) == 0.0
