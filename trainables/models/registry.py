"""Model builders looked up by name, so a flat trial config can say `model: "aprelu_resnet"`.

Builders are keyword-only functions registered with @register_model at import; their
signatures are the single source of truth for which config keys they accept.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import keras

_BUILDERS: dict[str, Callable[..., keras.Model]] = {}


def register_model(name: str) -> Callable[[Callable[..., keras.Model]], Callable[..., keras.Model]]:
    """Decorator: make a keyword-only builder available as get_model(name, ...)."""

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
        _BUILDERS[name] = builder
        return builder

    return decorator


def available_models() -> tuple[str, ...]:
    """Registered builder names, sorted."""
    return tuple(sorted(_BUILDERS))


def builder_parameters(name: str) -> set[str]:
    """Keyword arguments the builder accepts (to validate flat trial configs early)."""
    return set(inspect.signature(_builder(name)).parameters)


def get_model(name: str, **kwargs) -> keras.Model:
    """Build a fresh model; unknown names or arguments raise ValueError before anything is built."""
    builder = _builder(name)
    accepted = builder_parameters(name)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(f"model {name!r} got unknown argument(s) {unknown}; accepted: {sorted(accepted)}")
    return builder(**kwargs)


def _builder(name: str) -> Callable[..., keras.Model]:
    if not isinstance(name, str) or name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return _BUILDERS[name]
