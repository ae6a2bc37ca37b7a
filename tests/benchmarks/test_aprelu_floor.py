"""benchmarks/aprelu_floor.py: its stand-in layer runs the kernel set its docstring claims, and the script runs."""

from __future__ import annotations
from support import REPO_ROOT

import sys
from collections import Counter

import keras
import pytest

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="counts TensorFlow kernels")

SHAPE = (4, 6, 6, 8)
NOT_KERNELS = {"Placeholder", "Identity", "IdentityN", "StopGradient", "Reshape", "Const", "Shape"}


def feature_map_kernels(layer) -> tuple[Counter, Counter]:
    """Kernels of one training step's forward and backward (gradient of sum(y * upstream)) that
    write a whole feature map, and those that reduce one: the passes the benchmark counts.
    Nodes nothing consumes (the zeros autodiff builds for unconnected gradients) never run."""
    import tensorflow as tf

    layer(tf.zeros(SHAPE))

    @tf.function(autograph=False)
    def step(x, upstream):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
        return tape.gradient(y, [x] + layer.trainable_weights, output_gradients=upstream)

    spec = tf.TensorSpec(SHAPE)
    graph = step.get_concrete_function(spec, spec).graph
    passes, reductions = Counter(), Counter()
    for op in graph.get_operations():
        if op.type in NOT_KERNELS or not any(output.consumers() for output in op.outputs):
            continue
        if op.type in ("Mean", "Sum") and op.inputs[0].shape == SHAPE:
            reductions[op.type] += 1
        elif any(output.shape == SHAPE for output in op.outputs):
            passes[op.type] += 1
    return passes, reductions


def test_stand_in_runs_the_floor_and_aprelu_its_documented_kernels():
    from aprelu_floor import KernelFloor

    from trainables.layers import APReLU

    passes, reductions = feature_map_kernels(KernelFloor())
    # 4 plain passes (min, max, two products) and 2 broadcasting ones (x * s, + slope gradient)
    assert passes == Counter(Minimum=1, Maximum=1, Mul=3, AddV2=1)
    assert reductions == Counter(Mean=2, Sum=1)

    passes, reductions = feature_map_kernels(APReLU())
    # 10: min, step (Greater + Cast), max(step, s), x * factor; backward three products, + gn, AddN
    assert sum(passes.values()) == 10
    assert passes["Mul"] == 4 and passes["AddN"] == 1
    assert reductions == Counter(Mean=2, Sum=1)


@pytest.mark.parametrize("argv", [["--steps", "0"], ["--repeats", "-1"], ["--batch-size", "0"]])
def test_floor_benchmark_rejects_bad_sizes(argv):
    import aprelu_floor

    with pytest.raises(SystemExit) as error:
        aprelu_floor.parse_args(argv)
    assert error.value.code == 2
