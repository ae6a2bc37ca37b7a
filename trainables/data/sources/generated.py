"""Sources that need no files: the generated stand-ins and scikit-learn's ``digits``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainables.data import synthetic
from trainables.data.archives import DataError
from trainables.data.sources.base import Request, Source, Split


class Synthetic(Source):
    """A generated stand-in with a real dataset's shape and classes (see ``synthetic``)."""

    def __init__(
        self, name: str, shape: tuple[int, int, int], num_classes: int, sizes: tuple[int, int], subtract_mean: bool = False
    ) -> None:
        self.name, self.shape, self.num_classes = name, shape, num_classes
        self.sizes = sizes  # default train / validation sizes; the limits replace them
        self.subtract_mean = subtract_mean

    def check(self, data_dir: Path | None) -> None:
        """Nothing to check: generated data cannot be missing."""

    def load(self, request: Request) -> tuple[Split, Split]:
        train_size = request.train_limit or self.sizes[0]
        val_size = request.val_limit or self.sizes[1]
        x_train, y_train, x_val, y_val = synthetic.generate(
            self.name, (*request.size, self.shape[2]), self.num_classes, train_size, val_size, request.seed
        )
        return Split.of_arrays(x_train, y_train), Split.of_arrays(x_val, y_val)

    def write_sample(self, directory: Path) -> list[Path]:
        return []  # reads no files


class Digits(Source):
    """scikit-learn's 8x8 digits: small real data that ships with a dependency."""

    name = "digits"
    shape = (8, 8, 1)
    num_classes = 10

    def check(self, data_dir: Path | None) -> None:
        try:
            import sklearn.datasets  # noqa: F401
        except ImportError as error:
            raise DataError("digits: needs scikit-learn: pip install -e \".[digits]\"") from error

    def load(self, request: Request) -> tuple[Split, Split]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        # A fixed split (not the trial seed) so every trial validates on the same images.
        order = np.random.default_rng(0).permutation(len(digits.target))
        split = int(round(0.8 * len(order)))
        images = (digits.images / 16.0).astype(np.float32)[..., None]
        labels = digits.target.astype(np.int32)
        return (
            Split.of_arrays(images[order[:split]], labels[order[:split]]),
            Split.of_arrays(images[order[split:]], labels[order[split:]]),
        )

    def write_sample(self, directory: Path) -> list[Path]:
        return []  # ships with scikit-learn
