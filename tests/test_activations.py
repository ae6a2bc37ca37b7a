"""The activation registry: names, fresh layers, argument checking, and values against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import keras

from trainables.activations import ACTIVATIONS, activation_settings, available_activations, get_activation
from trainables.layers import Antirectifier, APReLU, ChannelPReLU

SPEC_NAMES = {
    "relu", "relu6", "leaky_relu", "prelu", "prelu_channel", "elu", "selu", "gelu", "swish", "aprelu", "antirectifier",
}


def test_available_activations_are_the_spec_names():
    assert set(available_activations()) == SPEC_NAMES
    assert list(available_activations()) == sorted(SPEC_NAMES)


@pytest.mark.parametrize("name", sorted(SPEC_NAMES))
def test_every_call_returns_a_new_layer(name):
    first, second = get_activation(name), get_activation(name)
    assert isinstance(first, keras.layers.Layer)
    assert first is not second


def test_unknown_activation_lists_the_names():
    with pytest.raises(ValueError, match="unknown activation 'mish'.*aprelu.*swish"):
        get_activation("mish")


def test_unknown_argument_names_it_and_the_accepted_ones():
    with pytest.raises(ValueError, match=r"'relu' got unknown argument\(s\) \['alpha'\]; accepted: none"):
        get_activation("relu", alpha=0.1)
    with pytest.raises(ValueError, match=r"\['ratio'\].*reduction"):
        get_activation("aprelu", ratio=4)


def test_arguments_reach_the_layer():
    layer = get_activation("aprelu", reduction=16, bn_momentum=0.9, gamma_l2=1e-4, l2=0.0)
    assert isinstance(layer, APReLU)
    assert (layer.reduction, layer.bn_momentum, layer.gamma_l2, layer.l2) == (16, 0.9, 1e-4, 0.0)
    assert set(activation_settings("leaky_relu")) == {"negative_slope"}
    assert isinstance(get_activation("antirectifier"), Antirectifier)
    assert isinstance(get_activation("prelu_channel"), ChannelPReLU)


def test_widening():
    assert ACTIVATIONS["antirectifier"].widens == 2
    assert ACTIVATIONS["relu"].widens == 1


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
