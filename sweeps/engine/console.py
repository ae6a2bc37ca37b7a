"""A driver console a person can read: Tune's status table, not every worker's chatter.

Measured on a 2-trial smoke sweep (Ray 2.60, TensorFlow 2.21): every trial process
forwards TensorFlow's C++ start-up notices (absl "I0000 ... oneDNN", "cuInit" ...) and
one "Checkpoint successfully created at: ..." line per epoch to the driver's terminal.
`TF_CPP_MIN_LOG_LEVEL` does not reach the absl lines (they are written before absl's
logging is initialised, at any level 0-3), so the supported knob is Ray's own:
`ray.init(log_to_driver=False)` keeps worker output in Ray's per-worker logs, and
`RunConfig(log_to_file=True)` also writes each trial's Python stdout/stderr to files of
its own. Tune's progress table and trial errors are printed by the driver itself and stay.
"""

from __future__ import annotations

import os

# Tune warns when checkpoints every epoch force frequent experiment-state snapshots; with
# one-second epochs in small sweeps that is every few seconds and says nothing to act on.
# The warning names this variable as its off switch; a value the user set is kept.
SNAPSHOT_WARNING_VARIABLE = "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"


def quiet_driver_environment() -> None:
    """Set the driver-side switches before Tune starts (the user's own values win)."""
    os.environ.setdefault(SNAPSHOT_WARNING_VARIABLE, "0")


def forward_worker_logs(verbose: int) -> bool:
    """`ray.init(log_to_driver=...)`: worker output on the console only at `--verbose 2`."""
    return verbose >= 2

