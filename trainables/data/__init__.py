"""Datasets, augmentation and (in ``trainables.data.pipeline``, TensorFlow only) tf.data input.

Importing this package does not import TensorFlow's tf.data code; the trainable
imports ``trainables.data.pipeline`` itself.
"""

from trainables.data.archives import DataError, extract_archive
from trainables.data.augment import AUGMENT_PRESETS, AugmentConfig, RandomAffine, build_augmentation
from trainables.data.datasets import ArrayDataset, available_datasets, check_dataset, load_dataset

__all__ = [
    "AUGMENT_PRESETS",
    "ArrayDataset",
    "AugmentConfig",
    "DataError",
    "RandomAffine",
    "available_datasets",
    "build_augmentation",
    "check_dataset",
    "extract_archive",
    "load_dataset",
]
