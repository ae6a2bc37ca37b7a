"""ASHA against FIFO on a small real task: what early stopping saves for the same answer.

    python benchmarks/asha_vs_fifo.py [--rounds 3] [--num-samples 27] [--max-epochs 27]

Task: scikit-learn's real `digits` with the MLP families (deep_mlp with depth, width,
activation, initializer and learning rate sampled). Each round runs the same search
space with the same sampling seed twice, under FIFO (every trial to the budget) and
under ASHA (grace 1, reduction factor 3), and counts trial-epochs and wall time. ASHA
counts only if its best validation accuracy is within 1 point of FIFO's best. Ends with
one JSON line {"ratio": ASHA trial-epochs / FIFO trial-epochs (summed over rounds), ...};
the goal is <= 0.34.
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

DIGITS = Sweep(
    family="digits_mlp",
    description="MLP families on scikit-learn digits (benchmark only)",
    dataset="digits",
    fixed={"model": "deep_mlp", "optimizer": "adam", "batch_size": 64, "first_width": 64},
    space=lambda max_epochs: {
        "activation": tune.choice(["relu", "selu", "elu", "gelu"]),
        "depth": tune.choice([1, 2, 4, 8]),
        "width": tune.choice([16, 32, 64]),
        "batch_norm": tune.choice([False, True]),
        "kernel_initializer": tune.choice(["glorot_uniform", "lecun_normal", "random_uniform"]),
        "lr": tune.loguniform(1e-5, 3e-2),
    },
    max_epochs=27,
    smoke_dataset="digits",
)


def one_sweep(scheduler: str, seed: int, args: argparse.Namespace, storage: str) -> dict:
    name = f"{scheduler}-{seed}"
    plan = plan_for(DIGITS, [
        "--scheduler", scheduler, "--seed", str(seed), "--num-samples", str(args.num_samples),
        "--max-epochs", str(args.max_epochs), "--grace-period", "1", "--reduction-factor", "3",
        "--storage-path", storage, "--name", name, "--verbose", "0", "--gpus-per-trial", "0",
    ])
    started = time.perf_counter()
    run(plan)
    wall = time.perf_counter() - started
    rows = epoch_rows(Path(storage) / name)
    return {"trial_epochs": len(rows), "wall_s": wall, "best": max(row["val_accuracy"] for row in rows),
            "trials": len({row["trial"] for row in rows})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="whole comparisons, each with its own sampling seed")
    parser.add_argument("--num-samples", type=int, default=27)
    parser.add_argument("--max-epochs", type=int, default=27)
    args = parser.parse_args()
    totals = {"fifo": {"trial_epochs": 0, "wall_s": 0.0}, "asha": {"trial_epochs": 0, "wall_s": 0.0}}
    reached = 0
    print(f"{'round':>5} {'scheduler':>9} {'trials':>6} {'trial-epochs':>12} {'wall s':>7} {'best val acc':>12}")
    with tempfile.TemporaryDirectory() as storage:
        for round_seed in range(args.rounds):
            fifo = one_sweep("fifo", round_seed, args, storage)
            asha = one_sweep("asha", round_seed, args, storage)
            reached += asha["best"] >= fifo["best"] - 0.01
            for name, result in (("fifo", fifo), ("asha", asha)):
                totals[name]["trial_epochs"] += result["trial_epochs"]
                totals[name]["wall_s"] += result["wall_s"]
                print(f"{round_seed:>5} {name:>9} {result['trials']:>6} {result['trial_epochs']:>12} "
                      f"{result['wall_s']:>7.1f} {result['best']:>12.4f}")
    ratio = totals["asha"]["trial_epochs"] / totals["fifo"]["trial_epochs"]
    print(json.dumps({
        "ratio": round(ratio, 3),
        "wall_ratio": round(totals["asha"]["wall_s"] / totals["fifo"]["wall_s"], 3),
        "rounds": args.rounds, "asha_within_1_point_of_fifo_best": f"{reached}/{args.rounds}",
        "num_samples": args.num_samples, "max_epochs": args.max_epochs,
    }))


if __name__ == "__main__":
    main()
