"""RandomAffine / build_augmentation: each transform only when asked, and within its range.

Ranges are measured on images with a single bright marker: the marker's
intensity-weighted centroid tells how far it moved, rotated or scaled.
"""

import math

import keras
import numpy as np
import pytest
from scipy import ndimage

from trainables.data.augment import (
    AUGMENT_PRESETS,
    RANDOM_VALUES_PER_IMAGE,
    AugmentConfig,
    RandomAffine,
    build_augmentation,
)

SIZE = 33  # odd, so the center is a pixel
CENTER = (SIZE - 1) / 2
SAMPLES = 64


def marker_images(row: int, col: int, count: int = SAMPLES) -> np.ndarray:
    images = np.zeros((count, SIZE, SIZE, 1), dtype=np.float32)
    images[:, row, col, 0] = 1.0
    return images


def centroids(images: np.ndarray) -> np.ndarray:
    """(N, 2) marker positions (x = column, y = row) relative to the center."""
    weights = images[..., 0]
    total = weights.sum(axis=(1, 2))
    rows, cols = np.mgrid[0:SIZE, 0:SIZE]
    x = (weights * cols).sum(axis=(1, 2)) / total - CENTER
    y = (weights * rows).sum(axis=(1, 2)) / total - CENTER
    return np.stack([x, y], axis=1)


def augmented(images: np.ndarray, seed: int = 0, **ranges) -> np.ndarray:
    layer = RandomAffine(**ranges, seed=seed)
    return keras.ops.convert_to_numpy(layer(images, training=True))


def only(layer_sequence) -> RandomAffine:
    (layer,) = layer_sequence.layers
    assert isinstance(layer, RandomAffine)
    return layer


# ---------------------------------------------------------------- configuration


def test_all_zero_gives_no_augmentation():
    assert build_augmentation(AugmentConfig()) is None
    assert build_augmentation({}) is None
    assert build_augmentation({"rotation": 0, "horizontal_flip": False, "lr": 0.1}) is None


@pytest.mark.parametrize(
    "key, value",
    [("rotation", 30.0), ("horizontal_flip", True), ("width_shift", 0.125), ("height_shift", 0.125), ("zoom", 0.2), ("shear", 30.0)],
)
def test_only_the_requested_transform_is_enabled(key, value):
    layer = only(build_augmentation({key: value, "model": "aprelu_resnet"}))
    assert layer.enabled_transforms == (key,)
    config = layer.get_config()
    for other in ("rotation", "width_shift", "height_shift", "zoom", "shear"):
        assert config[other] == (value if other == key else 0.0)
    assert config["horizontal_flip"] is (key == "horizontal_flip")
    assert config["fill_mode"] == "nearest"


def test_from_mapping_ignores_other_trial_keys_and_presets_match_the_seeds():
    config = AugmentConfig.from_mapping({"rotation": 30, "zoom": 0.2, "lr": 0.1, "model": "x"})
    assert config == AugmentConfig(rotation=30, zoom=0.2)
    assert config.enabled and not AugmentConfig().enabled
    assert AUGMENT_PRESETS["aprelu_record16"].enabled_transforms == (
        "rotation", "horizontal_flip", "width_shift", "height_shift", "zoom", "shear"
    )
    assert AUGMENT_PRESETS["aprelu_record1"].zoom == 0 and AUGMENT_PRESETS["aprelu_record1"].shear == 0


@pytest.mark.parametrize(
    "bad", [{"rotation": -1}, {"rotation": 200}, {"zoom": 1.0}, {"width_shift": 2}, {"shear": "30"}, {"horizontal_flip": 1}]
)
def test_invalid_ranges_are_refused_with_the_value(bad):
    (key, value), = bad.items()
    with pytest.raises(ValueError, match=key):
        AugmentConfig(**bad)


def test_config_round_trip_and_identity_at_inference():
    layer = RandomAffine(rotation=10, zoom=0.1, horizontal_flip=True, seed=3)
    clone = RandomAffine.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    images = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images, training=False)), images)


def test_usable_as_first_layer_of_a_model():
    augmentation = build_augmentation(AUGMENT_PRESETS["aprelu_record16"], seed=0)
    model = keras.Sequential([keras.Input((8, 8, 3)), augmentation, keras.layers.Flatten(), keras.layers.Dense(2)])
    images = np.random.default_rng(0).random((4, 8, 8, 3), dtype=np.float32)
    # Inference skips augmentation: the model equals its layers without it.
    expected = model.layers[-1](model.layers[-2](images))
    np.testing.assert_allclose(model.predict(images, verbose=0), keras.ops.convert_to_numpy(expected), rtol=1e-5)
    assert model(images, training=True).shape == (4, 2)
    # Trains with Keras' default jit_compile="auto" (XLA is turned off on TensorFlow).
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(images, np.array([0, 1, 0, 1]), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_same_seed_same_output_and_unbatched_input():
    images = np.random.default_rng(1).random((4, 16, 16, 3), dtype=np.float32)
    first = augmented(images, seed=7, rotation=30, zoom=0.2)
    np.testing.assert_array_equal(first, augmented(images, seed=7, rotation=30, zoom=0.2))
    assert not np.allclose(first, augmented(images, seed=8, rotation=30, zoom=0.2))
    assert RandomAffine(rotation=30)(images[0], training=True).shape == (16, 16, 3)


# ---------------------------------------------------------------- composition


def imagedatagenerator_reference(image: np.ndarray, uniforms: np.ndarray, config: AugmentConfig) -> np.ndarray:
    """ImageDataGenerator's matrix (rotation @ shift @ shear @ zoom about the center, then flip), via SciPy."""
    height, width = image.shape[:2]
    theta = math.radians((2 * uniforms[0] - 1) * config.rotation)
    shear = math.radians((2 * uniforms[1] - 1) * config.shear)
    zoom_x, zoom_y = 1 + (2 * uniforms[2] - 1) * config.zoom, 1 + (2 * uniforms[3] - 1) * config.zoom
    shift_x = (2 * uniforms[4] - 1) * config.width_shift * width
    shift_y = (2 * uniforms[5] - 1) * config.height_shift * height
    flip = -1.0 if config.horizontal_flip and uniforms[6] < 0.5 else 1.0
    rotation = np.array([[math.cos(theta), -math.sin(theta), 0], [math.sin(theta), math.cos(theta), 0], [0, 0, 1]])
    shift = np.array([[1, 0, shift_x], [0, 1, shift_y], [0, 0, 1]])
    shear_matrix = np.array([[1, -math.sin(shear), 0], [0, math.cos(shear), 0], [0, 0, 1]])
    matrix = rotation @ shift @ shear_matrix @ np.diag([zoom_x, zoom_y, 1.0]) @ np.diag([flip, 1.0, 1.0])
    center = np.eye(3)
    center[:2, 2] = [(width - 1) / 2, (height - 1) / 2]
    matrix = center @ matrix @ np.linalg.inv(center)
    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]])  # (x, y) -> (row, col) for SciPy
    matrix = swap @ matrix @ swap
    channels = [
        ndimage.affine_transform(image[..., channel], matrix[:2, :2], offset=matrix[:2, 2], order=1, mode="nearest")
        for channel in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1)


