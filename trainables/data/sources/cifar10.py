"""CIFAR-10 from the original python tarball or its extracted folder."""

from __future__ import annotations

import io
import logging
import pickle
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trainables.data.archives import DataError, extract_archive, reason, scan_archive
from trainables.data.readers import CIFAR10_IMAGE_BYTES, read_cifar10_batch
from trainables.data.sources.base import KerasFileSource

logger = logging.getLogger(__name__)

ARCHIVE = "cifar-10-python.tar.gz"
FOLDER = "cifar-10-batches-py"
BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6)) + ("test_batch",)


class Cifar10(KerasFileSource):
    """CIFAR-10: 50,000 + 10,000 colour images of 10 classes (keras.datasets, or cifar-10-python.tar.gz)."""

    name = "cifar10"
    shape = (32, 32, 3)
    num_classes = 10
    subtract_mean = True
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"

    def find(self, directory: Path) -> Path | None:
        """The batches folder (Keras' cache layout too), else the archive."""
        for candidate in (directory / FOLDER, directory / "cifar-10-batches-py-target" / FOLDER):
            if candidate.is_dir():
                return candidate
        archive = directory / ARCHIVE
        return archive if archive.is_file() else None

    def missing(self, directory: Path) -> DataError:
        return DataError(
            f"cifar10: expected {ARCHIVE} or {FOLDER}/ in {directory} "
            f"(download {self.url}, or run without --data-dir to download it)"
        )

    def verify(self, found: Path) -> None:
        """A folder is read in full; an archive is read once as a stream, writing nothing."""
        if found.is_dir():
            self.read(found)
            return

        def read_member(name: str, stream) -> None:
            if name in wanted:
                read_cifar10_batch(stream, f"{found} member {name}", self.num_classes)

        wanted = {f"{FOLDER}/{batch}" for batch in BATCHES}
        missing = sorted(wanted - set(scan_archive(found, read_member)))
        if missing:
            raise DataError(f"cifar10: {found} lacks {', '.join(missing)}")

    def read(self, found: Path) -> tuple[np.ndarray, ...]:
        """Read the batches folder; an archive is extracted next to itself first (once).

        A read-only data directory still works: the archive then goes to a temporary
        folder that is removed after reading.
        """
        if found.is_dir():
            return _read_folder(found, self.num_classes)
        folder = found.parent / FOLDER
        if not folder.is_dir():
            logger.info("extracting %s into %s", found, found.parent)
            try:
                extract_archive(found, found.parent)
            # A read-only data dir: PermissionError, or plain OSError (EROFS) on a read-only mount.
            except OSError as error:
                logger.info("cannot write into %s (%s); extracting into a temporary folder", found.parent, error)
                with tempfile.TemporaryDirectory() as scratch:
                    try:
                        extract_archive(found, scratch)
                    except OSError as scratch_error:
                        raise DataError(f"cifar10: cannot extract {found} into {scratch}: {reason(scratch_error)}") from None
                    return _read_folder(Path(scratch) / FOLDER, self.num_classes)
        return _read_folder(folder, self.num_classes)

    def keras_loader(self) -> Callable[[], tuple]:
        import keras

        return keras.datasets.cifar10.load_data

    def write_sample(self, directory: Path) -> list[Path]:
        """The archive with two random images per batch, pickled as the original."""
        rng = np.random.default_rng(0)
        archive = directory / ARCHIVE
        with tarfile.open(archive, "w:gz") as tar:
            for batch in BATCHES:
                payload = pickle.dumps(
                    {
                        b"data": rng.integers(0, 256, (2, CIFAR10_IMAGE_BYTES), dtype=np.uint8),
                        b"labels": [int(label) for label in rng.integers(0, self.num_classes, 2)],
                    },
                    protocol=2,
                )
                member = tarfile.TarInfo(f"{FOLDER}/{batch}")
                member.size = len(payload)
                tar.addfile(member, io.BytesIO(payload))
        return [archive]


def _read_folder(folder: Path, num_classes: int) -> tuple[np.ndarray, ...]:
    missing = [batch for batch in BATCHES if not (folder / batch).is_file()]
    if missing:
        raise DataError(f"cifar10: {folder} lacks {', '.join(missing)} (an incomplete {FOLDER}/?)")
    batches = []
    for batch in BATCHES:
        try:
            with open(folder / batch, "rb") as handle:
                batches.append(read_cifar10_batch(handle, str(folder / batch), num_classes))
        except OSError as error:
            raise DataError(f"cifar10: cannot read {folder / batch}: {error}") from error
    x_train = np.concatenate([images for images, _ in batches[:-1]])
    y_train = np.concatenate([labels for _, labels in batches[:-1]])
    x_val, y_val = batches[-1]
    return x_train, y_train, x_val, y_val
