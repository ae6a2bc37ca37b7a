"""Train-step time of the record-1 APReLU ResNet: fused APReLU layer vs ReLU vs the seed's layer graph.

APReLU runs 19 times per step of every CIFAR trial, so its cost relative to a plain ReLU decides
how many trials a sweep affords. Three networks of the same shape (77,328 parameters with
APReLU) are timed in one process, interleaved repeat by repeat so that machine noise hits all
of them alike; each repeat times one `fit` epoch of `--steps` compiled train steps (SGD, Nesterov,
batch 100, random 32x32x3 data) after a warm-up, and the median over repeats is reported. `fit`,
not `train_on_batch`: on JAX, `train_on_batch` writes every variable back to the model after each
step, a per-variable Python cost that `fit` pays once per epoch and that made APReLU's many
small weights look 1.79x ReLU on an H200 (BENCHMARKS.md).

    python benchmarks/aprelu_step.py                        # TensorFlow: jit_compile off and on
    python benchmarks/aprelu_step.py --jit off --steps 20 --repeats 7
    KERAS_BACKEND=jax python benchmarks/aprelu_step.py      # JAX always compiles: jit on only

Ends with one JSON line: {"ratio": APReLU's step / ReLU's step, each network at its own fastest
jit setting (what a user choosing the fastest setting for each pays), "vs_seed_graph": the seed
graph's best step / APReLU's best, "fastest_jit": each network's fastest setting,
"best_ms_per_step", "by_jit": every setting's figures (the same-setting ratios)}. Under XLA the
APReLU layer's element-wise work fuses into a few kernels; without it each keras.ops call is one
TensorFlow kernel pass over the feature map. The machine is often shared: look at min/max as well as the median.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without install

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from trainables.models import build_preset  # noqa: E402
from trainables.models.resnet import residual_stack  # noqa: E402

RECORD1_PARAMETERS = 77_328


def seed_aprelu(inputs):
    """The seed's APReLU as a graph of stock Keras layers (`000_*`, ported to Keras 3). Baseline only."""
    channels = inputs.shape[-1]
    zeros_input = layers.subtract([inputs, inputs])
    pos_input = layers.Activation("relu")(inputs)
    neg_input = layers.Minimum()([inputs, zeros_input])
    scales_p = layers.GlobalAveragePooling2D()(pos_input)
    scales_n = layers.GlobalAveragePooling2D()(neg_input)
    scales = layers.Concatenate()([scales_n, scales_p])
    scales = layers.Dense(
        channels // 4, kernel_initializer="he_normal", kernel_regularizer=keras.regularizers.L2(1e-4)
    )(scales)
    scales = layers.BatchNormalization()(scales)
    scales = layers.Activation("relu")(scales)
    scales = layers.Dense(channels, kernel_initializer="he_normal", kernel_regularizer=keras.regularizers.L2(1e-4))(
        scales
    )
    scales = layers.BatchNormalization()(scales)
    scales = layers.Activation("sigmoid")(scales)
    scales = layers.Reshape((1, 1, channels))(scales)
    neg_part = layers.multiply([scales, neg_input])
    return layers.add([pos_input, neg_part])


def seed_graph_network() -> keras.Model:
    """Record 1 with the seed's APReLU graph; same topology as build_preset("aprelu_record1")."""
    regularizer = keras.regularizers.L2(1e-4)

    def conv(channels: int, strides: int = 1) -> layers.Layer:
        return layers.Conv2D(
            channels, 3, strides=strides, padding="same", kernel_initializer="he_normal",
            kernel_regularizer=regularizer,
        )

    inputs = keras.Input(shape=(32, 32, 3))
    net = residual_stack(
        inputs, "3x8,1x16/2,2x16,1x32/2,2x32", 8, conv=conv, batch_norm=layers.BatchNormalization, act=lambda: seed_aprelu
    )
    net = layers.GlobalAveragePooling2D()(net)
    outputs = layers.Dense(10, kernel_initializer="he_normal", kernel_regularizer=regularizer)(net)
    return keras.Model(inputs, outputs, name="seed_graph")


def compiled(model: keras.Model, jit_compile) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    return model


def fit_inputs(images: np.ndarray, labels: np.ndarray, batch_size: int) -> dict:
    """What one `fit` epoch reads: the arrays, or on TensorFlow the project's ordered tf.data pipeline.

    Given arrays, Keras on TensorFlow builds its own tf.data pipeline, whose autotuning model
    made a third of these short fits wait until 2.55 s (every network alike; the "128.8 ms"
    medians in BENCHMARKS.md): `benchmarks/tfdata_autotune.py`.
    """
    if keras.backend.backend() == "tensorflow":
        from trainables.data.pipeline import eval_dataset

        return {"x": eval_dataset(images, labels, batch_size=batch_size)}
    return {"x": images, "y": labels, "batch_size": batch_size, "shuffle": False}


def time_steps(model: keras.Model, images: np.ndarray, labels: np.ndarray, batch_size: int) -> float:
    """Seconds per train step over one `fit` epoch of the given images (its logs are read back: synced)."""
    inputs = fit_inputs(images, labels, batch_size)
    start = time.perf_counter()
    model.fit(**inputs, epochs=1, verbose=0)
    return (time.perf_counter() - start) / math.ceil(len(images) / batch_size)


