"""Adaptively parametric ReLU (APReLU), Zhao et al., IEEE TIE 2020 (DOI 10.1109/TIE.2020.2972458).

A dynamic ReLU: every sample gets its own negative slope per channel, predicted from the
global averages of the positive and negative parts of its own feature map:

    pos = relu(x);  neg = min(x, 0)
    s   = concat(GAP(neg), GAP(pos))                       # negative part FIRST, as the seed
    s   = Dense(max(1, C // reduction)) -> BN -> relu -> Dense(C) -> BN -> sigmoid
    y   = pos + s * neg

The seed builds this from ~15 stock layers per activation; it runs 19 times per step of the
CIFAR network, so here it is ONE layer that owns its weights and keeps the passes over the
feature map few: min(x, 0) and step(x) are computed once, GAP(pos) = GAP(x) - GAP(neg), and
y = x * max(step(x), s); the pooling and the output each have a hand-written gradient
(broadcasts and plain products, no select, no tiled copies).
Without XLA each of these ops is one TensorFlow kernel pass: `benchmarks/aprelu_floor.py` times
the fewest such passes any APReLU needs (BENCHMARKS.md).
Only `keras.ops`, so it runs on every Keras backend.
"""

from __future__ import annotations

import math
from typing import Annotated

import keras
from keras import layers, ops

from trainables.constraints import Above, Fraction, NonNegative, Positive, check_value, keyword_settings

_HALF_PRECISION = ("float16", "bfloat16")


def _pooled_parts(inputs):
    """concat(GAP(min(x, 0)), GAP(relu(x))): the slope network's input, negative part first, by plain autodiff.

    The reference definition; `call` computes the same values through `_fused_pooled_parts`.
    """
    pooled_axes = tuple(range(1, len(inputs.shape) - 1))
    negative, positive = ops.minimum(inputs, 0.0), ops.relu(inputs)
    if pooled_axes:
        negative, positive = ops.mean(negative, axis=pooled_axes), ops.mean(positive, axis=pooled_axes)
    return ops.concatenate([negative, positive], axis=-1)


def _pooled_size(inputs, pooled_axes):
    """How many positions each channel's average pools over (a Python number when the shape is static)."""
    sizes = [inputs.shape[axis] for axis in pooled_axes]
    if None in sizes:
        shape = ops.shape(inputs)
        sizes = [ops.cast(shape[axis], "float32") for axis in pooled_axes]
    return math.prod(sizes)


def _fused_pooled_parts(inputs, negative, step):
    """`_pooled_parts(inputs)` from precomputed min(x, 0) and step(x), with a hand-written gradient.

    GAP(relu(x)) = GAP(x) - GAP(min(x, 0)), so the forward pass is two reductions. The
    gradient of (GAP(neg), GAP(pos)) with respect to x is (g_neg + step * (g_pos - g_neg)) / size:
    two broadcasting passes over the feature map, where autodiff of the reference materialises
    two tiled copies of the pooled gradient and runs a ReLU gradient and a select.
    `negative` and `step` come in without gradient (they are functions of x whose derivative
    is written out here), so this function owns the whole pooling derivative.
    """
    pooled_axes = tuple(range(1, len(inputs.shape) - 1))
    float32_inputs = ops.dtype(inputs) in _HALF_PRECISION
    channels = inputs.shape[-1]

    @ops.custom_gradient
    def pool(x):
        values, negatives = x, negative
        if float32_inputs:
            values, negatives = ops.cast(values, "float32"), ops.cast(negatives, "float32")
        if pooled_axes:
            values, negatives = ops.mean(values, axis=pooled_axes), ops.mean(negatives, axis=pooled_axes)
        pooled = ops.concatenate([negatives, values - negatives], axis=-1)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            grad_negative, grad_positive = upstream[..., :channels], upstream[..., channels:]
            if pooled_axes:
                size = _pooled_size(x, pooled_axes)
                broadcast_shape = (-1,) + (1,) * len(pooled_axes) + (channels,)
                grad_negative = ops.reshape(grad_negative / size, broadcast_shape)
                grad_positive = ops.reshape(grad_positive / size, broadcast_shape)
            grad_negative = ops.cast(grad_negative, x.dtype)
            grad_positive = ops.cast(grad_positive, x.dtype)
            return step * (grad_positive - grad_negative) + grad_negative

        return pooled, grad

    return pool(inputs)


