"""A pack trial read as the trials it stands for, so the tables never show a pack (issue 30).

A pack (trainables.pack_trial) trains several trials of one configuration, differing in their seed,
as one Tune trial: its config is a trial config plus `pack_members` (each member's own settings),
each epoch's row holds `member_<i>/<key>` for every member, and each of its checkpoints holds
`member_<i>/`, a lone trial's checkpoint. `unpack` turns its TrialFiles into one per member before
anything is derived, so status, best and last values, best checkpoint and epochs come out of the
same code as a lone trial's, and verdicts and reports count members as the trials they are.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from analysis.store import storage
from analysis.store.trial_summary import finite
from analysis.store.tune_files import TrialFiles
from trainables.recovery import MEMBER_DIRECTORY, PACK_KEY

logger = logging.getLogger(__name__)

# What a pack reports about itself besides its members' rows and their means: no member's value.
PACK_REPORTED = ("pack_size", "members_training")
_MEMBER_KEY = re.compile(r"member_\d+/")


def member_trial_id(pack_trial_id: str, index: int) -> str:
    """A member's trial id: its pack's, so it sorts and greps with it, and unique in the experiment."""
    return f"{pack_trial_id}_m{index}"


def _own_settings(trial: TrialFiles) -> list[Mapping[str, Any]] | None:
    """The pack's `pack_members`, None for a lone trial (or, with a warning, one unreadable as a pack)."""
    members = trial.config.get(PACK_KEY)
    if members is None:
        return None
    if isinstance(members, (list, tuple)) and members and all(isinstance(own, Mapping) for own in members):
        return list(members)
    logger.warning("trial %s: %s is not a list of each member's settings; exported as one trial",
                   trial.trial_id, PACK_KEY)
    return None


def _trained(row: Mapping[str, Any], index: int) -> bool:
    """Whether member `index` trained in this row's epoch (a member that diverged before keeps its epoch)."""
    return row.get(f"member_{index}/epoch") == row["epoch"]


def _time_shares(rows: Sequence[Mapping[str, Any]], count: int) -> list[float | None]:
    """Each epoch's Tune time split evenly among the members that trained it.

    A member's clock is its share, so the members' costs add up to the pack's (compute accounting
    sums wall_seconds and accelerator_seconds over trials) instead of counting it once per member.
    """
    shares: list[float | None] = []
    previous = 0.0
    for row in rows:
        total, trained = row.get("time_total_s"), sum(_trained(row, index) for index in range(count))
        if finite(total) and trained:
            shares.append((float(total) - previous) / trained)
            previous = float(total)
        else:
            shares.append(None)
    return shares


def _member_rows(rows: Sequence[Mapping[str, Any]], index: int, shares: Sequence[float | None]) -> list[dict[str, Any]]:
    """The rows member `index`'s lone trial would have: its own epochs, its own values, its share of time."""
    prefix = f"member_{index}/"
    member_rows, clock = [], 0.0
    for row, share in zip(rows, shares):
        if not _trained(row, index):
            continue
        common = {key: value for key, value in row.items()
                  if not _MEMBER_KEY.match(key) and key not in PACK_REPORTED}
        own = {key.removeprefix(prefix): value for key, value in row.items() if key.startswith(prefix)}
        clock = clock + share if share is not None else clock
        timing = {"time_total_s": clock if share is not None else None, "time_this_iter_s": share}
        member_rows.append({**common, **own, **timing})
    return member_rows


def _held_members(checkpoints: Mapping[int, str]) -> dict[int, set[str]]:
    """Epoch -> the member folders in the pack's kept checkpoint (a diverged member has none)."""
    return {epoch: {entry.name for entry in storage.locate(path).list_dir() if entry.is_dir}
            for epoch, path in checkpoints.items()}


def unpack(trial: TrialFiles) -> list[TrialFiles]:
    """A pack trial's members, each as its lone trial's files would read; a lone trial as itself.

    A member shares its pack's trial directory, Tune state, error and failures; its trial id is
    `member_trial_id`, its config the shared keys with its own over them, its checkpoints its own
    folder in each of the pack's.
    """
    members = _own_settings(trial)
    if members is None:
        return [trial]
    shared = {key: value for key, value in trial.config.items() if key != PACK_KEY}
    shares = _time_shares(trial.rows, len(members))
    held = _held_members(trial.checkpoints)
    unpacked = []
    for index, own in enumerate(members):
        folder = MEMBER_DIRECTORY.format(index=index)
        unpacked.append(dataclasses.replace(
            trial,
            trial_id=member_trial_id(trial.trial_id, index),
            config={**shared, **own},
            rows=_member_rows(trial.rows, index, shares),
            checkpoints={epoch: storage.join(path, folder) for epoch, path in trial.checkpoints.items()
                         if folder in held[epoch]},
            pack_trial_id=trial.trial_id,
            pack_member=index,
        ))
    return unpacked


__all__ = ["PACK_KEY", "PACK_REPORTED", "member_trial_id", "unpack"]
