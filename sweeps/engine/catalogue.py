"""The rows `python -m sweeps` lists, read from the registries (`sweeps.engine.listing` prints them).

Imported after Keras was imported quietly (`runner.import_keras_quietly`): the registries
import TensorFlow, whose C++ start-up notices would otherwise bury the listing.
"""

from __future__ import annotations

import inspect
from typing import Any

from sweeps import families as registered_families
from sweeps.engine.space.keys import values_of
from trainables.activations import ACTIVATIONS
from trainables.constraints import keyword_settings, plain_type
from trainables.data.sources import SOURCES
from trainables.models import available_models, default_activation
from trainables.models.registry import NOT_SETTINGS
from trainables.models.registry import builder as registered_builder


def _type_name(annotation: Any) -> str:
    plain = plain_type(annotation)
    return getattr(plain, "__name__", None) or str(plain).replace("NoneType", "None")


def _settings(parameters: dict[str, tuple[Any, Any]]) -> dict[str, str]:
    """name -> 'type = default' of keyword settings."""
    return {name: f"{_type_name(annotation)} = {default!r}" for name, (annotation, default) in parameters.items()}


def families() -> list[dict[str, Any]]:
    rows = []
    for name, sweep in registered_families().items():
        space = {**sweep.fixed, **sweep.space(sweep.max_epochs)}
        rows.append({
            "name": name, "script": f"sweeps/{name}.py", "dataset": sweep.dataset,
            "model": ", ".join(map(str, values_of(space, "model"))),
            "activations": [str(value) for value in values_of(space, "activation")],
            "scientific": list(sweep.scientific), "max_epochs": sweep.max_epochs,
            "records": sorted(sweep.records), "summary": sweep.description.strip().splitlines()[0],
        })
    return rows


def activations() -> list[dict[str, Any]]:
    return [{"name": name, "settings": _settings(spec.settings()), "initializer": spec.initializer,
             "dropout": getattr(spec.dropout, "__name__", str(spec.dropout)), "widens": spec.widens}
            for name, spec in sorted(ACTIVATIONS.items())]


def models() -> list[dict[str, Any]]:
    rows = []
    for name in available_models():
        builder = registered_builder(name)
        settings = {key: value for key, value in keyword_settings(builder).items() if key not in NOT_SETTINGS}
        rows.append({"name": name, "module": builder.__module__, "default_activation": default_activation(name),
                     "settings": _settings(settings), "summary": (inspect.getdoc(builder) or "").splitlines()[0]})
    return rows


def datasets() -> list[dict[str, Any]]:
    return [{"name": name, "shape": list(source.shape), "classes": source.num_classes,
             "summary": (inspect.getdoc(type(source)) or "").splitlines()[0]} for name, source in SOURCES.items()]


ROWS = {"families": families, "activations": activations, "models": models, "datasets": datasets}
