"""Stop a sweep cleanly on the signals people and batch systems send.

SIGINT (Ctrl-C), SIGTERM (Slurm at a job's time limit or `scancel`, Kubernetes evicting a pod,
`timeout`, `kill`) and SIGHUP (the terminal closed) all end a sweep the same way: Tune stops
its trials, saves the experiment state one last time, and the runner exits with 128 + the
signal's number (130, 143, 129) and one line with the command that resumes it.

How, in the driver (measured with Ray 2.60, TensorFlow 2.21):

- `ray.init` puts two handlers on SIGTERM: a Python one that calls `sys.exit(15)`, and, when its
  core worker starts, absl's failure signal handler (Ray's `logging.cc`), which printed
  "*** SIGTERM received at time=... PC: @ ..." dumps on the console before exiting with status
  15. `StopSignals.install` is called again once Ray has started: Python's `signal.signal`
  replaces the handler of SIGINT, SIGTERM and SIGHUP only, so absl keeps reporting real crashes
  (SIGSEGV, SIGABRT, ...) and no longer turns a polite request to stop into a crash dump.
- During `Tuner.fit`, the first signal is handed to Tune's own stop switch (the SIGUSR1 handler
  Tune installs for the length of `fit`, the same one its Ctrl-C handling uses): Tune leaves
  its loop, writes the experiment state with the unfinished trials still RUNNING (so
  `--resume` continues them from their checkpoints), stops the trial actors (at most ~5 s,
  then it kills them) and `fit` returns. Outside `fit` there is nothing to save: the first
  signal stops the run at once.
- A second signal, or `GRACE_SECONDS` after the first, stops the run at once (`Stopped`,
  a KeyboardInterrupt), as a hung save must not outlive a scheduler's kill timeout. The state
  is then the last one Tune saved (after every trial checkpoint), which `--resume` also takes.
- If even that cannot run within `EXIT_SECONDS` more, the main thread is stuck inside Ray: seen
  when the signal went to the whole process group (`timeout`, a Slurm job's end), which killed
  the local instance's GCS and raylet too, and the driver then waited 60 s for the GCS before
  Ray ended it without a word. The grace timer then writes the resume line itself and ends the
  process (`os._exit`, 128 + the signal); Ray's reaper process ends what is left of the local
  instance when its driver is gone.

GRACE_SECONDS = 15, EXIT_SECONDS = 5: on a 2-core machine under a load of 10, the whole stop (state
saved, trial actors stopped, Ray shut down) took about 6 s from SIGTERM to exit, and a driver stuck
in Ray is gone 20 s after the signal (27 s with a 20 s grace: too close to 30), inside the 30 s
both Slurm (KillWait) and Kubernetes (terminationGracePeriodSeconds) wait by default before SIGKILL.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
GRACE_SECONDS = 15.0
EXIT_SECONDS = 5.0  # after the grace period, for the main thread's own way out (ray.shutdown)
# What Tune logs when its stop switch is used: a hint to call Tuner.restore (the runner prints
# the sweep's own resume command instead) and the unfinished trials, which are to be resumed.
_TUNE_STOP_MESSAGES = ("Stop signal received", "Experiment has been interrupted", "Trials did not complete")


class Stopped(KeyboardInterrupt):
    """The run stops now, on this signal: a second signal, the grace period over, or nothing to save."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + int(signum)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class _QuietTuneStop(logging.Filter):
    """Drops Tune's own stop messages once this run asked Tune to stop."""

    def __init__(self, stop: StopSignals) -> None:
        super().__init__()
        self._stop = stop

    def filter(self, record: logging.LogRecord) -> bool:
        return self._stop.received is None or not str(record.msg).startswith(_TUNE_STOP_MESSAGES)


class StopSignals:
    """The stop signals' handler for one run of the runner (`with StopSignals() as stop:`).

    Signal handlers belong to the process, so the one whose block is open is found by `active()`.
    """

    _active: StopSignals | None = None

    def __init__(self, grace_seconds: float = GRACE_SECONDS, exit_seconds: float = EXIT_SECONDS) -> None:
        self.grace_seconds = grace_seconds
        self.exit_seconds = exit_seconds
        self.received: int | None = None  # the first stop signal, once one arrived
        self.last_words: Callable[[int], str] | None = None  # the line to leave if the process must end itself
        self._closed = threading.Event()
        self._in_fit = False
        self._previous: dict[int, Any] = {}
        self._timer: threading.Timer | None = None
        self._filter = _QuietTuneStop(self)

    @classmethod
    def active(cls) -> StopSignals | None:
        return cls._active

    def __enter__(self) -> StopSignals:
        StopSignals._active = self
        self.install()
        logging.getLogger("ray.tune.tune").addFilter(self._filter)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if StopSignals._active is self:
            StopSignals._active = None
        self._closed.set()
        if self._timer is not None:
            self._timer.cancel()
        logging.getLogger("ray.tune.tune").removeFilter(self._filter)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    def install(self) -> None:
        """Handle the stop signals here; again after `ray.init`, which installs its own on SIGTERM."""
        if threading.current_thread() is not threading.main_thread():
            return  # signal.signal works in the main thread only (a test may call main elsewhere)
        for signum in STOP_SIGNALS:
            previous = signal.signal(signum, self._handle)
            self._previous.setdefault(signum, previous)

    @contextmanager
    def tune_running(self) -> Iterator[None]:
        """Around `Tuner.fit`: a stop signal asks Tune to save and stop, once Tune can.

        Until Tune installs its own SIGUSR1 handler (early in `fit`), SIGUSR1 is ours, so a
        signal that arrives before Tune could save stops the run at once.
        """
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGUSR1, self._handle) if in_main else None
        self._in_fit = True
        try:
            yield
        finally:
            self._in_fit = False
            if in_main:
                signal.signal(signal.SIGUSR1, previous if previous is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            raise Stopped(self.received)
        self.received = signum
        self._timer = threading.Timer(self.grace_seconds, self._grace_over)  # the way out is bounded either way
        self._timer.daemon = True
        self._timer.start()
        tune_stop = signal.getsignal(signal.SIGUSR1) if self._in_fit else None
        if not callable(tune_stop) or tune_stop == self._handle:
            raise Stopped(signum)
        log.warning("%s: stopping the sweep and saving its state (at most %.0f s; %s again stops at once)",
                    signal_name(signum), self.grace_seconds, "Ctrl-C" if signum == signal.SIGINT else "the signal")
        tune_stop(signal.SIGUSR1, frame)

    def _grace_over(self) -> None:
        """The save took too long: the same signal again, handled in the main thread, stops the run;
        a main thread stuck in Ray gets `exit_seconds` more, then the process ends here."""
        signum = self.received
        if signum is None or self._closed.is_set():
            return
        os.kill(os.getpid(), signum)
        if self._closed.wait(self.exit_seconds):
            return
        line = self.last_words(signum) if self.last_words is not None else f"interrupted by {signal_name(signum)}"
        try:
            os.write(2, f"{line}\n".encode())
        except OSError:  # SIGHUP: no terminal left
            pass
        os._exit(exit_code(signum))

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop as if `signum` had arrived (from another thread: the lease found another driver)."""
        os.kill(os.getpid(), signum)
