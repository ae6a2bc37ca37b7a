"""Held-out validation: decisions on a split carved from the training data, test reported apart."""

from __future__ import annotations

import numpy as np
import pytest

from trainables.correctness import decode
from trainables.data import load_dataset
from trainables.data.datasets import hold_out
from trainables.data.sources import SOURCES
from trainables.data.sources.base import Split

pytest.importorskip("sklearn")  # digits ships with scikit-learn


def _rows(images: np.ndarray) -> set[bytes]:
    return {image.tobytes() for image in images}


def test_hold_out_is_stratified_seeded_and_disjoint():
    labels = np.repeat(np.arange(4), [50, 30, 15, 5])  # unbalanced classes
    split = Split.of_arrays(np.arange(len(labels))[:, None], labels)
    rest, held = hold_out(split, 0.1, seed=0)
    held_ids, rest_ids = held.take(slice(None))[0][:, 0], rest.take(slice(None))[0][:, 0]
    assert held.count == 10 and rest.count == 90
    assert sorted([*held_ids, *rest_ids]) == list(range(100))
    # each class gives its share: 5, 3, 1.5 -> 1 or 2, 0.5 -> 0 or 1; ten in all
    shares = np.bincount(labels[held_ids], minlength=4)
    assert shares[0] == 5 and shares[1] == 3 and shares[2:].sum() == 2
    again = hold_out(split, 0.1, seed=0)[1].take(slice(None))[0][:, 0]
    other = hold_out(split, 0.1, seed=1)[1].take(slice(None))[0][:, 0]
    np.testing.assert_array_equal(held_ids, again)
    assert not np.array_equal(held_ids, other)
    assert np.array_equal(held.labels, labels[held_ids])  # labels travel without reading images


def test_digits_holdout_validates_on_training_images_and_keeps_the_test_split_apart():
    holdout = load_dataset("digits")
    seeds_protocol = load_dataset("digits", validation="test")
    assert holdout.validation == "holdout" and seeds_protocol.validation == "test"
    # the test split is the same under both protocols; under "test" it is also the validation split
    np.testing.assert_array_equal(holdout.x_test, seeds_protocol.x_test)
    assert seeds_protocol.x_val is seeds_protocol.x_test
    # the holdout comes out of the training images: 10%, disjoint from what is trained on and from test
    assert len(holdout.x_val) == round(0.1 * len(seeds_protocol.x_train))
    assert len(holdout.x_train) + len(holdout.x_val) == len(seeds_protocol.x_train)
    assert not _rows(holdout.x_val) & _rows(holdout.x_train) - _rows(holdout.x_test)
    assert _rows(holdout.x_val) <= _rows(seeds_protocol.x_train)
    # stratified: every class in the holdout, in proportion
    counts = np.bincount(holdout.y_val, minlength=10)
    assert counts.min() >= 12 and counts.max() <= 16
    # fixed across trial seeds (the seed only picks limited subsets), so every arm sees the same images
    np.testing.assert_array_equal(holdout.x_val, load_dataset("digits", seed=7).x_val)
    limited = load_dataset("digits", train_limit=100, val_limit=20, seed=3)
    assert limited.x_train.shape[0] == 100 and limited.x_val.shape[0] == 20 and limited.x_test.shape[0] == 20


def test_fraction_is_a_setting():
    bigger = load_dataset("digits", validation_fraction=0.25)
    assert len(bigger.x_val) == round(0.25 * (len(bigger.x_train) + len(bigger.x_val)))


@pytest.mark.parametrize(("arguments", "match"), [
    ({"validation": "train"}, "validation must be one of holdout, test"),
    ({"validation_fraction": 0.0}, "validation_fraction"),
    ({"validation_fraction": 1.0}, "validation_fraction"),
])
def test_bad_protocols_are_one_line(arguments, match):
    with pytest.raises(ValueError, match=match):
        load_dataset("digits", **arguments)


def test_beans_uses_its_own_validation_split(tmp_path):
    SOURCES["beans"].write_sample(tmp_path)  # train, validation and test: one image per class each
    holdout = load_dataset("beans", tmp_path, image_size=8)
    seeds_protocol = load_dataset("beans", tmp_path, image_size=8, validation="test")
    assert len(holdout.x_train) == len(seeds_protocol.x_train) == 3  # nothing carved out of train
    assert sorted(holdout.y_val) == [0, 1, 2]
    np.testing.assert_array_equal(holdout.x_test, seeds_protocol.x_val)
    # a tree without validation/ holds out part of train instead
    import shutil

    shutil.rmtree(tmp_path / "beans" / "validation")
    carved = load_dataset("beans", tmp_path, image_size=8)
    assert len(carved.x_train) == 2 and len(carved.x_val) == 1


