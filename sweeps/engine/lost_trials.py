"""No trial silently lost: a trial whose worker died is saved as errored, and the end of the
sweep names every errored trial with the command that retries them.

The fault (Ray 2.60, tests/engine/test_faults.py): with no retries left (`--max-failures 0`),
SIGKILL of a trial's worker process ended the trial ERROR in Tune's memory, but the experiment
state Tune saves (and `--resume`, `ExperimentAnalysis` and our tables read) kept it RUNNING,
with 0 failures and no error file. `TuneController._schedule_trial_stop` marks a stopped trial
for the next snapshot only while it still tracks the trial's actor, and the actor of a dead
worker is no longer tracked; no later event marks it again, so even the final snapshot that
`fit` forces wrote the stale entry. trials.parquet then showed the trial `running` after the
driver had ended, and the sweep exited 0.

Tune tells the scheduler of every trial error just before that stop, and passes it the
controller (`TrialScheduler.on_trial_error(tune_controller, trial)`): `record_errors` marks the
trial there, so the snapshots after it (the final one included) hold its ERROR status, its
failure count and its error file. The marking method is private to Tune; without it (another
Ray) nothing is marked and tests/engine/test_faults.py fails, rather than the tables being wrong
unnoticed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ray.exceptions import RayActorError

_MARK_FOR_SNAPSHOT = "_mark_trial_to_checkpoint"
_SHOWN_TRIALS = 5  # trial ids named on the summary line; the tables hold them all
_EXIT_TYPE = re.compile(r"Worker exit type: (\w+)")
_PID = re.compile(r"\bpid: (\d+)")
_TRIAL_ID = re.compile(r"_([0-9a-f]{5}_\d{5})(?:_|$)")  # Tune's folder names (as analysis.store.tune_files reads them)


class _RecordErrors:
    """The scheduler's own `on_trial_error`, then the trial marked for Tune's next snapshot.

    A class rather than a closure: Tune pickles the scheduler into tuner.pkl, and restores it
    (this included) on `--resume`.
    """

    def __init__(self, scheduler: Any, on_trial_error: Callable[..., Any]) -> None:
        self.scheduler = scheduler
        self.on_trial_error = on_trial_error  # the scheduler class' function, pickled by reference

    def __call__(self, tune_controller: Any, trial: Any) -> None:
        self.on_trial_error(self.scheduler, tune_controller, trial)
        mark = getattr(tune_controller, _MARK_FOR_SNAPSHOT, None)
        if mark is not None:
            mark(trial)


def record_errors(scheduler: Any) -> Any:
    """The scheduler, its trial errors written into Tune's saved state (module docstring)."""
    if not isinstance(scheduler.__dict__.get("on_trial_error"), _RecordErrors):
        scheduler.on_trial_error = _RecordErrors(scheduler, type(scheduler).on_trial_error)
    return scheduler


def error_line(error: BaseException) -> str:
    """A trial's error in one line: a dead worker as such, else the exception it raised."""
    if isinstance(error, RayActorError):
        text = str(error)
        exit_type, pid = _EXIT_TYPE.search(text), _PID.search(text)
        return ("worker died" + (f" (pid {pid[1]})" if pid else "") + ": "
                + (f"Ray's exit type {exit_type[1]}, " if exit_type else "")
                + "the process ended unexpectedly: killed (SIGKILL, the OOM killer) or crashed; "
                  "Ray does not report which signal")
    cause = getattr(error, "cause", None) or error
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[-1] if lines else ''}".strip()


def trial_name(result: Any) -> str:
    """The trial id Tune reported, else the one in its folder's name (a trial that died before reporting)."""
    if result.metrics.get("trial_id"):
        return str(result.metrics["trial_id"])
    folder = Path(result.path).name
    found = _TRIAL_ID.search(folder)
    return found[1] if found else folder


def errored_summary(results: Sequence[Any], resume: str) -> str | None:
    """The one line naming the errored trials and the command that retries them; None if none errored."""
    errored = [result for result in results if result.error is not None]
    if not errored:
        return None
    names = [trial_name(result) for result in errored]
    shown = ", ".join(names[:_SHOWN_TRIALS]) + (f" and {len(names) - _SHOWN_TRIALS} more" if len(names) > _SHOWN_TRIALS else "")
    how_many = (f"every trial errored ({len(errored)}: {shown})" if len(errored) == len(results)
                else f"{len(errored)} of {len(results)} trial(s) errored ({shown})")
    return f"{how_many}; the first: {error_line(errored[0].error)}; retry them with: {resume}"
