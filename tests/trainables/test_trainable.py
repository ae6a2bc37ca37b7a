"""parse_config rejects every bad value before building; fast paths match plain ones; checkpoints restore exactly."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from trainables.activations import activation_settings
from trainables.models import setting_types
from trainables.models import available_models, builder_settings, default_activation
from trainables.trainable import build_model, load_checkpoint, parse_config, save_checkpoint

TINY_RESNET = {
    "model": "aprelu_resnet", "activation": "aprelu", "dataset": "synthetic-cifar10", "epochs": 3,
    "stem_channels": 4, "stages": "1x4,1x8/2", "reduction": 4, "lr": 0.05, "seed": 3, "batch_size": 8,
}


def _data(seed: int = 0, count: int = 16):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, 8, 8, 3)).astype("float32"), rng.integers(0, 10, size=count).astype("int32")


def _model(flat: dict):
    keras.utils.set_random_seed(0)
    return build_model(parse_config(flat), (8, 8, 3), 10)


def test_builder_shape_arguments_are_not_config_keys():
    with pytest.raises(ValueError, match="input_shape"):
        parse_config({**TINY_RESNET, "input_shape": [8, 8, 3]})


def _minimal(model: str, activation: str) -> dict:
    return {"model": model, "activation": activation, "dataset": "synthetic-cifar10", "epochs": 1}


@pytest.mark.parametrize("model", available_models())
def test_every_settable_key_rejects_a_value_of_the_wrong_type(model):
    """Driven by setting_types: every TrainConfig field, builder argument and activation setting."""
    activation = default_activation(model)
    types = setting_types(model, activation)
    assert set(builder_settings(model)) <= set(types) and set(activation_settings(activation)) <= set(types)
    for key, kind in types.items():
        wrong = 3 if kind in (str, str | None) else "not a value"
        with pytest.raises(ValueError, match=f"^({key}={wrong!r} is invalid: must be |unknown {key} {wrong!r})"):
            parse_config({**_minimal(model, activation), key: wrong})


@pytest.mark.parametrize(
    "key, value",
    [
        ("dropout", 1.0), ("dropout", -0.1), ("depth", 0), ("width", 2.5), ("units", True),
        ("reduction", 0), ("bn_momentum", 1.0), ("lr", float("nan")), ("lr", 0.0), ("momentum", float("inf")),
        ("nesterov", "no"), ("mixed_precision", "False"), ("jit_compile", 1), ("optimizer", "lbfgs"),
        ("augment_on", "gpu"), ("epochs", 0), ("batch_size", 2.0), ("kernel_initializer", "no_such_initializer"),
        ("stages", "3*8"), ("width_multiplier", 0.0), ("negative_slope", -1.0), ("train_limit", 0), ("seed", -1),
    ],
)
def test_out_of_range_values_are_one_line_errors_naming_key_and_value(key, value):
    model = next(name for name in available_models() if key in setting_types(name))
    with pytest.raises(ValueError) as caught:
        parse_config({**_minimal(model, "aprelu"), key: value})
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{key}={value!r} is invalid")


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"stem_channels": 16, "stages": "1x8"}, "shrink"),
        ({"rotation": 200.0}, "rotation"),
        ({"model": "no such model"}, "unknown model"),
        ({"activation": "no such activation"}, "unknown activation"),
        ({"unitz": 3}, r"unknown config key\(s\) \['unitz'\].*'stages'.*'reduction'"),
    ],
)
def test_combinations_and_names_are_checked_too(changes, match):
    with pytest.raises(ValueError, match=match):
        parse_config({**_minimal("aprelu_resnet", "aprelu"), **changes})


def test_activation_settings_go_to_the_activation_and_other_activations_settings_are_ignored():
    config = parse_config({**TINY_RESNET, "bn_momentum": 0.9, "negative_slope": 0.1})
    assert config.activation_args == {"reduction": 4, "bn_momentum": 0.9}
    assert config.model_args["bn_momentum"] == 0.9 and "negative_slope" not in config.model_args
    with pytest.raises(ValueError, match="negative_slope=-1.0 is invalid"):
        parse_config({**TINY_RESNET, "negative_slope": -1.0})  # unused here, still checked


def test_values_as_tune_samples_them_are_accepted():
    """tune.randint / tune.uniform give NumPy scalars; None where a setting allows it."""
    config = parse_config({**TINY_RESNET, "reduction": np.int64(2), "lr": np.float64(0.01), "image_size": None})
    assert config.activation_args["reduction"] == 2 and config.lr == 0.01
    with pytest.raises(ValueError, match=r"^image_size=0 is invalid: must be an int >= 1 or None$"):
        parse_config({**TINY_RESNET, "image_size": 0})


def test_parse_config_builds_nothing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("parse_config built a layer")

    monkeypatch.setattr(keras.layers.Layer, "__init__", refuse)
    parse_config(TINY_RESNET)
    with pytest.raises(ValueError, match="dropout=1.0"):
        parse_config({**_minimal("deep_mlp", "selu"), "dropout": 1.0})


@pytest.fixture
def without_op_determinism():
    """Keras runs a model without XLA while TensorFlow's op determinism is on (model_supports_jit), and
    an earlier test in this process may have turned it on (trainables.determinism); TensorFlow's only
    switch back is private (tensorflow.python.framework.config)."""
    from tensorflow.python.framework import config

    was_on = config.is_op_determinism_enabled()
    config.disable_op_determinism()
    yield
    if was_on:
        config.enable_op_determinism()


def test_xla_step_matches_the_plain_step(without_op_determinism):
    x, y = _data()
    plain, fused = _model(TINY_RESNET), _model({**TINY_RESNET, "jit_compile": True})
    assert fused.jit_compile is True  # XLA really used: Keras turns it off, warning, where it cannot
    fused.set_weights(plain.get_weights())
    plain_loss = plain.train_on_batch(x, y, return_dict=True)["loss"]
    fused_loss = fused.train_on_batch(x, y, return_dict=True)["loss"]
    assert fused_loss == pytest.approx(plain_loss, rel=1e-4)
    for a, b in zip(plain.get_weights(), fused.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_several_steps_per_execution_train_as_one_step_at_a_time():
    """An epoch of 5 steps (not a multiple of 3: the last call runs 2) gives the same weights."""
    x, y = _data(count=40)
    one, grouped = _model(TINY_RESNET), _model({**TINY_RESNET, "steps_per_execution": 3})
    grouped.set_weights(one.get_weights())
    assert grouped.steps_per_execution == 3
    for model in (one, grouped):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(one.get_weights(), grouped.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_mixed_precision_forward_pass_within_tolerance():
    x, _ = _data()
    plain = _model(TINY_RESNET)
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        mixed = _model(TINY_RESNET)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    mixed.set_weights(plain.get_weights())
    expected = np.asarray(plain(x, training=False))
    got = mixed(x, training=False)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"  # logits stay float32 for a stable loss
    np.testing.assert_allclose(np.asarray(got), expected, rtol=5e-2, atol=5e-2)


def test_on_device_augmentation_is_identity_at_inference():
    x, _ = _data()
    augmented = {**TINY_RESNET, "rotation": 30.0, "horizontal_flip": True, "augment_on": "model"}
    plain, on_device = _model(TINY_RESNET), _model(augmented)
    assert [layer.name for layer in on_device.layers][1] == "augmentation"
    on_device.layers[-1].set_weights(plain.get_weights())
    np.testing.assert_allclose(on_device(x, training=False), plain(x, training=False), rtol=1e-5, atol=1e-5)


def test_checkpoint_restores_weights_optimizer_and_epoch(tmp_path: Path):
    x, y = _data()
    settings = parse_config(TINY_RESNET)
    model = _model(TINY_RESNET)
    model.train_on_batch(x, y)
    save_checkpoint(tmp_path, model, epoch=2, config=settings, flat=TINY_RESNET)
    restored, epoch = load_checkpoint(tmp_path, settings)
    assert epoch == 2
    assert int(restored.optimizer.iterations) == int(model.optimizer.iterations) == 1
    np.testing.assert_allclose(restored(x, training=False), model(x, training=False), rtol=1e-5, atol=1e-6)
    # The momentum slots came back too: one more identical step lands on identical weights.
    model.train_on_batch(x, y)
    restored.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), restored.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
