"""The fastest any unfused APReLU can be on TensorFlow: the record-1 net with a stand-in layer that runs the fewest kernels.

Without XLA every `keras.ops` call in a train step is one TensorFlow kernel, one pass over the
feature map, and nothing fuses them. Whatever the algebra, an APReLU layer run that way needs
at least, per training step:

- forward: min(x, 0) or relu(x) (one pass); the per-sample averages of both parts (two
  reductions); the slopes applied to one side only, which no single TensorFlow kernel does
  with a per-sample, per-channel slope (a broadcasting op and a plain one, e.g. max(x, x * s));
- backward: the slopes' gradient sum(upstream * min(x, 0)) (a pass and a reduction), and the
  input's gradient, which combines upstream with per-sample, per-channel constants (a plain
  pass and a broadcasting one).

`KernelFloor` is APReLU's slope network around exactly that set of kernels (4 plain passes,
2 broadcasting ones, 3 reductions). It is a timing stand-in, not APReLU: its input gradient
adds the slope gradient where APReLU's adds the pooled gradient (two values per channel, by
the sign of x, so one more kernel at least), and the pooling passes no gradient back. The layer
as written (`trainables/layers/aprelu.py`) runs 7 plain passes, 3 broadcasting ones and 3
reductions. `PassesOnly` is the same stand-in with the slope network cut to a bias and a
sigmoid: the feature-map kernels alone. If that net is already near 1.15x the ReLU net, no
rearrangement of the layer's keras.ops reaches that goal without fusing kernels.

    python benchmarks/aprelu_floor.py --steps 20 --repeats 7

The four networks (ReLU, APReLU and the two stand-ins; 77,328 parameters for the last three)
are timed as `aprelu_step.py` times them, `jit_compile` off, interleaved repeat by repeat. Ends
with one JSON line: {"ratio": stand-in / ReLU (the floor), "passes_only_ratio", "aprelu_ratio":
APReLU / ReLU, "ms_per_step": medians, "min_ms_per_step", "max_ms_per_step"}. TensorFlow only:
on JAX everything is compiled.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without install
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from aprelu_step import RECORD1_PARAMETERS, compiled, interleaved_samples, time_steps  # noqa: E402
from keras import ops  # noqa: E402

from trainables.activations import Activation, ActivationSpec  # noqa: E402
from trainables.layers.aprelu import APReLU  # noqa: E402
from trainables.models import build_preset, get_model  # noqa: E402


class KernelFloor(APReLU):
    """Timing stand-in (not APReLU): the slope network around the fewest feature-map kernels any unfused APReLU runs."""

    def call(self, inputs, training=False):
        axes = tuple(range(1, len(inputs.shape) - 1))
        negative = ops.stop_gradient(ops.minimum(inputs, 0.0))  # plain pass 1
        pooled = ops.concatenate(  # reductions 1 and 2; no gradient goes back through them
            [ops.mean(negative, axis=axes), ops.mean(ops.stop_gradient(inputs), axis=axes)], axis=-1
        )
        slopes = self._slope_network(pooled, training=bool(training) and self.trainable)
        slopes = ops.reshape(slopes, (-1,) + (1,) * len(axes) + (inputs.shape[-1],))

        @ops.custom_gradient
        def apply(x, s):
            def grad(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                grad_slopes = ops.sum(upstream * negative, axis=axes, keepdims=True)  # plain pass 3, reduction 3
                return upstream * x + grad_slopes, grad_slopes  # plain pass 4, broadcasting 2

            return ops.maximum(x, x * s), grad  # broadcasting 1, plain pass 2

        return apply(inputs, slopes)


class PassesOnly(KernelFloor):
    """The stand-in with its slope network cut to a bias and a sigmoid: what the feature-map kernels alone cost."""

    def build(self, input_shape) -> None:
        super().build(input_shape)
        for weight in self.trainable_weights:  # only the bias is used; the rest would get no gradient
            if weight is not self.dense2_bias:
                weight.trainable = False

    def _slope_network(self, pooled, training: bool):
        channels = pooled.shape[-1] // 2
        return ops.sigmoid(pooled[:, :channels] + self.dense2_bias)


def stand_in_network(layer_class: type[APReLU]) -> keras.Model:
    """Record 1 with a stand-in layer in all 19 places (the builder's defaults are record 1's)."""
    stand_in = Activation(layer_class.__name__, ActivationSpec(make=layer_class))
    return get_model("aprelu_resnet", activation=stand_in)


BUILDERS = {
    "relu": lambda: build_preset("aprelu_record1", activation="relu"),
    "aprelu": lambda: build_preset("aprelu_record1"),
    "kernel_floor": lambda: stand_in_network(KernelFloor),
    "passes_only": lambda: stand_in_network(PassesOnly),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="train steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats per network (median is reported)")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.steps, args.repeats, args.batch_size) < 1:
        parser.error("--steps, --repeats and --batch-size must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("aprelu_floor.py measures TensorFlow's unfused kernels: run it with KERAS_BACKEND=tensorflow")
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    count = args.steps * args.batch_size
    images = rng.standard_normal((count, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, size=(count,)).astype("int32")

    networks = {}
    for name, build in BUILDERS.items():
        model = build()
        if name != "relu" and model.count_params() != RECORD1_PARAMETERS:
            raise SystemExit(f"{name} has {model.count_params()} parameters, expected {RECORD1_PARAMETERS}")
        networks[name] = compiled(model, jit_compile=False)
        time_steps(model, images[: args.batch_size], labels[: args.batch_size], args.batch_size)  # trace
        print(f"compiled {name}", flush=True)

    samples = {
        name: [seconds * 1e3 for seconds in times]
        for name, times in interleaved_samples(networks, images, labels, args).items()
    }

    median = {name: statistics.median(times) for name, times in samples.items()}
    print(f"{'network':<14}{'median ms/step':>16}{'min':>10}{'max':>10}{'vs ReLU':>10}")
    for name, times in samples.items():
        print(f"{name:<14}{median[name]:>16.1f}{min(times):>10.1f}{max(times):>10.1f}{median[name] / median['relu']:>10.3f}")
    result = {
        "ratio": round(median["kernel_floor"] / median["relu"], 4),
        "aprelu_ratio": round(median["aprelu"] / median["relu"], 4),
        "passes_only_ratio": round(median["passes_only"] / median["relu"], 4),
        "ms_per_step": {name: round(value, 2) for name, value in median.items()},
        "min_ms_per_step": {name: round(min(times), 2) for name, times in samples.items()},
        "max_ms_per_step": {name: round(max(times), 2) for name, times in samples.items()},
        "batch_size": args.batch_size,
        "steps": args.steps,
        "repeats": args.repeats,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
