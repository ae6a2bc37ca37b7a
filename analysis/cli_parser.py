"""The command lines' shared parts: a parser whose bad flag is one line and exit 2, and the number types.

The one home of the number parsers, for the analysis commands and the sweep engine alike
(sweeps.engine.cli builds its own from `number`). Only argparse and math here, so a command that
imports it still answers `--help` at once.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["OneLineParser", "number", "positive_float", "positive_int"]


class OneLineParser(argparse.ArgumentParser):
    """argparse without the usage dump on errors (the project's rule for user errors)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_abbrev=False, **kwargs)

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def number(kind: type, minimum: float, *, inclusive: bool, what: str) -> Callable[[str], Any]:
    """An argparse type: a finite number of `kind` above `minimum` (at or above when inclusive);
    anything else is "must be <what>, got <text>"."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
            raise argparse.ArgumentTypeError(f"must be {what}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names it in "invalid int value: 'x'"
    return parse


positive_int = number(int, 0, inclusive=False, what="a positive integer")
positive_float = number(float, 0, inclusive=False, what="a positive number")
