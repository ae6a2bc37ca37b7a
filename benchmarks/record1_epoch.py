"""Record-1 epoch time on 50,000 CIFAR-sized images (the seed: about 19 s per epoch on a GPU).

    KERAS_BACKEND=jax python benchmarks/record1_epoch.py --epochs 3                 # on a GPU
    KERAS_BACKEND=jax python benchmarks/record1_epoch.py --precision float32 mixed_float16
    python benchmarks/record1_epoch.py --images 2000 --epochs 2                       # CPU dry run

Trains the record-1 APReLU ResNet (77,328 parameters; SGD Nesterov, batch 100) with
record 1's augmentation (rotation 30, flip, shifts 0.125) applied on the device as the
first layer of the model, on random in-memory data of CIFAR-10's shape. Prints each epoch's
seconds and images/s; the first epoch includes compilation. Ends with one JSON line
{"ratio": 19 s / steady-state epoch seconds scaled to 50,000 images, ...}; the goal is an
epoch under 2 s on a GPU. With several --precision policies, each is trained in turn in the
same run and "<policy>_speedup" is the first policy's epoch time over that policy's: the
measurement behind the mixed_precision default.
"""

from __future__ import annotations

import argparse
import json
import time

SEED_EPOCH_SECONDS = 19.0  # EXPERIMENTS.md, record 1, the author's GPU in 2020
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def epoch_seconds(args, precision: str, x, y) -> list[float]:
    """Seconds of each epoch of record-1 training under one dtype policy (the first includes compilation)."""
    import keras

    from trainables.data.augment import AugmentConfig, build_augmentation
    from trainables.models import build_preset

    keras.mixed_precision.set_global_policy(precision)  # the builders keep the logits in float32
    keras.utils.set_random_seed(0)
    network = build_preset("aprelu_record1")
    augmentation = build_augmentation(
        AugmentConfig(rotation=30.0, horizontal_flip=True, width_shift=0.125, height_shift=0.125), seed=0
    )
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, network(augmentation(inputs)))
    jit = {"on": True, "off": False, "auto": "auto"}[args.jit]
    if keras.backend.backend() == "tensorflow" and jit is True:
        jit = "auto"  # TensorFlow's image transform has no XLA kernel
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"], jit_compile=jit, steps_per_execution=args.steps_per_execution,
    )
    seconds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.began)
            print(f"{precision} epoch {epoch + 1}: {seconds[-1]:.2f} s, {args.images / seconds[-1]:.0f} images/s",
                  flush=True)

    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0, callbacks=[Timer()])
    keras.mixed_precision.set_global_policy("float32")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--jit", choices=("on", "off", "auto"), default="on")
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS, default=["float32"],
                        help="dtype policies to time one after the other; the first is the headline")
    parser.add_argument("--steps-per-execution", type=int, default=1,
                        help="train steps per compiled call (Keras' steps_per_execution): fewer host round trips")
    args = parser.parse_args()
    if min(args.images, args.epochs, args.batch_size, args.steps_per_execution) < 1:
        parser.error("--images, --epochs, --batch-size and --steps-per-execution must be >= 1")

    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.images, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=args.images).astype("int32")
    steady = {}
    for precision in dict.fromkeys(args.precision):
        seconds = epoch_seconds(args, precision, x, y)
        steady[precision] = min(seconds[1:]) if len(seconds) > 1 else seconds[0]
    headline = args.precision[0]
    per_50k = steady[headline] * 50_000 / args.images
    result = {
        "ratio": round(SEED_EPOCH_SECONDS / per_50k, 2), "epoch_seconds_50k": round(per_50k, 3),
        "images_per_s": round(args.images / steady[headline], 1), "precision": headline,
        "backend": keras.backend.backend(), "jit": args.jit, "images": args.images,
        "steps_per_execution": args.steps_per_execution,
        "epoch_seconds_50k_by_precision": {
            precision: round(value * 50_000 / args.images, 3) for precision, value in steady.items()
        },
    }
    for precision, value in steady.items():
        if precision != headline:
            result[f"{precision}_speedup"] = round(steady[headline] / value, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
