"""Budget-fair (stratified) ASHA against pooled ASHA and FIFO, on arms that start at different speeds.

    python benchmarks/fair_asha.py [--rounds 6] [--first-round 0] [--trials-per-arm 6] [--max-epochs 27] [--grace-periods 1 3]

Task: scikit-learn's real ``digits`` (no download; held-out validation with a quarter of the
training split, 360 images, so that one image is 0.28 points), the seeds' deep MLP
(``002_*``: ReLU with and without BatchNorm; here 16 x Dense(64), Adam, batch 64). The two
arms are ``batch_norm=False`` and ``batch_norm=True``. At this depth the effect is real in
both directions the benchmark needs: the BatchNorm net sits at chance (0.10-0.13 on average
after epoch 1) for its first epoch or two while the plain net has started, and it overtakes
by epoch 3 and ends several points ahead at 27 epochs (arm bests 0.94-0.96 against 0.80-0.95
in the first full run; in a pilot of rates 0.003/0.01/0.03, 0.91-0.93 against 0.89/0.71/0.11),
because a 16-deep plain ReLU stack trains slowly and stalls at the higher rates. At depth 8
(this benchmark's earlier arms) they ended 0.7-2.1 points apart either way, inside the noise
of ASHA's sub-selection. Each round samples ``--trials-per-arm`` nuisance configurations (learning rate log-uniform in
[0.003, 0.03], the range where BatchNorm's tolerance of high rates shows; seed) and runs every
one in both arms (paired, as the sweeps do).

FIFO is the ground truth: every trial is trained to the budget with the project's trainable
(in this process, no Ray), and its per-epoch validation accuracy is recorded. Pooled ASHA
(Ray's ``ASHAScheduler``) and stratified ASHA (``sweeps.engine.fair_asha.FairASHAScheduler``) then
run as the real scheduler objects over those recorded curves, with two simulated workers and
each epoch taking its measured time; so they see the metrics a live run reports (a live
paused trial reshuffles from its checkpoint, which this replay does not model).

An arm's result under a scheduler is the best final validation accuracy among its trials that
reached the budget (else the best last accuracy of its trials). A scheduler *agrees* with FIFO
in a round when it orders the arms as FIFO does: for every pair of arms the sign of the
difference of their results is the same (a tie is its own sign). Every round counts. Rounds
where FIFO's arms end within two standard errors of each other (binomial, on the validation
set's size) are also reported apart (``decisive``), as a reading aid only: there the ground
truth itself is within noise. ``arm_error`` is the mean absolute gap between a scheduler's
arm results and FIFO's, over rounds and arms: a scheduler can order the arms right and still
report the losing arm far below what it reaches (pooled ASHA cuts an arm that trails at a
rung wholesale), which is what a paired per-arm comparison in the report reads.

Last line: {"ratio": stratified trial-epochs / FIFO trial-epochs, "agreement": ...,
"pooled_agreement": ...} for the first grace period, and the same figures for each grace
period under "by_grace" (the recorded curves are replayed once per grace period, so they share
the FIFO training). The first grace period was 3 in the first runs (rounds 0-5), chosen because
the BatchNorm arm is at chance after epoch 1, so a rung there ranks its trials on noise;
measured, the rung at epoch 3 favours the arm's high-rate trials, which end lower, and grace 1
ranked the arms better. Grace 1 is the headline since, declared before a run on rounds no earlier
run had seen (`--first-round 6`), so that it is tested out of sample (BENCHMARKS.md has all three).
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

ARMS = ({"batch_norm": False}, {"batch_norm": True})
STRATIFY = sorted(ARMS[0])
VALIDATION_FRACTION = 0.25
FIXED = {"model": "deep_mlp", "activation": "relu", "dataset": "digits", "depth": 16, "width": 64,
         "first_width": 64, "kernel_initializer": "glorot_uniform", "optimizer": "adam", "batch_size": 64,
         "validation_fraction": VALIDATION_FRACTION, "checkpoint_every": 1000}  # replayed, never restored
WORKERS = 2


def train_curves(configs: list[dict], data) -> list[dict]:
    """FIFO: train every config to its budget with the real trainable; (val_accuracy, seconds) per epoch."""
    from ray import tune

    from trainables import trainable

    rows: list[dict] = []
    tune.report = lambda metrics, checkpoint=None: rows.append(metrics)  # no Tune session here
    tune.get_checkpoint = lambda: None
    trainable.placement = lambda: {"gpu_ids": "", "node_id": "local"}
    curves = []
    for config in configs:
        rows.clear()
        trainable.train(config, data=data)
        curves.append({"config": config, "accuracy": [row["val_accuracy"] for row in rows],
                       "seconds": [row["epoch_seconds"] for row in rows]})
    return curves


class Trial:
    def __init__(self, trial_id: str, config: dict) -> None:
        self.trial_id, self.config, self.status, self.is_saving = trial_id, config, "PENDING", False
        self.local_experiment_path = None  # the scheduler keeps its state in memory


class Replay:
    """Two workers replaying recorded curves through a Tune scheduler (the parts schedulers use)."""

    def __init__(self, scheduler, curves: list[dict], max_t: int) -> None:
        self.scheduler, self.curves, self.max_t = scheduler, curves, max_t
        self.trials = [Trial(f"t{index:03d}", curve["config"]) for index, curve in enumerate(curves)]
        self.epoch = {trial.trial_id: 0 for trial in self.trials}
        self.trial_epochs = 0

    def get_trials(self) -> list[Trial]:
        return self.trials

    def stop_trial(self, trial: Trial) -> None:
        trial.status = "TERMINATED"
        self.scheduler.on_trial_remove(self, trial)

    def run(self) -> dict[str, int]:
        for trial in self.trials:
            self.scheduler.on_trial_add(self, trial)
        events: list[tuple[float, str]] = []
        now, busy = 0.0, 0
        while True:
            while busy < WORKERS:
                trial = self.scheduler.choose_trial_to_run(self)
                if trial is None:
                    break
                trial.status, busy = "RUNNING", busy + 1
                heapq.heappush(events, (now + self._seconds(trial), trial.trial_id))
            if not events:
                return self.epoch
            now, trial_id = heapq.heappop(events)
            busy -= 1
            trial = next(t for t in self.trials if t.trial_id == trial_id)
            if self._report(trial) == "CONTINUE":
                busy += 1
                heapq.heappush(events, (now + self._seconds(trial), trial.trial_id))

    def _seconds(self, trial: Trial) -> float:
        return self.curves[self.trials.index(trial)]["seconds"][self.epoch[trial.trial_id]]

    def _report(self, trial: Trial) -> str:
        self.epoch[trial.trial_id] += 1
        self.trial_epochs += 1
        epoch = self.epoch[trial.trial_id]
        accuracy = self.curves[self.trials.index(trial)]["accuracy"][epoch - 1]
        result = {"epoch": epoch, "val_accuracy": accuracy, "training_iteration": epoch}
        decision = self.scheduler.on_trial_result(self, trial, result)
        if decision == "CONTINUE" and epoch >= self.max_t:
            decision = "STOP"
        if decision == "STOP":
            trial.status = "TERMINATED"
            self.scheduler.on_trial_complete(self, trial, result)
        elif decision == "PAUSE":
            trial.status = "PAUSED"
        return decision


def arm_results(curves: list[dict], epochs: dict[str, int] | None, max_t: int) -> list[float]:
    """Per arm: the best final accuracy among trials at the budget, else the best last one."""
    results = []
    for arm in ARMS:
        finals, lasts = [], []
        for index, curve in enumerate(curves):
            if any(curve["config"][key] != value for key, value in arm.items()):
                continue
            reached = max_t if epochs is None else epochs[f"t{index:03d}"]
            (finals if reached >= max_t else lasts).append(curve["accuracy"][reached - 1])
        results.append(max(finals) if finals else max(lasts))
    return results


def same_order(results: list[float], truth: list[float]) -> bool:
    """Whether results order the arms as truth does: every pair's difference has the same sign."""
    return all(np.sign(results[i] - results[j]) == np.sign(truth[i] - truth[j])
               for i in range(len(truth)) for j in range(i + 1, len(truth)))


