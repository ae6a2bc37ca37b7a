"""sweeps.engine.tune_run: what each stage's Tune experiment asks for (resources, checkpoints, actor reuse)."""

from __future__ import annotations

import pytest
from ray import tune

import sweeps.engine.tune_run as tune_run
from sweeps import aprelu_cifar, selu_mnist
from sweeps.engine.plan import plan_for
from sweeps.engine.stages import first_stage
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


@pytest.mark.parametrize(("argv", "reused"), [([], True), (["--dashboard"], False), (["--scheduler", "fifo"], True)])
def test_trials_reuse_actors_budget_fair_asha_included_but_not_under_the_dashboard(argv, reused, tmp_path, monkeypatch):
    """Budget-fair ASHA (the default here: selu_mnist's arms vary) pauses trials at rungs; they resume on
    reused actors, deciding as on fresh ones (tests/engine/test_sweeps.py, test_fair_asha.py)."""
    asked = {}
    real = tune.TuneConfig

    def recording(**settings):
        asked.update(settings)
        return real(**settings)

    monkeypatch.setattr(tune_run.tune, "TuneConfig", recording)
    plan = plan_for(selu_mnist.SWEEP, ["--smoke", "--storage-path", str(tmp_path), "--name", "x", *argv])
    assert bool(plan.stratify) == ("fifo" not in argv)
    tune_run.make_tuner(first_stage(plan), make_trainable(plan, data=None, gpus=0.0))
    assert asked["reuse_actors"] is reused


def test_a_resume_leaves_out_the_keys_its_experiment_began_without(tmp_path):
    """A key a later version adds with a default (validation_split) is left out of the restored
    param_space: Tune refuses other keys, and the remaining trials keep the experiment's behaviour
    (tests/engine/test_compat.py resumes a real one)."""
    from support.fake_experiment import FakeTrial, write_fake_experiment

    experiment = write_fake_experiment(tmp_path, "began", [FakeTrial("relu", 0, [0.5, 0.6])])
    built = {"activation": "relu", "lr": 0.01, "validation": "holdout", "validation_split": "per_seed", "seed": 0}
    resumed = tune_run.as_started(built, str(experiment))
    assert "validation_split" not in resumed and resumed["lr"] == 0.01 and resumed["activation"] == "relu"
    empty = tmp_path / "killed-before-any-trial"
    empty.mkdir()
    assert tune_run.as_started(built, str(empty)) == built
