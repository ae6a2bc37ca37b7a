"""Custom layers against NumPy references of their formulas, plus .keras round trips."""

from __future__ import annotations

import numpy as np
import pytest
import keras

from trainables.layers import Antirectifier, APReLU, ChannelPReLU


def _sigmoid(values):
    return 1.0 / (1.0 + np.exp(-values))


def _aprelu_reference(x, weights, *, training, momentum=0.99, epsilon=1e-3):
    """The seed's formula in NumPy; returns (output, new moving statistics)."""
    w1, b1, w2, b2 = (weights[f"dense{i}_{part}"] for i in (1, 2) for part in ("kernel", "bias"))
    g1, be1, mm1, mv1, g2, be2, mm2, mv2 = (
        weights[f"bn{i}_{part}"] for i in (1, 2) for part in ("gamma", "beta", "moving_mean", "moving_variance")
    )
    pos = np.maximum(x, 0.0)
    neg = np.minimum(x, 0.0)
    pool_axes = tuple(range(1, x.ndim - 1))
    gap_pos = pos.mean(axis=pool_axes) if pool_axes else pos
    gap_neg = neg.mean(axis=pool_axes) if pool_axes else neg
    features = np.concatenate([gap_neg, gap_pos], axis=-1)  # negative part first
    moving = []

    def batch_norm(values, gamma, beta, moving_mean, moving_variance):
        if training:
            mean, variance = values.mean(axis=0), values.var(axis=0)
            moving.append((moving_mean * momentum + mean * (1 - momentum),
                           moving_variance * momentum + variance * (1 - momentum)))
        else:
            mean, variance = moving_mean, moving_variance
        return gamma * (values - mean) / np.sqrt(variance + epsilon) + beta

    hidden = np.maximum(batch_norm(features @ w1 + b1, g1, be1, mm1, mv1), 0.0)
    slopes = _sigmoid(batch_norm(hidden @ w2 + b2, g2, be2, mm2, mv2))
    slopes = slopes.reshape((x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],))
    return pos + slopes * neg, moving


def _random_weights(layer, rng) -> dict[str, np.ndarray]:
    """Asymmetric weights (so swapping the concat order changes the result) and non-trivial moving stats."""
    weights = {}
    for variable in layer.weights:
        shape = tuple(variable.shape)
        if "moving_variance" in variable.name:
            weights[variable.name] = rng.uniform(0.5, 2.0, shape).astype("float32")
        else:
            weights[variable.name] = rng.normal(0.0, 0.7, shape).astype("float32")
        variable.assign(weights[variable.name])
    return weights


def _current(layer) -> dict[str, np.ndarray]:
    return {variable.name: keras.ops.convert_to_numpy(variable) for variable in layer.weights}


