"""Datasets by name, as preprocessed NumPy arrays ready for the object store.

Real data comes from the Keras cache (downloaded on first use) or, on machines
without internet, from a ``--data-dir`` holding the standard files:

    <data_dir>/cifar-10-python.tar.gz   or  <data_dir>/cifar-10-batches-py/
    <data_dir>/mnist.npz                (keys x_train, y_train, x_test, y_test)
    <data_dir>/beans/{train,validation,test}/<class>/*.jpg|png

With a data directory only that directory is looked at. The files are untrusted:
anything missing, unsafe or malformed becomes one ``DataError`` line naming the
file. Each name is a ``Source`` in ``trainables.data.sources``; this module does
what is common to all: the validation split, subsets, scaling, resizing, mean subtraction.

Validation protocols (the ``validation`` config key, recorded with every trial):

- ``holdout`` (default): every decision (scheduler, best epoch, rankings) uses a validation
  split held out of the training data: stratified by class, seeded, ``validation_fraction``
  (10%) of it; beans uses its own validation split. The test split is only reported.
- ``test``: the seeds' protocol, for exact reproductions of published records: the
  validation split is the test split (so every reported best is optimistically biased).

Which images a ``holdout`` sets aside (the ``validation_split`` config key): ``fixed`` (default)
draws them with one seed for every trial, so all trials and arms decide on the same images;
``per_seed`` draws them with the trial's seed, so a verdict's seeds also vary which images
validate and which train (analysis.verdict.variation). A dataset that ships its own validation
split (beans) has nothing to re-draw.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np

from trainables.data.sources import SOURCES, Request, get_source
from trainables.data.sources.base import Index, Split

VALIDATION_PROTOCOLS = ("holdout", "test")
VALIDATION_SPLITS = ("fixed", "per_seed")
DEFAULT_VALIDATION_FRACTION = 0.1
HOLDOUT_SEED = 0  # not the trial seed: every trial and arm validates on the same images


@dataclasses.dataclass(frozen=True)
class ArrayDataset:
    """Preprocessed splits: float32 NHWC images and int32 class ids."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    x_test: np.ndarray | None = None  # the test split; under "test" the same arrays as x_val
    y_test: np.ndarray | None = None
    validation: str = "test"  # the protocol these splits follow (VALIDATION_PROTOCOLS)
    validation_fraction: float | None = None  # the share of the training split held out (holdout only)
    holdout_seed: int | None = None  # the seed that drew that share (None: nothing was held out here)

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
    validation: str | None = "holdout",
    validation_fraction: float | None = DEFAULT_VALIDATION_FRACTION,
    validation_split: str | None = "fixed",
) -> ArrayDataset:
    """Load and preprocess a dataset as in the seeds, with the validation protocol asked for.

    Images are scaled to [0, 1]; cifar10 (and its stand-in) then subtract the scalar mean of
    the training images actually used from every split. ``train_limit`` takes a seeded random
    subset of the training images (after the holdout is set aside), ``val_limit`` one of the
    validation and of the test images. ``validation_split`` "per_seed" holds out with ``seed``
    instead of HOLDOUT_SEED. None for ``validation``/``validation_fraction``/``validation_split``
    means the default (a sweep that does not set the key).
    """
    validation = validation or "holdout"
    validation_split = validation_split or "fixed"
    fraction = DEFAULT_VALIDATION_FRACTION if validation_fraction is None else float(validation_fraction)
    _check_arguments(train_limit, val_limit, validation, fraction, validation_split)
    source = get_source(name)
    size = _size(image_size, source.shape[:2])
    # generated sources make `train_limit` images: ask for enough that the holdout leaves that many
    asked = train_limit if train_limit is None or validation == "test" else math.ceil(train_limit / (1 - fraction))
    request = Request(Path(data_dir) if data_dir is not None else None, size, asked, val_limit, seed)
    train, test = source.load(request)
    held_out = source.validation_split(request) if validation == "holdout" else None
    carved = validation == "holdout" and held_out is None  # no split of its own: hold part of train out
    holdout_seed = HOLDOUT_SEED if validation_split == "fixed" else seed
    if carved:
        train, held_out = hold_out(train, fraction, holdout_seed)
    x_train, y_train = _take(train, train_limit, seed)
    x_test, y_test = _take(test, val_limit, seed)
    x_val, y_val = (x_test, y_test) if held_out is None else _take(held_out, val_limit, seed)

    x_train, x_val, x_test = (_resize(_to_float(images), size) for images in (x_train, x_val, x_test))
    if source.subtract_mean:
        mean = np.float32(x_train.mean(dtype=np.float64))
        x_train -= mean
        x_val -= mean
        if x_test is not x_val:
            x_test -= mean
    if held_out is None:
        x_test = x_val  # one array, subtracted once
    return ArrayDataset(
        name=name, x_train=x_train, y_train=_labels(y_train), x_val=x_val, y_val=_labels(y_val),
        num_classes=source.num_classes, x_test=x_test, y_test=_labels(y_test), validation=validation,
        validation_fraction=fraction if carved else None, holdout_seed=holdout_seed if carved else None,
    )


def _check_arguments(train_limit: int | None, val_limit: int | None, validation: str, fraction: float,
                     validation_split: str) -> None:
    for label, limit in (("train_limit", train_limit), ("val_limit", val_limit)):
        if limit is not None and limit < 1:
            raise ValueError(f"{label} must be a positive int or None, got {limit!r}")
    if validation not in VALIDATION_PROTOCOLS:
        raise ValueError(f"validation must be one of {', '.join(VALIDATION_PROTOCOLS)}, got {validation!r}")
    if not 0 < fraction < 1:
        raise ValueError(f"validation_fraction must be between 0 and 1, got {fraction!r}")
    if validation_split not in VALIDATION_SPLITS:
        raise ValueError(f"validation_split must be one of {', '.join(VALIDATION_SPLITS)}, got {validation_split!r}")


def _labels(labels: np.ndarray) -> np.ndarray:
    return np.asarray(labels, dtype=np.int32).reshape(-1)


def hold_out(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """(rest, held out): a seeded, class-stratified ``fraction`` of ``split``.

    Written here rather than taken from scikit-learn's ``train_test_split`` because
    scikit-learn is an optional extra (digits) and every trial runs this.
    Each class gives its share, rounded so the total is round(fraction * count)
    (largest remainders first, as scikit-learn does).
    """
    labels = split.all_labels()
    total = max(1, round(fraction * split.count)) if split.count >= 2 else 0  # tiny samples validate too
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * total / split.count
    shares = np.floor(exact).astype(int)
    for position in np.argsort(-(exact - shares), kind="stable")[: total - shares.sum()]:
        shares[position] += 1
    generator = np.random.default_rng(seed)
    held = np.concatenate([
        generator.permutation(np.flatnonzero(labels == label))[:share] for label, share in zip(classes, shares)
    ])
    held = np.sort(held)
    rest = np.setdiff1d(np.arange(split.count), held)
    return split.subset(rest), split.subset(held)


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
