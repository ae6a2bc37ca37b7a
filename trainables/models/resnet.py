"""Pre-activation residual network of the APReLU CIFAR-10 seeds (tuning records 1 and 16).

    stem Conv3x3 -> stages of units [BN -> act -> Conv3x3(stride) -> BN -> act -> Conv3x3] + identity
    -> BN -> act -> GAP -> Dense(num_classes) logits

Only the first unit of a downsampling stage has stride 2. (The seed keeps stride 2 for every
unit of such a stage, but all its downsampling stages have one unit.) The identity is
AveragePooling2D(pool 1, stride 2), i.e. every other pixel, and its channels are zero-padded
to the new width whenever the width changes, by any amount (the seed's concatenation of a
zero copy only works when the width doubles).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

import keras
from keras import layers, ops

from trainables.activations import Activation, resolve_activation
from trainables.constraints import Check, Fraction, NonNegative, Positive
from trainables.models.registry import register_model

Stage = tuple[int, int, bool]

_STAGE_PATTERN = re.compile(r"^\s*(\d+)\s*x\s*(\d+)\s*(/\s*2)?\s*$")


def parse_stages(stages: str | Sequence) -> tuple[Stage, ...]:
    """Stages from "UNITSxCHANNELS[/2],..." (e.g. "3x8,1x16/2") or a sequence of (units, channels, downsample)."""
    if isinstance(stages, str):
        parsed = []
        for part in stages.split(","):
            match = _STAGE_PATTERN.match(part)
            if match is None:
                raise ValueError(
                    f"stages {stages!r}: cannot parse {part!r}; expected UNITSxCHANNELS or UNITSxCHANNELS/2, e.g. '3x8,1x16/2'"
                )
            parsed.append((int(match.group(1)), int(match.group(2)), match.group(3) is not None))
    else:
        parsed = []
        for stage in stages:
            if isinstance(stage, str) or not isinstance(stage, Sequence) or len(stage) != 3:
                raise ValueError(f"stages {stages!r}: each stage must be (units, channels, downsample), got {stage!r}")
            units, channels, downsample = stage
            parsed.append((units, channels, downsample))
    for units, channels, downsample in parsed:
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"stages {stages!r}: units must be a positive int, got {units!r}")
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ValueError(f"stages {stages!r}: channels must be a positive int, got {channels!r}")
        if not isinstance(downsample, bool):
            raise ValueError(f"stages {stages!r}: downsample must be a bool, got {downsample!r}")
    if not parsed:
        raise ValueError(f"stages {stages!r}: at least one stage is required")
    return tuple(parsed)


@keras.saving.register_keras_serializable(package="trainables")
class ZeroPadChannels(layers.Layer):
    """Append zero channels up to `channels` (the parameter-free identity of a widening unit)."""

    def __init__(self, channels: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.channels = int(channels)

    def build(self, input_shape) -> None:
        if input_shape[-1] is None or input_shape[-1] > self.channels:
            raise ValueError(f"ZeroPadChannels({self.channels}) cannot pad an input with {input_shape[-1]} channels")

    def call(self, inputs):
        padding = [(0, 0)] * (len(inputs.shape) - 1) + [(0, self.channels - inputs.shape[-1])]
        return ops.pad(inputs, padding)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.channels,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(channels=self.channels)
        return config


def check_widths(*, stages: str | Sequence, stem_channels: int, **_) -> None:
    """Channels only grow from the stem on (the identity is zero-padded, never cut)."""
    width = stem_channels
    for _units, channels, _downsample in parse_stages(stages):
        if channels < width:
            raise ValueError(
                f"stages {stages!r}: channels may not shrink ({width} -> {channels}); the identity is zero-padded"
            )
        width = channels


def residual_stack(inputs, stages: str, stem_channels: int, *, conv, batch_norm, act):
    """Stem conv, pre-activation residual units and the final BN + activation (before pooling).

    conv(channels, strides=1), batch_norm() and act() each return a fresh callable on tensors,
    so the same topology serves the builder and the benchmark's copy of the seed's layer graph.
    """
    check_widths(stages=stages, stem_channels=stem_channels)
    net = conv(stem_channels)(inputs)
    width = stem_channels
    for units, channels, downsample in parse_stages(stages):
        for unit in range(units):
            strides = 2 if downsample and unit == 0 else 1
            identity = net
            residual = conv(channels, strides)(act()(batch_norm()(net)))
            residual = conv(channels)(act()(batch_norm()(residual)))
            if strides > 1:
                identity = layers.AveragePooling2D(pool_size=1, strides=strides)(identity)
            if width != channels:
                identity = ZeroPadChannels(channels)(identity)
                width = channels
            net = layers.Add()([residual, identity])
    return act()(batch_norm()(net))


@register_model(
    "aprelu_resnet",
    tiny=dict(input_shape=(8, 8, 3), num_classes=4, stem_channels=4, stages="1x4,1x8/2"),
    check=check_widths,
)
def aprelu_resnet(
    *,
    input_shape: tuple = (32, 32, 3),
    num_classes: Positive = 10,
    activation: str | Activation = "aprelu",
    stem_channels: Positive = 8,
    stages: Annotated[str, Check(parse_stages, "stages like '3x8,1x16/2'")] = "3x8,1x16/2,2x16,1x32/2,2x32",
    bn_momentum: Fraction = 0.99,
    gamma_l2: NonNegative = 0.0,
    weight_decay: NonNegative = 1e-4,
) -> keras.Model:
    """The seed network; with APReLU's defaults, tuning record 1 (77,328 parameters).

    bn_momentum and gamma_l2 go to every BatchNormalization and are offered to the activation
    (APReLU's inner BNs take them), weight_decay is the L2 on every kernel and is offered as the
    activation's `l2`. APReLU's reduction is an activation setting (config key `reduction`).
    Kernels are he_normal for every activation, as the seed.
    """
    act = resolve_activation(activation)
    kernel_regularizer = keras.regularizers.L2(weight_decay) if weight_decay else None
    gamma_regularizer = keras.regularizers.L2(gamma_l2) if gamma_l2 else None

    def conv(channels: int, strides: int = 1) -> layers.Layer:
        return layers.Conv2D(
            channels, 3, strides=strides, padding="same",
            kernel_initializer="he_normal", kernel_regularizer=kernel_regularizer,
        )

    def batch_norm() -> layers.Layer:
        return layers.BatchNormalization(momentum=bn_momentum, gamma_regularizer=gamma_regularizer)

    def activation_layer() -> layers.Layer:
        return act.layer(bn_momentum=bn_momentum, gamma_l2=gamma_l2, l2=weight_decay)

    inputs = keras.Input(shape=tuple(input_shape))
    net = residual_stack(inputs, stages, stem_channels, conv=conv, batch_norm=batch_norm, act=activation_layer)
    net = layers.GlobalAveragePooling2D()(net)
    outputs = layers.Dense(
        num_classes, kernel_initializer="he_normal", kernel_regularizer=kernel_regularizer, dtype="float32"
    )(net)
    return keras.Model(inputs, outputs, name="aprelu_resnet")