@pytest.mark.parametrize("shape", [(6, 5, 4, 8), (6, 8)], ids=["4d", "2d"])
@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
def test_aprelu_matches_numpy_reference(shape, training):
    rng = np.random.default_rng(0)
    x = rng.normal(0.0, 1.0, shape).astype("float32")
    layer = APReLU(reduction=4, bn_momentum=0.9)
    layer.build(shape)
    weights = _random_weights(layer, rng)
    expected, moving = _aprelu_reference(x, weights, training=training, momentum=0.9)

    output = keras.ops.convert_to_numpy(layer(x, training=training))
    np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-5)

    new_weights = _current(layer)
    if training:
        # moving stats move toward the batch stats with keras BatchNormalization's momentum rule
        for index, (moving_mean, moving_variance) in enumerate(moving, start=1):
            np.testing.assert_allclose(new_weights[f"bn{index}_moving_mean"], moving_mean, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(new_weights[f"bn{index}_moving_variance"], moving_variance, rtol=1e-4, atol=1e-5)
    else:
        for name, before in weights.items():
            np.testing.assert_array_equal(new_weights[name], before)


def test_aprelu_concat_order_and_per_sample_slopes():
    rng = np.random.default_rng(1)
    x = rng.normal(0.0, 1.0, (4, 3, 3, 8)).astype("float32")
    layer = APReLU(reduction=2)
    layer.build(x.shape)
    weights = _random_weights(layer, rng)
    output = keras.ops.convert_to_numpy(layer(x))

    swapped = dict(weights)
    channels = x.shape[-1]
    kernel = weights["dense1_kernel"]
    swapped["dense1_kernel"] = np.concatenate([kernel[channels:], kernel[:channels]], axis=0)
    wrong_order, _ = _aprelu_reference(x, swapped, training=False)
    assert not np.allclose(output, wrong_order, atol=1e-4), "positive-first concat must give a different result"

    slopes = keras.ops.convert_to_numpy(layer.slopes(x))
    assert slopes.shape == (4, channels)
    assert np.all((slopes > 0) & (slopes < 1))
    assert np.ptp(slopes, axis=0).max() > 1e-3, "slopes must differ across samples"


def _aprelu_gradients(layer, x, upstream, signature=None):
    """Gradients of sum(layer(x) * upstream) for the input and every weight: the layer's own
    hand-written derivatives, and autodiff of the reference pos + s * neg with the slopes from
    `layer.slopes` (plain ops only). `signature` traces both with unknown dimensions."""
    import tensorflow as tf

    def reference(inputs):
        slopes = layer.slopes(inputs, training=True)
        shape = tf.concat([tf.shape(inputs)[:1], tf.ones([len(inputs.shape) - 2], tf.int32), [inputs.shape[-1]]], 0)
        return tf.nn.relu(inputs) + tf.reshape(slopes, shape) * tf.minimum(inputs, 0.0)

    results = []
    for function in (lambda inputs: layer(inputs, training=True), reference):

        @tf.function(input_signature=signature, autograph=False)
        def gradients(inputs, function=function):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_sum(function(inputs) * upstream)
            return tape.gradient(loss, [inputs] + layer.trainable_weights)

        results.append([value.numpy() for value in gradients(x)])
    return results


@pytest.mark.parametrize("shape", [(5, 4, 3, 8), (5, 8)], ids=["4d", "2d"])
def test_aprelu_hand_written_gradient_matches_autodiff(shape):
    """The fused pooling and output derivatives equal autodiff of pos + s * neg, for inputs and every weight."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient check written with tf.GradientTape")
    import tensorflow as tf

    rng = np.random.default_rng(6)
    x = tf.constant(rng.normal(0.0, 1.0, shape).astype("float32"))
    layer = APReLU(reduction=2)
    layer.build(shape)
    _random_weights(layer, rng)
    upstream = tf.constant(rng.normal(0.0, 1.0, shape).astype("float32"))
    fused, expected = _aprelu_gradients(layer, x, upstream)
    for mine, theirs in zip(fused, expected):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_aprelu_gradient_with_unknown_spatial_size():
    """The pooled gradient divides by the number of positions even when it is only known at run time."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient check written with tf.GradientTape")
    import tensorflow as tf

    rng = np.random.default_rng(7)
    x = tf.constant(rng.normal(0.0, 1.0, (3, 5, 6, 4)).astype("float32"))
    layer = APReLU(reduction=2)
    layer.build((None, None, None, 4))
    _random_weights(layer, rng)
    upstream = tf.constant(rng.normal(0.0, 1.0, (3, 5, 6, 4)).astype("float32"))
    signature = [tf.TensorSpec((None, None, None, 4), tf.float32)]
    fused, expected = _aprelu_gradients(layer, x, upstream, signature)
    for mine, theirs in zip(fused, expected):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-5)


def test_aprelu_passes_positive_inputs_unchanged():
    x = np.random.default_rng(2).uniform(0.1, 3.0, (3, 4, 4, 8)).astype("float32")
    layer = APReLU()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=True)), x)


def test_aprelu_clamps_units_and_counts_parameters():
    layer = APReLU(reduction=16)
    layer.build((None, 8, 8, 8))
    assert tuple(layer.dense1_kernel.shape) == (16, 1)
    channels, units = 8, 1
    expected = 2 * channels * units + units + 4 * units + units * channels + channels + 4 * channels
    assert layer.count_params() == expected


def test_aprelu_regularization_losses():
    layer = APReLU(l2=1e-4, gamma_l2=1e-4)
    layer.build((None, 8))
    assert len(layer.losses) == 4  # two kernels, two gammas
    unregularized = APReLU(l2=0.0, gamma_l2=0.0)
    unregularized.build((None, 8))
    assert unregularized.losses == []


@pytest.mark.parametrize("kwargs", [dict(reduction=0), dict(reduction=2.5), dict(bn_momentum=1.0), dict(l2=-1.0)])
def test_aprelu_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="APReLU"):
        APReLU(**kwargs)


