"""What running through Tune costs a trial: runner images/s against a plain `model.fit`.

    python benchmarks/tune_overhead.py [--train-images 4096] [--epochs 4]

Both sides train the record-1 network (augmentation as record 1) on the same generated
CIFAR-sized images, built by the same code (`trainables.trainable.build_model` and the
tf.data pipeline). The runner side is a real one-trial sweep (`sweeps.engine.steps.run`, local
Ray, trainable reporting and checkpointing every epoch); the plain side is `model.fit`
in this process. Throughput is the best training images/s over the epochs after the first
(which pays for tracing): on the 2-core VM this was developed on, stretches of epochs run
about 1.3x slower on both sides alike, so a median partly measures when they fall; the best
epoch measures the code. Medians are printed too. The runner's trials call `fit` once per
epoch, the plain side once for all epochs, so a per-iterator cost (such as tf.data's
autotuning wait, BENCHMARKS.md) shows on the runner side only. Ends with one JSON line
{"ratio": runner images/s / plain images/s, ...}; the goal is >= 0.95.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sweeps import epoch_rows  # noqa: E402


def plain_fit(config: dict, epochs: int) -> list[float]:
    import keras

    from trainables.data import load_dataset
    from trainables.data.pipeline import train_dataset
    from trainables.trainable import augmentation_for, build_model, parse_config, seed_everything

    settings = parse_config(config)
    seed_everything(settings.seed)
    data = load_dataset(settings.dataset, train_limit=settings.train_limit, val_limit=settings.val_limit)
    model = build_model(settings, data.input_shape, data.num_classes)
    batches = train_dataset(data.x_train, data.y_train, batch_size=settings.batch_size,
                            augmentation=augmentation_for(settings, "pipeline"), seed=settings.seed)
    speeds: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            speeds.append(len(data.x_train) / (time.perf_counter() - self.started))

    model.fit(batches, epochs=epochs, verbose=0, shuffle=False, callbacks=[Timer()])
    return speeds


def runner_fit(argv: list[str]) -> tuple[list[float], dict]:
    from sweeps import aprelu_cifar
    from sweeps.engine.plan import plan_for
    from sweeps.engine.space.checks import sample_config
    from sweeps.engine.steps import run

    with tempfile.TemporaryDirectory() as storage:
        plan = plan_for(aprelu_cifar.SWEEP, [*argv, "--storage-path", storage, "--name", "overhead", "--verbose", "0"])
        started = time.perf_counter()
        run(plan)
        wall = time.perf_counter() - started
        rows = epoch_rows(Path(storage) / "overhead")
        config = sample_config(plan.param_space)
    config.pop("repeat", None)
    config["gpus_per_trial"] = 0.0
    return [row["images_per_second"] for row in rows], {"config": config, "runner_wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-images", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args()
    argv = ["--record", "1", "--max-epochs", str(args.epochs), "--dataset", "synthetic-cifar10", "--scheduler", "fifo",
            "--cpus-per-trial", str(os.cpu_count() or 1), "--set", f"train_limit={args.train_images}",
            "--set", "val_limit=512", "--gpus-per-trial", "0"]
    runner_speeds, info = runner_fit(argv)
    plain_speeds = plain_fit(info["config"], args.epochs)
    runner, plain = max(runner_speeds[1:]), max(plain_speeds[1:])
    print("images/s per epoch (the first includes tracing)")
    print(f"{'runner':8} " + " ".join(f"{speed:8.0f}" for speed in runner_speeds))
    print(f"{'plain':8} " + " ".join(f"{speed:8.0f}" for speed in plain_speeds))
    print(f"runner wall time incl. Ray start and data put: {info['runner_wall_s']:.1f} s")
    print(json.dumps({"ratio": round(runner / plain, 3), "runner_images_per_s": round(runner, 1),
                      "plain_images_per_s": round(plain, 1),
                      "median_ratio": round(statistics.median(runner_speeds[1:]) / statistics.median(plain_speeds[1:]), 3),
                      "train_images": args.train_images,
                      "epochs": args.epochs, "model": "aprelu_record1"}))


if __name__ == "__main__":
    main()
