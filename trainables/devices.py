"""Accelerator setup for one trial process, on the TensorFlow or the JAX Keras backend.

Several trials share a GPU (fractional `gpus_per_trial`), and both TensorFlow and JAX by
default claim most of a GPU's memory on first use, which would starve the other trials.
The trainable calls `configure_gpus` first thing, before the first op of the process:

- TensorFlow backend: memory growth on every visible GPU.
- JAX backend: `XLA_PYTHON_CLIENT_PREALLOCATE=false` and `XLA_PYTHON_CLIENT_MEM_FRACTION`
  from the trial's GPU share (the cap JAX's allocator may grow to), set before JAX creates
  its client (importing Keras or JAX does not create it; the first device use does). The
  GPUs are hidden from TensorFlow, which then only feeds tf.data on the CPU: otherwise its
  first tensor would map a second pool of memory on the same GPU.

Ray has already narrowed `CUDA_VISIBLE_DEVICES` to the GPU it assigned the trial, so the
devices listed here are only the trial's own. Variables the user set are respected.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

# Each process has its own CUDA context (a few hundred MB) outside the allocator's pool:
# a trial's pool gets this part of its share, so that N trials of 1/N fit on one GPU.
POOL_PART_OF_SHARE = 0.9


def keras_backend() -> str:
    """The Keras backend this process runs ("tensorflow", "jax", ...)."""
    import keras

    return keras.config.backend()


def gpu_share() -> float:
    """The GPUs Ray assigned this trial (0.25 for a quarter), 0.0 outside a Ray worker."""
    try:
        import ray
    except ImportError:
        return 0.0
    if not ray.is_initialized():
        return 0.0
    return float(ray.get_runtime_context().get_assigned_resources().get("GPU", 0.0))


def jax_memory_settings(share: float) -> dict[str, str]:
    """The XLA allocator variables for a trial holding `share` GPUs (0: none, leave JAX's default cap)."""
    settings = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    if share > 0:
        settings["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{min(share, 1.0) * POOL_PART_OF_SHARE:.3f}"
    return settings


def configure_gpus(tf_config: Any = None, *, backend: str | None = None, share: float | None = None) -> list[Any]:
    """Set up this process's GPUs for its Keras backend; return them (empty on a CPU machine).

    `tf_config` is `tf.config` unless a test passes a stand-in: the logic is exercised
    without a GPU. `share` defaults to what Ray assigned the trial.
    """
    backend = backend or keras_backend()
    if backend != "tensorflow":
        return configure_jax(share if share is not None else gpu_share(), tf_config)
    if tf_config is None:
        import tensorflow as tf

        tf_config = tf.config
    gpus = list(tf_config.list_physical_devices("GPU"))
    for gpu in gpus:
        try:
            tf_config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as error:  # already initialised: growth can no longer change
            log.warning("could not enable memory growth on %s: %s", gpu, error)
    log.info("visible GPUs: %s (CUDA_VISIBLE_DEVICES=%r)", gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))
    return gpus


def configure_jax(share: float, tf_config: Any = None) -> list[Any]:
    """JAX's allocator limits, TensorFlow kept off the GPUs; the JAX GPU devices."""
    for name, value in jax_memory_settings(share).items():
        os.environ.setdefault(name, value)
    hide_gpus_from_tensorflow(tf_config)
    import jax

    gpus = [device for device in jax.devices() if device.platform == "gpu"]
    log.info("JAX GPUs: %s (share %s, memory fraction %s)", gpus, share,
             os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION", "JAX's default"))
    return gpus


def hide_gpus_from_tensorflow(tf_config: Any = None) -> None:
    """tf.data only, on the CPU: no TensorFlow GPU context beside JAX's (TensorFlow may be absent)."""
    if tf_config is None:
        try:
            import tensorflow as tf
        except ImportError:
            return
        tf_config = tf.config
    try:
        tf_config.set_visible_devices([], "GPU")
    except RuntimeError:  # already initialised (a reused trial process): it was hidden the first time
        pass


def trial_environment(backend: str | None = None) -> dict[str, str]:
    """Variables every trial process needs from the driver (Ray's runtime_env `env_vars`): the
    Keras backend (a joined cluster's workers do not inherit the driver's environment), and on
    JAX no preallocation (the per-trial cap is set in the trial, from its share)."""
    backend = backend or keras_backend()
    variables = {"KERAS_BACKEND": backend}
    if backend == "jax":
        variables.update(jax_memory_settings(0.0))
    return variables
