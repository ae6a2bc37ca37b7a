"""Beans leaf images from an image tree, or through TensorFlow Datasets."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainables.data.archives import DataError
from trainables.data.readers import check_image_file, decode_images
from trainables.data.sources import base
from trainables.data.sources.base import Request, Source, Split

FOLDER = "beans"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SPLITS = ("train", "test")
VALIDATION = "validation"  # its own validation split: the held-out protocol's (load_dataset)
CLASSES = ("angular_leaf_spot", "bean_rust", "healthy")
TFDS_HINT = f"pass --data-dir with {FOLDER}/{{train,validation,test}}/<class>/*.jpg"

Tree = dict[str, tuple[list[Path], list[str]]]  # split -> (image files, sorted class names)


class Beans(Source):
    """beans: 1,034 + 133 + 128 photos of bean leaves, 3 classes (TensorFlow Datasets, or an image tree)."""

    name = "beans"
    shape = (224, 224, 3)
    num_classes = len(CLASSES)
    ships_validation = True

    def check(self, data_dir: Path | None) -> None:
        """With files: every image decoded at 1/8 scale (cheap; finds truncated and non-image files)."""
        if data_dir is None and _tfds_available():
            _tfds_prepare()
            return
        for files, _ in self._tree(data_dir).values():
            for path in files:
                check_image_file(path, self.name)

    def load(self, request: Request) -> tuple[Split, Split]:
        if request.data_dir is None and _tfds_available():
            return _tfds_splits(request.size)
        tree = self._tree(request.data_dir)
        class_ids = {class_name: index for index, class_name in enumerate(tree["train"][1])}
        return tuple(_files_split(tree[split][0], class_ids, request.size) for split in SPLITS)

    def validation_split(self, request: Request) -> Split | None:
        """beans/validation/<class>/ (or TFDS' validation split); None when a tree lacks it."""
        if request.data_dir is None and _tfds_available():
            return _tfds_splits(request.size, (VALIDATION,))[0]
        root = self._root_of(request.data_dir)
        if not (root / VALIDATION).is_dir():
            return None
        files, classes = _list_split(root / VALIDATION)
        train_classes = self._tree(request.data_dir)["train"][1]
        unknown = set(classes) - set(train_classes)
        if unknown or not files:
            raise DataError(f"beans: {root / VALIDATION} has no images or classes {sorted(unknown)} not among train's")
        return _files_split(files, {name: index for index, name in enumerate(train_classes)}, request.size)

    def _root_of(self, data_dir: Path | None) -> Path:
        return _root(base.data_directory(data_dir)) if data_dir is not None else base.keras_cache_dirs()[0] / FOLDER

    def _tree(self, data_dir: Path | None) -> Tree:
        if data_dir is not None:
            return _read_tree(_root(base.data_directory(data_dir)), self.num_classes)
        try:
            return _read_tree(base.keras_cache_dirs()[0] / FOLDER, self.num_classes)
        except DataError as error:
            raise DataError(
                f"{error}; tensorflow-datasets is not installed (pip install tensorflow-datasets) or pass --data-dir"
            ) from error

    def write_sample(self, directory: Path) -> list[Path]:
        """One small image per class and split, alternating JPEG and PNG."""
        from PIL import Image

        files = []
        for split in (*SPLITS, "validation"):
            for class_index, class_name in enumerate(CLASSES):
                folder = directory / FOLDER / split / class_name
                folder.mkdir(parents=True)
                path = folder / f"image.{'png' if class_index % 2 else 'jpg'}"
                Image.fromarray(np.full((10, 12, 3), 60 * class_index, dtype=np.uint8)).save(path)
                files += [path] if split in SPLITS else []
        return files


def _missing(directory: Path, detail: str) -> DataError:
    return DataError(
        f"beans: expected {FOLDER}/train/<class>/*.jpg and {FOLDER}/test/<class>/*.jpg "
        f"in {directory} ({detail}); get them from https://github.com/AI-Lab-Makerere/ibean, "
        "or install tensorflow-datasets and run without --data-dir"
    )


def _root(directory: Path) -> Path:
    """``directory/beans``, or ``directory`` itself when it already is the beans tree."""
    if (directory / FOLDER).is_dir() or directory.name != FOLDER:
        return directory / FOLDER
    return directory


def _read_tree(root: Path, num_classes: int) -> Tree:
    """Train and test image lists, checked without decoding: every file must be an image."""
    tree = {}
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            raise _missing(root.parent, f"no {split_dir}")
        tree[split] = _list_split(split_dir)
        if not tree[split][0]:
            raise _missing(root.parent, f"no images in {split_dir}/<class>/")
    classes = tree["train"][1]
    if len(classes) > num_classes:
        raise DataError(f"beans: {root / 'train'} has {len(classes)} class folders {classes}, at most {num_classes}")
    unknown = set(tree["test"][1]) - set(classes)
    if unknown:
        raise DataError(f"beans: test classes {sorted(unknown)} in {root} are not among the train classes")
    return tree


def _list_split(split_dir: Path) -> tuple[list[Path], list[str]]:
    """Image paths under ``split_dir/<class>/`` and the sorted class names.

    Hidden files (``.DS_Store``) are skipped; anything else that is not an image
    is refused, since a stray file usually means a wrongly unpacked tree.
    """
    visible = sorted(entry for entry in split_dir.iterdir() if not entry.name.startswith("."))
    strays = [entry for entry in visible if not entry.is_dir()]
    if strays:
        raise DataError(f"beans: {strays[0]} is not a class folder (expected {split_dir}/<class>/*.jpg)")
    files = []
    for class_dir in visible:
        for path in sorted(class_dir.iterdir()):
            if path.name.startswith("."):
                continue
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"beans: {path} is not a {'/'.join(IMAGE_SUFFIXES)} image file")
            files.append(path)
    return files, [class_dir.name for class_dir in visible]


