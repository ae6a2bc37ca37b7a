"""Activations looked up by name, so a trial config can say `activation: "prelu_channel"`.

Every call returns a NEW layer (weights are never shared between positions in a network).
Each name maps to a factory with keyword-only arguments; those arguments are the only
kwargs the name accepts, so a typo in a search space fails before any trial starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import keras
from keras import layers

from trainables.layers import Antirectifier, APReLU, ChannelPReLU


def _relu() -> layers.Layer:
    return layers.ReLU()


def _relu6() -> layers.Layer:
    return layers.ReLU(max_value=6.0)


def _leaky_relu(*, negative_slope: float = 0.3) -> layers.Layer:
    # 0.3: the LeakyReLU layer default the MobileNetV2 seed ran with (keras.ops.leaky_relu uses 0.2).
    return layers.LeakyReLU(negative_slope=negative_slope)


def _prelu(*, alpha_initial: float = 0.25) -> layers.Layer:
    # One slope per element (Keras' default, no shared axes), as the seed.
    return layers.PReLU(alpha_initializer=keras.initializers.Constant(alpha_initial))


def _prelu_channel(*, alpha_initial: float = 0.25) -> layers.Layer:
    return ChannelPReLU(alpha_initializer=keras.initializers.Constant(alpha_initial))


def _elu(*, alpha: float = 1.0) -> layers.Layer:
    return layers.ELU(alpha=alpha)


def _selu() -> layers.Layer:
    return layers.Activation("selu")


def _gelu() -> layers.Layer:
    return layers.Activation("gelu")


def _swish() -> layers.Layer:
    return layers.Activation("swish")


def _aprelu(
    *,
    reduction: int = 4,
    bn_momentum: float = 0.99,
    bn_epsilon: float = 1e-3,
    l2: float = 1e-4,
    gamma_l2: float = 0.0,
) -> layers.Layer:
    return APReLU(reduction=reduction, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, l2=l2, gamma_l2=gamma_l2)


def _antirectifier() -> layers.Layer:
    return Antirectifier()


_FACTORIES: dict[str, Callable[..., layers.Layer]] = {
    "relu": _relu,
    "relu6": _relu6,
    "leaky_relu": _leaky_relu,
    "prelu": _prelu,
    "prelu_channel": _prelu_channel,
    "elu": _elu,
    "selu": _selu,
    "gelu": _gelu,
    "swish": _swish,
    "aprelu": _aprelu,
    "antirectifier": _antirectifier,
}

# Activations whose output has more channels than their input (factor on the last axis).
_WIDENING: dict[str, int] = {"antirectifier": 2}


def available_activations() -> tuple[str, ...]:
    """Names accepted by get_activation, sorted."""
    return tuple(sorted(_FACTORIES))


def activation_parameters(name: str) -> set[str]:
    """Keyword arguments that `get_activation(name, ...)` accepts."""
    return set(inspect.signature(_factory(name)).parameters)


def activation_widens(name: str) -> int:
    """Factor by which the activation multiplies the channel count (2 for antirectifier)."""
    _factory(name)
    return _WIDENING.get(name, 1)


def get_activation(name: str, **kwargs) -> layers.Layer:
    """A new activation layer for `name`; unknown names or arguments raise ValueError."""
    factory = _factory(name)
    accepted = set(inspect.signature(factory).parameters)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(
            f"activation {name!r} got unknown argument(s) {unknown}; accepted: {sorted(accepted) or 'none'}"
        )
    return factory(**kwargs)


def _factory(name: str) -> Callable[..., layers.Layer]:
    if not isinstance(name, str) or name not in _FACTORIES:
        raise ValueError(f"unknown activation {name!r}; available: {', '.join(available_activations())}")
    return _FACTORIES[name]
