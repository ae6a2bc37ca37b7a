"""What budget-fair ASHA (sweeps.fair_asha) records: each trial's arm and the rungs it reached.

Ray-free, so the analysis can read it: ``trial_rungs(experiment_dir)`` gives the columns
``arm``, ``rung`` and ``rung_epoch`` of ``trials.parquet``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from collections.abc import Mapping, Sequence
from typing import Any

STATE_FILE = "fair_asha.json"


def arm_label(config: Mapping[str, Any], keys: Sequence[str]) -> str:
    """The arm of a flat trial config, e.g. 'activation=selu,batch_norm=True' ('' for one arm)."""
    return ",".join(f"{key}={config.get(key)}" for key in keys)


def trial_rungs(experiment_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Each trial's arm, highest rung reached (index) and that rung's epoch, from the state file.

    Rung ``len(rungs)`` is the full budget (epoch ``max_t``); -1 means the trial ended before
    the first rung. Empty when the experiment did not run this scheduler.
    """
    path = Path(experiment_dir) / STATE_FILE
    if not path.exists():
        return {}
    state = json.loads(path.read_text())
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
