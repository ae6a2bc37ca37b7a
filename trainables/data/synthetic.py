"""Generated stand-ins for the real datasets, for tests and smoke runs offline.

Each class gets a smooth random template (a coarse random grid upsampled to the
image size); an image is its class template with a random contrast plus pixel
noise. A linear model or a tiny net gets well above chance within an epoch or
two, so a smoke run can tell "learns" from "broken" without any download.
"""

from __future__ import annotations

import zlib

import numpy as np

# Coarse grid that the templates are drawn on: smooth at any image size.
TEMPLATE_GRID = 4
TEMPLATE_AMPLITUDE = 0.25
NOISE_STDDEV = 0.2


def _interpolation_matrix(size: int, grid: int) -> np.ndarray:
    """(size, grid) matrix that linearly interpolates grid values to ``size`` points."""
    positions = np.linspace(0.0, grid - 1, size)
    lower = np.clip(np.floor(positions).astype(int), 0, grid - 2) if grid > 1 else np.zeros(size, int)
    fraction = positions - lower
    matrix = np.zeros((size, grid), dtype=np.float32)
    matrix[np.arange(size), lower] = 1.0 - fraction
    if grid > 1:
        matrix[np.arange(size), lower + 1] += fraction
    return matrix


def class_templates(num_classes: int, shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """Smooth per-class patterns in [-1, 1], shape (num_classes, H, W, C)."""
    height, width, channels = shape
    coarse = rng.uniform(-1.0, 1.0, size=(num_classes, TEMPLATE_GRID, TEMPLATE_GRID, channels)).astype(np.float32)
    rows = _interpolation_matrix(height, TEMPLATE_GRID)
    cols = _interpolation_matrix(width, TEMPLATE_GRID)
    return np.einsum("hg,ngkc,wk->nhwc", rows, coarse, cols, optimize=True)


def make_images(
    templates: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` images in [0, 1] (float32 NHWC) and their int32 labels."""
    num_classes = templates.shape[0]
    labels = rng.integers(0, num_classes, size=count).astype(np.int32)
    contrast = rng.uniform(0.6, 1.4, size=(count, 1, 1, 1)).astype(np.float32)
    images = rng.standard_normal(size=(count, *templates.shape[1:]), dtype=np.float32)
    images *= NOISE_STDDEV
    images += 0.5 + TEMPLATE_AMPLITUDE * contrast * templates[labels]
    np.clip(images, 0.0, 1.0, out=images)
    return images, labels


def generate(
    name: str,
    shape: tuple[int, int, int],
    num_classes: int,
    train_size: int,
    val_size: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and validation splits drawn from the same class templates.

    Deterministic in (name, seed): the name is mixed into the seed so that two
    stand-ins never share templates by accident.
    """
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    templates = class_templates(num_classes, shape, rng)
    x_train, y_train = make_images(templates, train_size, rng)
    x_val, y_val = make_images(templates, val_size, rng)
    return x_train, y_train, x_val, y_val
