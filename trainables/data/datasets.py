"""Datasets by name, as preprocessed NumPy arrays ready for the object store.

Real data comes from the Keras cache (downloaded on first use) or, on machines
without internet, from a ``--data-dir`` holding the standard files:

    <data_dir>/cifar-10-python.tar.gz   or  <data_dir>/cifar-10-batches-py/
    <data_dir>/mnist.npz                (keys x_train, y_train, x_test, y_test)
    <data_dir>/beans/{train,validation,test}/<class>/*.jpg|png

With a data directory only that directory is looked at. The files are untrusted:
anything missing, unsafe or malformed becomes one ``DataError`` line naming the
file. Each name is a ``Source`` in ``trainables.data.sources``; this module does
what is common to all: subsets, scaling, resizing, mean subtraction. The
validation split is the test split, as in the seeds.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from trainables.data.sources import SOURCES, Request, get_source
from trainables.data.sources.base import Index, Split


@dataclasses.dataclass(frozen=True)
class ArrayDataset:
    """Preprocessed splits: float32 NHWC images and int32 class ids."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def available_datasets() -> tuple[str, ...]:
    return tuple(SOURCES)


def check_dataset(name: str, data_dir: str | os.PathLike | None = None) -> None:
    """Pre-flight before Ray starts: raise DataError (one line) if the data cannot be had.

    With ``data_dir`` only that directory is looked at, and its files are checked
    as far as can be done without extracting or decoding in full (archive members,
    shapes, dtypes, label ranges). Without it, a missing Keras/TFDS cache is filled
    now, once, in the driver, instead of by every trial at the same time.
    """
    get_source(name).check(Path(data_dir) if data_dir is not None else None)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    image_size: int | tuple[int, int] | None = None,
    train_limit: int | None = None,
    val_limit: int | None = None,
    seed: int = 0,
) -> ArrayDataset:
    """Load and preprocess a dataset as in the seeds.

    Images are scaled to [0, 1]; cifar10 (and its stand-in) then subtract the
    scalar mean of the training images actually used from both splits.
    ``train_limit``/``val_limit`` take a random subset chosen by ``seed``.
    """
    source = get_source(name)
    for label, limit in (("train_limit", train_limit), ("val_limit", val_limit)):
        if limit is not None and limit < 1:
            raise ValueError(f"{label} must be a positive int or None, got {limit!r}")
    size = _size(image_size, source.shape[:2])
    request = Request(Path(data_dir) if data_dir is not None else None, size, train_limit, val_limit, seed)
    train, test = source.load(request)
    x_train, y_train = _take(train, train_limit, seed)
    x_val, y_val = _take(test, val_limit, seed)

    x_train, x_val = _to_float(x_train), _to_float(x_val)
    x_train, x_val = _resize(x_train, size), _resize(x_val, size)
    if source.subtract_mean:
        mean = np.float32(x_train.mean(dtype=np.float64))
        x_train -= mean
        x_val -= mean
    return ArrayDataset(
        name=name,
        x_train=x_train,
        y_train=np.asarray(y_train, dtype=np.int32).reshape(-1),
        x_val=x_val,
        y_val=np.asarray(y_val, dtype=np.int32).reshape(-1),
        num_classes=source.num_classes,
    )


def _take(split: Split, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return split.take(_subset(split.count, limit, seed))


def _subset(count: int, limit: int | None, seed: int) -> Index:
    """A seeded random subset of ``limit`` indices (class-sorted sources stay mixed)."""
    if limit is None or limit >= count:
        return slice(None)
    return np.random.default_rng(seed).permutation(count)[:limit]


def _size(image_size: int | tuple[int, int] | None, default: tuple[int, int]) -> tuple[int, int]:
    if image_size is None:
        return default
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    height, width = (int(value) for value in image_size)
    if height < 1 or width < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return height, width


def _resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of float images in chunks (keeps peak memory bounded)."""
    if images.shape[1:3] == size:
        return images
    import keras

    chunks = [
        keras.ops.convert_to_numpy(keras.ops.image.resize(images[start : start + 1024], size))
        for start in range(0, len(images), 1024)
    ]
    return np.concatenate(chunks).astype(np.float32)


def _to_float(images: np.ndarray) -> np.ndarray:
    """[0, 1] float32 NHWC; grayscale gets its channel axis."""
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / np.float32(255.0)
    else:
        images = images.astype(np.float32, copy=False)
    return images[..., None] if images.ndim == 3 else images
