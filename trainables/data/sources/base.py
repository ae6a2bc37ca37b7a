"""What a dataset source is, and the helpers the sources share.

A source knows one dataset: its shape and classes, where its files live, how to
check them cheaply (``check``, run in the driver before Ray starts) and how to read
them (``load``). ``load`` returns the raw train and test splits as ``Split``s, so
the caller picks subsets in one place and a source decodes only what is picked.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trainables.data.archives import DataError

logger = logging.getLogger(__name__)

Index = np.ndarray | slice


@dataclasses.dataclass(frozen=True)
class Request:
    """What ``load_dataset`` asks of a source."""

    data_dir: Path | None  # None: the Keras / TFDS cache, downloading on first use
    size: tuple[int, int]  # (height, width) wanted; a source may decode straight to it
    train_limit: int | None  # only generated sources need these: they make that many
    val_limit: int | None
    seed: int


@dataclasses.dataclass(frozen=True)
class Split:
    """One split of ``count`` examples; ``take(index)`` reads the indexed ones.

    Images are uint8, or float in [0, 1]; labels integer class ids.
    """

    count: int
    take: Callable[[Index], tuple[np.ndarray, np.ndarray]]
    labels: np.ndarray | None = None  # all labels, when known without reading images (stratified holdout)

    @classmethod
    def of_arrays(cls, images: np.ndarray, labels: np.ndarray) -> Split:
        return cls(len(images), lambda index: (images[index], labels[index]), np.asarray(labels).reshape(-1))

    def subset(self, positions: np.ndarray) -> Split:
        """The examples at ``positions``, still read lazily."""
        labels = None if self.labels is None else self.labels[positions]
        return Split(len(positions), lambda index: self.take(positions[index]), labels)

    def all_labels(self) -> np.ndarray:
        return self.labels if self.labels is not None else np.asarray(self.take(slice(None))[1]).reshape(-1)


class Source(abc.ABC):
    """One dataset by name. Subclasses set the class attributes below."""

    name: str
    shape: tuple[int, int, int]  # default (height, width, channels); image_size overrides the first two
    num_classes: int
    subtract_mean: bool = False  # cifar10 as in the seeds: the training images' scalar mean
    ships_validation: bool = False  # a validation split of its own (validation_split), so none is drawn

    @abc.abstractmethod
    def check(self, data_dir: Path | None) -> None:
        """Raise DataError (one line) if the data cannot be had; cheap, writes nothing."""

    @abc.abstractmethod
    def load(self, request: Request) -> tuple[Split, Split]:
        """The train and test splits; any fault found now is a DataError too."""

    def validation_split(self, request: Request) -> Split | None:
        """The dataset's own validation split, if it ships one (beans); else None, and
        ``load_dataset`` holds out part of the training split."""
        return None

    @abc.abstractmethod
    def write_sample(self, directory: Path) -> list[Path]:
        """Write a tiny valid ``--data-dir`` layout and return its files.

        The offline format as executable code: the registry-driven tests load it,
        damage each returned file and expect ``check`` to name it. Sources that
        read no files return [].
        """


def data_directory(data_dir: str | os.PathLike) -> Path:
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataError(f"data dir {path} does not exist or is not a directory")
    return path


def keras_cache_dirs() -> list[Path]:
    """Where keras.datasets caches downloads (it falls back to /tmp when ~ is read-only)."""
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    return [home / "datasets", Path("/tmp/.keras/datasets")]


def keras_download(name: str, url: str, loader: Callable[[], tuple]) -> tuple[np.ndarray, ...]:
    """Run a keras.datasets loader; any failure (no internet, bad hash) is a DataError.

    Keras verifies the download's hash, so its own loader is trusted to read it.
    """
    logger.info("loading %s through keras.datasets (downloads %s on first use)", name, url)
    try:
        (x_train, y_train), (x_val, y_val) = loader()
    except Exception as error:  # urllib, HTTP, hash and extraction errors all mean "no data"
        raise DataError(
            f"{name}: could not download {url} into {keras_cache_dirs()[0]} ({type(error).__name__}: {error}); "
            "put the file in a directory and pass --data-dir"
        ) from error
    return x_train, y_train, x_val, y_val


class KerasFileSource(Source):
    """A dataset kept as files: in ``--data-dir``, else in the Keras cache, else downloaded."""

    url: str

    @abc.abstractmethod
    def find(self, directory: Path) -> Path | None:
        """The dataset's file or folder in ``directory``, if there."""

    @abc.abstractmethod
    def missing(self, directory: Path) -> DataError:
        """The one-line error naming the files expected in ``directory``."""

    @abc.abstractmethod
    def verify(self, found: Path) -> None:
        """Check what ``find`` returned, as far as can be done without extracting."""

    @abc.abstractmethod
    def read(self, found: Path) -> tuple[np.ndarray, ...]:
        """x_train, y_train, x_test, y_test from what ``find`` returned."""

    @abc.abstractmethod
    def keras_loader(self) -> Callable[[], tuple]:
        """The keras.datasets ``load_data`` that downloads the dataset."""

    def locate(self, data_dir: str | os.PathLike) -> Path:
        directory = data_directory(data_dir)
        found = self.find(directory)
        if found is None:
            raise self.missing(directory)
        return found

    def cached(self) -> Path | None:
        for directory in keras_cache_dirs():
            found = self.find(directory)
            if found is not None:
                return found
        return None

    def check(self, data_dir: Path | None) -> None:
        found = self.locate(data_dir) if data_dir is not None else self.cached()
        if found is not None:
            self.verify(found)
        else:  # fill the cache now, once, in the driver, instead of in every trial at once
            keras_download(self.name, self.url, self.keras_loader())

    def load(self, request: Request) -> tuple[Split, Split]:
        found = self.locate(request.data_dir) if request.data_dir is not None else self.cached()
        if found is not None:
            x_train, y_train, x_val, y_val = self.read(found)
        else:
            x_train, y_train, x_val, y_val = keras_download(self.name, self.url, self.keras_loader())
        return Split.of_arrays(x_train, y_train), Split.of_arrays(x_val, y_val)
