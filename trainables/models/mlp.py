"""Fully connected builders: the deep ReLU-vs-SELU MLP (`002_*` seed) and the antirectifier MLP (`004_*`)."""

from __future__ import annotations

import keras
from keras import layers

from trainables.activations import Activation, resolve_activation
from trainables.constraints import Fraction, Positive
from trainables.models.registry import Initializer, register_model


@register_model(
    "deep_mlp", tiny=dict(input_shape=(6, 6, 1), num_classes=4, depth=2, width=8, first_width=12, batch_norm=True)
)
def deep_mlp(
    *,
    input_shape: tuple = (784,),
    num_classes: Positive = 10,
    depth: Positive = 50,
    width: Positive = 256,
    first_width: Positive = 512,
    activation: str | Activation = "relu",
    batch_norm: bool = False,
    kernel_initializer: Initializer | None = None,
    dropout: Fraction = 0.0,
) -> keras.Model:
    """Dense(first_width) -> act, then `depth` x ([BN] -> Dense(width) -> act), [BN] -> Dense logits.

    Defaults give the seed's network without BN (3,759,626 parameters); batch_norm=True puts a
    BN before every hidden Dense after the first and one before the output (3,812,874).
    The initializer applies to the hidden layers, as in the seed; None means the activation's
    preference (lecun_normal for selu, glorot_uniform otherwise). Dropout is the activation's
    kind (AlphaDropout for selu).
    """
    act = resolve_activation(activation)
    initializer = kernel_initializer or act.initializer
    inputs = keras.Input(shape=tuple(input_shape))
    net = layers.Flatten()(inputs)
    net = act.layer()(layers.Dense(first_width, kernel_initializer=initializer)(net))
    if dropout:
        net = act.dropout(dropout)(net)
    for _ in range(depth):
        if batch_norm:
            net = layers.BatchNormalization()(net)
        net = act.layer()(layers.Dense(width, kernel_initializer=initializer)(net))
        if dropout:
            net = act.dropout(dropout)(net)
    if batch_norm:
        net = layers.BatchNormalization()(net)
    outputs = layers.Dense(num_classes, dtype="float32")(net)
    return keras.Model(inputs, outputs, name="deep_mlp")


@register_model("antirectifier_mlp", tiny=dict(input_shape=(12,), num_classes=4, units=8, depth=2))
def antirectifier_mlp(
    *,
    input_shape: tuple = (784,),
    num_classes: Positive = 10,
    units: Positive = 256,
    depth: Positive = 2,
    dropout: Fraction = 0.1,
    activation: str | Activation = "antirectifier",
) -> keras.Model:
    """`depth` x (Dense(units) -> act -> Dropout) -> Dense logits (337,418 parameters by default).

    With activation="relu" and units=512 it is the seed's twice-as-wide ReLU baseline (669,706).
    Kernels use the activation's preferred initializer, dropout its kind (as deep_mlp).
    """
    act = resolve_activation(activation)
    inputs = keras.Input(shape=tuple(input_shape))
    net = layers.Flatten()(inputs)
    for _ in range(depth):
        net = act.layer()(layers.Dense(units, kernel_initializer=act.initializer)(net))
        if dropout:
            net = act.dropout(dropout)(net)
    outputs = layers.Dense(num_classes, dtype="float32")(net)
    return keras.Model(inputs, outputs, name="antirectifier_mlp")
