"""`python -m sweeps` (or `actsweep`): what exists, read from the registries, never kept by hand.

    python -m sweeps                 # everything: families, activations, model builders, datasets
    python -m sweeps activations     # one section
    python -m sweeps --json          # the same, for scripts

The rows come from `sweeps.engine.catalogue`: families from `sweeps.families()`, activations from `trainables.activations.ACTIVATIONS`,
model builders from `trainables.models` and datasets from `trainables.data.sources.SOURCES`, so
the listing is the documentation of those names that cannot drift.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from analysis.cli_parser import OneLineParser
from sweeps.engine.runner import import_keras_quietly

SECTIONS = ("families", "activations", "models", "datasets")


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
    listing = OneLineParser(prog="python -m sweeps", description=__doc__.splitlines()[0])
    listing.add_argument("sections", nargs="*", type=_section, metavar="SECTION",
                         help=f"one or more of {', '.join(SECTIONS)} (default: all)")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    return listing


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    import_keras_quietly()  # TensorFlow's C++ start-up notices would bury the listing
    from sweeps.engine.catalogue import ROWS  # after that import, see its docstring

    chosen = args.sections or list(SECTIONS)
    listing = {section: ROWS[section]() for section in chosen}
    if args.json:
        print(json.dumps(listing, indent=2))
    else:
        print("\n\n".join("\n".join(_text(section, rows)) for section, rows in listing.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
