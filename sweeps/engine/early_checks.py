"""What the command line alone can refuse, checked right after parsing and before Keras and Ray
Tune are imported (about 6 s of a driver's start on two cores, measured): a storage path that
embeds credentials (refused before anything reads or writes it, the lease check included), a
`--record` the family does not have, an optional package a flag needs, --polite with --address;
then an --address where no cluster answers or whose cluster refuses this driver's token
(`sweeps.engine.admission`: Ray's core, not Tune), so a refused driver answers in about a second.
The rest needs the resolved plan (`sweeps.engine.plan`, `sweeps.engine.preflight`).
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Sequence

from analysis.store.uri import StorageError, normalize
from sweeps.engine import trackers
from sweeps.engine.errors import UsageError
from sweeps.engine.sweep import Sweep


def check_command_line(sweep: Sweep, args: argparse.Namespace) -> None:
    """Raise UsageError, in one line, for what `sweep`'s parsed `args` alone show would fail."""
    check_record(sweep, args.record)
    storage_path(args.storage_path)
    if not args.dry_run and (message := missing_package(args.search, args.trackers, args.tracker_uri)):
        raise UsageError(message)
    if args.polite and args.address:
        raise UsageError("--polite sets the priority of a local instance's workers; a cluster's workers run as "
                         "its operator configured them")
    if args.address:
        from sweeps.engine.admission import check_address, check_admission  # Ray's core: only with an address

        check_address(args.address)
        check_admission(args.address)


def storage_path(text: str) -> str:
    """A local path made absolute (Tune needs that), a URI checked: one that embeds credentials is
    refused in a line that never shows them (analysis.store.uri). The plan keeps what this returns."""
    try:
        return normalize(text)
    except StorageError as error:
        raise UsageError(f"--storage-path {error}") from None


def check_record(sweep: Sweep, record: int | None) -> None:
    if record is None or record in sweep.records:
        return
    if not sweep.records:
        raise UsageError(f"--record {record}: {sweep.family} has no published tuning records")
    raise UsageError(f"--record {record}: not a record of {sweep.family} (available: "
                     f"{', '.join(map(str, sorted(sweep.records)))})")


def missing_package(search: str, tracker_names: Sequence[str], tracker_uri: str | None) -> str | None:
    """One line naming the extra to install, for the first tool whose package is absent."""
    if search == "optuna" and importlib.util.find_spec("optuna") is None:
        return "--search optuna needs the 'optuna' package: pip install -e \".[optuna]\""
    return trackers.missing_package_message(tuple(dict.fromkeys(tracker_names)), tracker_uri)