def decisive(truth: list[float], num_val: int) -> bool:
    """Whether every pair of FIFO's arm results differs by more than two standard errors."""
    for i in range(len(truth)):
        for j in range(i + 1, len(truth)):
            se = np.sqrt((truth[i] * (1 - truth[i]) + truth[j] * (1 - truth[j])) / num_val)
            if abs(truth[i] - truth[j]) <= 2 * se:
                return False
    return True


def arm_error(rows: list[dict], grace: int, scheduler: str) -> float:
    """Mean |scheduler's arm result - FIFO's| over rounds and arms: how well each arm's own best is kept."""
    gaps = [abs(ours - truth) for row in rows for ours, truth in zip(row[f"grace_{grace}"][scheduler], row["fifo"])]
    return round(float(np.mean(gaps)), 3)


def one_round(round_index: int, args: argparse.Namespace, data) -> dict:
    rng = np.random.default_rng(1000 + round_index)  # round r samples the same configurations in every run
    nuisance = [{"lr": float(10 ** rng.uniform(-2.5, -1.5)), "seed": int(rng.integers(2**31))}
                for _ in range(args.trials_per_arm)]
    configs = [{**FIXED, **sample, **arm, "epochs": args.max_epochs} for sample in nuisance for arm in ARMS]
    started = time.perf_counter()
    curves = train_curves(configs, data)
    fifo = arm_results(curves, None, args.max_epochs)
    if args.save_curves is not None:
        with args.save_curves.open("a") as out:
            out.write(json.dumps({"round": round_index, "curves": curves}) + "\n")
    row = {"round": round_index, "fifo": fifo, "fifo_trial_epochs": len(configs) * args.max_epochs,
           "decisive": decisive(fifo, len(data.x_val)), "train_seconds": round(time.perf_counter() - started, 1),
           "start": {f"epoch_{epoch}": [round(float(np.mean([c["accuracy"][epoch - 1] for c in curves
                                                             if all(c["config"][k] == v for k, v in arm.items())])), 3)
                                        for arm in ARMS]
                     for epoch in (1, 3) if epoch <= args.max_epochs}}
    for grace in args.grace_periods:
        row[f"grace_{grace}"] = replay_schedulers(curves, fifo, grace, args)
    return row


