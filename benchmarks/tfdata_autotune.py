"""Epoch wall time of a trial's `fit` + `evaluate` with the project's pipelines against the same
pipelines with tf.data's autotuning model turned back on (TensorFlow's default).

Deleting a tf.data iterator waits for the autotuning model's thread, which wakes 10, 20, 40, ...
ms apart (doubling up to 60 s); when the wait runs to the next wake-up, an epoch that needed
1.3 s ends at 2.55 s (`trainables/data/pipeline.py` says more). Every trial epoch makes three
iterators (train, validation, test), so this is a per-epoch tax on every TensorFlow trial.

Both sides train one record-1 ReLU network (the CIFAR sweeps' shape, augmentation as record 16)
on the same generated CIFAR-sized images, alternating epoch by epoch, after an untimed epoch on
each side (tracing). An epoch is what `trainables.trainable.run_epoch` does: one `fit` over the
training pipeline and one `evaluate` over the validation pipeline. The last line is one JSON
object: {"ratio": mean epoch seconds with the autotuning model / without it, "best_ratio": the
same for each side's fastest epoch (the code's own speed: ~1 means the pipelines are equally
fast once the wait is left out), "stretched": epochs per side that took over 1.4x the fastest
epoch of either side, "pipeline_images_per_s": each side's training pipeline iterated alone
(best of --passes, augmentation included: what the AUTOTUNE map gets without the model), ...}.

    python benchmarks/tfdata_autotune.py [--epochs 12] [--train-images 2000]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without install

STRETCHED = 1.4


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="timed epochs per side (alternating)")
    parser.add_argument("--train-images", type=int, default=2000)
    parser.add_argument("--val-images", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--passes", type=int, default=4, help="passes over each training pipeline alone")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if min(args.epochs, args.train_images, args.val_images, args.batch_size, args.passes) < 1:
        parser.error("--epochs, --train-images, --val-images, --batch-size and --passes must be >= 1")
    return args


def pipelines(args: argparse.Namespace):
    """(train, validation) datasets for each side: as the trainable builds them, and with autotuning."""
    import numpy as np
    import tensorflow as tf

    from trainables.data.augment import AUGMENT_PRESETS, build_augmentation
    from trainables.data.pipeline import eval_dataset, train_dataset

    rng = np.random.default_rng(args.seed)
    x = rng.random((args.train_images + args.val_images, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, size=len(x)).astype("int32")
    train, val = slice(0, args.train_images), slice(args.train_images, None)
    augmentation = build_augmentation(AUGMENT_PRESETS["aprelu_record16"], seed=args.seed)
    project = (
        train_dataset(x[train], y[train], batch_size=args.batch_size, augmentation=augmentation, seed=args.seed),
        eval_dataset(x[val], y[val], batch_size=max(args.batch_size, 256)),
    )
    autotune = tf.data.Options()
    autotune.autotune.enabled = True
    logging.getLogger("absl").setLevel(logging.ERROR)  # "Changing the value of option enabled": intended
    return {"project": project, "autotune": tuple(dataset.with_options(autotune) for dataset in project)}


def epoch_seconds(model, train, val) -> float:
    started = time.perf_counter()
    model.fit(train, epochs=1, verbose=0, shuffle=False)
    model.evaluate(val, verbose=0)
    return time.perf_counter() - started


def pipeline_images_per_s(dataset, images: int, passes: int) -> float:
    """Best images/s of iterating the pipeline alone (the first pass warms it up, untimed)."""
    best = float("inf")
    for timed in range(passes + 1):
        started = time.perf_counter()
        for _ in dataset:
            pass
        if timed:
            best = min(best, time.perf_counter() - started)
    return images / best


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import keras

    from trainables.models import build_preset

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("tfdata_autotune.py measures tf.data under Keras' TensorFlow backend")
    keras.utils.set_random_seed(args.seed)
    sides = pipelines(args)
    model = build_preset("aprelu_record1", activation="relu")
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    for name, (train, val) in sides.items():
        print(f"untimed epoch ({name}): {epoch_seconds(model, train, val):.2f} s", flush=True)
    seconds: dict[str, list[float]] = {name: [] for name in sides}
    for epoch in range(args.epochs):
        for name, (train, val) in sides.items():
            seconds[name].append(epoch_seconds(model, train, val))
        timings = ", ".join(f"{name} {times[-1]:.2f} s" for name, times in seconds.items())
        print(f"epoch {epoch + 1}/{args.epochs}: {timings}", flush=True)
    throughput = {
        name: pipeline_images_per_s(train, args.train_images, args.passes) for name, (train, _) in sides.items()
    }

    fastest = min(min(times) for times in seconds.values())
    result = {
        "ratio": round(statistics.mean(seconds["autotune"]) / statistics.mean(seconds["project"]), 4),
        "best_ratio": round(min(seconds["autotune"]) / min(seconds["project"]), 4),
        "stretched": {name: sum(value > STRETCHED * fastest for value in times) for name, times in seconds.items()},
        "mean_s": {name: round(statistics.mean(times), 3) for name, times in seconds.items()},
        "median_s": {name: round(statistics.median(times), 3) for name, times in seconds.items()},
        "best_s": {name: round(min(times), 3) for name, times in seconds.items()},
        "pipeline_images_per_s": {name: round(value) for name, value in throughput.items()},
        "epochs": args.epochs,
        "train_images": args.train_images,
        "val_images": args.val_images,
    }
    mean = result["mean_s"]
    print(f"mean epoch: autotune model {mean['autotune']:.2f} s, project {mean['project']:.2f} s "
          f"(ratio {result['ratio']:.3f}); fastest epochs {result['best_ratio']:.3f}; "
          f"stretched epochs (> {STRETCHED}x the fastest): {result['stretched']}; "
          f"training pipeline alone, images/s: {result['pipeline_images_per_s']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
