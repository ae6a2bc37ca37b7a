"""Every dataset source in the registry, through the public API: a new source is tested here unchanged.

Each source writes its own tiny ``--data-dir`` sample (``Source.write_sample``); the
tests load it, then damage each of its files in turn and expect one ``DataError``
line naming that file, from ``check_dataset`` (before Ray starts) and from
``load_dataset`` (the trial path) alike.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from trainables.data import DataError, available_datasets, check_dataset, load_dataset
from trainables.data.sources import SOURCES
from trainables.data.sources import base as sources_base



def _reads_files(source) -> bool:
    with tempfile.TemporaryDirectory() as directory:
        return bool(source.write_sample(Path(directory)))


FILE_SOURCES = [name for name, source in SOURCES.items() if _reads_files(source)]


def truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def garbage(data: bytes) -> bytes:
    return np.random.default_rng(0).integers(0, 256, max(len(data), 64), dtype=np.uint8).tobytes()


def empty(data: bytes) -> bytes:
    return b""


DAMAGES = {"truncated": truncate, "garbage": garbage, "empty": empty}


@pytest.fixture(autouse=True)
def empty_keras_cache(tmp_path, monkeypatch):
    """No test may see (or fill) the real ~/.keras cache."""
    monkeypatch.setattr(sources_base, "keras_cache_dirs", lambda: [tmp_path / "keras-cache"])


def snapshot(root) -> dict[str, int]:
    return {
        os.path.relpath(os.path.join(dirpath, name), root): os.path.getsize(os.path.join(dirpath, name))
        for dirpath, _, files in os.walk(root)
        for name in files
    }


def one_line_naming(error: pytest.ExceptionInfo, path) -> str:
    message = str(error.value)
    assert "\n" not in message, message
    assert str(path) in message, message
    return message


def test_registry_is_the_public_list_and_sources_are_complete():
    assert available_datasets() == tuple(SOURCES)
    assert {"cifar10", "mnist", "beans", "digits"} <= set(SOURCES)
    for name, source in SOURCES.items():
        assert source.name == name
        assert len(source.shape) == 3 and all(side >= 1 for side in source.shape)
        assert source.num_classes >= 2


def test_the_sources_that_read_files_are_the_real_datasets():
    # Guards the discovery above: if it found nothing, the tests below would pass vacuously.
    assert {"cifar10", "mnist", "beans"} <= set(FILE_SOURCES)
    assert not any(name.startswith("synthetic-") for name in FILE_SOURCES)


@pytest.mark.parametrize("name", list(SOURCES))
def test_sample_passes_check_and_loads(tmp_path, name):
    source = SOURCES[name]
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    source.write_sample(data_dir)
    check_dataset(name, data_dir)
    dataset = load_dataset(name, data_dir, image_size=8, train_limit=64, val_limit=16, seed=1)
    assert dataset.name == name and dataset.num_classes == source.num_classes
    assert dataset.input_shape == (8, 8, source.shape[2])
    for images, labels in ((dataset.x_train, dataset.y_train), (dataset.x_val, dataset.y_val)):
        assert 1 <= len(images) == len(labels) and images.dtype == np.float32 and labels.dtype == np.int32
        assert np.isfinite(images).all()
        assert labels.min() >= 0 and labels.max() < source.num_classes


@pytest.mark.parametrize("name", FILE_SOURCES)
def test_empty_or_missing_data_dir_is_one_line_naming_it(tmp_path, name):
    for call in (check_dataset, load_dataset):
        with pytest.raises(DataError) as error:
            call(name, tmp_path)
        assert str(error.value).startswith(f"{name}: expected ")
        one_line_naming(error, tmp_path)
        with pytest.raises(DataError, match="does not exist") as error:
            call(name, tmp_path / "absent")
        one_line_naming(error, tmp_path / "absent")


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("name", FILE_SOURCES)
def test_each_damaged_file_is_named_by_check_and_load(tmp_path, name, damage):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    files = SOURCES[name].write_sample(data_dir)
    assert files, name
    for path in files:
        original = path.read_bytes()
        path.write_bytes(DAMAGES[damage](original))
        before = snapshot(tmp_path)
        with pytest.raises(DataError) as error:
            check_dataset(name, data_dir)
        one_line_naming(error, path)
        assert snapshot(tmp_path) == before, "check_dataset wrote something"
        with pytest.raises(DataError) as error:
            load_dataset(name, data_dir, image_size=8)
        one_line_naming(error, path)
        path.write_bytes(original)
    check_dataset(name, data_dir)  # restored: the damage, not the test, made it fail
