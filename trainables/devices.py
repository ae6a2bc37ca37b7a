"""Accelerator setup for one trial process.

Several trials share a GPU (fractional `gpus_per_trial`), and TensorFlow by default maps
all of a GPU's memory on first use, which would starve the other trials. Memory growth
must be switched on before the first TensorFlow op of the process, so the trainable calls
`configure_gpus` first thing. Ray has already narrowed `CUDA_VISIBLE_DEVICES` to the GPU
it assigned the trial, so the devices listed here are only the trial's own.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def configure_gpus(tf_config: Any = None) -> list[Any]:
    """Turn on memory growth for every visible GPU; return them (empty on a CPU machine).

    `tf_config` is `tf.config` unless a test passes a stand-in: the logic is exercised
    without a GPU.
    """
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
