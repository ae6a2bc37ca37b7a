"""sweeps.engine.tune_run: what each stage's Tune experiment asks for (resources, checkpoints)."""

from __future__ import annotations

import pytest

from sweeps import aprelu_cifar
from sweeps.engine.plan import plan_for
from sweeps.engine.tune_run import checkpoint_config, make_trainable


def test_trial_requests_exactly_its_cpu_and_gpu_share(tmp_path):
    plan = plan_for(aprelu_cifar.SWEEP, ["--smoke", "--storage-path", str(tmp_path), "--gpus-per-trial", "0.25"])
    bundle = make_trainable(plan, data=None, gpus=0.25)._resources.required_resources  # what Tune asks Ray for
    assert bundle["GPU"] == pytest.approx(0.25)
    assert bundle["CPU"] == pytest.approx(1.0)


def test_the_best_checkpoint_by_the_sweeps_metric_is_kept_with_the_latest(tmp_path):
    plan = plan_for(aprelu_cifar.SWEEP, ["--smoke", "--storage-path", str(tmp_path), "--metric", "val_loss",
                                        "--mode", "min"])
    config = checkpoint_config(plan)
    assert (config.num_to_keep, config.checkpoint_score_attribute, config.checkpoint_score_order) == (1, "val_loss", "min")
