"""Typed, range-checked settings: one annotation says both the type and the allowed values.

A setting is annotated `Annotated[int, AtLeast(1)]`, `Annotated[float, AtLeast(0), Below(1)]`,
`Annotated[str, OneOf(("sgd", "adam"))]` or `T | None`. The same annotation lets the CLI
convert a `--set` string (`plain_type`), lets `parse_config` reject a bad value before any
model is built (`check_value`), and lets a builder or activation check its arguments.

Pure Python: importing this module imports neither Keras nor NumPy.
"""

from __future__ import annotations

import inspect
import math
import numbers
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Annotated


@dataclass(frozen=True)
class AtLeast:
    bound: float

    def allows(self, value) -> bool:
        return value >= self.bound

    def describe(self, value=None) -> str:
        return f">= {self.bound}"


@dataclass(frozen=True)
class Above:
    bound: float

    def allows(self, value) -> bool:
        return value > self.bound

    def describe(self, value=None) -> str:
        return f"> {self.bound}"


@dataclass(frozen=True)
class AtMost:
    bound: float

    def allows(self, value) -> bool:
        return value <= self.bound

    def describe(self, value=None) -> str:
        return f"<= {self.bound}"


@dataclass(frozen=True)
class Below:
    bound: float

    def allows(self, value) -> bool:
        return value < self.bound

    def describe(self, value=None) -> str:
        return f"< {self.bound}"


@dataclass(frozen=True)
class OneOf:
    choices: tuple

    def allows(self, value) -> bool:
        return value in self.choices

    def describe(self, value=None) -> str:
        return f"one of {list(self.choices)}"


@dataclass(frozen=True)
class Check:
    """A value check that needs code (a parser, a Keras lookup): `function(value)` raises ValueError."""

    function: Callable[[Any], Any]
    description: str  # what a valid value is, e.g. "a Keras initializer name"

    def _error(self, value) -> str | None:
        try:
            self.function(value)
        except (ValueError, TypeError) as error:
            return str(error).splitlines()[0] if str(error) else type(error).__name__
        return None

    def allows(self, value) -> bool:
        return self._error(value) is None

    def describe(self, value=None) -> str:
        detail = None if value is None else self._error(value)
        return self.description if detail is None else f"{self.description} ({detail})"


Positive = Annotated[int, AtLeast(1)]
Fraction = Annotated[float, AtLeast(0.0), Below(1.0)]
NonNegative = Annotated[float, AtLeast(0.0)]


def type_hints(function_or_class) -> dict[str, Any]:
    """Resolved annotations (string annotations evaluated), keeping `Annotated` metadata."""
    return typing.get_type_hints(function_or_class, include_extras=True)


def keyword_settings(function) -> dict[str, tuple[Any, Any]]:
    """name -> (annotation, default) for every named parameter of `function` (no *args, **kwargs)."""
    hints = type_hints(function.__init__ if inspect.isclass(function) else function)
    settings = {}
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if parameter.name not in hints:
            raise TypeError(f"{getattr(function, '__qualname__', function)}: parameter {parameter.name!r} lacks a type")
        settings[parameter.name] = (hints[parameter.name], parameter.default)
    return settings


def _split(annotation) -> tuple[list, bool]:
    """(member annotations, None allowed) of a possibly optional union."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = list(typing.get_args(annotation))
    else:
        members = [annotation]
    allows_none = type(None) in members
    return [member for member in members if member is not type(None)], allows_none


def _base(annotation) -> tuple[Any, tuple]:
    """(plain type, constraints) of `Annotated[T, ...]` or of a bare `T`."""
    if typing.get_origin(annotation) is Annotated:
        base, *constraints = typing.get_args(annotation)
        return base, tuple(constraints)
    return annotation, ()


def plain_type(annotation) -> Any:
    """The annotation without its constraints: `int`, `float`, `bool`, `str`, or `T | None`."""
    members, allows_none = _split(annotation)
    plain = [_base(member)[0] for member in members]
    result = plain[0]
    for member in plain[1:]:
        result = result | member
    return result | None if allows_none else result


_TYPE_WORDS = {bool: "a bool (true/false)", int: "an int", float: "a finite number", str: "a string"}


def _type_error(value, base) -> str | None:
    if base is bool:
        return None if isinstance(value, bool) else _TYPE_WORDS[bool]
    if base is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        return None if ok else _TYPE_WORDS[int]
    if base is float:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else _TYPE_WORDS[float]
    if base is tuple:
        return None if isinstance(value, (tuple, list)) else "a sequence"
    if isinstance(base, type):
        return None if isinstance(value, base) else _TYPE_WORDS.get(base, f"a {base.__name__}")
    return None  # an annotation this module does not check (e.g. a Callable)


def value_error(value, annotation) -> str | None:
    """Why `value` does not fit `annotation` ("an int >= 1"), or None when it fits."""
    members, allows_none = _split(annotation)
    if value is None:
        return None if allows_none else "a value, not None"
    reasons = []
    for member in members:
        base, constraints = _base(member)
        reason = _type_error(value, base)
        if reason is None:
            if all(constraint.allows(value) for constraint in constraints):
                return None
            # A Check or OneOf says the whole story; bounds read after the type ("an int >= 1").
            checks = [constraint for constraint in constraints if isinstance(constraint, (Check, OneOf))]
            bounds = [constraint.describe() for constraint in constraints if constraint not in checks]
            failed_checks = [constraint.describe(value) for constraint in checks if not constraint.allows(value)]
            reason = " and ".join(failed_checks) or f"{_TYPE_WORDS.get(base, base)} " + " and ".join(bounds)
        reasons.append(reason)
    return " or ".join(reasons + (["None"] if allows_none else []))


def check_value(key: str, value, annotation) -> None:
    """Raise a one-line ValueError naming `key` and `value` when the value does not fit."""
    reason = value_error(value, annotation)
    if reason is not None:
        raise ValueError(f"{key}={value!r} is invalid: must be {reason}")
