"""Antirectifier (the Keras example, `004_*` seed): keep the negative half instead of discarding it.

Per sample: subtract the mean over channels, L2-normalize over channels, then concatenate
relu(x) and relu(-x). The output has twice the channels, so a network using it matches a ReLU
network with twice as wide Dense layers at about half the parameters. Works on any
channels-last rank (2-D for the MLP, 4-D for a convolutional version).
"""

from __future__ import annotations

from typing import Annotated

import keras
from keras import layers, ops

from trainables.constraints import Above, check_value

Epsilon = Annotated[float, Above(0.0)]


@keras.saving.register_keras_serializable(package="trainables")
class Antirectifier(layers.Layer):
    """x - mean(x, -1) -> l2_normalize(-1) -> concat(relu(x), relu(-x)) on the last axis."""

    def __init__(self, epsilon: Epsilon = 1e-12, **kwargs) -> None:
        super().__init__(**kwargs)
        check_value("Antirectifier epsilon", epsilon, Epsilon)
        # Same floor as K.l2_normalize: a constant input row would otherwise divide by zero.
        self.epsilon = float(epsilon)

    def call(self, inputs):
        centered = inputs - ops.mean(inputs, axis=-1, keepdims=True)
        squared_norm = ops.sum(ops.square(centered), axis=-1, keepdims=True)
        normalized = centered * ops.rsqrt(ops.maximum(squared_norm, self.epsilon))
        return ops.concatenate([ops.relu(normalized), ops.relu(-normalized)], axis=-1)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return tuple(input_shape[:-1]) + (None if channels is None else 2 * channels,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(epsilon=self.epsilon)
        return config
