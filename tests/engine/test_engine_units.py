"""Fast unit tests of the sweep engine's pure parts: config, schedule, GPU setup, CLI plan."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sweeps import aprelu_cifar, selu_mnist
from sweeps.engine.cli import UsageError
from sweeps.engine.plan import plan_from_args
from sweeps.engine.runner import make_trainable
from sweeps.engine.space_checks import sample_config
from trainables.config import TrainConfig
from trainables.devices import configure_gpus
from trainables.schedules import scaled_decay_every, step_decay


def test_step_decay_matches_the_seed_scheduler():
    # Seed: x0.1 when epoch % 400 == 0 and epoch != 0 (0-based epochs).
    assert step_decay(0, 0.1, 0.1, 400) == pytest.approx(0.1)
    assert step_decay(399, 0.1, 0.1, 400) == pytest.approx(0.1)
    assert step_decay(400, 0.1, 0.1, 400) == pytest.approx(0.01)
    assert step_decay(800, 0.1, 0.1, 400) == pytest.approx(0.001)
    assert step_decay(10_000, 0.1, 0.1, 0) == pytest.approx(0.1)


def test_decay_epoch_scales_with_budget():
    assert scaled_decay_every(400, 1000, 1000) == 400
    assert scaled_decay_every(400, 1000, 20) == 8
    assert scaled_decay_every(1500, 5000, 20) == 6
    assert scaled_decay_every(1500, 5000, 1) == 1


def test_config_splits_builder_args_and_rejects_unknown_keys():
    flat = {"model": "m", "activation": "relu", "dataset": "digits", "epochs": 2, "units": 8}
    config = TrainConfig.from_flat(flat, {"units", "dropout"})
    assert config.model_args == {"units": 8}
    with pytest.raises(ValueError, match="unknown config key.*'unitz'"):
        TrainConfig.from_flat({**flat, "unitz": 3}, {"units"})
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig.from_flat({**flat, "optimizer": "lbfgs"}, {"units"})


class _FakeExperimental:
    def __init__(self):
        self.growth = {}

    def set_memory_growth(self, device, enabled):
        self.growth[device] = enabled


class _FakeTfConfig:
    """Stands in for tf.config: two GPUs visible (as Ray's CUDA_VISIBLE_DEVICES left them)."""

    def __init__(self, gpus):
        self.gpus = gpus
        self.experimental = _FakeExperimental()

    def list_physical_devices(self, kind):
        return list(self.gpus) if kind == "GPU" else []


def test_memory_growth_is_enabled_on_every_visible_gpu():
    fake = _FakeTfConfig(["GPU:0", "GPU:1"])
    assert configure_gpus(fake) == ["GPU:0", "GPU:1"]
    assert fake.experimental.growth == {"GPU:0": True, "GPU:1": True}
    assert configure_gpus(_FakeTfConfig([])) == []


def test_trial_requests_exactly_its_gpu_share(tmp_path):
    plan = plan_from_args(aprelu_cifar.SWEEP, ["--smoke", "--storage-path", str(tmp_path), "--gpus-per-trial", "0.25"])
    trainable = make_trainable(plan, data=None, gpus=0.25)
    bundle = trainable._resources.required_resources  # what Tune will ask Ray for
    assert bundle["GPU"] == pytest.approx(0.25)
    assert bundle["CPU"] == pytest.approx(1.0)


def test_record_plan_is_exact_and_scales_decay(tmp_path):
    plan = plan_from_args(aprelu_cifar.SWEEP, ["--record", "16", "--max-epochs", "50", "--storage-path", str(tmp_path),
                                                   "--dataset", "synthetic-cifar10"])
    config = sample_config(plan.param_space)
    assert plan.num_samples == 1
    assert config["stages"] == "1x32,1x32/2,1x64/2" and config["stem_channels"] == 16
    assert config["reduction"] == 16 and config["bn_momentum"] == 0.9 and config["gamma_l2"] == 1e-4
    assert config["shear"] == 30.0 and config["zoom"] == 0.2
    assert config["lr_decay_every"] == 15  # 1500 of 5000 -> 30% of 50
    assert config["validation"] == "test"  # a reproduction keeps the seeds' protocol
    default = plan_from_args(aprelu_cifar.SWEEP, ["--record", "1", "--storage-path", str(tmp_path),
                                                     "--dataset", "synthetic-cifar10"])
    assert default.max_epochs == 1000 and sample_config(default.param_space)["lr_decay_every"] == 400


def test_set_overrides_and_grids(tmp_path):
    plan = plan_from_args(
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
        plan_from_args(aprelu_cifar.SWEEP, ["--storage-path", str(tmp_path), "--dataset", "synthetic-cifar10", *argv])
    if isinstance(caught.value, SystemExit):
        assert caught.value.code == 2 and message in capsys.readouterr().err
    else:
        assert message in str(caught.value)


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
    from sweeps.engine.plan import parse_args

    with pytest.raises(SystemExit):
        parse_args(sweep, ["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert sweep.gpus_per_trial == float(share) and f"(default: {share} when the cluster has GPUs, else 0)" in text
