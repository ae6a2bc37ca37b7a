"""What exporting a sweep's metrics costs per trial-epoch, against the trial-epoch it reports.

    python benchmarks/sweep_metrics.py [--max-epochs 12] [--trials 256]

The metrics (sweeps.engine.sweep_metrics) are a Tune callback in the driver: they cost the driver's
time in Tune's hooks, and a thread's re-set of every value once a second; the trials themselves run
the same code with or without them. So this measures that time directly, where a wall-time A/B of two
sweeps could not see 1% through the noise of a 2-core VM (runs of the same sweep differ by more):

1. Baseline: a real sweep without `--dashboard` (the antirectifier smoke sweep on synthetic MNIST,
   FIFO, `--max-epochs` epochs per trial), run as a user runs it; its wall seconds per trial-epoch in
   steady state (the median epoch over the trials running at once; with the actor starts, over the
   whole sweep, it is several times longer, which would flatter the ratio).
2. The callback, in this process with Ray's real gauges (a local Ray instance): the baseline's
   reports replayed through its hooks in their order, every hook timed; and what it does once a
   second (a recount of the trials, the refresher's re-set of every value) timed and added in full.
   Then the same at scale: `--trials` trials in four arms, every one in Tune's trial list from
   the start (the callback counts the whole list at every event).

Ends with one JSON line {"ratio": (hook seconds per trial-epoch + once-a-second seconds x trial-epoch
seconds) / baseline wall seconds per trial-epoch, "ratio_at_scale": ..., ...}; the goal is < 0.01.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]  # this checkout's packages, not an installed copy

from _sweeps import epoch_rows  # noqa: E402


@dataclass
class ReplayedTrial:
    """What the callback reads of Tune's Trial."""

    trial_id: str
    config: dict
    status: str = "PENDING"
    last_result: dict = field(default_factory=dict)
    metric_analysis: dict = field(default_factory=dict)


def baseline(max_epochs: int, storage: Path) -> tuple[float, float, list[dict]]:
    """The sweep's wall seconds per trial-epoch (first report's start to last report), the same in
    steady state (the median epoch over the trials running at once: no actor starts, the smaller
    denominator, so the ratio's upper side), and its reports."""
    command = [sys.executable, str(REPO / "sweeps" / "antirectifier_mnist.py"), "--smoke", "--scheduler", "fifo",
               "--max-epochs", str(max_epochs), "--storage-path", str(storage), "--name", "baseline", "--verbose", "0"]
    subprocess.run(command, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=1200)
    rows = epoch_rows(storage / "baseline")
    ends = [row["timestamp"] for row in rows]
    starts = [row["timestamp"] - row["time_this_iter_s"] for row in rows]
    at_once = min(os.cpu_count() or 1, len({row["trial_id"] for row in rows}))  # a CPU per trial
    steady = statistics.median(row["time_this_iter_s"] for row in rows) / at_once
    return (max(ends) - min(starts)) / len(rows), steady, rows


class Timed:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, hook, **arguments) -> None:
        started = time.perf_counter()
        hook(**arguments)
        self.seconds += time.perf_counter() - started


def replay(metrics, trials: list[ReplayedTrial], reports: list[tuple[str, dict]], budget: int) -> float:
    """Feed the reports (trial id, result) through the callback's hooks as Tune would; the seconds spent in them."""
    by_id = {trial.trial_id: trial for trial in trials}
    timed = Timed()
    for trial_id, result in reports:
        trial = by_id[trial_id]
        if trial.status == "PENDING":
            trial.status = "RUNNING"
            timed(metrics.on_trial_start, iteration=0, trials=trials, trial=trial)
        trial.last_result = result
        best = trial.metric_analysis.setdefault("val_accuracy", {"max": result["val_accuracy"]})
        best["max"] = max(best["max"], result["val_accuracy"])
        timed(metrics.on_trial_result, iteration=0, trials=trials, trial=trial, result=result)
        if result["epoch"] == budget:
            trial.status = "TERMINATED"
            timed(metrics.on_trial_complete, iteration=0, trials=trials, trial=trial)
    timed(metrics.on_experiment_end, trials=trials)
    return timed.seconds


