"""What makes a trial's numbers a function of its config: op determinism, a fixed thread count, and
random state that survives a checkpoint.

Measured on digits (benchmarks/determinism.py, BENCHMARKS.md): with the same seed two runs on one
machine already matched bit for bit, but the weights differed in their last bits between 1 and 2
TensorFlow intra-op threads (Eigen splits a reduction by the thread count), and a trial resumed from a
checkpoint drew different dropout masks than an uninterrupted one. So a trial

- turns on TensorFlow's op determinism (`tf.config.experimental.enable_op_determinism`): ops with
  no deterministic kernel then raise instead of varying. Not for a trial that asks for XLA
  (`jit_compile=True`, off by default on TensorFlow): Keras turns XLA off under op determinism
  (`model_supports_jit`), and such a trial is as deterministic as XLA's kernels are;
- runs its TensorFlow intra-op pool at its CPU share (`cpus_per_trial`, at least 1 thread) instead
  of the machine's core count, so a 2-core and a 16-core machine add in the same order (Ray's own
  convention: it sets OMP_NUM_THREADS to a task's CPUs);
- keeps its layers' random-number state (`keras.random.SeedGenerator`, e.g. Dropout's) in the
  checkpoint: Keras saves a model's weights and optimizer but not that state (a loaded Dropout
  starts a new seed at counter 0; measured, Keras 3 with TensorFlow 2.21), so a resumed trial would
  drop different units than an uninterrupted one.

What remains: a different CPU (another instruction set, so other oneDNN/Eigen kernels) rounds
differently; docs/verdicts.md says what a re-run reproduces.
"""

from __future__ import annotations

import logging
import math
from typing import Any

log = logging.getLogger(__name__)

SEED_STATE_SUFFIX = "seed_generator_state"


def intra_op_threads(cpus_per_trial: float) -> int:
    """The TensorFlow intra-op threads of a trial holding `cpus_per_trial` CPUs."""
    return max(1, math.ceil(cpus_per_trial - 1e-9))


def make_deterministic(cpus_per_trial: float, *, ops: bool = True) -> None:
    """Op determinism (unless `ops` is False: an XLA trial) and a fixed intra-op thread count,
    before the process's first TensorFlow op.

    A reused trial process (Tune's reuse_actors) keeps what its first trial set: the thread pool
    exists by then, every trial of one experiment holds the same CPU share, and TensorFlow has no
    public way to turn op determinism off again.
    """
    import keras

    if keras.config.backend() != "tensorflow":
        try:
            import tensorflow as tf  # tf.data feeds the other backends too
        except ImportError:
            return
    else:
        import tensorflow as tf
    if ops:
        tf.config.experimental.enable_op_determinism()
    threads = intra_op_threads(cpus_per_trial)
    if tf.config.threading.get_intra_op_parallelism_threads() == threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError as error:  # the runtime started earlier in this process (another trial's share)
        log.warning("could not set %d intra-op threads (%s); results may differ in their last bits from a "
                    "run that did", threads, error)


def random_state(model: Any) -> list[list[int]]:
    """The model's seed generators' states, in layer order (for the checkpoint's state file)."""
    import numpy as np

    return [np.asarray(variable).tolist() for variable in model.variables if variable.path.endswith(SEED_STATE_SUFFIX)]


def restore_random_state(model: Any, states: list[list[int]] | None) -> None:
    """Put the saved seed generators' states back (by position: a loaded model renumbers their names)."""
    if states is None:  # a checkpoint written before the state was saved
        return
    variables = [variable for variable in model.variables if variable.path.endswith(SEED_STATE_SUFFIX)]
    if len(variables) != len(states):
        log.warning("checkpoint holds %d random states for %d seed generators; keeping fresh ones",
                    len(states), len(variables))
        return
    for variable, state in zip(variables, states):
        variable.assign(state)


__all__ = ["intra_op_threads", "make_deterministic", "random_state", "restore_random_state"]
