"""load_dataset / check_dataset: offline files in the standard formats, stand-ins, clear errors."""

import pickle
import tarfile

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

from trainables.data import ArrayDataset, DataError, available_datasets, check_dataset, load_dataset
from trainables.data.sources import base as sources_base
from trainables.data.sources import beans as beans_module

CIFAR_BATCHES = [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]


@pytest.fixture(autouse=True)
def empty_keras_cache(tmp_path, monkeypatch):
    """No test may see (or fill) the real ~/.keras cache."""
    monkeypatch.setattr(sources_base, "keras_cache_dirs", lambda: [tmp_path / "keras-cache"])


def write_cifar_batches(folder, per_batch=4, seed=0):
    """Batches in the real format: dict with b'data' uint8 (N, 3072) CHW rows and b'labels' list."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    raw = {}
    for batch in CIFAR_BATCHES:
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(label) for label in rng.integers(0, 10, per_batch)]
        with open(folder / batch, "wb") as handle:
            pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": data}, handle, protocol=2)
        raw[batch] = (data, labels)
    return raw


def to_hwc(data):
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32) / 255


def test_names_and_unknown_name():
    # The names the sweeps use; test_data_sources.py covers every registered one.
    assert {"cifar10", "mnist", "beans", "synthetic-cifar10", "synthetic-mnist", "synthetic-beans", "digits"} <= set(
        available_datasets()
    )
    with pytest.raises(ValueError, match="unknown dataset 'cifar100'.*cifar10"):
        load_dataset("cifar100")
    with pytest.raises(ValueError, match="unknown dataset"):
        check_dataset("cifar100")


# ---------------------------------------------------------------- cifar10


def test_cifar10_from_batches_folder(tmp_path):
    raw = write_cifar_batches(tmp_path / "cifar-10-batches-py")
    check_dataset("cifar10", tmp_path)
    dataset = load_dataset("cifar10", tmp_path, validation="test")  # every file image, in order
    expected_train = np.concatenate([to_hwc(raw[batch][0]) for batch in CIFAR_BATCHES[:-1]])
    mean = expected_train.mean()
    np.testing.assert_allclose(dataset.x_train, expected_train - mean, atol=1e-6)
    np.testing.assert_allclose(dataset.x_val, to_hwc(raw["test_batch"][0]) - mean, atol=1e-6)
    np.testing.assert_array_equal(dataset.y_train, np.concatenate([raw[batch][1] for batch in CIFAR_BATCHES[:-1]]))
    assert dataset.y_train.dtype == np.int32 and dataset.x_train.dtype == np.float32
    assert dataset.input_shape == (32, 32, 3) and dataset.num_classes == 10
    assert abs(float(dataset.x_train.mean())) < 1e-6


def test_cifar10_channel_layout_is_hwc(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    red = np.zeros((1, 3072), dtype=np.uint8)
    red[0, :1024] = 255  # first plane of the CHW row is red
    for batch in CIFAR_BATCHES:
        with open(folder / batch, "wb") as handle:
            pickle.dump({b"data": red, b"labels": [3]}, handle)
    dataset = load_dataset("cifar10", tmp_path)
    # The scalar mean shifts every channel alike, so red stays above green and blue.
    assert np.all(dataset.x_test[0, :, :, 0] > dataset.x_test[0, :, :, 1] + 0.9)
    np.testing.assert_array_equal(dataset.x_test[0, :, :, 1], dataset.x_test[0, :, :, 2])


def test_cifar10_from_archive_matches_folder(tmp_path):
    source = tmp_path / "source"
    write_cifar_batches(source / "cifar-10-batches-py")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with tarfile.open(data_dir / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(source / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    check_dataset("cifar10", data_dir)
    from_archive = load_dataset("cifar10", data_dir)
    from_folder = load_dataset("cifar10", source)
    np.testing.assert_array_equal(from_archive.x_train, from_folder.x_train)
    np.testing.assert_array_equal(from_archive.y_val, from_folder.y_val)
    # Extracted once, in place, without leftovers.
    assert sorted(path.name for path in data_dir.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]


def test_cifar10_limits_are_seeded_subsets(tmp_path):
    write_cifar_batches(tmp_path / "cifar-10-batches-py", per_batch=10)
    first = load_dataset("cifar10", tmp_path, train_limit=7, val_limit=3, seed=1)
    again = load_dataset("cifar10", tmp_path, train_limit=7, val_limit=3, seed=1)
    other = load_dataset("cifar10", tmp_path, train_limit=7, val_limit=3, seed=2)
    assert first.x_train.shape == (7, 32, 32, 3) and first.x_val.shape == (3, 32, 32, 3)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    assert not np.array_equal(first.x_train, other.x_train)


def test_cifar10_image_size_resizes(tmp_path):
    write_cifar_batches(tmp_path / "cifar-10-batches-py", per_batch=2)
    assert load_dataset("cifar10", tmp_path, image_size=16).input_shape == (16, 16, 3)


def test_cifar10_incomplete_folder_names_missing_batches(tmp_path):
    write_cifar_batches(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "test_batch").unlink()
    for call in (check_dataset, load_dataset):
        with pytest.raises(DataError, match="lacks test_batch"):
            call("cifar10", tmp_path)


def test_cifar10_refuses_pickles_with_code(tmp_path):
    write_cifar_batches(tmp_path / "cifar-10-batches-py")

    class Exploit:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": Exploit(), b"labels": []}, handle)
    with pytest.raises(DataError, match="data_batch_1.*refusing"):
        load_dataset("cifar10", tmp_path)


# ---------------------------------------------------------------- mnist


def test_mnist_from_npz(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 12, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 5, dtype=np.uint8),
    }
    np.savez(tmp_path / "mnist.npz", **arrays)
    check_dataset("mnist", tmp_path)
    dataset = load_dataset("mnist", tmp_path, validation="test")  # every file image, in order
    assert dataset.input_shape == (28, 28, 1)
    np.testing.assert_allclose(dataset.x_train[..., 0], arrays["x_train"] / 255, atol=1e-7)
    np.testing.assert_array_equal(dataset.y_val, arrays["y_test"])
    assert dataset.y_val.dtype == np.int32


def test_mnist_npz_with_wrong_keys(tmp_path):
    np.savez(tmp_path / "mnist.npz", images=np.zeros(3))
    with pytest.raises(DataError, match="x_train, y_train, x_test, y_test"):
        check_dataset("mnist", tmp_path)


# ---------------------------------------------------------------- beans


def write_beans(root, classes=("angular_leaf_spot", "bean_rust", "healthy"), per_class=2, splits=("train", "validation", "test")):
    rng = np.random.default_rng(0)
    for split in splits:
        for class_index, class_name in enumerate(classes):
            folder = root / "beans" / split / class_name
            folder.mkdir(parents=True)
            for index in range(per_class):
                pixels = np.full((10, 12, 3), 40 * class_index, dtype=np.uint8) + rng.integers(0, 5, (10, 12, 3), dtype=np.uint8)
                suffix = ".png" if index % 2 else ".jpg"
                Image.fromarray(pixels).save(folder / f"image{index}{suffix}")
    return root


def test_beans_from_image_tree(tmp_path):
    write_beans(tmp_path)
    check_dataset("beans", tmp_path)
    dataset = load_dataset("beans", tmp_path, image_size=16)
    assert dataset.x_train.shape == (6, 16, 16, 3) and dataset.x_val.shape == (6, 16, 16, 3)
    assert dataset.num_classes == 3
    np.testing.assert_array_equal(dataset.y_train, [0, 0, 1, 1, 2, 2])  # sorted class names
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0
    # Brightness encodes the class in these files: the decoded pixels must too.
    assert dataset.x_train[dataset.y_train == 2].mean() > dataset.x_train[dataset.y_train == 0].mean() + 0.2
    # Pointing --data-dir at the beans folder itself works too.
    assert load_dataset("beans", tmp_path / "beans", image_size=8).input_shape == (8, 8, 3)


def test_beans_default_size_is_224(tmp_path):
    write_beans(tmp_path, per_class=1)
    assert load_dataset("beans", tmp_path, train_limit=2, val_limit=1).input_shape == (224, 224, 3)


def test_beans_missing_test_split(tmp_path):
    write_beans(tmp_path, splits=("train",))
    with pytest.raises(DataError, match=r"beans/test/<class>/\*\.jpg.*no .*beans/test"):
        check_dataset("beans", tmp_path)


# ---------------------------------------------------------------- missing data


@pytest.mark.parametrize(
    "name, expected",
    [
        ("cifar10", r"cifar10: expected cifar-10-python\.tar\.gz or cifar-10-batches-py/ in {dir} \(download https://"),
        ("mnist", r"mnist: expected mnist\.npz \(keys x_train, y_train, x_test, y_test\) in {dir}"),
        ("beans", r"beans: expected beans/train/<class>/\*\.jpg and beans/test/<class>/\*\.jpg in {dir}"),
    ],
)
def test_missing_offline_data_names_files_and_directory(tmp_path, name, expected):
    pattern = expected.format(dir=str(tmp_path).replace(".", r"\."))
    for call in (check_dataset, load_dataset):
        with pytest.raises(DataError, match=pattern):
            call(name, tmp_path)


def test_nonexistent_data_dir(tmp_path):
    with pytest.raises(DataError, match="does-not-exist does not exist"):
        check_dataset("mnist", tmp_path / "does-not-exist")


def test_download_failure_is_a_data_error(monkeypatch):
    import keras

    def offline():
        raise Exception("URL fetch failure on https://example: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    for call in (check_dataset, load_dataset):
        with pytest.raises(DataError, match="mnist: could not download .*mnist.npz.*--data-dir"):
            call("mnist")


def test_beans_without_tfds_or_tree(monkeypatch):
    monkeypatch.setattr(beans_module, "_tfds_available", lambda: False)
    with pytest.raises(DataError, match="beans: expected .*tensorflow-datasets"):
        check_dataset("beans")


# ---------------------------------------------------------------- stand-ins


def linear_accuracy(dataset: ArrayDataset) -> float:
    classifier = LogisticRegression(max_iter=200)
    classifier.fit(dataset.x_train.reshape(len(dataset.x_train), -1), dataset.y_train)
    return classifier.score(dataset.x_val.reshape(len(dataset.x_val), -1), dataset.y_val)


@pytest.mark.parametrize(
    "name, shape, classes, image_size",
    [
        ("synthetic-cifar10", (32, 32, 3), 10, None),
        ("synthetic-mnist", (28, 28, 1), 10, None),
        ("synthetic-beans", (24, 24, 3), 3, 24),  # 224 by default; small here to stay fast
    ],
)
def test_synthetic_standins_have_real_shapes_and_are_learnable(name, shape, classes, image_size):
    check_dataset(name)
    dataset = load_dataset(name, image_size=image_size, train_limit=300, val_limit=200, seed=0)
    assert dataset.input_shape == shape and dataset.num_classes == classes
    # 300 training images remain after the 10% holdout (the generator makes 334); test: 200
    assert dataset.x_train.shape[0] == 300 and dataset.x_val.shape[0] == 33 and dataset.x_test.shape[0] == 200
    assert dataset.x_train.dtype == np.float32 and dataset.y_train.dtype == np.int32
    assert set(np.unique(dataset.y_train)) == set(range(classes))
    assert linear_accuracy(dataset) > 1.0 / classes + 0.3


def test_synthetic_default_sizes_and_determinism():
    first = load_dataset("synthetic-mnist")
    assert first.x_train.shape == (1843, 28, 28, 1) and first.x_val.shape == (205, 28, 28, 1)  # 2048, 10% held out
    assert first.x_test.shape == (512, 28, 28, 1)
    np.testing.assert_array_equal(first.x_train, load_dataset("synthetic-mnist").x_train)
    assert not np.array_equal(first.x_train, load_dataset("synthetic-mnist", seed=1).x_train)
    beans = load_dataset("synthetic-beans", image_size=8)
    assert len(beans.x_train) + len(beans.x_val) == 256


def test_synthetic_cifar10_is_mean_subtracted_like_cifar10():
    dataset = load_dataset("synthetic-cifar10", train_limit=64, val_limit=8)
    assert abs(float(dataset.x_train.mean())) < 1e-5


def test_digits_split_is_fixed_and_learnable():
    dataset = load_dataset("digits")
    assert dataset.input_shape == (8, 8, 1) and dataset.num_classes == 10
    assert len(dataset.x_train) + len(dataset.x_val) + len(dataset.x_test) == 1797
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() == 1.0
    # The trial seed only picks limited subsets; the split itself never moves.
    np.testing.assert_array_equal(dataset.x_val, load_dataset("digits", seed=5).x_val)
    limited = load_dataset("digits", train_limit=100, val_limit=50, seed=3)
    assert limited.x_train.shape == (100, 8, 8, 1) and limited.x_val.shape == (50, 8, 8, 1)
    assert linear_accuracy(dataset) > 0.9


def test_keras_cache_is_checked_and_read_without_downloading(tmp_path, monkeypatch):
    import keras

    def no_download():
        raise AssertionError("must not download: the cache has the file")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", no_download)
    cache = tmp_path / "keras-cache"
    cache.mkdir()
    arrays = {"x_train": np.zeros((3, 28, 28), np.uint8), "y_train": np.array([0, 1, 2]),
              "x_test": np.zeros((1, 28, 28), np.uint8), "y_test": np.array([7])}
    np.savez(cache / "mnist.npz", **arrays)
    check_dataset("mnist")
    np.testing.assert_array_equal(load_dataset("mnist", validation="test").y_val, [7])
    np.testing.assert_array_equal(load_dataset("mnist").y_test, [7])  # held out: test is reported apart
    np.savez(cache / "mnist.npz", **{**arrays, "y_test": np.array([12])})
    with pytest.raises(DataError, match=r"keras-cache/mnist\.npz 'y_test' holds ids from 12 to 12"):
        check_dataset("mnist")
