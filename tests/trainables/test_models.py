"""Model builders: the registry, the seeds' parameter counts, every builder x activation, .keras round trips.

Builders and activations come from their registries: a new one is tested here without editing this file.
"""

from __future__ import annotations

import numpy as np
import pytest
import keras

from trainables.activations import ACTIVATIONS, available_activations, resolve_activation
from trainables.layers import APReLU
from trainables.models import (
    PRESETS,
    available_models,
    build_preset,
    builder_settings,
    default_activation,
    get_model,
    register_model,
    tiny_arguments,
)
from trainables.models.resnet import ZeroPadChannels, parse_stages

SEED_PARAMETERS = {
    "aprelu_record1": 77_328,
    "aprelu_record16": 93_791,
    "deep_mlp_bn": 3_812_874,
    "deep_mlp": 3_759_626,
    "mobilenet_v2_relu6": 2_261_827,
    "mobilenet_v2_prelu": 8_367_619,
    "antirectifier_mlp": 337_418,
    "relu_mlp_wide": 669_706,
}

BUILDERS = available_models()
ACTIVATION_NAMES = available_activations()


def _inputs(builder: str, seed: int = 0, count: int = 3) -> np.ndarray:
    shape = tuple(tiny_arguments(builder)["input_shape"])
    return np.random.default_rng(seed).normal(0.0, 1.0, (count,) + shape).astype("float32")


def test_presets_are_the_spec_names():
    assert set(PRESETS) == set(SEED_PARAMETERS)


@pytest.mark.parametrize("preset", sorted(SEED_PARAMETERS))
def test_preset_reproduces_seed_parameter_count(preset):
    assert build_preset(preset).count_params() == SEED_PARAMETERS[preset]


@pytest.mark.parametrize("builder", BUILDERS)
def test_every_builder_takes_shape_classes_and_a_registered_activation(builder):
    assert default_activation(builder) in ACTIVATION_NAMES
    assert {"input_shape", "num_classes"} <= set(tiny_arguments(builder))
    assert not {"input_shape", "num_classes", "activation"} & set(builder_settings(builder))


def test_registration_refuses_a_builder_without_shape_classes_or_activation():
    def builder(*, input_shape: tuple = (4,), num_classes: int = 2) -> keras.Model:
        raise AssertionError("never built")

    with pytest.raises(ValueError, match=r"must take \['activation'\]"):
        register_model("never registered", tiny={})(builder)
    assert "never registered" not in available_models()


def test_registry_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown model 'no such model'.*aprelu_resnet"):
        get_model("no such model")
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['widht'\].*width"):
        get_model("deep_mlp", widht=3)
    with pytest.raises(ValueError, match="unknown preset 'record1'"):
        build_preset("record1")
    with pytest.raises(ValueError, match="unknown activation 'no such activation'"):
        get_model("antirectifier_mlp", **tiny_arguments("antirectifier_mlp"), activation="no such activation")
    with pytest.raises(ValueError, match="depth=0 is invalid"):
        get_model("deep_mlp", depth=0)


def _kernel_initializers(model) -> set[type]:
    """Initializer classes of the hidden kernels (the output Dense keeps Keras' default)."""
    return {type(layer.kernel_initializer) for layer in model.layers[:-1] if hasattr(layer, "kernel_initializer")}


def _builder_activation_pairs():
    """Every builder x activation. The quick run (-m "not slow") keeps a diagonal: each builder with
    its default activation, and each activation in one builder (they take turns); the rest,
    mostly MobileNet builds at about 3 s each, run with the full suite."""
    for index, activation in enumerate(ACTIVATION_NAMES):
        for position, builder in enumerate(BUILDERS):
            quick = activation == default_activation(builder) or position == index % len(BUILDERS)
            yield pytest.param(builder, activation, marks=() if quick else pytest.mark.slow, id=f"{builder}-{activation}")


@pytest.mark.parametrize("builder, activation", list(_builder_activation_pairs()))
def test_every_builder_runs_every_activation(builder, activation):
    """Finite float32 logits; and where the builder has the knob, the activation's initializer and dropout."""
    arguments = tiny_arguments(builder)
    has_dropout = "dropout" in builder_settings(builder)
    model = get_model(builder, **{**arguments, "activation": activation, **({"dropout": 0.2} if has_dropout else {})})
    logits = keras.ops.convert_to_numpy(model(_inputs(builder), training=True))
    assert logits.shape == (3, arguments["num_classes"])
    assert logits.dtype == np.float32
    assert np.all(np.isfinite(logits))
    assert model.layers[-1].activation is keras.activations.linear
    spec = ACTIVATIONS[activation]
    if "kernel_initializer" in builder_settings(builder):  # left unset: the activation's preference
        assert _kernel_initializers(model) == {type(keras.initializers.get(spec.initializer))}
    if has_dropout:
        dropouts = [layer for layer in model.layers if "dropout" in type(layer).__name__.lower()]
        assert dropouts and {type(layer) for layer in dropouts} == {spec.dropout}


