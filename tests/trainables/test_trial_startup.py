"""Trial start-up savings keep results identical: a trial run in a reused Ray actor (the
runner's `reuse_actors=True`) reports the same per-epoch metrics as the same config in a
fresh actor."""

from __future__ import annotations
from support import REPO_ROOT

import os

import pytest

from trainables.models.registry import tiny_arguments

METRICS_COMPARED = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")


def tiny_digits_config() -> dict:
    shape = {key: value for key, value in tiny_arguments("deep_mlp").items() if key not in ("input_shape", "num_classes")}
    return {
        "model": "deep_mlp", **shape, "activation": "selu", "dataset": "digits",
        "epochs": 2, "seed": 3, "batch_size": 32, "train_limit": 200, "val_limit": 100, "lr": 0.05,
    }


@pytest.mark.slow
def test_reused_actor_gives_the_same_metrics_as_a_fresh_one(tmp_path):
    import ray
    from ray import tune

    from trainables.trainable import train

    pids = tmp_path / "pids"
    pids.mkdir()

    def traced_train(config, data=None):  # a closure: Ray pickles it by value
        trial_id = tune.get_context().get_trial_id()
        (pids / trial_id).write_text(str(os.getpid()))
        train(config, data)

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}})
    try:
        results = tune.Tuner(
            tune.with_resources(traced_train, {"cpu": 1}),
            param_space=tiny_digits_config(),
            tune_config=tune.TuneConfig(num_samples=2, reuse_actors=True, max_concurrent_trials=1),
            run_config=tune.RunConfig(storage_path=str(tmp_path / "results"), name="reuse", verbose=0),
        ).fit()
    finally:
        ray.shutdown()
    assert results.num_errors == 0
    assert len({path.read_text() for path in pids.iterdir()}) == 1, "the second trial did not reuse the actor"
    first, second = (result.metrics_dataframe.sort_values("epoch") for result in results)
    assert list(first["epoch"]) == list(second["epoch"]) == [1, 2]
    for metric in METRICS_COMPARED + tuple(column for column in ("test_loss", "test_accuracy") if column in first):
        assert first[metric].to_numpy() == pytest.approx(second[metric].to_numpy(), rel=1e-5, abs=1e-6), metric


def test_startup_benchmark_splits_fixed_cost_per_trial():
    """benchmarks/trial_startup.py's accounting, on rows as its trials report them (the sweep
    itself is measured by hand: two ASHA sweeps take minutes)."""
    import sys

    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    from trial_startup import startup_seconds

    def first(trial, actor_start, seconds):
        return {"trial": trial, "epoch": 1, "epoch_seconds": seconds, "startup_actor_start": actor_start,
                "startup_imports": 4.0 if actor_start else 0.0, "startup_data": 0.01, "startup_setup": 1.0}

    rows = [first("a", 5.0, 6.0), {"trial": "a", "epoch": 2, "epoch_seconds": 1.0},
            {"trial": "a", "epoch": 3, "epoch_seconds": 2.0}, first("b", 0.0, 3.0)]  # b: a reused process
    summary = startup_seconds(rows)
    assert summary["trials"] == 2 and summary["trial_epochs"] == 4
    assert summary["fixed_seconds"] == {"actor_start": 2.5, "imports": 2.0, "data": 0.01, "setup": 1.0,
                                        "tracing": 4.5}  # 6 s first epoch - median(1, 2) later


def test_releasing_a_trial_freezes_the_long_lived_objects_once_and_still_frees_a_trials_cycles():
    """`gc.freeze` keeps clear_session's collection off the imported modules' objects; a trial's
    own garbage (Keras layers and models hold reference cycles) must still be collected."""
    import gc
    import weakref

    from trainables.trainable import release_previous_trial

    release_previous_trial()
    frozen = gc.get_freeze_count()
    assert frozen > 0

    class Node:
        pass

    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle: only the collector frees it
    alive = weakref.ref(first)
    del first, second
    release_previous_trial()
    assert alive() is None
    assert gc.get_freeze_count() == frozen  # frozen once per process, not per trial


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_a_trials_model_traces_its_train_step_once(policy):
    """The optimizer is built with the model: its slots, made inside the first traced step,
    made TensorFlow trace that step twice (about 0.3 s of every trial's first epoch). Under
    mixed precision compile wraps it for loss scaling; the wrapper is what gets built."""
    import keras
    import numpy as np

    from trainables.trainable import build_model, parse_config

    keras.mixed_precision.set_global_policy(policy)
    try:
        model = build_model(parse_config(tiny_digits_config()), (8, 8, 1), 10)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.optimizer.built
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    traces = []
    step = model.train_step

    def counted(data):
        traces.append(1)  # runs once per trace (and per step where the backend runs eagerly)
        return step(data)

    model.train_step = counted
    x, y = np.zeros((64, 8, 8, 1), "float32"), np.zeros(64, "int32")
    model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert len(traces) == 1
