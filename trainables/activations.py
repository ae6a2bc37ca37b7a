"""Activations by name, each with what it needs from the network around it (as timm's create_act).

    "selu": ActivationSpec(_named("selu"), initializer="lecun_normal", dropout=layers.AlphaDropout),

An entry's `make` is a layer class or factory whose keyword parameters, each annotated and
defaulted, are the activation's settings: a trial config sets one by its own name
(`negative_slope: 0.1`), so every setting stays its own column in the result tables.
Builders call `resolve_activation(name)` once and then ask the resolved activation for
layers, dropout and initializer; they never test an activation's name.

Adding an activation is one entry in `ACTIVATIONS` (docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import keras
from keras import layers

from trainables.constraints import AtLeast, check_value, keyword_settings
from trainables.layers import Antirectifier, APReLU, ChannelPReLU


@dataclass(frozen=True)
class ActivationSpec:
    """How to build an activation and what it prefers from the layers around it."""

    make: Callable[..., layers.Layer]  # keyword parameters (annotated, defaulted) are the settings
    initializer: str = "glorot_uniform"  # kernel initializer of the layers feeding it, unless a config sets one
    dropout: Callable[[float], layers.Layer] = layers.Dropout  # the dropout that keeps its statistics
    widens: int = 1  # output channels / input channels
    settable: tuple[str, ...] | None = None  # parameters of `make` a config may set; None: all of them

    def settings(self) -> dict[str, tuple[Any, Any]]:
        """name -> (annotation, default) of every setting a config may give."""
        parameters = keyword_settings(self.make)
        if self.settable is None:
            return parameters
        return {key: parameters[key] for key in self.settable}


def _relu() -> layers.Layer:
    return layers.ReLU()


def _relu6() -> layers.Layer:
    return layers.ReLU(max_value=6.0)


def _leaky_relu(*, negative_slope: Annotated[float, AtLeast(0.0)] = 0.3) -> layers.Layer:
    # 0.3: the LeakyReLU layer default the MobileNetV2 seed ran with (keras.ops.leaky_relu uses 0.2).
    return layers.LeakyReLU(negative_slope=negative_slope)


def _prelu(*, alpha_initial: float = 0.25) -> layers.Layer:
    # One slope per element (Keras' default, no shared axes), as the seed.
    return layers.PReLU(alpha_initializer=keras.initializers.Constant(alpha_initial))


def _prelu_channel(*, alpha_initial: float = 0.25) -> layers.Layer:
    return ChannelPReLU(alpha_initializer=keras.initializers.Constant(alpha_initial))


def _elu(*, alpha: float = 1.0) -> layers.Layer:
    return layers.ELU(alpha=alpha)


def _named(function: str) -> Callable[[], layers.Layer]:
    def make() -> layers.Layer:
        return layers.Activation(function)

    make.__qualname__ = f"activation_{function}"
    return make


ACTIVATIONS: dict[str, ActivationSpec] = {
    "relu": ActivationSpec(_relu),
    "relu6": ActivationSpec(_relu6),
    "leaky_relu": ActivationSpec(_leaky_relu),
    "prelu": ActivationSpec(_prelu),
    "prelu_channel": ActivationSpec(_prelu_channel),
    "elu": ActivationSpec(_elu),
    # Self-normalization needs lecun_normal weights and AlphaDropout (Klambauer et al. 2017).
    "selu": ActivationSpec(_named("selu"), initializer="lecun_normal", dropout=layers.AlphaDropout),
    "gelu": ActivationSpec(_named("gelu")),
    "swish": ActivationSpec(_named("swish")),
    "aprelu": ActivationSpec(APReLU),  # settings and defaults: APReLU.__init__
    # epsilon is K.l2_normalize's floor against division by zero, not a hyperparameter.
    "antirectifier": ActivationSpec(Antirectifier, widens=2, settable=()),
}


@dataclass(frozen=True)
class Activation:
    """An activation resolved once per model: its spec plus the settings a config gave it."""

    name: str
    spec: ActivationSpec
    arguments: Mapping[str, Any] = field(default_factory=dict)

    @property
    def initializer(self) -> str:
        return self.spec.initializer

    @property
    def widens(self) -> int:
        return self.spec.widens

    def layer(self, **network_settings) -> layers.Layer:
        """A new layer (weights are never shared between positions).

        `network_settings` are values the builder offers from its own hyperparameters (its BN
        momentum, its kernel L2 as `l2`): the activation takes those it has a setting for,
        unless the config set that setting itself, and ignores the rest.
        """
        settings = self.spec.settings()
        offered = {key: value for key, value in network_settings.items() if key in settings}
        return self.spec.make(**{**offered, **self.arguments})

    def dropout(self, rate: float) -> layers.Layer:
        return self.spec.dropout(rate)


def available_activations() -> tuple[str, ...]:
    """Names accepted by resolve_activation, sorted."""
    return tuple(sorted(ACTIVATIONS))


def activation_spec(name: str) -> ActivationSpec:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; available: {', '.join(available_activations())}")
    return ACTIVATIONS[name]


def activation_settings(name: str | None = None) -> dict[str, Any]:
    """Setting name -> annotation of activation `name`, or of every activation when None."""
    names = available_activations() if name is None else (name,)
    return {key: annotation for each in names for key, (annotation, _) in activation_spec(each).settings().items()}


def resolve_activation(activation: str | Activation, **arguments) -> Activation:
    """The activation `activation` names, with `arguments` checked against its settings.

    An `Activation` passes through unchanged (builders accept either), so resolving is idempotent.
    """
    if isinstance(activation, Activation):
        if arguments:
            raise ValueError("arguments go to resolve_activation(name, ...), not to a resolved activation")
        return activation
    spec = activation_spec(activation)
    settings = spec.settings()
    unknown = sorted(set(arguments) - set(settings))
    if unknown:
        raise ValueError(
            f"activation {activation!r} got unknown argument(s) {unknown}; accepted: {sorted(settings) or 'none'}"
        )
    for key, value in arguments.items():
        check_value(key, value, settings[key][0])
    return Activation(activation, spec, dict(arguments))


def get_activation(name: str, **arguments) -> layers.Layer:
    """A new activation layer for `name`; unknown names, arguments or values raise ValueError."""
    return resolve_activation(name, **arguments).layer()
