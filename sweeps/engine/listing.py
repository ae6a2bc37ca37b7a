"""`python -m sweeps` (or `actsweep`): what exists, read from the registries, never kept by hand.

    python -m sweeps                 # everything: families, activations, model builders, datasets
    python -m sweeps activations     # one section
    python -m sweeps --json          # the same, for scripts

Families come from `sweeps.families()`, activations from `trainables.activations.ACTIVATIONS`,
model builders from `trainables.models` and datasets from `trainables.data.sources.SOURCES`, so
the listing is the documentation of those names that cannot drift.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Sequence
from typing import Any

SECTIONS = ("families", "activations", "models", "datasets")


def _type_name(annotation: Any) -> str:
    from trainables.constraints import plain_type

    plain = plain_type(annotation)
    return getattr(plain, "__name__", None) or str(plain).replace("NoneType", "None")


def _settings(parameters: dict[str, tuple[Any, Any]]) -> dict[str, str]:
    """name -> 'type = default' of keyword settings."""
    return {name: f"{_type_name(annotation)} = {default!r}" for name, (annotation, default) in parameters.items()}


def families() -> list[dict[str, Any]]:
    from sweeps import families as registered
    from sweeps.engine.space import values_of

    rows = []
    for name, sweep in registered().items():
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
    from trainables.activations import ACTIVATIONS

    return [{"name": name, "settings": _settings(spec.settings()), "initializer": spec.initializer,
             "dropout": getattr(spec.dropout, "__name__", str(spec.dropout)), "widens": spec.widens}
            for name, spec in sorted(ACTIVATIONS.items())]


def models() -> list[dict[str, Any]]:
    from trainables.constraints import keyword_settings
    from trainables.models import available_models, default_activation
    from trainables.models.registry import NOT_SETTINGS, builder as registered

    rows = []
    for name in available_models():
        builder = registered(name)
        settings = {key: value for key, value in keyword_settings(builder).items() if key not in NOT_SETTINGS}
        rows.append({"name": name, "module": builder.__module__, "default_activation": default_activation(name),
                     "settings": _settings(settings), "summary": (inspect.getdoc(builder) or "").splitlines()[0]})
    return rows


def datasets() -> list[dict[str, Any]]:
    from trainables.data.sources import SOURCES

    return [{"name": name, "shape": list(source.shape), "classes": source.num_classes,
             "summary": (inspect.getdoc(type(source)) or "").splitlines()[0]} for name, source in SOURCES.items()]


def _text(section: str, rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"{section} ({len(rows)}):"]
    for row in rows:
        if section == "families":
            records = f"; records {', '.join(map(str, row['records']))}" if row["records"] else ""
            lines.append(f"  {row['name']:<22} {row['script']}: {row['model']} on {row['dataset']}, "
                         f"{row['max_epochs']} epochs; scientific {', '.join(row['scientific'])}{records}")
            lines.append(f"  {'':<22} {row['summary']}")
        elif section == "activations":
            needs = [f"initializer {row['initializer']}"] if row["initializer"] != "glorot_uniform" else []
            needs += [row["dropout"]] if row["dropout"] != "Dropout" else []
            needs += [f"widens x{row['widens']}"] if row["widens"] != 1 else []
            settings = ", ".join(f"{key}: {value}" for key, value in row["settings"].items()) or "no settings"
            lines.append(f"  {row['name']:<15} {settings}" + (f"  ({'; '.join(needs)})" if needs else ""))
        elif section == "models":
            lines.append(f"  {row['name']:<18} {row['summary']} (default activation {row['default_activation']})")
            lines.append(f"  {'':<18} " + ", ".join(f"{key}: {value}" for key, value in row["settings"].items()))
        else:
            shape = "x".join(map(str, row["shape"]))
            lines.append(f"  {row['name']:<18} {shape}, {row['classes']} classes: {row['summary']}")
    return lines


def _section(text: str) -> str:
    if text not in SECTIONS:
        raise argparse.ArgumentTypeError(f"unknown section {text!r}; one of {', '.join(SECTIONS)}")
    return text


def parser() -> argparse.ArgumentParser:
    from analysis.cli_parser import OneLineParser

    listing = OneLineParser(prog="python -m sweeps", description=__doc__.splitlines()[0])
    listing.add_argument("sections", nargs="*", type=_section, metavar="SECTION",
                         help=f"one or more of {', '.join(SECTIONS)} (default: all)")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    return listing


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from sweeps.engine.runner import import_keras_quietly

    import_keras_quietly()  # TensorFlow's C++ start-up notices would bury the listing
    chosen = args.sections or list(SECTIONS)
    listing = {section: globals()[section]() for section in chosen}
    if args.json:
        print(json.dumps(listing, indent=2))
    else:
        print("\n\n".join("\n".join(_text(section, rows)) for section, rows in listing.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