@pytest.mark.parametrize("builder", BUILDERS)
def test_builder_keras_round_trip(tmp_path, builder):
    model = get_model(builder, **tiny_arguments(builder))
    x = _inputs(builder, seed=1, count=2)
    model(x, training=True)  # move the BN moving statistics away from their initial values
    path = tmp_path / f"{builder}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6
    )


def test_parse_stages():
    assert parse_stages("3x8,1x16/2, 2x16") == ((3, 8, False), (1, 16, True), (2, 16, False))
    assert parse_stages([[1, 32, False], (2, 64, True)]) == ((1, 32, False), (2, 64, True))
    for bad in ["3x8,", "3*8", "0x8", [(1, 8)], [(1, 8, "yes")], ""]:
        with pytest.raises(ValueError, match="stages"):
            parse_stages(bad)


def test_resnet_zero_pads_any_width_growth():
    aprelu = resolve_activation("aprelu", reduction=16)
    model = get_model("aprelu_resnet", input_shape=(8, 8, 3), stem_channels=8, stages="1x24,1x40/2", activation=aprelu)
    pads = [layer.channels for layer in model.layers if isinstance(layer, ZeroPadChannels)]
    assert pads == [24, 40]
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 3)).astype("float32")
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(model(x))))


def test_resnet_identity_is_zero_padded_subsample():
    layer = ZeroPadChannels(5)
    x = np.arange(2 * 3, dtype="float32").reshape(1, 1, 2, 3)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer(x)), np.concatenate([x, np.zeros((1, 1, 2, 2), "float32")], axis=-1)
    )


def test_resnet_rejects_shrinking_widths():
    with pytest.raises(ValueError, match="shrink"):
        get_model("aprelu_resnet", stem_channels=16, stages="1x8")


def test_only_first_unit_of_a_downsampling_stage_has_stride_two():
    model = get_model("aprelu_resnet", input_shape=(8, 8, 3), stem_channels=4, stages="2x8/2")
    strides = [layer.strides for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert strides == [(1, 1), (2, 2), (1, 1), (1, 1), (1, 1)]
    assert model.output_shape == (None, 10)


def test_record16_settings_reach_every_batch_norm_and_aprelu():
    model = build_preset("aprelu_record16")
    aprelus = [layer for layer in model.layers if isinstance(layer, APReLU)]
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(aprelus) == len(norms) == 7
    assert {(layer.reduction, layer.bn_momentum, layer.gamma_l2, layer.l2) for layer in aprelus} == {(16, 0.9, 1e-4, 1e-4)}
    assert {layer.momentum for layer in norms} == {0.9}
    assert all(layer.gamma_regularizer is not None for layer in norms)
    # the first stage widens 16 -> 32 without downsampling: zero padding, no pooling
    assert [layer.channels for layer in model.layers if isinstance(layer, ZeroPadChannels)] == [32, 64]


def test_record1_settings():
    model = build_preset("aprelu_record1")
    aprelus = [layer for layer in model.layers if isinstance(layer, APReLU)]
    assert len(aprelus) == 19
    assert {(layer.reduction, layer.bn_momentum, layer.gamma_l2) for layer in aprelus} == {(4, 0.99, 0.0)}
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert {layer.momentum for layer in norms} == {0.99}
    assert all(layer.gamma_regularizer is None for layer in norms)


def test_preset_overrides_do_not_leak():
    build_preset("antirectifier_mlp", units=8)
    assert PRESETS["antirectifier_mlp"][1]["units"] == 256


def test_selu_prefers_lecun_normal_and_alpha_dropout():
    model = get_model("mobilenet_v2", **{**tiny_arguments("mobilenet_v2"), "activation": "selu"})
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    assert isinstance(conv.kernel_initializer, keras.initializers.LecunNormal)
    model = get_model("antirectifier_mlp", **{**tiny_arguments("antirectifier_mlp"), "activation": "selu"})
    assert any(isinstance(layer, keras.layers.AlphaDropout) for layer in model.layers)
    explicit = get_model("deep_mlp", **{**tiny_arguments("deep_mlp"), "activation": "selu",
                                        "kernel_initializer": "glorot_uniform"})
    assert _kernel_initializers(explicit) == {keras.initializers.GlorotUniform}


def test_aprelu_resnet_trains_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = get_model("aprelu_resnet", **tiny_arguments("aprelu_resnet"))
    finally:
        keras.config.set_dtype_policy(previous)
    aprelu = next(layer for layer in model.layers if isinstance(layer, APReLU))
    assert aprelu.compute_dtype == "float16" and aprelu.dense1_kernel.dtype == "float32"
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 8, 8, 3)).astype("float32")
    loss = model.train_on_batch(x, rng.integers(0, 4, size=(4,)))
    assert np.isfinite(float(np.asarray(loss)))
    assert keras.ops.convert_to_numpy(model(x)).dtype == np.float32
