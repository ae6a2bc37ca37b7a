"""tf.data pipelines: shapes, dtypes, labels kept with their images, determinism by seed."""

import keras
import numpy as np
import pytest
from support import REPO_ROOT

from trainables.data.augment import AUGMENT_PRESETS, build_augmentation
from trainables.data.pipeline import epoch_variable, eval_dataset, pack_train_dataset, train_dataset

COUNT, BATCH = 50, 16


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    # Label i belongs to image i, so every batch can be checked against the source.
    return rng.random((COUNT, 12, 12, 3), dtype=np.float32), np.arange(COUNT, dtype=np.int32)


def epoch(dataset):
    batches = [(images.numpy(), labels.numpy()) for images, labels in dataset]
    return np.concatenate([images for images, _ in batches]), np.concatenate([labels for _, labels in batches]), batches


def test_train_batches_without_augmentation(arrays):
    x, y = arrays
    images, labels, batches = epoch(train_dataset(x, y, batch_size=BATCH, seed=0))
    assert [len(batch_labels) for _, batch_labels in batches] == [16, 16, 16, 2]
    assert images.dtype == np.float32 and labels.dtype == np.int32 and images.shape == (COUNT, 12, 12, 3)
    assert sorted(labels) == list(range(COUNT)) and list(labels) != list(range(COUNT))
    np.testing.assert_array_equal(images, x[labels])


def test_train_is_deterministic_for_a_seed_and_reshuffles_each_epoch(arrays):
    x, y = arrays
    augmentation = build_augmentation(AUGMENT_PRESETS["aprelu_record16"])
    make = lambda seed: train_dataset(x, y, batch_size=BATCH, augmentation=augmentation, seed=seed)  # noqa: E731
    dataset = make(3)
    first_images, first_labels, _ = epoch(dataset)
    second_images, second_labels, _ = epoch(dataset)
    again_images, again_labels, _ = epoch(make(3))
    np.testing.assert_array_equal(first_images, again_images)
    np.testing.assert_array_equal(first_labels, again_labels)
    assert not np.array_equal(first_labels, second_labels)  # new order next epoch
    # ...and new transforms: the same image comes out differently.
    by_label = lambda images, labels: images[np.argsort(labels)]  # noqa: E731
    assert not np.allclose(by_label(first_images, first_labels), by_label(second_images, second_labels))
    other_images, _, _ = epoch(make(4))
    assert not np.allclose(first_images, other_images)


def test_with_an_epoch_variable_each_epoch_is_a_function_of_seed_and_epoch(arrays):
    """What makes a resumed trial see the order and transforms an uninterrupted one saw."""
    x, y = arrays
    augmentation = build_augmentation(AUGMENT_PRESETS["aprelu_record16"])
    first_epoch = epoch_variable(0)
    dataset = train_dataset(x, y, batch_size=BATCH, augmentation=augmentation, seed=3, epoch=first_epoch)
    zeroth = epoch(dataset)
    first_epoch.assign(1)
    first = epoch(dataset)
    resumed = epoch(train_dataset(x, y, batch_size=BATCH, augmentation=augmentation, seed=3, epoch=epoch_variable(1)))
    for one, other in zip(first[:2], resumed[:2]):
        np.testing.assert_array_equal(one, other)
    assert sorted(first[1]) == list(range(COUNT)) and not np.array_equal(zeroth[1], first[1])
    assert dataset.cardinality().numpy() == 4  # Keras reads an epoch's steps from it
    other_seed = epoch(train_dataset(x, y, batch_size=BATCH, seed=4, epoch=epoch_variable(1)))
    assert not np.array_equal(other_seed[1], first[1])


