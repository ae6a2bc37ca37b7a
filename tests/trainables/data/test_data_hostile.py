"""Hostile or malformed files in --data-dir: refused by check_dataset (before Ray), in one line naming the file.

The registry tests (test_data_sources.py) damage bytes; these build files that are
well-formed containers with the wrong content: unsafe members, pickles with code,
object arrays, wrong shapes, dtypes and label ranges, stray files in an image tree.
"""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainables.data import DataError, check_dataset, load_dataset
from trainables.data.sources import SOURCES
from support.hostile_data import BATCHES, Exploit, cifar_archive, good_batch

def files_under(root) -> set[str]:
    return {os.path.relpath(os.path.join(path, name), root) for path, dirs, files in os.walk(root) for name in dirs + files}


def refused(name: str, data_dir, *patterns: str) -> str:
    """check_dataset refuses, in one line containing every pattern, having written nothing."""
    before = files_under(data_dir.parent)
    with pytest.raises(DataError) as error:
        check_dataset(name, data_dir)
    message = str(error.value)
    assert "\n" not in message, message
    for pattern in patterns:
        assert pattern in message, (pattern, message)
    assert files_under(data_dir.parent) == before
    return message


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where an exploit's "touch pwned" would land
    directory = tmp_path / "data"
    directory.mkdir()
    return directory


# ---------------------------------------------------------------- cifar10


def test_archive_with_dotdot_member_is_refused_before_extraction(data_dir):
    archive = cifar_archive(data_dir, extra={"../x": b"escaped"})
    refused("cifar10", data_dir, str(archive), "'../x'", "refusing")
    with pytest.raises(DataError, match="refusing"):
        load_dataset("cifar10", data_dir)
    assert not (data_dir.parent / "x").exists() and sorted(os.listdir(data_dir)) == [archive.name]


def test_archive_batch_with_code_is_refused_in_check(data_dir):
    cifar_archive(data_dir, replace={"data_batch_3": {b"data": Exploit(), b"labels": []}})
    refused("cifar10", data_dir, "cifar-10-batches-py/data_batch_3", "refusing to load posix.system")
    assert not (data_dir.parent / "pwned").exists()


def test_folder_batch_with_code_is_refused_in_check(data_dir):
    folder = data_dir / "cifar-10-batches-py"
    folder.mkdir()
    for batch in BATCHES:
        (folder / batch).write_bytes(pickle.dumps(good_batch(), protocol=2))
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": Exploit(), b"labels": []}))
    refused("cifar10", data_dir, str(folder / "test_batch"), "refusing to load")
    assert not (data_dir.parent / "pwned").exists()


@pytest.mark.parametrize(
    "batch, expected",
    [
        ({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, "uint8 (2, 3000), expected uint8 (N, 3072)"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "float32 (2, 3072)"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "ids from 0 to 10, expected 0 to 9"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [-1, 0]}, "ids from -1 to 0"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "expected 2 integer class ids"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0.5, 1.5]}, "float64 (2,), expected 2 integer"),
        ({b"data": np.zeros((2, 3072), np.uint8)}, "not a CIFAR batch"),
        ([1, 2, 3], "not a CIFAR batch"),
        (b"\x80\x02}q\x00", "cannot read"),  # a pickle cut off mid-stream
    ],
)
def test_malformed_batch_is_named_with_what_is_wrong(data_dir, batch, expected):
    cifar_archive(data_dir, replace={"data_batch_2": batch})
    refused("cifar10", data_dir, "cifar-10-batches-py/data_batch_2", expected)
    with pytest.raises(DataError, match="data_batch_2"):
        load_dataset("cifar10", data_dir)


def test_archive_missing_a_batch(data_dir):
    cifar_archive(data_dir, replace={"test_batch": None})
    refused("cifar10", data_dir, "lacks cifar-10-batches-py/test_batch")


# ---------------------------------------------------------------- mnist


