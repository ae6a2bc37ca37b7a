"""What every stage of the engine shares: the user's errors, the exit codes, the limits.

A leaf: it imports nothing of the project, so any module may import it without a circle.
"""

from __future__ import annotations

import signal

EXIT_OK, EXIT_ERRORED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are 32-bit
MAX_REPEATS = 1000  # seeds per configuration; more is a typo, not a statistic
DEFAULT_CONFIRM_REPEATS = 10  # the most new seeds a configuration the confirmation stage re-runs may use
DEFAULT_CONFIRM_BATCH = 2  # seeds added per look (analysis.verdict.sequential; docs/verdicts.md says why)


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit code 2."""


class Interrupted(Exception):
    """Tune stopped (on a stop signal, or SIGUSR1) and `fit()` returned: the sweep is not finished."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
