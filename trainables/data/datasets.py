"""Datasets by name, as preprocessed NumPy arrays ready for the object store.

Real data comes from the Keras cache (downloaded on first use) or, on machines
without internet, from a ``--data-dir`` holding the standard files:

    <data_dir>/cifar-10-python.tar.gz   or  <data_dir>/cifar-10-batches-py/
    <data_dir>/mnist.npz                (keys x_train, y_train, x_test, y_test)
    <data_dir>/beans/{train,validation,test}/<class>/*.jpg|png

With a data directory only that directory is looked at. Anything missing becomes
one ``DataError`` that names the files and the directory. The validation split is
the test split, as in the seeds.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from trainables.data import synthetic
from trainables.data.archives import DataError, extract_archive

logger = logging.getLogger(__name__)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6)) + ("test_batch",)
MNIST_FILE = "mnist.npz"
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
BEANS_FOLDER = "beans"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
BEANS_DEFAULT_SIZE = 224


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


@dataclasses.dataclass(frozen=True)
class _Spec:
    """What a dataset name means: shape, classes and how to get the raw splits."""

    shape: tuple[int, int, int]
    num_classes: int
    subtract_mean: bool = False
    # Synthetic stand-ins: default train / validation sizes.
    synthetic_sizes: tuple[int, int] | None = None


_SPECS: dict[str, _Spec] = {
    "cifar10": _Spec((32, 32, 3), 10, subtract_mean=True),
    "mnist": _Spec((28, 28, 1), 10),
    "beans": _Spec((BEANS_DEFAULT_SIZE, BEANS_DEFAULT_SIZE, 3), 3),
    "synthetic-cifar10": _Spec((32, 32, 3), 10, subtract_mean=True, synthetic_sizes=(2048, 512)),
    "synthetic-mnist": _Spec((28, 28, 1), 10, synthetic_sizes=(2048, 512)),
    # Beans images are big (224x224x3 float32 = 0.6 MB each): keep the stand-in small.
    "synthetic-beans": _Spec((BEANS_DEFAULT_SIZE, BEANS_DEFAULT_SIZE, 3), 3, synthetic_sizes=(256, 64)),
    "digits": _Spec((8, 8, 1), 10),
}


def available_datasets() -> tuple[str, ...]:
    return tuple(_SPECS)


def _spec(name: str) -> _Spec:
    if name not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(_SPECS)}")
    return _SPECS[name]


# ---------------------------------------------------------------- locations


def _keras_cache_dirs() -> list[Path]:
    """Where keras.datasets caches downloads (it falls back to /tmp when ~ is read-only)."""
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    return [home / "datasets", Path("/tmp/.keras/datasets")]


def _data_dir(data_dir: str | os.PathLike) -> Path:
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataError(f"data dir {path} does not exist or is not a directory")
    return path


def _find_cifar10(directory: Path) -> Path | None:
    """The batches folder or the archive in ``directory`` (Keras' cache layout too)."""
    for candidate in (directory / CIFAR10_FOLDER, directory / "cifar-10-batches-py-target" / CIFAR10_FOLDER):
        if candidate.is_dir():
            return candidate
    archive = directory / CIFAR10_ARCHIVE
    return archive if archive.is_file() else None


def _cifar10_missing(directory: Path) -> DataError:
    return DataError(
        f"cifar10: expected {CIFAR10_ARCHIVE} or {CIFAR10_FOLDER}/ in {directory} "
        f"(download {CIFAR10_URL}, or run without --data-dir to download it)"
    )


def _mnist_missing(directory: Path) -> DataError:
    return DataError(
        f"mnist: expected {MNIST_FILE} (keys {', '.join(MNIST_KEYS)}) in {directory} "
        f"(download {MNIST_URL}, or run without --data-dir to download it)"
    )


def _beans_missing(directory: Path, detail: str = "") -> DataError:
    suffix = f" ({detail})" if detail else ""
    return DataError(
        f"beans: expected {BEANS_FOLDER}/train/<class>/*.jpg and {BEANS_FOLDER}/test/<class>/*.jpg "
        f"in {directory}{suffix}; get them from https://github.com/AI-Lab-Makerere/ibean, "
        "or install tensorflow-datasets and run without --data-dir"
    )


def _beans_root(directory: Path) -> Path:
    """``directory/beans``, or ``directory`` itself when it already is the beans tree."""
    if (directory / BEANS_FOLDER).is_dir() or directory.name != BEANS_FOLDER:
        return directory / BEANS_FOLDER
    return directory


# ---------------------------------------------------------------- readers


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """CIFAR batches are pickles: allow NumPy array reconstruction and nothing else."""

    _ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("_codecs", "encode"),  # Python 2 pickles store array bytes as latin-1 text
        }
    )

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")


