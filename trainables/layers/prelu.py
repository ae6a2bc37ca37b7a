"""Channel-wise PReLU: one learned slope per channel, shared over every other axis.

Keras' PReLU defaults to one slope per element (8.4 M parameters in the MobileNetV2 seed) and
needs `shared_axes` spelled out per input rank. This one resolves the shared axes at build
time, so the same activation name works after a Dense (N, C) and after a conv (N, H, W, C).
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="trainables")
class ChannelPReLU(layers.Layer):
    """y = x for x > 0, alpha[c] * x otherwise; alpha has shape (C,)."""

    def __init__(
        self,
        alpha_initializer="zeros",
        alpha_regularizer=None,
        alpha_constraint=None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = keras.initializers.get(alpha_initializer)
        self.alpha_regularizer = keras.regularizers.get(alpha_regularizer)
        self.alpha_constraint = keras.constraints.get(alpha_constraint)
        self.supports_masking = True

    def build(self, input_shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"ChannelPReLU needs inputs of shape (batch, ..., channels) with known channels, got {input_shape}"
            )
        channels = int(input_shape[-1])
        self.alpha = self.add_weight(
            name="alpha",
            shape=(channels,),
            initializer=self.alpha_initializer,
            regularizer=self.alpha_regularizer,
            constraint=self.alpha_constraint,
        )
        self.input_spec = layers.InputSpec(min_ndim=2, axes={-1: channels})

    def call(self, inputs):
        return ops.where(inputs > 0, inputs, self.alpha * inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            alpha_initializer=keras.initializers.serialize(self.alpha_initializer),
            alpha_regularizer=keras.regularizers.serialize(self.alpha_regularizer),
            alpha_constraint=keras.constraints.serialize(self.alpha_constraint),
        )
        return config
