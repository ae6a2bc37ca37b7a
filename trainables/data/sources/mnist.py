"""MNIST from Keras' ``mnist.npz``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from trainables.data.archives import DataError
from trainables.data.readers import check_images, check_labels, read_npz
from trainables.data.sources.base import KerasFileSource

FILE = "mnist.npz"
KEYS = ("x_train", "y_train", "x_test", "y_test")


class Mnist(KerasFileSource):
    """MNIST: 60,000 + 10,000 handwritten digits (keras.datasets, or mnist.npz)."""

    name = "mnist"
    shape = (28, 28, 1)
    num_classes = 10
    url = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"

    def find(self, directory: Path) -> Path | None:
        path = directory / FILE
        return path if path.is_file() else None

    def missing(self, directory: Path) -> DataError:
        return DataError(
            f"mnist: expected {FILE} (keys {', '.join(KEYS)}) in {directory} "
            f"(download {self.url}, or run without --data-dir to download it)"
        )

    def verify(self, found: Path) -> None:
        self.read(found)  # 11 MB: reading it all is the cheap and complete check

    def read(self, found: Path) -> tuple[np.ndarray, ...]:
        arrays = read_npz(found, KEYS, "mnist")
        for images_key, labels_key in (("x_train", "y_train"), ("x_test", "y_test")):
            images = arrays[images_key]
            check_images(images, self.shape, f"mnist: {found} {images_key!r}")
            arrays[labels_key] = check_labels(
                arrays[labels_key], len(images), self.num_classes, f"mnist: {found} {labels_key!r}"
            )
        return tuple(arrays[key] for key in KEYS)

    def keras_loader(self) -> Callable[[], tuple]:
        import keras

        return keras.datasets.mnist.load_data

    def write_sample(self, directory: Path) -> list[Path]:
        rng = np.random.default_rng(0)
        path = directory / FILE
        np.savez(
            path,
            x_train=rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
            y_train=rng.integers(0, self.num_classes, 4, dtype=np.uint8),
            x_test=rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
            y_test=rng.integers(0, self.num_classes, 2, dtype=np.uint8),
        )
        return [path]
