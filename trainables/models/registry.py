"""Model builders looked up by name, so a flat trial config can say `model: "aprelu_resnet"`.

Builders are keyword-only functions registered with @register_model at import; their
signatures are the single source of truth for which config keys they accept, and their
annotations (trainables.constraints) for which values: `get_model` and `parse_config`
check arguments against them before anything is built.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import keras

from trainables.activations import activation_settings
from trainables.config import field_types, split_keys
from trainables.constraints import Check, check_value, keyword_settings, plain_type

# A Keras initializer name ("glorot_uniform", "lecun_normal", ...), checked without building a layer.
Initializer = Annotated[str, Check(keras.initializers.get, "a Keras initializer name")]

_BUILDERS: dict[str, Callable[..., keras.Model]] = {}
# Checks that involve several arguments (e.g. stage widths against the stem), by builder name.
_CROSS_CHECKS: dict[str, Callable[..., None]] = {}
# Arguments of a tiny instance of each builder (fast forward passes in tests and smoke checks).
_TINY: dict[str, dict[str, Any]] = {}
# Given by the trainable from the data and the activation field, never by a config key.
NOT_SETTINGS = ("input_shape", "num_classes", "activation")


def register_model(
    name: str, *, tiny: Mapping[str, Any], check: Callable[..., None] | None = None
) -> Callable[[Callable[..., keras.Model]], Callable[..., keras.Model]]:
    """Decorator: make a keyword-only builder available as get_model(name, ...).

    `tiny` are arguments (input_shape and num_classes included) of a small instance that
    builds in about a second with any activation: the tests build every builder x activation
    from it. `check(**arguments)`, given every argument (defaults filled in), raises
    ValueError for combinations the annotations cannot express; it runs before the builder
    and in parse_config.
    """

    def decorator(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"model {name!r} is already registered (by {_BUILDERS[name].__qualname__})")
        positional = [
            parameter.name
            for parameter in inspect.signature(builder).parameters.values()
            if parameter.kind is not inspect.Parameter.KEYWORD_ONLY
        ]
        if positional:
            raise ValueError(f"model builder {name!r} must take keyword-only arguments, got {positional}")
        missing = sorted(set(NOT_SETTINGS) - set(inspect.signature(builder).parameters))
        if missing:
            raise ValueError(f"model builder {name!r} must take {missing}")
        keyword_settings(builder)  # every parameter must carry a type
        _BUILDERS[name] = builder
        _TINY[name] = dict(tiny)
        if check is not None:
            _CROSS_CHECKS[name] = check
        return builder

    return decorator


def available_models() -> tuple[str, ...]:
    """Registered builder names, sorted."""
    return tuple(sorted(_BUILDERS))


def tiny_arguments(name: str) -> dict[str, Any]:
    """Arguments of a small instance of builder `name` (a copy; see register_model)."""
    _builder(name)
    return dict(_TINY[name])


def default_activation(name: str) -> str:
    """The activation builder `name` uses when a config names none."""
    return inspect.signature(_builder(name)).parameters["activation"].default


def builder_settings(name: str) -> dict[str, Any]:
    """Config-settable arguments of builder `name` -> their annotations (data shape and activation excluded)."""
    return {
        key: annotation
        for key, (annotation, _) in keyword_settings(_builder(name)).items()
        if key not in NOT_SETTINGS
    }


def check_arguments(name: str, arguments: Mapping[str, Any]) -> None:
    """Raise ValueError, naming the key and value, for any argument builder `name` would reject."""
    settings = keyword_settings(_builder(name))
    unknown = sorted(set(arguments) - set(settings))
    if unknown:
        raise ValueError(f"model {name!r} got unknown argument(s) {unknown}; accepted: {sorted(settings)}")
    for key, value in arguments.items():
        if key != "activation":  # resolved and checked by trainables.activations
            check_value(key, value, settings[key][0])
    if name in _CROSS_CHECKS:
        defaults = {key: default for key, (_, default) in settings.items()}
        _CROSS_CHECKS[name](**{**defaults, **arguments})


def split_settings(name: str, activation: str, settings: Mapping[str, Any]) -> tuple[dict, dict, list[str]]:
    """(builder arguments, activation arguments, unknown keys) of flat `settings` (see config.split_keys)."""
    return split_keys(settings, builder_settings(name), activation_settings(activation), activation_settings())


def get_model(name: str, **kwargs) -> keras.Model:
    """Build a fresh model; unknown names, arguments or values raise ValueError before anything is built."""
    check_arguments(name, kwargs)
    return _builder(name)(**kwargs)


def builder(name: str) -> Callable[..., keras.Model]:
    """The registered builder function (its signature and docstring describe the model)."""
    return _builder(name)


def _builder(name: str) -> Callable[..., keras.Model]:
    if not isinstance(name, str) or name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return _BUILDERS[name]


def setting_types(model: str, activation: str | None = None) -> dict[str, Any]:
    """Every key a trial config for `model` with `activation` may set -> its plain type.

    Covers TrainConfig's fields, the builder's arguments (not input_shape, num_classes) and
    the activation's settings; with activation=None, the settings of every registered
    activation (a search space that grids over activations accepts each one's settings).
    Types are `int`, `float`, `bool`, `str`, or `T | None` where None is allowed; ranges are
    not part of the answer: `trainables.trainable.parse_config` checks them. Unknown model or
    activation names raise ValueError. Lives here, not in `config`, so that config needs no models.
    """
    annotations = {**activation_settings(activation), **builder_settings(model), **field_types()}
    return {key: plain_type(annotation) for key, annotation in annotations.items()}