def replay_schedulers(curves: list[dict], fifo: list[float], grace: int, args: argparse.Namespace) -> dict:
    from ray.tune.schedulers import ASHAScheduler

    from sweeps.engine.fair_asha import FairASHAScheduler

    schedulers = {
        "pooled": ASHAScheduler(time_attr="epoch", metric="val_accuracy", mode="max", max_t=args.max_epochs,
                                grace_period=grace, reduction_factor=3),
        "stratified": FairASHAScheduler(STRATIFY, time_attr="epoch", max_t=args.max_epochs,
                                        grace_period=grace,
                                        reduction_factor=3, trials_per_arm=args.trials_per_arm,
                                        metric="val_accuracy", mode="max"),
    }
    row = {}
    for name, scheduler in schedulers.items():
        replay = Replay(scheduler, curves, args.max_epochs)
        epochs = replay.run()
        results = arm_results(curves, epochs, args.max_epochs)
        row[name] = results
        row[f"{name}_trial_epochs"] = replay.trial_epochs
        row[f"{name}_agrees"] = same_order(results, fifo)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--trials-per-arm", type=int, default=6)
    parser.add_argument("--max-epochs", type=int, default=27)
    parser.add_argument("--first-round", type=int, default=0,
                        help="index of the first round: rounds from here on sample configurations no earlier run saw")
    parser.add_argument("--grace-periods", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--save-curves", type=Path, default=None,
                        help="write every round's recorded curves here as JSON lines (e.g. under /tmp), to re-read them")
    args = parser.parse_args()
    from trainables.data import load_dataset

    started = time.perf_counter()
    data = load_dataset("digits", validation_fraction=VALIDATION_FRACTION)  # held-out validation
    rows = []
    for round_index in range(args.first_round, args.first_round + args.rounds):
        rows.append(one_round(round_index, args, data))
        print(json.dumps(rows[-1]), flush=True)
    fifo_epochs = sum(row["fifo_trial_epochs"] for row in rows)
    decisive_rounds = [row for row in rows if row["decisive"]]

    def share(replays: list[dict], key: str) -> float | None:
        return round(float(np.mean([r[key] for r in replays])), 3) if replays else None

    by_grace = {}
    for grace in args.grace_periods:
        replays = [row[f"grace_{grace}"] for row in rows]
        sure = [row[f"grace_{grace}"] for row in decisive_rounds]
        by_grace[str(grace)] = {
            "ratio": round(sum(r["stratified_trial_epochs"] for r in replays) / fifo_epochs, 3),
            "agreement": share(replays, "stratified_agrees"),
            "pooled_agreement": share(replays, "pooled_agrees"),
            "pooled_ratio": round(sum(r["pooled_trial_epochs"] for r in replays) / fifo_epochs, 3),
            "decisive_agreement": share(sure, "stratified_agrees"),
            "decisive_pooled_agreement": share(sure, "pooled_agrees"),
            "arm_error": arm_error(rows, grace, "stratified"),
            "pooled_arm_error": arm_error(rows, grace, "pooled"),
        }
    summary = {**by_grace[str(args.grace_periods[0])], "grace_period": args.grace_periods[0], "by_grace": by_grace,
               "rounds": args.rounds, "first_round": args.first_round, "decisive_rounds": len(decisive_rounds), "trials_per_arm": args.trials_per_arm,
               "max_epochs": args.max_epochs, "validation_images": len(data.x_val),
               "wall_seconds": round(time.perf_counter() - started, 1)}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