def _apply_negative_slopes(inputs, slopes, negative, step):
    """y = pos + slopes * neg, as y = x * factor with factor = max(step(x), s), and a hand-written gradient.

    factor = maximum(step(x), s) because s is a sigmoid in [0, 1]: one broadcasting op, and then
    the output and the input gradient are plain same-shape products (on TF CPU, select and
    broadcasting products cost 2-5x a ReLU, plain products about one ReLU). The slopes'
    gradient is sum(upstream * min(x, 0)) over the pooled axes, with min(x, 0) computed once
    in the forward pass and shared with the pooling.
    """
    reduce_axes = tuple(range(1, len(inputs.shape) - 1))

    @ops.custom_gradient
    def apply(x, s):
        factor = ops.maximum(step, s)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            grad_slopes = upstream * negative
            if reduce_axes:
                grad_slopes = ops.sum(grad_slopes, axis=reduce_axes, keepdims=True)
            return upstream * factor, grad_slopes

        return x * factor, grad

    return apply(inputs, slopes)


@keras.saving.register_keras_serializable(package="trainables")
class APReLU(layers.Layer):
    """APReLU on channels-last inputs: (N, C), or (N, ..., C) with GAP over the middle axes.

    Args:
        reduction: channel reduction of the first Dense; its width is max(1, C // reduction),
            clamped so that narrow layers (C < reduction) still have one unit.
        bn_momentum: momentum of both inner BatchNormalizations (moving = moving * m + batch * (1 - m)).
        bn_epsilon: epsilon of both inner BatchNormalizations.
        l2: L2 factor on both Dense kernels (the seed's kernel_regularizer=l2(1e-4)).
        gamma_l2: L2 factor on both BN gammas (record 16 uses 1e-4; record 1 none).
    """

    def __init__(
        self,
        reduction: Positive = 4,
        bn_momentum: Fraction = 0.99,
        bn_epsilon: Annotated[float, Above(0.0)] = 1e-3,
        l2: NonNegative = 1e-4,
        gamma_l2: NonNegative = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        # The annotations are the only statement of the ranges: trial configs are checked against them too.
        arguments = dict(reduction=reduction, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, l2=l2, gamma_l2=gamma_l2)
        for key, (annotation, _) in keyword_settings(APReLU).items():
            check_value(f"APReLU {key}", arguments[key], annotation)
        self.reduction = reduction
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)
        self.l2 = float(l2)
        self.gamma_l2 = float(gamma_l2)
        self.supports_masking = True

    def build(self, input_shape) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"APReLU needs inputs of shape (batch, ..., channels) with known channels, got {input_shape}"
            )
        channels = int(input_shape[-1])
        units = max(1, channels // self.reduction)
        kernel_regularizer = keras.regularizers.L2(self.l2) if self.l2 else None
        gamma_regularizer = keras.regularizers.L2(self.gamma_l2) if self.gamma_l2 else None
        # The slope network is computed in float32 (as Keras BN does under mixed precision),
        # so none of its weights are autocast.
        self.dense1_kernel = self.add_weight(
            name="dense1_kernel", shape=(2 * channels, units), initializer="he_normal",
            regularizer=kernel_regularizer, autocast=False,
        )
        self.dense1_bias = self.add_weight(name="dense1_bias", shape=(units,), initializer="zeros", autocast=False)
        self.bn1_gamma, self.bn1_beta, self.bn1_moving_mean, self.bn1_moving_variance = self._add_bn_weights(
            "bn1", units, gamma_regularizer
        )
        self.dense2_kernel = self.add_weight(
            name="dense2_kernel", shape=(units, channels), initializer="he_normal",
            regularizer=kernel_regularizer, autocast=False,
        )
        self.dense2_bias = self.add_weight(name="dense2_bias", shape=(channels,), initializer="zeros", autocast=False)
        self.bn2_gamma, self.bn2_beta, self.bn2_moving_mean, self.bn2_moving_variance = self._add_bn_weights(
            "bn2", channels, gamma_regularizer
        )
        self.input_spec = layers.InputSpec(min_ndim=2, axes={-1: channels})

    def _add_bn_weights(self, prefix: str, size: int, gamma_regularizer):
        gamma = self.add_weight(
            name=f"{prefix}_gamma", shape=(size,), initializer="ones", regularizer=gamma_regularizer, autocast=False
        )
        beta = self.add_weight(name=f"{prefix}_beta", shape=(size,), initializer="zeros", autocast=False)
        moving_mean = self.add_weight(
            name=f"{prefix}_moving_mean", shape=(size,), initializer="zeros", trainable=False, autocast=False
        )
        moving_variance = self.add_weight(
            name=f"{prefix}_moving_variance", shape=(size,), initializer="ones", trainable=False, autocast=False
        )
        return gamma, beta, moving_mean, moving_variance

    def _batch_norm(self, features, gamma, beta, moving_mean, moving_variance, training: bool):
        if training:
            mean, variance = ops.moments(features, axes=[0])
            momentum = self.bn_momentum
            moving_mean.assign(moving_mean * momentum + mean * (1.0 - momentum))
            moving_variance.assign(moving_variance * momentum + variance * (1.0 - momentum))
        else:
            mean, variance = moving_mean, moving_variance
        # Fold the affine transform into one scale and shift: two full ops on (N, units), not four.
        scale = gamma * ops.rsqrt(variance + self.bn_epsilon)
        return features * scale + (beta - mean * scale)

    def slopes(self, inputs, training: bool = False):
        """Per-sample, per-channel negative slopes in (0, 1), shape (N, C), float32 (by plain autodiff)."""
        features = inputs
        if ops.dtype(features) in _HALF_PRECISION:
            features = ops.cast(features, "float32")
        return self._slope_network(_pooled_parts(features), training)

    def _slope_network(self, pooled, training: bool):
        hidden = ops.matmul(pooled, self.dense1_kernel)
        hidden = self._batch_norm(
            hidden + self.dense1_bias, self.bn1_gamma, self.bn1_beta,
            self.bn1_moving_mean, self.bn1_moving_variance, training,
        )
        hidden = ops.matmul(ops.relu(hidden), self.dense2_kernel) + self.dense2_bias
        hidden = self._batch_norm(
            hidden, self.bn2_gamma, self.bn2_beta, self.bn2_moving_mean, self.bn2_moving_variance, training
        )
        return ops.sigmoid(hidden)

    def call(self, inputs, training=False):
        # min(x, 0) and step(x) are computed once and shared by the pooling and the output, both
        # of which write their own derivative with respect to x.
        negative = ops.stop_gradient(ops.minimum(inputs, 0.0))
        step = ops.stop_gradient(ops.cast(inputs > 0, inputs.dtype))
        # A frozen layer behaves like a frozen keras BatchNormalization: moving statistics only.
        slopes = self._slope_network(
            _fused_pooled_parts(inputs, negative, step), training=bool(training) and self.trainable
        )
        slopes = ops.cast(slopes, inputs.dtype)
        broadcast_shape = (-1,) + (1,) * (len(inputs.shape) - 2) + (inputs.shape[-1],)
        return _apply_negative_slopes(inputs, ops.reshape(slopes, broadcast_shape), negative, step)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            reduction=self.reduction,
            bn_momentum=self.bn_momentum,
            bn_epsilon=self.bn_epsilon,
            l2=self.l2,
            gamma_l2=self.gamma_l2,
        )
        return config