BUILDERS = {
    "aprelu": lambda: build_preset("aprelu_record1"),
    "relu": lambda: build_preset("aprelu_record1", activation="relu"),
    "seed_graph": seed_graph_network,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="train steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per network (median is reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps after compilation")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--jit", choices=("off", "on"), nargs="+", default=None,
                        help="jit_compile settings to time, interleaved (default: off and on; only on for JAX, "
                             "whose jit_compile=False means eager)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1 or args.batch_size < 1 or args.warmup < 1:
        parser.error("--steps, --repeats, --warmup and --batch-size must be >= 1")
    modes = args.jit or (["off", "on"] if keras.backend.backend() == "tensorflow" else ["on"])
    args.modes = list(dict.fromkeys(modes))
    return args


def warmed_networks(args: argparse.Namespace, images, labels) -> tuple[dict, dict]:
    """Every network at every jit setting, compiled and warmed up; and the warm-up seconds of each."""
    networks: dict[tuple[str, str], keras.Model] = {}
    compile_seconds: dict[tuple[str, str], float] = {}
    for mode in args.modes:
        for name, build in BUILDERS.items():
            model = build()
            if name != "relu" and model.count_params() != RECORD1_PARAMETERS:
                raise SystemExit(f"{name} has {model.count_params()} parameters, expected {RECORD1_PARAMETERS}")
            compiled(model, mode == "on")
            start = time.perf_counter()
            warmup = args.warmup * args.batch_size
            model.fit(**fit_inputs(images[:warmup], labels[:warmup], args.batch_size), epochs=1, verbose=0)
            compile_seconds[name, mode] = time.perf_counter() - start
            networks[name, mode] = model
            print(f"compiled {name} jit={mode} in {compile_seconds[name, mode]:.1f} s", flush=True)
    return networks, compile_seconds


def interleaved_samples(networks: dict, images, labels, args: argparse.Namespace) -> dict:
    """Seconds per step of every network, one sample per repeat; interleaved so that drift and
    noise hit every network alike."""
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in networks}
    for repeat in range(args.repeats):
        for key, model in networks.items():
            samples[key].append(time_steps(model, images, labels, args.batch_size))
        print(f"repeat {repeat + 1}/{args.repeats} done", flush=True)
    return samples


def summary(median: dict, modes: list[str]) -> dict:
    """The fair headline (each network at its own fastest setting) and every setting's figures."""
    fastest = {name: min(modes, key=lambda mode: median[name, mode]) for name in BUILDERS}
    best_ms = {name: median[name, fastest[name]] * 1e3 for name in BUILDERS}
    by_mode = {
        mode: {
            "ratio": round(median["aprelu", mode] / median["relu", mode], 4),
            "vs_seed_graph": round(median["seed_graph", mode] / median["aprelu", mode], 4),
            "ms_per_step": {name: round(median[name, mode] * 1e3, 2) for name in BUILDERS},
        }
        for mode in modes
    }
    return {
        "ratio": round(best_ms["aprelu"] / best_ms["relu"], 4),
        "vs_seed_graph": round(best_ms["seed_graph"] / best_ms["aprelu"], 4),
        "fastest_jit": fastest,
        "best_ms_per_step": {name: round(value, 2) for name, value in best_ms.items()},
        "by_jit": by_mode,
    }


def print_table(samples: dict, median: dict, compile_seconds: dict, args: argparse.Namespace) -> None:
    print(f"backend={keras.backend.backend()} batch={args.batch_size} steps={args.steps} repeats={args.repeats}")
    print(f"{'network':<12}{'jit':>5}{'median ms/step':>16}{'min':>10}{'max':>10}{'warm-up s':>12}")
    for (name, mode), times in samples.items():
        print(f"{name:<12}{mode:>5}{median[name, mode] * 1e3:>16.1f}{min(times) * 1e3:>10.1f}"
              f"{max(times) * 1e3:>10.1f}{compile_seconds[name, mode]:>12.1f}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    count = max(args.steps, args.warmup) * args.batch_size
    images = rng.standard_normal((count, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, size=(count,)).astype("int32")

    networks, compile_seconds = warmed_networks(args, images, labels)
    timed = args.steps * args.batch_size
    samples = interleaved_samples(networks, images[:timed], labels[:timed], args)
    median = {key: statistics.median(times) for key, times in samples.items()}
    print_table(samples, median, compile_seconds, args)
    result = summary(median, args.modes)
    for mode, figures in result["by_jit"].items():
        print(f"jit={mode}: APReLU/ReLU {figures['ratio']:.3f}, seed graph/APReLU {figures['vs_seed_graph']:.3f}")
    print(f"fair ratio (each at its fastest: APReLU jit={result['fastest_jit']['aprelu']}, "
          f"ReLU jit={result['fastest_jit']['relu']}): {result['ratio']:.3f}")
    result.update(backend=keras.backend.backend(), batch_size=args.batch_size, steps=args.steps, repeats=args.repeats)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