def each_second(metrics, trials: list[ReplayedTrial], repeats: int = 50) -> float:
    """Seconds of what the callback does once a second at most: a recount of every trial (on a report;
    a replay runs faster than that, so it is added here in full) and the refresher's re-set of every value."""
    started = time.perf_counter()
    for _ in range(repeats):
        metrics.update(trials)
        metrics.refresh()
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-epochs", type=int, default=12)
    parser.add_argument("--trials", type=int, default=256, help="trials of the replay at scale")
    args = parser.parse_args()

    import ray

    from sweeps.engine.sweep_metrics import REFRESH_S, Scope, SweepMetrics

    with tempfile.TemporaryDirectory() as storage:
        sweep_seconds, epoch_seconds, rows = baseline(args.max_epochs, Path(storage))
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        arms = ("activation=antirectifier", "activation=relu")
        scope = Scope(family="antirectifier_mnist", experiment="bench", stage="search", keys=("activation",),
                      metric="val_accuracy", mode="max", budget=args.max_epochs, arms=arms)
        trials = {row["trial_id"]: ReplayedTrial(row["trial_id"], row["config"]) for row in rows}
        metrics = SweepMetrics(scope)
        metrics.setup(total_num_samples=len(trials))
        metrics.close()  # the refresher is timed on its own below
        hooks = replay(metrics, list(trials.values()), [(row["trial_id"], row) for row in rows], args.max_epochs)
        hook_per_epoch = hooks / len(rows)
        refresh = each_second(metrics, list(trials.values()))
        ratio = (hook_per_epoch + refresh * epoch_seconds / REFRESH_S) / epoch_seconds

        arms4 = tuple(f"activation={name}" for name in ("a", "b", "c", "d"))
        scope4 = Scope(**{**scope.__dict__, "experiment": "bench-scale", "arms": arms4})
        many = [ReplayedTrial(f"t{number:05d}", {"activation": "abcd"[number % 4], "epochs": args.max_epochs,
                                                 "seed": 0})
                for number in range(args.trials)]
        reports = [(trial.trial_id, {"epoch": epoch, "val_accuracy": 0.5 + 0.01 * epoch})
                   for trial in many for epoch in range(1, args.max_epochs + 1)]
        scaled = SweepMetrics(scope4)
        scaled.setup(total_num_samples=len(many))
        scaled.close()
        scale_hooks = replay(scaled, many, reports, args.max_epochs) / len(reports)
        scale_refresh = each_second(scaled, many)
        ratio_at_scale = (scale_hooks + scale_refresh * epoch_seconds / REFRESH_S) / epoch_seconds
    finally:
        ray.shutdown()
    print(f"baseline: {len(rows)} trial-epochs, {sweep_seconds * 1e3:.1f} ms of wall time each over the sweep, "
          f"{epoch_seconds * 1e3:.1f} ms in steady state (the ratios' denominator)")
    print(f"callback: {hook_per_epoch * 1e6:.0f} us in hooks per trial-epoch, recount and refresh "
          f"{refresh * 1e6:.0f} us a second ({len(metrics.exported())} series)")
    print(f"at scale ({args.trials} trials, 4 arms): {scale_hooks * 1e6:.0f} us per trial-epoch, recount and refresh "
          f"{scale_refresh * 1e6:.0f} us a second ({len(scaled.exported())} series)")
    print(json.dumps({"ratio": round(ratio, 5), "ratio_at_scale": round(ratio_at_scale, 5),
                      "epoch_ms": round(epoch_seconds * 1e3, 2), "sweep_epoch_ms": round(sweep_seconds * 1e3, 2),
                      "hook_us": round(hook_per_epoch * 1e6, 1),
                      "each_second_us": round(refresh * 1e6, 1), "hook_us_at_scale": round(scale_hooks * 1e6, 1),
                      "each_second_us_at_scale": round(scale_refresh * 1e6, 1), "trial_epochs": len(rows)}))


if __name__ == "__main__":
    main()