def _run_trainable(monkeypatch, **settings) -> list[dict]:
    """One tiny trial of the real trainable, Tune's report captured."""
    from ray import tune

    from trainables import trainable

    reports: list[dict] = []
    monkeypatch.setattr(tune, "report", lambda metrics, checkpoint=None: reports.append(metrics))
    monkeypatch.setattr(tune, "get_checkpoint", lambda: None)
    monkeypatch.setattr(trainable, "placement", lambda: {"gpu_ids": "", "node_id": "local"})
    config = {"model": "antirectifier_mlp", "activation": "antirectifier", "dataset": "digits", "epochs": 2,
              "units": 8, "depth": 1, "optimizer": "adam", "lr": 0.01, "batch_size": 64, "seed": 1, **settings}
    trainable.train(config)
    return reports


def test_the_trainable_reports_test_metrics_apart_from_the_validation_ones(monkeypatch):
    held = _run_trainable(monkeypatch)
    assert [row["epoch"] for row in held] == [1, 2]
    # which test images it got right, once, with the budget's last epoch (trainables.correctness)
    assert "test_correct" not in held[0]
    correct = decode(held[-1]["test_correct"])
    assert correct.size == 359 and correct.mean() == pytest.approx(held[-1]["test_accuracy"], abs=1e-6)
    for row in held:
        assert 0.0 <= row["test_accuracy"] <= 1.0 and np.isfinite(row["test_loss"])
        assert row["test_loss"] != row["val_loss"]  # different images
    seeds = _run_trainable(monkeypatch, validation="test")
    for row in seeds:  # the seeds' protocol: validation is the test split
        assert row["test_loss"] == row["val_loss"] and row["test_accuracy"] == row["val_accuracy"]


def test_parse_config_checks_the_protocol():
    from trainables.trainable import parse_config

    base = {"model": "antirectifier_mlp", "activation": "antirectifier", "dataset": "digits", "epochs": 1}
    assert parse_config(base).validation == "holdout"
    assert parse_config({**base, "validation": "test"}).validation == "test"
    with pytest.raises(ValueError, match="validation"):
        parse_config({**base, "validation": "train"})
    with pytest.raises(ValueError, match="validation_fraction"):
        parse_config({**base, "validation_fraction": 0.9})


def test_a_trial_never_takes_the_drivers_data_split_another_way():
    from trainables.trainable import parse_config, trial_data

    base = {"model": "antirectifier_mlp", "activation": "antirectifier", "dataset": "digits", "epochs": 1}
    driver = load_dataset("digits", validation_fraction=0.25)
    assert driver.validation_fraction == 0.25
    assert trial_data(parse_config({**base, "validation_fraction": 0.25}), driver) is driver
    own = trial_data(parse_config(base), driver)  # 10% held out: not the driver's quarter
    assert own is not driver and own.validation_fraction == 0.1 and len(own.x_val) < len(driver.x_val)
    seeds = load_dataset("digits", validation="test")
    assert seeds.validation_fraction is None
    assert trial_data(parse_config({**base, "validation": "test"}), seeds) is seeds


def test_a_per_seed_split_is_drawn_with_the_trials_seed_and_keeps_its_size():
    fixed = [load_dataset("digits", seed=seed) for seed in (1, 2)]
    drawn = [load_dataset("digits", seed=seed, validation_split="per_seed") for seed in (1, 2)]
    np.testing.assert_array_equal(fixed[0].x_val, fixed[1].x_val)
    assert fixed[0].holdout_seed == fixed[1].holdout_seed == 0
    assert [data.holdout_seed for data in drawn] == [1, 2]
    assert _rows(drawn[0].x_val) != _rows(drawn[1].x_val)  # other images validate ...
    assert _rows(drawn[0].x_train) != _rows(drawn[1].x_train)  # ... and so others train
    assert len(drawn[0].x_val) == len(drawn[1].x_val) == len(fixed[0].x_val)  # a pack's members stay aligned
    assert (np.bincount(drawn[0].y_val, minlength=10) == np.bincount(drawn[1].y_val, minlength=10)).all()
    np.testing.assert_array_equal(drawn[0].x_test, fixed[0].x_test)  # the test split is untouched
    with pytest.raises(ValueError, match="validation_split must be one of fixed, per_seed"):
        load_dataset("digits", validation_split="random")


def test_a_trial_takes_the_drivers_split_only_when_its_seed_drew_it():
    from trainables.trainable import parse_config, trial_data

    base = {"model": "antirectifier_mlp", "activation": "antirectifier", "dataset": "digits", "epochs": 1,
            "validation_split": "per_seed"}
    driver = load_dataset("digits", seed=3, validation_split="per_seed")
    assert trial_data(parse_config({**base, "seed": 3}), driver) is driver
    own = trial_data(parse_config({**base, "seed": 4}), driver)
    assert own is not driver and own.holdout_seed == 4
    fixed_driver = load_dataset("digits", seed=3)
    assert trial_data(parse_config({**base, "validation_split": "fixed", "seed": 4}), fixed_driver) is fixed_driver