def _files_split(files: list[Path], class_ids: dict[str, int], size: tuple[int, int]) -> Split:
    labels = np.asarray([class_ids[path.parent.name] for path in files], dtype=np.int32)

    def take(index: base.Index) -> tuple[np.ndarray, np.ndarray]:
        chosen = [files[position] for position in np.arange(len(files))[index]]
        return decode_images(chosen, size, "beans"), labels[index]

    return Split(len(files), take, labels)


def _tfds_available() -> bool:
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError:
        return False
    return True


def _tfds_prepare() -> None:
    import tensorflow_datasets as tfds

    try:
        tfds.builder("beans").download_and_prepare()
    except Exception as error:  # download or preparation failure
        raise DataError(
            f"beans: TFDS could not download or prepare 'beans' ({type(error).__name__}: {error}); {TFDS_HINT}"
        ) from error


def _tfds_splits(size: tuple[int, int], names: tuple[str, ...] = SPLITS) -> tuple[Split, ...]:
    """TFDS' splits by name, every image resized (TFDS output is trusted: it checks its downloads)."""
    import tensorflow_datasets as tfds
    from PIL import Image

    try:
        splits = tfds.load("beans", split=list(names), as_supervised=True)
    except Exception as error:  # download or preparation failure
        raise DataError(
            f"beans: TFDS could not download or prepare 'beans' ({type(error).__name__}: {error}); {TFDS_HINT}"
        ) from error
    result = []
    for split in splits:
        images, labels = [], []
        for image, label in tfds.as_numpy(split):
            picture = Image.fromarray(image)
            if picture.size != (size[1], size[0]):
                picture = picture.resize((size[1], size[0]), Image.BILINEAR)
            images.append(np.asarray(picture))
            labels.append(label)
        result.append(Split.of_arrays(np.stack(images), np.asarray(labels, dtype=np.int32)))
    return tuple(result)
