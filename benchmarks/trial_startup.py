"""Where a trial's fixed cost goes, and what reusing trial processes saves on an ASHA sweep.

    python benchmarks/trial_startup.py                              # 27 trials, budget 9 epochs
    python benchmarks/trial_startup.py --num-samples 3 --max-epochs 2  # quick check

The same ASHA sweep (the digits MLP space of asha_vs_fifo.py, grace 1, reduction factor 3,
the runner's own Tuner: checkpoints, resources) runs twice with the same sampling seed: with
the project's start-up savings (`reuse_actors=True`: a trial after the first in a process
skips the actor start and the imports; the data is one zero-copy object-store get) and
without them (a fresh actor per trial). Both sides have the trainable's own in-trial savings
(the optimizer built with the model, so the step is traced once; the imported objects frozen
out of `clear_session`'s collection). ASHA stops most trials after one epoch, so a trial's
fixed cost is most of a short sweep's wall time.

Each trial records, in its first report, the seconds it spent before its first epoch ended:
`actor_start` (process creation to the trainable's entry; 0 in a reused process), `imports`
(Keras, TensorFlow and the trainable), `data` (the object-store get), `setup` (config, model
build, pipelines and the epoch-1 checkpoint) and `tracing` (the first epoch's time beyond the
trial's later epochs). Ends with one JSON line {"ratio": wall time with / without the savings,
"fixed_seconds_per_trial": {"with": {...}, "without": {...}} (means over trials), ...}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without install

from asha_vs_fifo import DIGITS  # noqa: E402
from _sweeps import epoch_rows  # noqa: E402

COMPONENTS = ("actor_start", "imports", "data", "setup", "tracing")
SEEN_VARIABLE = "TRIAL_STARTUP_BENCHMARK_SEEN"  # set in a trial process once it ran a trial


def timed_trainable(data_ref: list) -> Any:
    """The project's `train`, wrapped to time the start-up pieces inside the trial process.

    `data_ref` holds the dataset's ObjectRef (in a list so that Ray does not resolve it before
    the call): the get is timed here, as `tune.with_parameters` would do it.
    """

    def trial(config: dict) -> None:
        entered = time.time()
        fresh = os.environ.get(SEEN_VARIABLE) != "1"
        os.environ[SEEN_VARIABLE] = "1"
        try:
            import psutil  # Ray ships it on its workers' path
        except ImportError:
            psutil = None
        created = psutil.Process().create_time() if psutil is not None else float("nan")
        actor_start = entered - created if fresh else 0.0
        began = time.perf_counter()
        import keras  # noqa: F401
        import ray
        from ray import tune

        import trainables.data.pipeline  # noqa: F401  TensorFlow
        from trainables.trainable import train

        imports = time.perf_counter() - began
        began = time.perf_counter()
        data = ray.get(data_ref[0])
        fetched = time.perf_counter()
        original = getattr(tune, "_startup_original_report", tune.report)
        tune._startup_original_report = original

        def report(metrics: dict, **kwargs) -> None:
            if metrics.get("epoch") == 1:
                setup = time.perf_counter() - fetched - metrics["epoch_seconds"]
                metrics = {**metrics, "startup_actor_start": actor_start, "startup_imports": imports,
                           "startup_data": fetched - began, "startup_setup": setup}
            original(metrics, **kwargs)

        tune.report = report  # train() looks it up on the module at each call
        try:
            train(config, data)
        finally:
            tune.report = original

    return trial


def run_sweep(reuse: bool, args: argparse.Namespace, storage: str) -> dict:
    """Wall seconds, trial-epochs and per-trial start-up seconds of one ASHA sweep."""
    import ray
    from ray import tune

    from sweeps.engine import steps, tune_run
    from sweeps.engine.plan import plan_for
    from sweeps.engine.ray_session import quiet_driver_environment, start_ray
    from sweeps.engine.stages import SearchStage
    from trainables.devices import keras_backend

    name = "with" if reuse else "without"
    plan = plan_for(DIGITS, [
        "--scheduler", "asha", "--seed", str(args.seed), "--num-samples", str(args.num_samples),
        "--max-epochs", str(args.max_epochs), "--grace-period", "1", "--reduction-factor", "3",
        "--storage-path", storage, "--name", name, "--verbose", "0", "--gpus-per-trial", "0",
    ])
    quiet_driver_environment()
    started = time.perf_counter()
    start_ray(plan)
    original_config = tune.TuneConfig
    try:
        data_ref = [ray.put(steps.load_data(plan))]
        plan = dataclasses.replace(plan, param_space={**plan.param_space, "gpus_per_trial": 0.0,
                                                      "keras_backend": keras_backend()})
        trainable = tune.with_resources(timed_trainable(data_ref), {"cpu": plan.cpus_per_trial})
        if not reuse:  # the runner asks for reuse; this arm takes the saving out
            tune.TuneConfig = lambda **settings: original_config(**{**settings, "reuse_actors": False})
        tune_run.make_tuner(SearchStage(plan), trainable).fit()
    finally:
        tune.TuneConfig = original_config
        ray.shutdown()
    wall = time.perf_counter() - started
    return {"wall_s": wall, **startup_seconds(epoch_rows(Path(storage) / name))}


def startup_seconds(rows: list[dict]) -> dict:
    """Trial-epochs, trials and the mean start-up seconds of each component over the trials."""
    by_trial: dict[str, list[dict]] = {}
    for row in rows:
        by_trial.setdefault(row["trial"], []).append(row)
    per_component: dict[str, list[float]] = {component: [] for component in COMPONENTS}
    for trial_rows in by_trial.values():
        first = next(row for row in trial_rows if row["epoch"] == 1)
        for component in COMPONENTS[:-1]:
            per_component[component].append(first[f"startup_{component}"])
        later = [row["epoch_seconds"] for row in trial_rows if row["epoch"] > 1]
        if later:
            per_component["tracing"].append(first["epoch_seconds"] - statistics.median(later))
    means = {component: round(statistics.fmean(values), 3) if values else None
             for component, values in per_component.items()}  # NaN actor_start: no psutil
    return {"trial_epochs": len(rows), "trials": len(by_trial), "fixed_seconds": means}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-samples", type=int, default=27)
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.num_samples < 1 or args.max_epochs < 2:
        parser.error("--num-samples must be >= 1 and --max-epochs >= 2 (tracing is the first epoch beyond the later)")
    results = {}
    with tempfile.TemporaryDirectory() as storage:
        for reuse in (False, True):
            results["with" if reuse else "without"] = run_sweep(reuse, args, storage)
    for name, result in results.items():
        print(f"{name:>8} savings: {result['wall_s']:7.1f} s wall, {result['trials']} trials, "
              f"{result['trial_epochs']} trial-epochs; fixed s/trial {result['fixed_seconds']}")
    print(json.dumps({
        "ratio": round(results["with"]["wall_s"] / results["without"]["wall_s"], 3),
        "fixed_seconds_per_trial": {name: result["fixed_seconds"] for name, result in results.items()},
        "wall_s": {name: round(result["wall_s"], 1) for name, result in results.items()},
        "trial_epochs": {name: result["trial_epochs"] for name, result in results.items()},
        "num_samples": args.num_samples, "max_epochs": args.max_epochs, "cpu_count": os.cpu_count(),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
