"""Image augmentation from config keys, as the seeds' Keras 2 ImageDataGenerator did.

All geometric transforms (rotation, shift, shear, zoom, horizontal flip) are
composed into ONE 3x3 matrix per image and applied with ONE
``keras.ops.image.affine_transform`` call per batch. Four stock Keras layers
would resample the batch four times; the fused layer resamples once, which is
both faster and closer to ImageDataGenerator (it also composes one matrix).

keras.ops only, no tensorflow import: the layer runs on any backend, inside a
model on the accelerator or in a tf.data map (TensorFlow backend).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import keras
from keras import layers, ops


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Augmentation ranges; zero / False disables a transform."""

    rotation: float = 0.0  # degrees, uniform in [-rotation, rotation] (ImageDataGenerator rotation_range)
    horizontal_flip: bool = False  # mirror left-right with probability 1/2
    width_shift: float = 0.0  # fraction of the width, uniform in [-w, w] (width_shift_range < 1)
    height_shift: float = 0.0  # fraction of the height (height_shift_range < 1)
    zoom: float = 0.0  # scale in [1 - zoom, 1 + zoom], drawn per axis; > 1 zooms out (zoom_range)
    shear: float = 0.0  # degrees, uniform in [-shear, shear] (shear_range)

    def __post_init__(self) -> None:
        for name in ("rotation", "shear"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 180:
                raise ValueError(f"augmentation {name} must be degrees in [0, 180], got {value!r}")
        for name in ("width_shift", "height_shift", "zoom"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
                raise ValueError(f"augmentation {name} must be a fraction in [0, 1), got {value!r}")
        if not isinstance(self.horizontal_flip, bool):
            raise ValueError(f"augmentation horizontal_flip must be a bool, got {self.horizontal_flip!r}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> AugmentConfig:
        """Pick this config's keys out of a (flat trial) config; other keys are ignored."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in mapping.items() if key in names})

    @property
    def enabled(self) -> bool:
        return any(dataclasses.asdict(self).values())

    @property
    def enabled_transforms(self) -> tuple[str, ...]:
        return tuple(name for name, value in dataclasses.asdict(self).items() if value)


# The seeds' two settings, for search spaces and benchmarks.
AUGMENT_PRESETS: dict[str, AugmentConfig] = {
    "none": AugmentConfig(),
    "aprelu_record1": AugmentConfig(rotation=30, horizontal_flip=True, width_shift=0.125, height_shift=0.125),
    "aprelu_record16": AugmentConfig(
        rotation=30, horizontal_flip=True, width_shift=0.125, height_shift=0.125, zoom=0.2, shear=30
    ),
}

# Columns of the uniform [0, 1) draws, one row per image.
_ROTATION, _SHEAR, _ZOOM_X, _ZOOM_Y, _SHIFT_X, _SHIFT_Y, _FLIP = range(7)
RANDOM_VALUES_PER_IMAGE = 7


def _symmetric(uniform, limit: float):
    """Map [0, 1) to [-limit, limit)."""
    return (2.0 * uniform - 1.0) * limit


@keras.saving.register_keras_serializable(package="trainables")
class RandomAffine(layers.Layer):
    """ImageDataGenerator's random rotation, shift, shear, zoom and flip in one resampling.

    Per image, as ImageDataGenerator: M = rotation @ shift @ shear @ zoom about the
    image center, then the flip. M maps output pixels to input pixels; pixels that
    come from outside are filled by ``fill_mode`` ("nearest", ImageDataGenerator's
    default), bilinear interpolation (its interpolation_order=1). At inference
    (training=False) the layer is the identity.

    ``transform(images, uniforms)`` applies given random draws (one row of
    ``RANDOM_VALUES_PER_IMAGE`` uniforms in [0, 1) per image): a tf.data pipeline
    draws them statelessly per batch so its output is deterministic for a seed.
    """

    def __init__(
        self,
        rotation: float = 0.0,
        width_shift: float = 0.0,
        height_shift: float = 0.0,
        zoom: float = 0.0,
        shear: float = 0.0,
        horizontal_flip: bool = False,
        fill_mode: str = "nearest",
        interpolation: str = "bilinear",
        seed: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        # Validation lives in AugmentConfig; keep the layer's own copy of the ranges.
        self.augment_config = AugmentConfig(
            rotation=float(rotation),
            horizontal_flip=bool(horizontal_flip),
            width_shift=float(width_shift),
            height_shift=float(height_shift),
            zoom=float(zoom),
            shear=float(shear),
        )
        if fill_mode not in ("nearest", "constant", "reflect", "wrap"):
            raise ValueError(f"fill_mode must be nearest, constant, reflect or wrap, got {fill_mode!r}")
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"interpolation must be nearest or bilinear, got {interpolation!r}")
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        # TensorFlow's ImageProjectiveTransformV3 has no XLA kernel: tell Keras not to
        # jit-compile a model holding this layer ("auto"). JAX's version jit-compiles.
        self.supports_jit = keras.backend.backend() != "tensorflow"

    @property
    def enabled_transforms(self) -> tuple[str, ...]:
        return self.augment_config.enabled_transforms

    @property
    def _geometric(self) -> bool:
        config = self.augment_config
        return any((config.rotation, config.width_shift, config.height_shift, config.zoom, config.shear))

    def transform_matrices(self, uniforms, height: int, width: int):
        """(N, 8) output-to-input transforms in the layout affine_transform expects.

        Coordinates are (x = column, y = row). Disabled transforms contribute the
        identity because their range is zero.
        """
        config = self.augment_config
        uniforms = ops.cast(uniforms, "float32")
        theta = _symmetric(uniforms[:, _ROTATION], math.radians(config.rotation))
        shear = _symmetric(uniforms[:, _SHEAR], math.radians(config.shear))
        zoom_x = 1.0 + _symmetric(uniforms[:, _ZOOM_X], config.zoom)
        zoom_y = 1.0 + _symmetric(uniforms[:, _ZOOM_Y], config.zoom)
        shift_x = _symmetric(uniforms[:, _SHIFT_X], config.width_shift * width)
        shift_y = _symmetric(uniforms[:, _SHIFT_Y], config.height_shift * height)
        if config.horizontal_flip:
            flip = ops.where(uniforms[:, _FLIP] < 0.5, -1.0, 1.0)
        else:
            flip = ops.ones_like(theta)
        cos, sin = ops.cos(theta), ops.sin(theta)
        shear_sin, shear_cos = -ops.sin(shear), ops.cos(shear)
        # rotation @ shear @ zoom @ flip (2x2 part), written out per entry.
        a00 = (cos * zoom_x) * flip
        a01 = (cos * shear_sin - sin * shear_cos) * zoom_y
        a10 = (sin * zoom_x) * flip
        a11 = (sin * shear_sin + cos * shear_cos) * zoom_y
        # Translation: the rotated shift, then re-centering around the image center.
        offset_x = cos * shift_x - sin * shift_y
        offset_y = sin * shift_x + cos * shift_y
        center_x, center_y = (width - 1) / 2.0, (height - 1) / 2.0
        b0 = center_x - a00 * center_x - a01 * center_y + offset_x
        b1 = center_y - a10 * center_x - a11 * center_y + offset_y
        zeros = ops.zeros_like(theta)
        return ops.stack([a00, a01, b0, a10, a11, b1, zeros, zeros], axis=1)

    def transform(self, images, uniforms):
        """Apply the transforms that ``uniforms`` (N, RANDOM_VALUES_PER_IMAGE) select."""
        unbatched = len(images.shape) == 3
        if unbatched:
            images = ops.expand_dims(images, 0)
        if self._geometric:
            height, width = images.shape[1], images.shape[2]
            outputs = ops.image.affine_transform(
                images,
                self.transform_matrices(uniforms, height, width),
                interpolation=self.interpolation,
                fill_mode=self.fill_mode,
                data_format="channels_last",
            )
        elif self.augment_config.horizontal_flip:
            # Flip only: a gather is exact and cheaper than resampling.
            flip = ops.reshape(uniforms[:, _FLIP] < 0.5, (-1, 1, 1, 1))
            outputs = ops.where(flip, ops.flip(images, axis=2), images)
        else:
            outputs = images
        return ops.squeeze(outputs, 0) if unbatched else outputs

    def call(self, images, training=True):
        if not training or not self.augment_config.enabled:
            return images
        batch_size = 1 if len(images.shape) == 3 else ops.shape(images)[0]
        uniforms = keras.random.uniform((batch_size, RANDOM_VALUES_PER_IMAGE), seed=self.seed_generator)
        return self.transform(images, uniforms)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(dataclasses.asdict(self.augment_config))
        config.update(fill_mode=self.fill_mode, interpolation=self.interpolation, seed=self.seed)
        return config


def build_augmentation(
    config: AugmentConfig | Mapping[str, Any], seed: int | None = None
) -> keras.Sequential | None:
    """A Sequential holding one RandomAffine, or None when nothing is enabled.

    Usable as a tf.data map (see pipeline.train_dataset) or as the first layer of
    a model, so the augmentation runs on the accelerator.
    """
    if not isinstance(config, AugmentConfig):
        config = AugmentConfig.from_mapping(config)
    if not config.enabled:
        return None
    return keras.Sequential([RandomAffine(**dataclasses.asdict(config), seed=seed)], name="augmentation")
