"""MobileNetV2 written out as in the ReLU-family seed (`003_*`): 224x224x3, 16 inverted residuals.

Activations are swapped by name (relu6, leaky_relu, prelu per element, prelu_channel, selu, ...).
Kernels use the activation's preferred initializer unless one is given (lecun_normal for SELU,
as its paper and the seed ask).
"""

from __future__ import annotations

from typing import Annotated

import keras
from keras import layers

from trainables.activations import Activation, resolve_activation
from trainables.constraints import Above, Positive
from trainables.models.registry import Initializer, register_model

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


@register_model("mobilenet_v2", tiny=dict(input_shape=(32, 32, 3), num_classes=3, width_multiplier=0.25))
def mobilenet_v2(
    *,
    input_shape: tuple = (224, 224, 3),
    num_classes: Positive = 3,
    activation: str | Activation = "relu6",
    width_multiplier: Annotated[float, Above(0.0)] = 1.0,
    kernel_initializer: Initializer | None = None,
) -> keras.Model:
    """The seed's MobileNetV2 (2,261,827 parameters with relu6; 8,367,619 with per-element prelu)."""
    act = resolve_activation(activation)
    kernel_initializer = kernel_initializer or act.initializer

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
    net = act.layer()(layers.BatchNormalization()(net))
    net = act.layer()(depthwise(net, 1))
    net = pointwise(net, _scaled(16, width_multiplier))
    for in_channels, out_channels, strides in _BLOCKS:
        shortcut = net
        expanded = _scaled(in_channels, width_multiplier) * _EXPANSION
        block = act.layer()(pointwise(net, expanded))
        block = act.layer()(depthwise(block, strides))
        block = pointwise(block, _scaled(out_channels, width_multiplier))
        if strides == 1 and in_channels == out_channels:
            block = layers.Add()([block, shortcut])
        net = block
    last_channels = _scaled(_LAST_CHANNELS, width_multiplier) if width_multiplier > 1.0 else _LAST_CHANNELS
    net = act.layer()(pointwise(net, last_channels))
    net = layers.GlobalAveragePooling2D()(net)
    outputs = layers.Dense(num_classes, dtype="float32")(net)
    return keras.Model(inputs, outputs, name="mobilenet_v2")