def test_augmentation_is_applied_per_image(arrays):
    x, y = arrays
    augmentation = build_augmentation({"horizontal_flip": True})
    images, labels, _ = epoch(train_dataset(x, y, batch_size=BATCH, augmentation=augmentation, seed=0))
    same = np.all(images == x[labels], axis=(1, 2, 3))
    mirrored = np.all(images == x[labels][:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same | mirrored) and same.any() and mirrored.any()


def test_unshuffled_and_eval_keep_order_and_pixels(arrays):
    x, y = arrays
    _, labels, _ = epoch(train_dataset(x, y, batch_size=BATCH, shuffle=False))
    np.testing.assert_array_equal(labels, y)
    images, labels, batches = epoch(eval_dataset(x, y, batch_size=BATCH))
    np.testing.assert_array_equal(images, x)
    np.testing.assert_array_equal(labels, y)
    assert len(batches) == 4


def test_other_keras_layers_are_mapped_too(arrays):
    x, y = arrays
    augmentation = keras.Sequential([keras.layers.RandomFlip("horizontal", seed=0)])
    images, labels, _ = epoch(train_dataset(x, y, batch_size=BATCH, augmentation=augmentation, seed=0))
    assert images.shape == x.shape
    assert np.all(np.all(images == x[labels], axis=(1, 2, 3)) | np.all(images == x[labels][:, :, ::-1], axis=(1, 2, 3)))


@pytest.mark.parametrize(
    "make",
    [
        lambda x, y: train_dataset(x, y, batch_size=BATCH),
        lambda x, y: train_dataset(
            x, y, batch_size=BATCH, augmentation=build_augmentation(AUGMENT_PRESETS["aprelu_record16"], seed=0)
        ),
        lambda x, y: train_dataset(x, y, batch_size=BATCH, augmentation=keras.layers.RandomFlip("horizontal", seed=0)),
        lambda x, y: eval_dataset(x, y, batch_size=BATCH),
    ],
    ids=["train", "train_affine", "train_other_layer", "eval"],
)
def test_pipelines_run_without_the_autotuning_model(arrays, make):
    """Its thread made deleting an iterator wait up to its next wake-up (2.55 s after a 1.3 s epoch);
    benchmarks/tfdata_autotune.py measures it. Every trial epoch deletes three iterators."""
    assert make(*arrays).options().autotune.enabled is False


def test_a_pack_pipeline_gives_each_member_its_own_pipelines_batches(arrays):
    """trainables.pack's members see their seed's order and transforms, epoch by epoch."""
    x, y = arrays
    augmentation = build_augmentation(AUGMENT_PRESETS["aprelu_record16"], seed=0)
    members = [(x, y, augmentation, 3), (x, y, None, 4), (x, y, augmentation, 5)]
    epoch_number = epoch_variable(0)
    pack = pack_train_dataset(members, batch_size=BATCH, epoch=epoch_number)
    alone = [train_dataset(x, y, batch_size=BATCH, augmentation=layer, seed=seed, epoch=epoch_number)
             for x, y, layer, seed in members]
    assert pack.options().autotune.enabled is False
    for number in (0, 1):
        epoch_number.assign(number)
        packed = list(pack)
        for position, dataset in enumerate(alone):
            own = list(dataset)
            assert len(packed) == len(own) == 4
            for batches, (images, labels) in zip(packed, own):
                np.testing.assert_array_equal(batches[position][0].numpy(), images.numpy())
                np.testing.assert_array_equal(batches[position][1].numpy(), labels.numpy())
    with pytest.raises(ValueError, match="as many images"):
        pack_train_dataset([(x, y, None, 0), (x[:10], y[:10], None, 1)], batch_size=BATCH, epoch=epoch_number)


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"batch_size": 2.5}])
def test_bad_batch_size(arrays, bad):
    with pytest.raises(ValueError, match="batch_size"):
        train_dataset(*arrays, **bad)


def test_mismatched_lengths(arrays):
    x, y = arrays
    with pytest.raises(ValueError, match="same length"):
        eval_dataset(x, y[:-1], batch_size=BATCH)


@pytest.mark.slow
def test_autotune_benchmark_runs_both_pipelines(capsys):
    """benchmarks/tfdata_autotune.py at tiny sizes: both sides train and the JSON line has its figures."""
    import json
    import sys

    sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
    import tfdata_autotune

    argv = ["--epochs", "1", "--train-images", "200", "--val-images", "100", "--batch-size", "50", "--passes", "1"]
    assert tfdata_autotune.main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for figures in ("mean_s", "best_s", "stretched", "pipeline_images_per_s"):
        assert set(result[figures]) == {"project", "autotune"}
    assert min(result["pipeline_images_per_s"].values()) > 0
    assert result["ratio"] > 0 and result["best_ratio"] > 0 and result["epochs"] == 1
