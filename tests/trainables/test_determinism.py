"""trainables.determinism: a trial resumed from its checkpoint ends where an uninterrupted one ends,
bit for bit; the thread count follows the trial's CPU share."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from trainables import trainable
from trainables.data import load_dataset
from trainables.determinism import intra_op_threads, random_state, restore_random_state

FLAT = {"model": "antirectifier_mlp", "activation": "relu", "units": 32, "depth": 2, "dropout": 0.3,
        "optimizer": "rmsprop", "lr": 1e-3, "batch_size": 64, "dataset": "digits", "epochs": 4, "seed": 3,
        "validation": "holdout", "rotation": 20.0, "train_limit": 512}


def _weights(model) -> str:
    return hashlib.sha256(b"".join(np.asarray(weight).tobytes() for weight in model.get_weights())).hexdigest()


def _train(settings, data, model, start: int, stop: int, monkeypatch) -> dict:
    monkeypatch.setattr(trainable, "placement", lambda: {})  # no Ray here
    batches = trainable.make_batches(settings, data, start)
    metrics = {}
    for epoch_index in range(start, stop):
        metrics = trainable.run_epoch(model, batches, settings, epoch_index)
    return metrics


def test_a_resumed_trial_ends_bit_for_bit_where_an_uninterrupted_one_does(tmp_path: Path, monkeypatch) -> None:
    """Dropout masks (the seed generators' state) and the shuffled, augmented order (seed, epoch) included."""
    pytest.importorskip("sklearn")
    settings = trainable.parse_config(FLAT)  # (op determinism stays off in this process: see the last test)
    data = load_dataset("digits", None, seed=0, validation="holdout", train_limit=512)

    def fresh():
        trainable.release_previous_trial()
        trainable.seed_everything(settings.seed)
        return trainable.build_model(settings, data.input_shape, data.num_classes)

    whole = fresh()
    uninterrupted = _train(settings, data, whole, 0, 4, monkeypatch)
    first_half = fresh()
    _train(settings, data, first_half, 0, 2, monkeypatch)
    trainable.save_checkpoint(tmp_path, first_half, 2, settings, FLAT)
    trainable.release_previous_trial()
    trainable.seed_everything(settings.seed)  # as a restarted trial does
    restored, start = trainable.load_checkpoint(tmp_path, settings)
    assert start == 2
    resumed = _train(settings, data, restored, start, 4, monkeypatch)
    assert _weights(restored) == _weights(whole)
    assert resumed["test_accuracy"] == uninterrupted["test_accuracy"]


def test_random_state_round_trips_by_position() -> None:
    import keras

    def model():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5), keras.layers.Dense(2),
                                 keras.layers.Dropout(0.5)])

    used = model()
    used(np.ones((2, 4), "float32"), training=True)  # advances the generators' counters
    states = random_state(used)
    assert len(states) == 2 and all(state[1] > 0 for state in states)
    other = model()  # new names, new seeds
    restore_random_state(other, states)
    assert random_state(other) == states
    restore_random_state(other, None)  # a checkpoint from before the state was saved: left as is
    restore_random_state(other, states[:1])  # a mismatch: left as is (logged)
    assert random_state(other) == states


@pytest.mark.parametrize("cpus, threads", [(1.0, 1), (0.5, 1), (2.0, 2), (1.5, 2), (4.0, 4)])
def test_intra_op_threads_follow_the_cpu_share(cpus: float, threads: int) -> None:
    assert intra_op_threads(cpus) == threads


PROBE = """
import tensorflow as tf
from trainables.determinism import make_deterministic
from tensorflow.python.framework.config import is_op_determinism_enabled
make_deterministic({cpus}, ops={ops})
print(is_op_determinism_enabled(), tf.config.threading.get_intra_op_parallelism_threads())
"""


@pytest.mark.parametrize("cpus, ops, expected", [(2.0, True, "True 2"), (1.0, False, "False 1")])
def test_make_deterministic_sets_op_determinism_and_the_threads(cpus: float, ops: bool, expected: str) -> None:
    """In a process of its own: op determinism cannot be turned off again, and it turns XLA off."""
    result = subprocess.run([sys.executable, "-c", PROBE.format(cpus=cpus, ops=ops)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == expected.split()