def mnist_arrays(**changes) -> dict:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "y_train": np.array([0, 1, 2, 9], np.uint8),
        "x_test": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "y_test": np.array([3, 4], np.uint8),
    }
    arrays.update(changes)
    return arrays


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"x_train": np.array([{"a": 1}] * 4, dtype=object)}, "cannot read 'x_train'"),
        ({"y_test": np.array([Exploit(), Exploit()], dtype=object)}, "allow_pickle=False"),
        ({"x_train": np.zeros((4, 32, 32), np.uint8)}, "'x_train' has shape (4, 32, 32), expected (N, 28, 28, 1)"),
        ({"x_test": np.zeros((2, 28, 28, 3), np.uint8)}, "'x_test' has shape (2, 28, 28, 3)"),
        ({"x_train": np.zeros((0, 28, 28), np.uint8), "y_train": np.zeros(0, np.uint8)}, "'x_train' holds no images"),
        ({"x_train": np.full((4, 28, 28), 255.0, np.float32)}, "'x_train' is float32, expected uint8 or floats in [0, 1]"),
        ({"x_test": np.full((2, 28, 28), np.nan, np.float32)}, "'x_test' is float32"),
        ({"x_test": np.zeros((2, 28, 28), np.int64)}, "'x_test' is int64"),
        ({"y_train": np.array([0, 1, 2, 10])}, "'y_train' holds ids from 0 to 10, expected 0 to 9"),
        ({"y_test": np.array([0.0, 1.0])}, "'y_test' is float64"),
        ({"y_test": np.array([0, 1, 2])}, "'y_test' is int64 (3,), expected 2 integer class ids"),
    ],
)
def test_malformed_mnist_is_named_with_what_is_wrong(data_dir, changes, expected):
    path = data_dir / "mnist.npz"
    np.savez(path, **mnist_arrays(**changes))
    refused("mnist", data_dir, str(path), expected)
    with pytest.raises(DataError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_dataset("mnist", data_dir)
    assert not (data_dir.parent / "pwned").exists()


def test_mnist_that_is_a_pickle_or_a_single_array(data_dir):
    path = data_dir / "mnist.npz"
    path.write_bytes(pickle.dumps({"x_train": Exploit()}))
    refused("mnist", data_dir, str(path), "cannot read", "as .npz")
    assert not (data_dir.parent / "pwned").exists()
    with open(path, "wb") as handle:
        np.save(handle, np.zeros(3))
    refused("mnist", data_dir, str(path), "single .npy array")


def test_mnist_float_images_in_unit_range_and_channel_axis_are_accepted(data_dir):
    arrays = mnist_arrays(x_train=np.full((4, 28, 28, 1), 0.5, np.float32))
    np.savez(data_dir / "mnist.npz", **arrays)
    check_dataset("mnist", data_dir)
    assert load_dataset("mnist", data_dir, validation="test").x_train.shape == (4, 28, 28, 1)  # every image


# ---------------------------------------------------------------- beans


@pytest.fixture
def beans_dir(data_dir):
    SOURCES["beans"].write_sample(data_dir)
    return data_dir


@pytest.mark.parametrize("name", ["notes.txt", "image.gif", "archive.zip"])
def test_beans_non_image_file_in_a_class_folder(beans_dir, name):
    stray = beans_dir / "beans" / "test" / "healthy" / name
    stray.write_bytes(b"not an image")
    refused("beans", beans_dir, str(stray), "is not a .jpg/.jpeg/.png image file")


def test_beans_text_named_jpg_and_stray_split_level_file(beans_dir):
    fake = beans_dir / "beans" / "train" / "bean_rust" / "fake.jpg"
    fake.write_text("hello")
    refused("beans", beans_dir, str(fake), "cannot decode image")
    fake.unlink()
    stray = beans_dir / "beans" / "train" / "README"
    stray.write_text("hello")
    refused("beans", beans_dir, str(stray), "is not a class folder")


def test_beans_hidden_files_are_ignored(beans_dir):
    (beans_dir / "beans" / "train" / ".DS_Store").write_bytes(b"\0\0")
    (beans_dir / "beans" / "train" / "healthy" / ".DS_Store").write_bytes(b"\0\0")
    check_dataset("beans", beans_dir)


def test_beans_more_train_classes_than_the_dataset_has(beans_dir):
    extra = beans_dir / "beans" / "train" / "zebra"
    extra.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(extra / "image.png")
    refused("beans", beans_dir, str(beans_dir / "beans" / "train"), "4 class folders", "at most 3")


def test_beans_test_class_unknown_to_train(beans_dir):
    (beans_dir / "beans" / "test" / "healthy").rename(beans_dir / "beans" / "test" / "zebra")
    refused("beans", beans_dir, "test classes ['zebra']", "not among the train classes")


@pytest.mark.parametrize("errno_code", [errno.EACCES, errno.EROFS])
def test_archive_in_a_read_only_data_dir_is_read_from_a_temporary_folder(data_dir, monkeypatch, errno_code):
    """Root ignores file modes, so the read-only directory is simulated where extraction starts."""
    from trainables.data import archives

    cifar_archive(data_dir)
    real_mkdtemp = archives.tempfile.mkdtemp

    def mkdtemp(suffix=None, prefix=None, dir=None):
        if dir is not None and Path(dir) == data_dir:
            raise OSError(errno_code, os.strerror(errno_code), str(dir))
        return real_mkdtemp(suffix, prefix, dir)

    monkeypatch.setattr(archives.tempfile, "mkdtemp", mkdtemp)
    dataset = load_dataset("cifar10", data_dir, validation="test")  # every image
    assert dataset.x_train.shape == (10, 32, 32, 3) and sorted(os.listdir(data_dir)) == ["cifar-10-python.tar.gz"]