def _read_cifar10_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as handle:
            batch = _NumpyOnlyUnpickler(handle, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int32)
        images = data.reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as error:
        raise DataError(f"cifar10: cannot read {path}: {error}") from error
    return images, labels


def _read_cifar10_found(found: Path) -> tuple[np.ndarray, ...]:
    """Read the batches folder; an archive is extracted next to itself first (once).

    A read-only data directory still works: the archive then goes to a temporary
    folder that is removed after reading.
    """
    if found.is_dir():
        return _read_cifar10(found)
    folder = found.parent / CIFAR10_FOLDER
    if not folder.is_dir():
        logger.info("extracting %s into %s", found, found.parent)
        try:
            extract_archive(found, found.parent)
        except PermissionError:
            with tempfile.TemporaryDirectory() as scratch:
                extract_archive(found, scratch)
                return _read_cifar10(Path(scratch) / CIFAR10_FOLDER)
    return _read_cifar10(folder)


def _read_cifar10(folder: Path) -> tuple[np.ndarray, ...]:
    missing = [batch for batch in CIFAR10_BATCHES if not (folder / batch).is_file()]
    if missing:
        raise DataError(f"cifar10: {folder} lacks {', '.join(missing)} (an incomplete {CIFAR10_FOLDER}/?)")
    train = [_read_cifar10_batch(folder / batch) for batch in CIFAR10_BATCHES[:-1]]
    x_val, y_val = _read_cifar10_batch(folder / CIFAR10_BATCHES[-1])
    x_train = np.concatenate([images for images, _ in train])
    y_train = np.concatenate([labels for _, labels in train])
    return x_train, y_train, x_val, y_val


def _read_mnist(path: Path) -> tuple[np.ndarray, ...]:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return tuple(arrays[key] for key in MNIST_KEYS)
    except (OSError, KeyError, ValueError) as error:
        raise DataError(f"mnist: cannot read {path} (needs keys {', '.join(MNIST_KEYS)}): {error}") from error


