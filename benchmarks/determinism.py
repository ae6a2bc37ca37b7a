"""What determinism costs, and what a re-run reproduces (trainables.determinism).

    python benchmarks/determinism.py [--seeds 4] [--epochs 30] [--rounds 3]
    python benchmarks/determinism.py --tiny          # seconds: the path works

Trains the worked example's Antirectifier MLPs on scikit-learn's digits (antirectifier and relu,
256 units, RMSprop, 30 epochs) with the trainable's own pieces (trainables.trainable: the same
build, pipeline, epoch and seeds as a trial; no Ray), in fresh processes, one per setting:

- product: op determinism on, 1 TensorFlow intra-op thread (a trial's CPU share), as trials run;
- rerun: the same again (a re-run on this machine);
- no_op_determinism: 1 thread, op determinism off (what determinism costs, same threads);
- threads_2: op determinism on, 2 intra-op threads (a stand-in for another machine: the thread
  count is what differs between this VM and a larger one; another CPU type differs more).

Per setting and seed: last test accuracy (the verdict's metric) and a hash of the weights.
Timing: each round runs every setting once, in turn, so load drifts hit them alike; the epoch
time is the median over rounds of each process's training time (TensorFlow's import excluded).
Last line: {"determinism_cost_ratio": product / no_op_determinism training time, "rerun_identical":
share of (configuration, seed) whose weights match bit for bit, "threads_2_identical", "threads_2_
accuracy_max_abs_difference", ...}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SETTINGS = {  # name -> (op determinism, intra-op threads)
    "product": (True, 1),
    "rerun": (True, 1),
    "no_op_determinism": (False, 1),
    "threads_2": (True, 2),
}
ACTIVATIONS = ("antirectifier", "relu")


def worker(op_determinism: bool, threads: int, seeds: int, epochs: int, units: int, train_limit: int | None) -> dict:
    """Train every (activation, seed) in this process; its results and training seconds."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    if op_determinism:
        tf.config.experimental.enable_op_determinism()
    from trainables import trainable
    from trainables.data import load_dataset

    trainable.placement = lambda: {}  # no Ray here
    data = load_dataset("digits", None, seed=0, validation="holdout", train_limit=train_limit)
    results, seconds = {}, 0.0
    for activation in ACTIVATIONS:
        for seed in range(seeds):
            flat = {"model": "antirectifier_mlp", "activation": activation, "units": units, "depth": 2,
                    "dropout": 0.1, "optimizer": "rmsprop", "lr": 1e-3, "batch_size": 128, "dataset": "digits",
                    "epochs": epochs, "seed": seed, "validation": "holdout"}
            settings = trainable.parse_config(flat)
            trainable.release_previous_trial()
            trainable.seed_everything(seed)
            model = trainable.build_model(settings, data.input_shape, data.num_classes)
            batches = trainable.make_batches(settings, data, 0)
            started = time.perf_counter()
            for epoch_index in range(epochs):
                metrics = trainable.run_epoch(model, batches, settings, epoch_index)
            seconds += time.perf_counter() - started
            weights = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in model.get_weights())).hexdigest()
            results[f"{activation}-{seed}"] = {"test_accuracy": metrics["test_accuracy"], "weights": weights[:16]}
    return {"results": results, "seconds": seconds}


def run_setting(name: str, args: argparse.Namespace) -> dict:
    op_determinism, threads = SETTINGS[name]
    command = [sys.executable, __file__, "--worker", str(int(op_determinism)), str(threads), "--seeds", str(args.seeds),
               "--epochs", str(args.epochs), "--units", str(args.units)]
    if args.train_limit:
        command += ["--train-limit", str(args.train_limit)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, check=False,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    if result.returncode != 0:
        raise SystemExit(f"error: the {name} worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def compare(first: dict, second: dict) -> dict:
    keys = sorted(first)
    same_weights = sum(first[key]["weights"] == second[key]["weights"] for key in keys)
    differences = [abs(first[key]["test_accuracy"] - second[key]["test_accuracy"]) for key in keys]
    return {"identical": same_weights / len(keys), "same_accuracy": sum(d == 0 for d in differences) / len(keys),
            "accuracy_max_abs_difference": max(differences), "runs": len(keys)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=4, help="seeds per activation")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--train-limit", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (each runs every setting once)")
    parser.add_argument("--tiny", action="store_true", help="1 seed, 2 epochs, 32 units, 1 round: the path only")
    parser.add_argument("--worker", nargs=2, type=int, metavar=("OP_DETERMINISM", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(bool(args.worker[0]), args.worker[1], args.seeds, args.epochs, args.units,
                                args.train_limit)))
        return
    if args.tiny:
        args.seeds, args.epochs, args.units, args.rounds, args.train_limit = 1, 2, 32, 1, 256
    started = time.perf_counter()
    runs: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    for round_index in range(args.rounds):
        for name in SETTINGS:
            runs[name].append(run_setting(name, args))
            print(f"round {round_index + 1}: {name:>18} {runs[name][-1]['seconds']:7.2f} s training", flush=True)
    seconds = {name: statistics.median(run["seconds"] for run in done) for name, done in runs.items()}
    product = runs["product"][0]["results"]
    rerun, other = compare(product, runs["rerun"][0]["results"]), compare(product, runs["threads_2"][0]["results"])
    without = compare(product, runs["no_op_determinism"][0]["results"])
    within = all(run["results"] == product for run in runs["product"] + runs["rerun"])
    summary = {
        "determinism_cost_ratio": seconds["product"] / seconds["no_op_determinism"],
        "threads_2_time_ratio": seconds["threads_2"] / seconds["product"],
        "rerun_identical": rerun["identical"], "rerun_every_round_identical": within,
        "threads_2_identical": other["identical"], "threads_2_same_accuracy": other["same_accuracy"],
        "threads_2_accuracy_max_abs_difference": other["accuracy_max_abs_difference"],
        "no_op_determinism_identical": without["identical"],
        "no_op_determinism_accuracy_max_abs_difference": without["accuracy_max_abs_difference"],
        "median_training_seconds": seconds, "runs_per_setting": rerun["runs"], "rounds": args.rounds,
        "epochs": args.epochs, "units": args.units, "wall_s": round(time.perf_counter() - started, 1),
    }
    for name, value in summary.items():
        if not isinstance(value, dict):
            print(f"{name:>45}: {value}")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
