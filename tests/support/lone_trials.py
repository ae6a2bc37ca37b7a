"""Lone trials as `trainables.trainable.train` runs them, without Ray, on generated data: what a pack's
members are compared with (tests/trainables/test_pack.py, test_pack_trial.py)."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from trainables import trainable
from trainables.data import ArrayDataset

# Every METRICS value a member's row shares with its lone trial's (not the timings or the placement).
COMPARED = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy", "lr", "diverged",
            "stop_reason")
EPOCHS = 2


def _arrays(shape: tuple, classes: int, count: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.random((count, *shape), dtype=np.float32), rng.integers(0, classes, count).astype(np.int32)


def _data(name: str, shape: tuple, classes: int) -> ArrayDataset:
    """Generated arrays the trainable takes as the driver's (`trial_data` keeps them): no download."""
    x_train, y_train = _arrays(shape, classes, 60, 0)
    x_val, y_val = _arrays(shape, classes, 20, 1)
    x_test, y_test = _arrays(shape, classes, 20, 2)
    return ArrayDataset(name, x_train, y_train, x_val, y_val, classes, x_test, y_test, validation="holdout",
                        validation_fraction=0.1)


FAMILIES = {
    # dropout (the seed generators' draws) and tf.data augmentation (the (seed, epoch) draws) included
    "antirectifier_mlp": ({"model": "antirectifier_mlp", "activation": "antirectifier", "units": 8, "depth": 2,
                           "dropout": 0.2, "optimizer": "rmsprop", "lr": 1e-3, "dataset": "synthetic-mnist",
                           "rotation": 20.0}, ((12, 12, 1), 4)),
    "aprelu_resnet": ({"model": "aprelu_resnet", "activation": "aprelu", "stem_channels": 4, "stages": "1x4,1x8/2",
                       "reduction": 4, "lr": 0.05, "dataset": "synthetic-cifar10", "horizontal_flip": True,
                       "width_shift": 0.125}, ((8, 8, 3), 4)),
    "selu_mlp": ({"model": "deep_mlp", "activation": "selu", "depth": 2, "width": 8, "first_width": 12,
                  "dropout": 0.1, "lr": 0.01, "dataset": "synthetic-mnist"}, ((6, 6, 1), 4)),
}


def config(family: str, seed: int, **changes) -> dict:
    base, _ = FAMILIES[family]
    return {**base, "epochs": EPOCHS, "batch_size": 16, "seed": seed, **changes}


def family_data(family: str) -> ArrayDataset:
    base, (shape, classes) = FAMILIES[family]
    return _data(base["dataset"], shape, classes)


def digest(model) -> str:
    return hashlib.sha256(b"".join(np.asarray(weight).tobytes() for weight in model.get_weights())).hexdigest()


def rows_of(rows: list[dict]) -> list[dict]:
    return [{key: row[key] for key in COMPARED} for row in rows]


def same(first: list[dict], second: list[dict]) -> bool:
    """Rows equal value for value, NaN equal to NaN (a diverged epoch's)."""
    return len(first) == len(second) and all(
        a.keys() == b.keys() and all(a[key] == b[key] or (isinstance(a[key], float) and math.isnan(a[key])
                                                          and math.isnan(b[key])) for key in a)
        for a, b in zip(first, second))


def alone(flat: dict, data: ArrayDataset, monkeypatch, *, poison=None) -> tuple[str, list[dict]]:
    """The lone trial as `trainables.trainable.train` runs it, without Ray: weights and its rows."""
    monkeypatch.setattr(trainable, "placement", lambda: {})
    settings = trainable.parse_config(flat)
    trainable.release_previous_trial()
    trainable.seed_everything(settings.seed)
    data = trainable.trial_data(settings, data)
    model = trainable.build_model(settings, data.input_shape, data.num_classes)
    if poison:
        poison(model)
    batches = trainable.make_batches(settings, data, 0)
    rows = []
    for epoch_index in range(settings.epochs):
        rows.append(trainable.run_epoch(model, batches, settings, epoch_index))
        if rows[-1]["diverged"]:
            break
    return digest(model), rows_of(rows)
