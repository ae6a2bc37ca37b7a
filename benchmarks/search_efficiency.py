"""Optuna's TPE against random search, both under ASHA: trial-epochs to a near-best answer.

    python benchmarks/search_efficiency.py [--rounds 3] [--num-samples 12] [--max-epochs 9]

Task: scikit-learn's real `digits` (no download) with a ReLU MLP whose nuisance
hyperparameters are sampled: depth, width, BatchNorm, initializer and a log-uniform
learning rate over three decades (most of the space trains badly, so where to sample
matters). Each round runs the same space twice under ASHA (grace 1, reduction factor 3),
`--search random` and `--search optuna` (TPE; its first max(2, min(10, samples // 3))
suggestions are random), each with the round's sampling seed. The target is the best validation
accuracy any sweep of any round reached, minus 0.5 points; a sweep's cost is the
trial-epochs it had spent, in report order, when its running best first reached the
target (all it spent if it never did: counted, and reported as a miss). Last line:
{"ratio": TPE trial-epochs / random trial-epochs (summed over rounds), ...}; below 1 means
TPE got there with less compute.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _sweeps import epoch_rows  # noqa: E402

from ray import tune  # noqa: E402

from sweeps.engine import Sweep  # noqa: E402
from sweeps.engine.plan import plan_for  # noqa: E402
from sweeps.engine.steps import run  # noqa: E402

TARGET_MARGIN = 0.005  # within 0.5 points of the best accuracy found

DIGITS = Sweep(
    family="digits_search",
    description="ReLU MLPs on scikit-learn digits, nuisance hyperparameters only (benchmark only)",
    dataset="digits",
    fixed={"model": "deep_mlp", "activation": "relu", "optimizer": "adam", "batch_size": 64, "first_width": 64},
    space=lambda max_epochs: {
        "depth": tune.choice([1, 2, 4, 8]),
        "width": tune.choice([16, 32, 64]),
        "batch_norm": tune.choice([False, True]),
        "kernel_initializer": tune.choice(["glorot_uniform", "lecun_normal", "random_uniform"]),
        "lr": tune.loguniform(1e-5, 1e-1),
    },
    max_epochs=9,
    smoke_dataset="digits",
)


def one_sweep(search: str, seed: int, args: argparse.Namespace, storage: str) -> list[dict]:
    """Run one sweep quietly; its epoch rows in the order they were reported."""
    name = f"{search}-{seed}"
    plan = plan_for(DIGITS, [
        "--search", search, "--seed", str(seed), "--num-samples", str(args.num_samples),
        "--max-epochs", str(args.max_epochs), "--grace-period", "1", "--reduction-factor", "3",
        "--storage-path", storage, "--name", name, "--verbose", "0", "--gpus-per-trial", "0",
    ])
    run(plan)
    return epoch_rows(Path(storage) / name)


def epochs_to_target(rows: list[dict], target: float) -> tuple[int, bool]:
    """Trial-epochs spent when the running best first reached `target` (all of them if never)."""
    for spent, row in enumerate(rows, start=1):
        if row["val_accuracy"] >= target:
            return spent, True
    return len(rows), False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="whole comparisons, each with its own sampling seed")
    parser.add_argument("--num-samples", type=int, default=12)
    parser.add_argument("--max-epochs", type=int, default=9)
    args = parser.parse_args()
    started = time.perf_counter()
    runs: dict[tuple[str, int], list[dict]] = {}
    with tempfile.TemporaryDirectory() as storage:
        for round_seed in range(args.rounds):
            for search in ("random", "optuna"):
                runs[search, round_seed] = one_sweep(search, round_seed, args, storage)
    best = max(row["val_accuracy"] for rows in runs.values() for row in rows)
    target = best - TARGET_MARGIN
    totals = {"random": 0, "optuna": 0}
    reached = {"random": 0, "optuna": 0}
    print(f"target: {target:.4f} (best any sweep found {best:.4f} minus {TARGET_MARGIN})")
    print(f"{'round':>5} {'search':>7} {'trial-epochs':>12} {'to target':>9} {'best':>7}")
    for (search, round_seed), rows in runs.items():
        spent, hit = epochs_to_target(rows, target)
        totals[search] += spent
        reached[search] += hit
        print(f"{round_seed:>5} {search:>7} {len(rows):>12} {spent if hit else 'missed':>9} "
              f"{max(row['val_accuracy'] for row in rows):>7.4f}")
    print(json.dumps({
        "ratio": round(totals["optuna"] / totals["random"], 3), "tpe_trial_epochs": totals["optuna"],
        "random_trial_epochs": totals["random"], "tpe_reached": reached["optuna"],
        "random_reached": reached["random"], "rounds": args.rounds, "target": round(target, 4),
        "num_samples": args.num_samples, "max_epochs": args.max_epochs,
        "wall_s": round(time.perf_counter() - started, 1),
    }))


if __name__ == "__main__":
    main()