def _antirectifier_reference(x):
    centered = x - x.mean(axis=-1, keepdims=True)
    normalized = centered / np.sqrt(np.maximum((centered**2).sum(axis=-1, keepdims=True), 1e-12))
    return np.concatenate([np.maximum(normalized, 0), np.maximum(-normalized, 0)], axis=-1)


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 3, 6)], ids=["2d", "4d"])
def test_antirectifier_matches_numpy_reference(shape):
    x = np.random.default_rng(3).normal(0.0, 2.0, shape).astype("float32")
    output = keras.ops.convert_to_numpy(Antirectifier()(x))
    assert output.shape == shape[:-1] + (2 * shape[-1],)
    np.testing.assert_allclose(output, _antirectifier_reference(x), rtol=1e-5, atol=1e-6)


def test_antirectifier_constant_row_is_finite():
    output = keras.ops.convert_to_numpy(Antirectifier()(np.full((2, 4), 3.0, "float32")))
    np.testing.assert_array_equal(output, np.zeros((2, 8), "float32"))


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 3, 6)], ids=["2d", "4d"])
def test_channel_prelu_one_slope_per_channel(shape):
    rng = np.random.default_rng(4)
    x = rng.normal(0.0, 1.0, shape).astype("float32")
    layer = ChannelPReLU()
    layer.build(shape)
    alpha = rng.uniform(0.0, 1.0, (shape[-1],)).astype("float32")
    layer.set_weights([alpha])
    assert layer.count_params() == shape[-1]
    expected = np.where(x > 0, x, alpha * x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "make_layer, shape",
    [
        (lambda: APReLU(reduction=2, bn_momentum=0.9, gamma_l2=1e-4), (3, 4, 4, 8)),
        (lambda: APReLU(reduction=16), (3, 8)),
        (lambda: Antirectifier(), (3, 6)),
        (lambda: ChannelPReLU(alpha_initializer=keras.initializers.Constant(0.25)), (3, 4, 4, 5)),
    ],
    ids=["aprelu_4d", "aprelu_2d", "antirectifier", "channel_prelu"],
)
def test_layer_keras_round_trip(tmp_path, make_layer, shape):
    rng = np.random.default_rng(5)
    inputs = keras.Input(shape=shape[1:])
    model = keras.Model(inputs, make_layer()(inputs))
    if model.weights:
        model.set_weights([rng.uniform(0.5, 1.5, tuple(w.shape)).astype("float32") for w in model.weights])
    x = rng.normal(0.0, 1.0, shape).astype("float32")
    path = tmp_path / "layer.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    layer, restored_layer = model.layers[-1], restored.layers[-1]
    assert type(restored_layer) is type(layer)
    assert restored_layer.get_config() == layer.get_config()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6, atol=1e-7
    )


def _custom_layer_classes() -> list[type]:
    """Every Keras-serializable class this project registers under trainables.layers or .models."""
    import trainables.models  # noqa: F401  registers the builders' own layers (ZeroPadChannels)

    return sorted(
        (
            obj for key, obj in keras.saving.get_custom_objects().items()
            if key.startswith("trainables>") and obj.__module__.startswith(("trainables.layers", "trainables.models"))
        ),
        key=lambda cls: cls.__name__,
    )


def _tiny_model_with(layer_class: type):
    """A small model holding `layer_class`: an activation's one-layer model, else a tiny builder's model."""
    from trainables.activations import ACTIVATIONS
    from trainables.models import available_models, get_model, tiny_arguments

    for spec in ACTIVATIONS.values():
        inputs = keras.Input(shape=(4, 4, 6))
        layer = spec.make()
        if isinstance(layer, layer_class):
            return keras.Model(inputs, layer(inputs)), (2, 4, 4, 6)
    for builder in available_models():
        arguments = tiny_arguments(builder)
        model = get_model(builder, **arguments)
        if any(isinstance(layer, layer_class) for layer in model.layers):
            return model, (2,) + tuple(arguments["input_shape"])
    raise AssertionError(f"custom layer {layer_class.__name__} is used by no activation and no builder")


@pytest.mark.parametrize("layer_class", _custom_layer_classes(), ids=lambda cls: cls.__name__)
def test_every_custom_layer_keras_round_trip(tmp_path, layer_class):
    model, shape = _tiny_model_with(layer_class)
    x = np.random.default_rng(8).normal(0.0, 1.0, shape).astype("float32")
    model(x, training=True)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    originals = [layer for layer in model.layers if isinstance(layer, layer_class)]
    copies = [layer for layer in restored.layers if isinstance(layer, layer_class)]
    assert len(copies) == len(originals) > 0
    assert [layer.get_config() for layer in copies] == [layer.get_config() for layer in originals]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6
    )
