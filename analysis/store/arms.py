"""Arms and rungs: what budget-fair ASHA compares, and what it records of each trial.

An *arm* is one combination of the stratification keys' values in a trial's config (e.g.
``activation=selu,batch_norm=True``); its label is the one way arms are named, by the
scheduler (``sweeps.engine.fair_asha``), the dry run, the confirmation stage, the export
(``arm`` column) and the report. *Rungs* are the epochs at which an arm's trials are
compared: ``rung_epochs`` is the one formula, used by the scheduler and the dry run alike.

Ray-free, and in `analysis` rather than the engine because the export and the report read
what the scheduler wrote (``fair_asha.json``) and `analysis` never imports the engine.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

STATE_FILE = "fair_asha.json"


def arm_label(config: Mapping[str, Any], keys: Sequence[str]) -> str:
    """The arm of a flat trial config, e.g. 'activation=selu,batch_norm=True' ('' for one arm)."""
    return ",".join(f"{key}={config.get(key)}" for key in keys)


def label_keys(label: str) -> list[str]:
    """The keys an arm label names ('activation=selu,batch_norm=True' -> ['activation', 'batch_norm'])."""
    return [part.partition("=")[0] for part in label.split(",") if part]


def rung_epochs(grace_period: int, reduction_factor: float, max_t: int) -> list[int]:
    """The epochs at which trials are compared: grace * factor**k below the budget, rounded up.

    Ray's ASHA judges a trial at its first report at or past each milestone, so a milestone
    of 2.5 epochs is decided at epoch 3: the same epochs budget-fair ASHA uses.
    """
    epochs: list[int] = []
    milestone = float(grace_period)
    while milestone < max_t:
        epoch = math.ceil(milestone - 1e-9)  # 3 * 3.0000000001 is still epoch 9
        if epoch < max_t and (not epochs or epoch > epochs[-1]):
            epochs.append(epoch)
        milestone *= reduction_factor
    return epochs


def promoted_count(arrived: int, reduction_factor: float) -> int:
    """How many of an arm's trials due at a rung continue: the top ceil(n / factor)."""
    return math.ceil(arrived / reduction_factor)


def rungs_from_state(state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each trial's arm, highest rung reached (index) and that rung's epoch, from the scheduler's state.

    Rung ``len(rungs)`` is the full budget (epoch ``max_t``); -1 means the trial ended before
    the first rung.
    """
    epochs = list(state["rungs"]) + [state["max_t"]]
    decisions = state.get("decisions", {})
    rows = {}
    for trial_id, record in state["trials"].items():
        arm = record.get("arm")
        reached = max((int(rung) for rung in record["values"]), default=-1)
        promoted = decisions.get(arm, {}).get(str(reached))
        rows[trial_id] = {
            "arm": arm, "rung": reached, "rung_epoch": epochs[reached] if reached >= 0 else 0,
            # Its last rung was decided without it: stopped there, whatever state Tune saved
            # (a trial stopped while PAUSED can keep that state in the experiment file).
            "stopped": promoted is not None and trial_id not in promoted,
        }
    return rows


def trial_rungs(experiment_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """`rungs_from_state` of a local experiment directory; empty when it did not run this scheduler."""
    path = Path(experiment_dir) / STATE_FILE
    return rungs_from_state(json.loads(path.read_text())) if path.exists() else {}


def arm_counts(experiment_dir: str | os.PathLike) -> dict[str, list[int]]:
    """Per arm, how many trials reached each rung (index 0 .. len(rungs)): the fairness check."""
    rows = trial_rungs(experiment_dir)
    state = json.loads((Path(experiment_dir) / STATE_FILE).read_text()) if rows else {"rungs": []}
    counts: dict[str, list[int]] = {}
    for row in rows.values():
        levels = counts.setdefault(row["arm"], [0] * (len(state["rungs"]) + 1))
        for rung in range(row["rung"] + 1):
            levels[rung] += 1
    return counts
