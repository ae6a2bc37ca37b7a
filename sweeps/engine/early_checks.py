"""What the command line alone can refuse, checked right after parsing and before Keras and Ray
Tune are imported (about 6 s of a driver's start on two cores, measured): a storage path that
embeds credentials (refused before anything reads or writes it, the lease check included) and an
optional package a flag needs. Everything else needs the resolved plan (`sweeps.engine.preflight`).
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Sequence

from analysis.store.uri import StorageError, normalize
from sweeps.engine import trackers
from sweeps.engine.errors import UsageError


def check_command_line(args: argparse.Namespace) -> None:
    """Raise UsageError, in one line, for what `args` alone shows would fail."""
    try:
        normalize(args.storage_path)
    except StorageError as error:
        raise UsageError(f"--storage-path {error}") from None
    if not args.dry_run and (message := missing_package(args.search, args.trackers, args.tracker_uri)):
        raise UsageError(message)


def missing_package(search: str, tracker_names: Sequence[str], tracker_uri: str | None) -> str | None:
    """One line naming the extra to install, for the first tool whose package is absent."""
    if search == "optuna" and importlib.util.find_spec("optuna") is None:
        return "--search optuna needs the 'optuna' package: pip install -e \".[optuna]\""
    return trackers.missing_package_message(tuple(dict.fromkeys(tracker_names)), tracker_uri)