def test_fused_transform_matches_imagedatagenerator_composition():
    config = AUGMENT_PRESETS["aprelu_record16"]
    layer = RandomAffine(**vars(config))
    rng = np.random.default_rng(0)
    images = rng.random((6, 20, 24, 3), dtype=np.float32)
    uniforms = rng.random((6, RANDOM_VALUES_PER_IMAGE), dtype=np.float32)
    result = keras.ops.convert_to_numpy(layer.transform(images, uniforms))
    expected = np.stack([imagedatagenerator_reference(image, row, config) for image, row in zip(images, uniforms)])
    np.testing.assert_allclose(result, expected, atol=1e-4)


# ---------------------------------------------------------------- ranges


def test_flip_gives_the_image_or_its_exact_mirror():
    images = np.random.default_rng(0).random((SAMPLES, 8, 8, 3), dtype=np.float32)
    result = augmented(images, horizontal_flip=True)
    same = np.all(result == images, axis=(1, 2, 3))
    mirrored = np.all(result == images[:, :, ::-1], axis=(1, 2, 3))
    assert np.all(same | mirrored)
    assert same.any() and mirrored.any()


def test_flip_inside_an_affine_transform_is_still_exact():
    images = np.random.default_rng(0).random((SAMPLES, 8, 8, 3), dtype=np.float32)
    layer = RandomAffine(horizontal_flip=True, rotation=30)
    uniforms = np.full((SAMPLES, RANDOM_VALUES_PER_IMAGE), 0.5, dtype=np.float32)  # zero rotation
    uniforms[: SAMPLES // 2, 6] = 0.0  # flip the first half
    result = keras.ops.convert_to_numpy(layer.transform(images, uniforms))
    np.testing.assert_allclose(result[: SAMPLES // 2], images[: SAMPLES // 2, :, ::-1], atol=1e-6)
    np.testing.assert_allclose(result[SAMPLES // 2 :], images[SAMPLES // 2 :], atol=1e-6)


@pytest.mark.parametrize("width_shift, height_shift", [(0.125, 0.0), (0.0, 0.2), (0.1, 0.1)])
def test_translation_is_at_most_the_fraction(width_shift, height_shift):
    center = int(CENTER)
    moved = centroids(augmented(marker_images(center, center), width_shift=width_shift, height_shift=height_shift))
    limit = np.array([width_shift, height_shift]) * SIZE
    assert np.all(np.abs(moved) <= limit + 1e-3)
    # And it does move: the largest shift seen is near the limit on each enabled axis.
    assert np.all(np.abs(moved).max(axis=0) >= 0.6 * limit)


def test_rotation_is_at_most_the_angle():
    radius = 10
    moved = centroids(augmented(marker_images(int(CENTER) - radius, int(CENTER)), rotation=30))
    angles = np.degrees(np.arctan2(moved[:, 0], -moved[:, 1]))  # 0 = straight up
    assert np.all(np.abs(angles) <= 30 + 1.0)
    assert np.abs(angles).max() >= 20
    np.testing.assert_allclose(np.hypot(*moved.T), radius, atol=0.5)


def test_zoom_is_within_range_on_each_axis():
    offset = 10
    moved = centroids(augmented(marker_images(int(CENTER), int(CENTER) + offset), zoom=0.2))
    # Output-to-input scale z in [0.8, 1.2] puts the marker at offset / z.
    scale = offset / moved[:, 0]
    assert np.all((scale >= 0.8 - 0.02) & (scale <= 1.2 + 0.02))
    assert scale.min() < 0.9 and scale.max() > 1.1
    np.testing.assert_allclose(moved[:, 1], 0, atol=1e-3)


def test_shear_is_at_most_the_angle():
    radius = 10
    moved = centroids(augmented(marker_images(int(CENTER) - radius, int(CENTER)), shear=30))
    # A centered shear by s moves a point above the center sideways at angle s.
    angles = np.degrees(np.arctan2(moved[:, 0], -moved[:, 1]))
    assert np.all(np.abs(angles) <= 30 + 1.0)
    assert np.abs(angles).max() >= 20
