"""The command line resolved into a Plan: records, --set grids, and bad input as one line."""

from __future__ import annotations

import pytest

from sweeps import aprelu_cifar, selu_mnist
from sweeps.engine.errors import UsageError
from sweeps.engine.plan import plan_for
from sweeps.engine.space.checks import sample_config


def test_record_plan_is_exact_and_scales_decay(tmp_path):
    plan = plan_for(aprelu_cifar.SWEEP, ["--record", "16", "--max-epochs", "50", "--storage-path", str(tmp_path),
                                                   "--dataset", "synthetic-cifar10"])
    config = sample_config(plan.param_space)
    assert plan.num_samples == 1
    assert config["stages"] == "1x32,1x32/2,1x64/2" and config["stem_channels"] == 16
    assert config["reduction"] == 16 and config["bn_momentum"] == 0.9 and config["gamma_l2"] == 1e-4
    assert config["shear"] == 30.0 and config["zoom"] == 0.2
    assert config["lr_decay_every"] == 15  # 1500 of 5000 -> 30% of 50
    assert config["validation"] == "test"  # a reproduction keeps the seeds' protocol
    default = plan_for(aprelu_cifar.SWEEP, ["--record", "1", "--storage-path", str(tmp_path),
                                                     "--dataset", "synthetic-cifar10"])
    assert default.max_epochs == 1000 and sample_config(default.param_space)["lr_decay_every"] == 400


def test_set_overrides_and_grids(tmp_path):
    plan = plan_for(
        selu_mnist.SWEEP, ["--smoke", "--storage-path", str(tmp_path), "--set", "lr=0.5", "--set",
                           'activation=["relu","selu"]', "--repeats", "3", "--seed", "10"])
    assert plan.param_space["lr"] == 0.5
    assert plan.param_space["activation"] == {"grid_search": ["relu", "selu"]}
    assert plan.param_space["seed"] == {"grid_search": [10, 11, 12]}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--num-samples", "0"], "positive integer"),
        (["--gpus-per-trial", "1.5"], "share of one GPU"),
        (["--record", "7"], "not a record of aprelu_cifar (available: 1, 16)"),
        (["--set", "unitz=3"], "unknown config key"),
        (["--set", "activation=swishy"], "unknown activation"),
        (["--dataset", "imagenet"], "unknown dataset"),
        (["--resume"], "--resume needs --name"),
        (["--grace-period", "50", "--max-epochs", "5"], "grace-period"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    with pytest.raises((UsageError, SystemExit)) as caught:
        plan_for(aprelu_cifar.SWEEP, ["--storage-path", str(tmp_path), "--dataset", "synthetic-cifar10", *argv])
    if isinstance(caught.value, SystemExit):
        assert caught.value.code == 2 and message in capsys.readouterr().err
    else:
        assert message in str(caught.value)
