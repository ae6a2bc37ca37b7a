"""How a sweep ends: the one line and the exit code for each way (docs/faults.md says why).

0 the sweep ran and no trial errored; 1 a trial errored, some or all (one line naming them,
the first error and the command that retries them; `sweeps.engine.lost_trials`); 2 a usage
error, found before or after Ray started (one line; what this run created is removed, never
what was there before); 128 + the signal when stopped by one (130 Ctrl-C, 143 SIGTERM,
129 SIGHUP), with the command that resumes it (`sweeps.engine.signals`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from analysis.store import storage
from sweeps.engine.cli import resume_command
from sweeps.engine.errors import EXIT_USAGE, UsageError
from sweeps.engine.lease import LeaseHeld
from sweeps.engine.locations import remove_unfinished_experiment, storage_error_message
from sweeps.engine.signals import exit_code, signal_name

if TYPE_CHECKING:  # the plan module imports Ray Tune and Keras, which the --help path must not
    from sweeps.engine.plan import Plan


def usage_error(error: UsageError, plan: Plan | None, existing: frozenset[str] | None = None) -> int:
    """One line, exit 2; what this run created goes, once it is known what was there before it
    (never another live driver's experiment)."""
    if plan is not None and existing is not None and not isinstance(error, LeaseHeld):
        remove_unfinished_experiment(plan, keep=existing)
    print(f"error: {error}", file=sys.stderr)
    return EXIT_USAGE


def object_storage_error(error: ValueError, plan: Plan | None, existing: frozenset[str] | None) -> int:
    """Object storage that failed (unreachable, denied, missing bucket): the usage-error line
    (analysis.store.storage words it without secrets); any other ValueError is a bug, raised as is."""
    if not isinstance(error, storage.StorageError):
        raise error
    return usage_error(UsageError(str(error)), plan, existing)


def storage_error(error: OSError, plan: Plan | None) -> int:
    """A storage path that turned read-only or full during the run: one line, exit 2."""
    message = storage_error_message(error, plan.storage_path) if plan is not None else None
    if message is None:
        raise error
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def interrupted(plan: Plan | None, signum: int) -> int:
    """128 + the signal (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), and one line saying how to resume."""
    try:
        print(interrupted_line(plan, signum), file=sys.stderr)
    except OSError:  # SIGHUP: the terminal is gone
        pass
    return exit_code(signum)


def interrupted_line(plan: Plan | None, signum: int) -> str:
    try:
        started = plan is not None and storage.is_dir(plan.experiment_dir)
    except ValueError:  # object storage unreachable now: the hint may still help
        started = True
    by = f"by {signal_name(signum)}"
    if not started:
        return f"interrupted {by} before the sweep started; nothing to resume"
    return f"interrupted {by}; resume with: {resume_command(plan)}"
