"""sweeps.engine.signals without Ray: which signal stops what, and the exit code it leaves.
A real SIGTERM through the command line, with Ray and Tune, is in test_faults.py."""

from __future__ import annotations

import os
import signal
import time

import pytest

from sweeps.engine.signals import STOP_SIGNALS, Stopped, StopSignals, exit_code


def deliver(signum: int) -> None:
    """Send a signal to this process and let Python run its handler (in this, the main thread)."""
    os.kill(os.getpid(), signum)
    for _ in range(20):  # kill(2) to oneself delivers before it returns; Python runs the handler next
        time.sleep(0.001)


def test_exit_codes_are_128_plus_the_signal() -> None:
    assert [exit_code(signum) for signum in STOP_SIGNALS] == [130, 143, 129]


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=lambda signum: signal.Signals(signum).name)
def test_outside_tune_a_stop_signal_stops_at_once_and_handlers_are_restored(signum: int) -> None:
    before = signal.getsignal(signum)
    with StopSignals() as stop:
        with pytest.raises(Stopped) as stopped:
            deliver(signum)
        assert stopped.value.signum == signum and stop.received == signum
    assert signal.getsignal(signum) == before


def test_inside_fit_the_first_signal_asks_tune_to_stop_and_the_second_stops_at_once() -> None:
    asked = []
    before = signal.getsignal(signal.SIGUSR1)  # an in-process Tune run of an earlier test may have left its own
    with StopSignals(grace_seconds=600) as stop:
        with stop.tune_running():
            signal.signal(signal.SIGUSR1, lambda signum, frame: asked.append(signum))  # as Tune does in fit()
            deliver(signal.SIGTERM)
            assert asked == [signal.SIGUSR1] and stop.received == signal.SIGTERM  # Tune saves and returns
            with pytest.raises(Stopped) as stopped:
                deliver(signal.SIGINT)  # impatience: stop now
            assert stopped.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGUSR1) == before  # StopSignals restores what it found


def test_a_save_longer_than_the_grace_period_is_cut_short() -> None:
    with StopSignals(grace_seconds=1.0) as stop:
        with stop.tune_running():
            signal.signal(signal.SIGUSR1, lambda signum, frame: None)  # a Tune that never returns
            deliver(signal.SIGHUP)
            with pytest.raises(Stopped) as stopped:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:  # the grace timer re-sends the signal
                    time.sleep(0.01)
            assert stopped.value.signum == signal.SIGHUP


def test_before_tune_takes_sigusr1_a_signal_in_fit_stops_at_once() -> None:
    with StopSignals() as stop:
        with stop.tune_running():  # Tune has not installed its handler yet: nothing to save
            with pytest.raises(Stopped):
                deliver(signal.SIGTERM)


def test_main_exits_129_on_sighup_with_one_line(tmp_path, capsys, monkeypatch) -> None:
    import sweeps.engine.runner
    import sweeps.engine.steps
    from sweeps import antirectifier_mnist

    def hung_up(plan):
        deliver(signal.SIGHUP)

    monkeypatch.setattr(sweeps.engine.steps, "run", hung_up)
    code = sweeps.engine.runner.main(antirectifier_mnist.SWEEP, ["--smoke", "--storage-path", str(tmp_path)])
    assert code == 129
    assert capsys.readouterr().err.strip() == "interrupted by SIGHUP before the sweep started; nothing to resume"


STUCK_IN_RAY = """
import ctypes, os, signal
from sweeps.engine.signals import StopSignals

with StopSignals(grace_seconds=0.5, exit_seconds=0.5) as stop:
    stop.last_words = lambda signum: "interrupted; resume with: the command"
    with stop.tune_running():
        signal.signal(signal.SIGUSR1, lambda signum, frame: None)  # Tune's switch, whose save never ends
        os.kill(os.getpid(), signal.SIGTERM)
        # The main thread now waits in C and never returns to Python, as a driver did waiting for a
        # GCS that the same SIGTERM had killed: no Python handler can run there any more.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        ctypes.CDLL(None).sleep(120)
print("not reached")
"""


def test_a_driver_stuck_in_ray_still_ends_after_the_grace_period_with_its_resume_line(repo_root) -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", STUCK_IN_RAY], capture_output=True, text=True, timeout=120,
                            cwd=repo_root, env={**os.environ, "PYTHONPATH": repo_root}, check=False)
    assert result.returncode == 143, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == "interrupted; resume with: the command"
    assert "not reached" not in result.stdout  # it did not wait out the 120 s it was stuck in