def _image_files(split_dir: Path) -> tuple[list[Path], list[str]]:
    """Image paths under ``split_dir/<class>/`` and the sorted class names."""
    class_names = sorted(entry.name for entry in split_dir.iterdir() if entry.is_dir())
    files = [
        path
        for class_name in class_names
        for path in sorted((split_dir / class_name).iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    return files, class_names


def _beans_splits(root: Path) -> dict[str, tuple[list[Path], list[str]]]:
    """Train and test file lists, validated without decoding anything."""
    splits = {}
    for split in ("train", "test"):
        split_dir = root / split
        if not split_dir.is_dir():
            raise _beans_missing(root.parent, f"no {split_dir}")
        files, class_names = _image_files(split_dir)
        if not files:
            raise _beans_missing(root.parent, f"no images in {split_dir}/<class>/")
        splits[split] = (files, class_names)
    unknown = set(splits["test"][1]) - set(splits["train"][1])
    if unknown:
        raise DataError(f"beans: test classes {sorted(unknown)} in {root} are not among the train classes")
    return splits


def _decode_images(files: list[Path], size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    images = np.empty((len(files), size[0], size[1], 3), dtype=np.uint8)
    for index, path in enumerate(files):
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
                if image.size != (size[1], size[0]):
                    image = image.resize((size[1], size[0]), Image.BILINEAR)
                images[index] = np.asarray(image)
        except OSError as error:
            raise DataError(f"beans: cannot decode {path}: {error}") from error
    return images


# ---------------------------------------------------------------- downloads


def _keras_download(name: str, url: str, loader: Callable[[], tuple]) -> tuple[np.ndarray, ...]:
    """Run a keras.datasets loader; any failure (no internet, bad hash) is a DataError."""
    logger.info("loading %s through keras.datasets (downloads %s on first use)", name, url)
    try:
        (x_train, y_train), (x_val, y_val) = loader()
    except Exception as error:  # urllib, HTTP, hash and extraction errors all mean "no data"
        raise DataError(
            f"{name}: could not download {url} into {_keras_cache_dirs()[0]} ({type(error).__name__}: {error}); "
            "put the file in a directory and pass --data-dir"
        ) from error
    return x_train, y_train, x_val, y_val


def _tfds_available() -> bool:
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        return False
    return True


def _beans_from_tfds(size: tuple[int, int], limits: tuple[int | None, int | None], seed: int):
    import tensorflow_datasets as tfds
    from PIL import Image

    try:
        splits = tfds.load("beans", split=["train", "test"], as_supervised=True)
    except Exception as error:  # download or preparation failure
        raise DataError(
            f"beans: TFDS could not download or prepare 'beans' ({type(error).__name__}: {error}); "
            f"pass --data-dir with {BEANS_FOLDER}/{{train,validation,test}}/<class>/*.jpg"
        ) from error
    arrays = []
    for split, limit in zip(splits, limits):
        images, labels = [], []
        for image, label in tfds.as_numpy(split):
            picture = Image.fromarray(image)
            if picture.size != (size[1], size[0]):
                picture = picture.resize((size[1], size[0]), Image.BILINEAR)
            images.append(np.asarray(picture))
            labels.append(label)
        index = _subset(len(images), limit, seed)
        arrays += [np.stack(images)[index], np.asarray(labels, dtype=np.int32)[index]]
    return arrays


# ---------------------------------------------------------------- public API


def check_dataset(name: str, data_dir: str | os.PathLike | None = None) -> None:
    """Cheap pre-flight before any trial starts: raise DataError if the data cannot be had.

    With ``data_dir`` only that directory is looked at (no decoding). Without it, a
    missing Keras/TFDS cache is filled now, once, in the driver, instead of by
    every trial at the same time.
    """
    _spec(name)
    if name.startswith("synthetic-"):
        return
    if name == "digits":
        try:
            import sklearn.datasets  # noqa: F401
        except ImportError as error:
            raise DataError("digits: needs scikit-learn (pip install scikit-learn)") from error
        return
    if data_dir is not None:
        directory = _data_dir(data_dir)
        if name == "cifar10":
            found = _find_cifar10(directory)
            if found is None:
                raise _cifar10_missing(directory)
            if found.is_dir():
                missing = [batch for batch in CIFAR10_BATCHES if not (found / batch).is_file()]
                if missing:
                    raise DataError(f"cifar10: {found} lacks {', '.join(missing)}")
        elif name == "mnist":
            path = directory / MNIST_FILE
            if not path.is_file():
                raise _mnist_missing(directory)
            try:
                with np.load(path, allow_pickle=False) as arrays:
                    keys = set(arrays.files)
            except (OSError, ValueError) as error:
                raise DataError(f"mnist: cannot read {path}: {error}") from error
            if not set(MNIST_KEYS) <= keys:
                raise DataError(f"mnist: {path} has keys {sorted(keys)}, needs {', '.join(MNIST_KEYS)}")
        else:
            _beans_splits(_beans_root(directory))
        return
    if name == "beans":
        if _tfds_available():
            import tensorflow_datasets as tfds

            try:
                tfds.builder("beans").download_and_prepare()
            except Exception as error:
                raise DataError(
                    f"beans: TFDS could not download or prepare 'beans' ({type(error).__name__}: {error}); "
                    f"pass --data-dir with {BEANS_FOLDER}/{{train,validation,test}}/<class>/*.jpg"
                ) from error
            return
        cache = _keras_cache_dirs()[0]
        try:
            _beans_splits(cache / BEANS_FOLDER)
        except DataError as error:
            raise DataError(
                f"{error}; tensorflow-datasets is not installed (pip install tensorflow-datasets) "
                "or pass --data-dir"
            ) from error
        return
    if _cached(name) is None:
        load_dataset(name, train_limit=1, val_limit=1)


def _cached(name: str) -> Path | None:
    """The cached cifar10 folder / mnist file, if a previous download left one."""
    for directory in _keras_cache_dirs():
        found = _find_cifar10(directory) if name == "cifar10" else directory / MNIST_FILE
        if found is not None and found.exists():
            return found
    return None


def _raw_splits(name: str, data_dir: str | os.PathLike | None) -> tuple[np.ndarray, ...]:
    """uint8 (or [0,1] float) images and labels of a real dataset, train then test."""
    if name == "cifar10":
        if data_dir is not None:
            directory = _data_dir(data_dir)
            found = _find_cifar10(directory)
            if found is None:
                raise _cifar10_missing(directory)
            return _read_cifar10_found(found)
        found = _cached(name)
        if found is not None:
            return _read_cifar10_found(found)
        import keras

        return _keras_download(name, CIFAR10_URL, keras.datasets.cifar10.load_data)
    if name == "mnist":
        if data_dir is not None:
            directory = _data_dir(data_dir)
            if not (directory / MNIST_FILE).is_file():
                raise _mnist_missing(directory)
            return _read_mnist(directory / MNIST_FILE)
        found = _cached(name)
        if found is not None:
            return _read_mnist(found)
        import keras

        return _keras_download(name, MNIST_URL, keras.datasets.mnist.load_data)
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        # A fixed split (not the trial seed) so every trial validates on the same images.
        order = np.random.default_rng(0).permutation(len(digits.target))
        split = int(round(0.8 * len(order)))
        images = (digits.images / 16.0).astype(np.float32)[..., None]
        labels = digits.target.astype(np.int32)
        return images[order[:split]], labels[order[:split]], images[order[split:]], labels[order[split:]]
    raise AssertionError(f"no raw reader for {name}")


def _subset(count: int, limit: int | None, seed: int) -> np.ndarray | slice:
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
    spec = _spec(name)
    for label, limit in (("train_limit", train_limit), ("val_limit", val_limit)):
        if limit is not None and limit < 1:
            raise ValueError(f"{label} must be a positive int or None, got {limit!r}")
    size = _size(image_size, spec.shape[:2])

    if spec.synthetic_sizes is not None:
        train_size = train_limit or spec.synthetic_sizes[0]
        val_size = val_limit or spec.synthetic_sizes[1]
        x_train, y_train, x_val, y_val = synthetic.generate(
            name, (*size, spec.shape[2]), spec.num_classes, train_size, val_size, seed
        )
    elif name == "beans":
        if data_dir is None and _tfds_available():
            x_train, y_train, x_val, y_val = _beans_from_tfds(size, (train_limit, val_limit), seed)
        else:
            root = _beans_root(_data_dir(data_dir)) if data_dir is not None else _keras_cache_dirs()[0] / BEANS_FOLDER
            splits = _beans_splits(root)
            class_ids = {class_name: index for index, class_name in enumerate(splits["train"][1])}
            arrays = []
            for split, limit in (("train", train_limit), ("test", val_limit)):
                files = splits[split][0]
                files = [files[index] for index in np.arange(len(files))[_subset(len(files), limit, seed)]]
                labels = np.asarray([class_ids[path.parent.name] for path in files], dtype=np.int32)
                arrays += [_decode_images(files, size), labels]
            x_train, y_train, x_val, y_val = arrays
    else:
        x_train, y_train, x_val, y_val = _raw_splits(name, data_dir)
        train_index = _subset(len(x_train), train_limit, seed)
        val_index = _subset(len(x_val), val_limit, seed)
        x_train, y_train = x_train[train_index], y_train[train_index]
        x_val, y_val = x_val[val_index], y_val[val_index]

    x_train, x_val = _to_float(x_train), _to_float(x_val)
    x_train, x_val = _resize(x_train, size), _resize(x_val, size)
    if spec.subtract_mean:
        mean = np.float32(x_train.mean(dtype=np.float64))
        x_train -= mean
        x_val -= mean
    return ArrayDataset(
        name=name,
        x_train=x_train,
        y_train=np.asarray(y_train, dtype=np.int32).reshape(-1),
        x_val=x_val,
        y_val=np.asarray(y_val, dtype=np.int32).reshape(-1),
        num_classes=spec.num_classes,
    )
