"""The sweep scripts' front door: `main(SWEEP)` parses the command line, runs the sweep, ends it.

Each `sweeps/*.py` script declares a `Sweep` and ends with `exit_fast(main(SWEEP))`. The command line is
parsed once (`sweeps.engine.cli`), and `--help`, a malformed flag, what the command line alone
refuses (`sweeps.engine.early_checks`) or a second driver on a running experiment answer before
Ray Tune and Keras are imported (about 2 s and 6 s on two cores). Then the plan is resolved and
checked (`sweeps.engine.plan`) and the sweep runs its steps (`sweeps.engine.steps`). Whatever
goes wrong ends in one line and an exit code (`sweeps.engine.exits`).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from typing import NoReturn, Sequence

from sweeps.engine.cli import parse_args
from sweeps.engine.early_checks import check_command_line
from sweeps.engine.errors import Interrupted, UsageError
from sweeps.engine.exits import interrupted, object_storage_error, storage_error, usage_error
from sweeps.engine.lease import check_free
from sweeps.engine.locations import experiment_names
from sweeps.engine.signals import StopSignals
from sweeps.engine.sweep import Sweep

__all__ = ["exit_fast", "main"]


def main(sweep: Sweep, argv: Sequence[str] | None = None) -> int:
    """Entry point of every sweep script; returns the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = tuple(sys.argv[1:] if argv is None else argv)
    plan, existing = None, None  # existing: None until known (then a usage error may clean up)
    with StopSignals():
        try:
            args = parse_args(sweep, argv)  # --help and malformed flags answer here
            check_command_line(sweep, args)  # so does what the command line alone refuses
            if args.name and not args.dry_run:  # so does a second driver on a running experiment
                check_free(args.storage_path, experiment_names(args.name))
            import_keras_quietly()
            from sweeps.engine import steps  # Ray Tune and Keras (~8 s of imports, measured): not before here

            plan = steps.plan_from_args(sweep, args, argv)
            if plan.tools.dry_run:
                return steps.dry_run(plan)
            existing = steps.existing_experiments(plan)
            return steps.run(plan)
        except UsageError as error:
            return usage_error(error, plan, existing)
        except OSError as error:
            return storage_error(error, plan)
        except ValueError as error:  # analysis.store.storage.StorageError: object storage failed during the run
            return object_storage_error(error, plan, existing)
        except (KeyboardInterrupt, Interrupted) as error:
            return interrupted(plan, getattr(error, "signum", signal.SIGINT))


def exit_fast(code: int) -> NoReturn:
    """End a sweep script's process with `code`, without Python's teardown of TensorFlow and Ray.

    Once they are loaded, the interpreter's exit after `main` returned took 1.1-1.2 s on an idle
    2-core VM and 2.4-2.7 s on a busy one, in native code (module and C++ static destructors: no
    Python frame to be seen), for a finished sweep and for a one-line error alike
    (benchmarks/sweep_exit.py). Nothing is left for it to do:
    `main` has written the tables (atomically), released the leases and shut Ray down, and every
    temporary directory is a context manager's; the standard streams are flushed here. `main` itself
    returns, so programs and tests that call it in-process keep their interpreter.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more reaches it anyway
            pass
    os._exit(code)


def import_keras_quietly() -> None:
    """Import Keras (and TensorFlow) with the C++ start-up chatter kept off the terminal.

    TensorFlow writes its oneDNN/CUDA notices to file descriptor 2 before its logging is
    configured, where no environment variable reaches them; they would bury the one-line
    error a user needs. What it writes is shown after all if the import fails.
    """
    if "keras" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras  # noqa: F401  (here, not at the top: its notices go to the sink)
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
