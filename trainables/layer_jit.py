"""Compile only APReLU's element-wise work with XLA on TensorFlow (`layer_jit`); TensorFlow-only code.

The layer (`trainables.layers.aprelu`) stays backend-agnostic: it exposes its four element-wise
kernels and a hook, `set_kernel_compiler`; this module hands it `tf.function(jit_compile=True)`,
so each kernel becomes one XLA launch (a few fused loops) inside an otherwise un-jitted train
step: the convolutions, BatchNorms and the slope network stay on TensorFlow's kernels (oneDNN).
Affects layers traced after `enable()`. Measured with `benchmarks/aprelu_step.py` (`layer_jit` rows).
"""

from __future__ import annotations

from trainables.layers import aprelu


def enable() -> None:
    """Compile APReLU's kernels with XLA from now on (TensorFlow backend only)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("layer_jit is for the TensorFlow backend; JAX compiles the whole step already")
    import tensorflow as tf

    # autograph off: the kernels are straight-line keras.ops code; one trace per input shape.
    aprelu.set_kernel_compiler(lambda kernel: tf.function(kernel, jit_compile=True, autograph=False))


def disable() -> None:
    """Back to the default path (one TensorFlow kernel per op)."""
    aprelu.set_kernel_compiler(None)
