"""MobileNetV2 written out as in the ReLU-family seed (`003_*`): 224x224x3, 16 inverted residuals.

Activations are swapped by name (relu6, leaky_relu, prelu per element, prelu_channel, selu, ...).
SELU gets lecun_normal kernels unless an initializer is given, as its paper (and the seed) asks.
"""

from __future__ import annotations

import keras
from keras import layers

from trainables.activations import get_activation
from trainables.models.registry import register_model

# (input channels, output channels, stride) of the 16 inverted-residual blocks, expansion 6.
_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (16, 24, 2), (24, 24, 1), (24, 32, 2), (32, 32, 1), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 64, 1),
    (64, 64, 1), (64, 96, 1), (96, 96, 1), (96, 96, 1), (96, 160, 2), (160, 160, 1), (160, 160, 1), (160, 320, 1),
)
_EXPANSION = 6
_LAST_CHANNELS = 1280


def _scaled(channels: int, width_multiplier: float, divisor: int = 8) -> int:
    """Channels times the multiplier, rounded to a multiple of 8 and never below 90% (as keras.applications)."""
    scaled = channels * width_multiplier
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return rounded


@register_model("mobilenet_v2")
def mobilenet_v2(
    *,
    input_shape: tuple = (224, 224, 3),
    num_classes: int = 3,
    activation: str = "relu6",
    width_multiplier: float = 1.0,
    kernel_initializer: str | None = None,
) -> keras.Model:
    """The seed's MobileNetV2 (2,261,827 parameters with relu6; 8,367,619 with per-element prelu)."""
    if isinstance(width_multiplier, bool) or not width_multiplier > 0:
        raise ValueError(f"width_multiplier must be > 0, got {width_multiplier!r}")
    if kernel_initializer is None:
        kernel_initializer = "lecun_normal" if activation == "selu" else "glorot_uniform"

    def pointwise(net, channels: int):
        net = layers.Conv2D(channels, 1, use_bias=False, padding="same", kernel_initializer=kernel_initializer)(net)
        return layers.BatchNormalization()(net)

    def depthwise(net, strides: int):
        if strides > 1:
            # The seed pads bottom/right and uses a valid conv, like keras.applications.
            net = layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(net)
        net = layers.DepthwiseConv2D(
            3, strides=strides, use_bias=False, padding="valid" if strides > 1 else "same",
            depthwise_initializer=kernel_initializer,
        )(net)
        return layers.BatchNormalization()(net)

    inputs = keras.Input(shape=tuple(input_shape))
    net = layers.Conv2D(
        _scaled(32, width_multiplier), 3, strides=2, use_bias=False, padding="same",
        kernel_initializer=kernel_initializer,
    )(inputs)
    net = get_activation(activation)(layers.BatchNormalization()(net))
    net = get_activation(activation)(depthwise(net, 1))
    net = pointwise(net, _scaled(16, width_multiplier))
    for in_channels, out_channels, strides in _BLOCKS:
        shortcut = net
        expanded = _scaled(in_channels, width_multiplier) * _EXPANSION
        block = get_activation(activation)(pointwise(net, expanded))
        block = get_activation(activation)(depthwise(block, strides))
        block = pointwise(block, _scaled(out_channels, width_multiplier))
        if strides == 1 and in_channels == out_channels:
            block = layers.Add()([block, shortcut])
        net = block
    last_channels = _scaled(_LAST_CHANNELS, width_multiplier) if width_multiplier > 1.0 else _LAST_CHANNELS
    net = get_activation(activation)(pointwise(net, last_channels))
    net = layers.GlobalAveragePooling2D()(net)
    outputs = layers.Dense(num_classes, dtype="float32")(net)
    return keras.Model(inputs, outputs, name="mobilenet_v2")
