"""Readers for the files in a data directory, which are untrusted input.

Each reader validates what it reads (shapes, dtypes, label ranges) and turns every
failure into one ``DataError`` line naming the file and what is wrong. Nothing from a
data directory is unpickled freely: ``.npz`` files are read with
``allow_pickle=False`` and CIFAR batches with a restricted unpickler.
"""

from __future__ import annotations

import pickle
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from trainables.data.archives import DataError, reason

CIFAR10_IMAGE_BYTES = 32 * 32 * 3


class _CifarBatchUnpickler(pickle.Unpickler):
    """CIFAR batches are pickled dicts of NumPy arrays and lists.

    The safe reader chosen here is a restricted unpickler: ``find_class`` admits
    only the globals that rebuild an ndarray and refuses everything else, so a
    pickle that names any other callable (``os.system``, ``builtins.eval``, ...) is
    refused before that callable is looked up.
    """

    _ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("_codecs", "encode"),  # pickles written by Python 3 with protocol 2 store bytes as latin-1 text
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def read_cifar10_batch(stream: IO[bytes], where: str, num_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """uint8 NHWC images and int32 labels of one batch; ``where`` names it in errors."""
    try:
        batch = _CifarBatchUnpickler(stream, encoding="bytes").load()
    # A broken pickle can fail in many ways (UnpicklingError, EOFError, KeyError,
    # struct.error, ...); each means the same to the user: this file is unusable.
    except Exception as error:  # noqa: BLE001
        raise DataError(f"cifar10: cannot read {where}: {reason(error)}") from error
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"cifar10: {where} is not a CIFAR batch (a dict with b'data' and b'labels')")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != CIFAR10_IMAGE_BYTES:
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"cifar10: {where}: b'data' is {found}, expected uint8 (N, {CIFAR10_IMAGE_BYTES})")
    labels = check_labels(np.asarray(batch[b"labels"]), len(data), num_classes, f"cifar10: {where}: b'labels'")
    images = data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def check_labels(labels: np.ndarray, count: int, num_classes: int, what: str) -> np.ndarray:
    """int32 class ids, one per image, each in [0, num_classes)."""
    if labels.dtype.kind not in "iu" or labels.reshape(-1).shape != (count,):
        raise DataError(f"{what} is {labels.dtype} {labels.shape}, expected {count} integer class ids")
    labels = labels.reshape(-1)
    if count and (labels.min() < 0 or labels.max() >= num_classes):
        raise DataError(f"{what} holds ids from {labels.min()} to {labels.max()}, expected 0 to {num_classes - 1}")
    return labels.astype(np.int32)


def read_npz(path: Path, keys: tuple[str, ...], what: str) -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz`` file, never unpickling object arrays."""
    try:
        loaded = np.load(path, allow_pickle=False)
    # Not a zip or .npy (BadZipFile for a truncated one), or a pickle (ValueError).
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise DataError(f"{what}: cannot read {path} as .npz: {reason(error)}") from error
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(f"{what}: {path} is a single .npy array, expected an .npz with keys {', '.join(keys)}")
    with loaded:
        missing = [key for key in keys if key not in loaded.files]
        if missing:
            raise DataError(f"{what}: {path} has keys {sorted(loaded.files)}, needs {', '.join(keys)}")
        arrays = {}
        for key in keys:
            try:
                arrays[key] = loaded[key]
            # Object arrays raise ValueError; a damaged member BadZipFile, zlib.error or EOFError.
            except Exception as error:  # noqa: BLE001
                raise DataError(f"{what}: cannot read {key!r} from {path}: {reason(error)}") from error
    return arrays


def check_images(images: np.ndarray, shape: tuple[int, int, int], what: str) -> None:
    """At least one image of ``shape`` (grayscale may lack its channel axis), uint8 or float in [0, 1]."""
    allowed = {shape, shape[:2]} if shape[2] == 1 else {shape}
    if images.shape[1:] not in allowed:
        raise DataError(f"{what} has shape {images.shape}, expected (N, {', '.join(map(str, shape))})")
    if len(images) == 0:
        raise DataError(f"{what} holds no images")
    if images.dtype == np.uint8:
        return
    if images.dtype.kind != "f" or not (np.isfinite(images).all() and images.min() >= 0 and images.max() <= 1):
        raise DataError(f"{what} is {images.dtype}, expected uint8 or floats in [0, 1]")


def check_image_file(path: Path, what: str) -> None:
    """Decode ``path`` at reduced scale (JPEG draft mode): finds truncated and non-image files cheaply."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.draft("RGB", (8, 8))
            image.load()
    # Pillow raises many types for broken files (UnidentifiedImageError, OSError,
    # SyntaxError, struct.error, DecompressionBombError); all mean "not a usable image".
    except Exception as error:  # noqa: BLE001
        raise DataError(f"{what}: cannot decode image {path}: {reason(error)}") from error


def decode_images(files: list[Path], size: tuple[int, int], what: str) -> np.ndarray:
    """uint8 (N, height, width, 3): RGB, bilinearly resized where needed."""
    from PIL import Image

    images = np.empty((len(files), size[0], size[1], 3), dtype=np.uint8)
    for index, path in enumerate(files):
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                if image.size != (size[1], size[0]):
                    image = image.resize((size[1], size[0]), Image.BILINEAR)
                images[index] = np.asarray(image)
        except Exception as error:  # noqa: BLE001  (as in check_image_file)
            raise DataError(f"{what}: cannot decode image {path}: {reason(error)}") from error
    return images
