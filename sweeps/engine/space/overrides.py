"""`--set KEY=VALUE`: every value converted to the type its key declares, before Ray starts.

A key's type comes from where the key is consumed: a field of `TrainConfig`, a setting of
the model builder (its annotated signature) or of the activation (`trainables.activations`).
Ranges are not checked here: `trainables.trainable.parse_config` does that on every config
the sweep can produce (`sweeps.engine.space.checks`), with the same annotations.
"""

from __future__ import annotations

import json
import math
import re
import types
import typing
from typing import Any, Iterable, Sequence

from sweeps.engine.errors import UsageError
from trainables.models import setting_types

# Keys the runner sets from its own flags (or from the script): --set must not fight them.
RUNNER_KEYS = {
    "epochs": "--max-epochs",
    "seed": "--seed (and --repeats)",
    "repeat": "--repeats",
    "dataset": "--dataset",
    "data_dir": "--data-dir",
    "family": "the sweep script",
    "record": "--record",
    "gpus_per_trial": "--gpus-per-trial",
    "cpus_per_trial": "--cpus-per-trial",
    "confirms": "--confirm",
    "confirm_arm": "--confirm",
    "confirm_rank": "--confirm",
}
_TRUE, _FALSE = ("true", "1"), ("false", "0")
_INTEGER = re.compile(r"[+-]?\d+")
_WORDS = {bool: "true/false/1/0", int: "an integer", float: "a finite number", str: "a string"}


def settable_types(models: Iterable[str], activations: Iterable[str]) -> dict[str, Any]:
    """Key -> plain type (`int`, `float | None`, ...) of every key `--set` may give.

    The types are `trainables.models.setting_types`: TrainConfig's fields, the builder's
    annotated arguments and the activation's settings, for every model and activation
    the space can take.
    """
    types: dict[str, Any] = {}
    for model in models:
        for activation in activations or [None]:
            types.update(setting_types(model, activation))
    return {key: plain for key, plain in types.items() if key not in RUNNER_KEYS}


def convert_overrides(pairs: Sequence[tuple[str, str]], known: dict[str, Any], where: str) -> dict[str, Any]:
    """Typed values of `--set` pairs; a JSON list becomes a list (the plan makes it a grid).

    `where` names the model and activation for the unknown-key message.
    """
    values: dict[str, Any] = {}
    for key, text in pairs:
        if key in RUNNER_KEYS:
            raise UsageError(f"--set {key}: the runner sets {key!r}; use {RUNNER_KEYS[key]}")
        if key not in known:
            raise UsageError(f"unknown config key {key!r} in --set: not a training setting, nor a setting of {where}")
        values[key] = convert_value(key, text, known[key])
    return values


def convert_value(key: str, text: str, plain: Any) -> Any:
    """One `--set` value of type `plain`; a JSON list gives a list of such values (a grid)."""
    if text.startswith("["):
        try:
            elements = json.loads(text)
        except json.JSONDecodeError as error:
            raise UsageError(f"{_shown(key, text)}: not a JSON list ({error.msg})") from None
        if not elements:
            raise UsageError(f"--set {key}=[]: a grid needs at least one value")
        return [_scalar(key, element if isinstance(element, str) else json.dumps(element), plain)
                for element in elements]
    return _scalar(key, text, plain)


def _shown(key: str, text: str) -> str:
    """The assignment as typed, quoted when it holds a newline or a control character (one line)."""
    return f"--set {key}={text}" if text.isprintable() else f"--set {key}={text!r}"


def _members(plain: Any) -> tuple[list[Any], bool]:
    if typing.get_origin(plain) in (typing.Union, types.UnionType):
        members = list(typing.get_args(plain))
    else:
        members = [plain]
    return [member for member in members if member is not type(None)], type(None) in members


def _scalar(key: str, text: str, plain: Any) -> Any:
    members, allows_none = _members(plain)
    if allows_none and text.lower() in ("null", "none"):
        return None
    for member in (bool, int, float, str):  # strictest first: "1" is an int before a float
        if member in members:
            value = _parse_as(member, text)
            if value is not None:
                return value
    if not any(member in _WORDS for member in members):  # a type this module cannot spell (Any, ...)
        return _json_or_text(text)
    expected = " or ".join(_WORDS[member] for member in members if member in _WORDS)
    if allows_none:
        expected += " or null"
    raise UsageError(f"{_shown(key, text)}: expected {expected}")


def _parse_as(kind: type, text: str) -> Any:
    """`text` as `kind`, or None when it is not one (bool only from true/false/1/0)."""
    lowered = text.strip().lower()
    if kind is bool:
        return True if lowered in _TRUE else False if lowered in _FALSE else None
    if kind is int:
        return int(text) if _INTEGER.fullmatch(text.strip()) else None
    if kind is float:
        try:
            value = float(text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        return _json_or_text(text)
    return text


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
