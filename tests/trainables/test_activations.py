"""The activation registry: specs, fresh layers, settings and their checks, values against NumPy.

Every registered activation is tested from `ACTIVATIONS` itself: adding one needs no edit here.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import keras

from trainables.activations import (
    ACTIVATIONS,
    activation_settings,
    available_activations,
    get_activation,
    resolve_activation,
)
from trainables.config import field_types
from trainables.constraints import plain_type, value_error
from trainables.layers import APReLU
from trainables.models import available_models, builder_settings

NAMES = available_activations()
# Registered names are lowercase identifiers, so this one can never be registered.
UNKNOWN = "no such activation"


def test_names_are_sorted_lowercase_identifiers():
    assert list(NAMES) == sorted(ACTIVATIONS)
    assert all(name.isidentifier() and name == name.lower() for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(3, 6), (2, 4, 4, 6)], ids=["2d", "4d"])
def test_every_activation_gives_fresh_layers_of_the_declared_width(name, shape):
    first, second = get_activation(name), get_activation(name)
    assert isinstance(first, keras.layers.Layer) and first is not second
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    output = keras.ops.convert_to_numpy(first(x))
    assert output.shape == shape[:-1] + (shape[-1] * ACTIVATIONS[name].widens,)
    assert np.all(np.isfinite(output))


@pytest.mark.parametrize("name", NAMES)
def test_every_setting_is_typed_defaulted_and_checked(name):
    for key, (annotation, default) in ACTIVATIONS[name].settings().items():
        assert default is not dataclasses.MISSING and value_error(default, annotation) is None, key
        resolve_activation(name, **{key: default}).layer()
        wrong = "not a value" if plain_type(annotation) is not str else 3
        with pytest.raises(ValueError, match=f"^{key}='not a value' is invalid|^{key}=3 is invalid"):
            resolve_activation(name, **{key: wrong})


def test_setting_names_mean_one_thing_everywhere():
    """A config key must not mean a training field, nor two types in two activations or a builder."""
    every = {}
    for name in NAMES:
        for key, (annotation, _) in ACTIVATIONS[name].settings().items():
            assert key not in field_types(), f"{name}.{key} shadows a TrainConfig field"
            assert every.setdefault(key, plain_type(annotation)) == plain_type(annotation), key
    for builder in available_models():
        for key, annotation in builder_settings(builder).items():
            assert key not in field_types(), f"{builder}.{key} shadows a TrainConfig field"
            if key in every:
                assert plain_type(annotation) == every[key], f"{builder}.{key}"


def test_unknown_activation_lists_the_names():
    with pytest.raises(ValueError, match=f"unknown activation '{UNKNOWN}'; available: {', '.join(NAMES)}$"):
        get_activation(UNKNOWN)


def test_unknown_argument_names_it_and_the_accepted_ones():
    with pytest.raises(ValueError, match=r"'relu' got unknown argument\(s\) \['alpha'\]; accepted: none"):
        get_activation("relu", alpha=0.1)
    with pytest.raises(ValueError, match=r"\['ratio'\].*reduction"):
        get_activation("aprelu", ratio=4)


def test_arguments_reach_the_layer_and_override_what_the_network_offers():
    layer = get_activation("aprelu", reduction=16, bn_momentum=0.9, gamma_l2=1e-4, l2=0.0)
    assert isinstance(layer, APReLU)
    assert (layer.reduction, layer.bn_momentum, layer.gamma_l2, layer.l2) == (16, 0.9, 1e-4, 0.0)
    assert set(activation_settings("leaky_relu")) == {"negative_slope"}
    offered = resolve_activation("aprelu", bn_momentum=0.5).layer(bn_momentum=0.9, l2=0.0, not_a_setting=1)
    assert (offered.bn_momentum, offered.l2) == (0.5, 0.0)
    assert isinstance(resolve_activation("relu").layer(bn_momentum=0.9), keras.layers.ReLU)


def test_settings_of_every_activation_when_none_is_named():
    assert set(activation_settings()) == {key for name in NAMES for key in activation_settings(name)}
    assert {"reduction", "negative_slope", "alpha_initial"} <= set(activation_settings())


def test_a_resolved_activation_passes_through():
    resolved = resolve_activation("selu")
    assert resolve_activation(resolved) is resolved
    assert resolved.initializer == "lecun_normal" and isinstance(resolved.dropout(0.1), keras.layers.AlphaDropout)
    with pytest.raises(ValueError, match="resolve_activation"):
        resolve_activation(resolved, alpha=1.0)


X = np.array([[-8.0, -1.5, -0.2, 0.0, 0.3, 2.0, 7.5]], dtype="float32")


@pytest.mark.parametrize(
    "name, kwargs, expected",
    [
        ("relu", {}, np.maximum(X, 0)),
        ("relu6", {}, np.clip(X, 0, 6)),
        ("leaky_relu", {}, np.where(X > 0, X, 0.3 * X)),  # the seed's slope
        ("leaky_relu", {"negative_slope": 0.1}, np.where(X > 0, X, 0.1 * X)),
        ("prelu", {}, np.where(X > 0, X, 0.25 * X)),
        ("prelu_channel", {"alpha_initial": 0.5}, np.where(X > 0, X, 0.5 * X)),
        ("elu", {}, np.where(X > 0, X, np.expm1(X))),
        ("elu", {"alpha": 0.5}, np.where(X > 0, X, 0.5 * np.expm1(X))),
        ("selu", {}, 1.0507009873554805 * np.where(X > 0, X, 1.6732632423543772 * np.expm1(X))),
        ("swish", {}, X / (1 + np.exp(-X))),
    ],
)
def test_values_match_numpy(name, kwargs, expected):
    output = keras.ops.convert_to_numpy(get_activation(name, **kwargs)(X))
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, parameters", [("prelu", 7 * 3 * 4), ("prelu_channel", 4)])
def test_prelu_parameter_sharing(name, parameters):
    layer = get_activation(name)
    layer.build((None, 7, 3, 4))
    assert layer.count_params() == parameters


@pytest.mark.parametrize("name", NAMES)
def test_settable_names_are_parameters_of_make(name):
    """A spec's `settable` may only narrow the factory's own parameters, never invent one."""
    from trainables.constraints import keyword_settings

    spec = ACTIVATIONS[name]
    assert set(spec.settings()) <= set(keyword_settings(spec.make))
    assert spec.widens >= 1 and isinstance(spec.initializer, str)


@pytest.mark.parametrize("name", NAMES)
def test_every_activation_survives_a_keras_round_trip(tmp_path, name):
    """Checkpoints are .keras files: an activation that cannot be saved and loaded cannot resume."""
    inputs = keras.Input(shape=(4, 4, 6))
    model = keras.Model(inputs, get_activation(name)(inputs))
    x = np.random.default_rng(9).normal(size=(2, 4, 4, 6)).astype("float32")
    model(x, training=True)
    model.save(tmp_path / "activation.keras")
    restored = keras.saving.load_model(tmp_path / "activation.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-5, atol=1e-6
    )
