"""Budget-fair successive halving: every arm has its own rungs.

    scheduler = FairASHAScheduler(["activation"], time_attr="epoch", max_t=27,
                                  grace_period=1, reduction_factor=3, trials_per_arm=8)
    tune.Tuner(trainable, tune_config=tune.TuneConfig(metric="val_accuracy", mode="max",
                                                       scheduler=scheduler), ...)

An *arm* is one combination of the stratification keys' values in a trial's config (e.g.
``activation=selu, batch_norm=True``). Rungs sit at ``grace_period * reduction_factor**k``
epochs below ``max_t``, the same for every arm. A trial is compared only with trials of
its own arm: at every rung each arm keeps exactly its top ``ceil(n / reduction_factor)`` of
the ``n`` trials that were to reach that rung, and stops the rest. Pooled ASHA would let an
arm that starts slowly (SELU without its initialiser, a heavily regularised APReLU) be pruned
by another arm's early pace, so the sweep's winner would reflect early speed.

Why wait-and-pause rather than a per-arm quota: asynchronous ASHA decides when a trial
arrives, against whoever arrived before it, so which trials survive depends on arrival order
and a quota can fix the *count* but not that the *top* ones survive. Here a trial reaching a
rung is paused (Tune checkpoints it; the trainable checkpoints every epoch, so resuming costs
a model load) until every trial of its arm due at that rung has arrived or ended; then the
rung is decided once: the best ``ceil(n / reduction_factor)`` continue, the rest stop. Arms
proceed independently. The cost is idle slots while an arm's rung fills, which paused trials
free for other trials. An arm's rung is full when its expected trials arrived (``n`` is
``trials_per_arm`` at the first rung, then the number promoted below), or when nothing is
pending or running any more (the searcher has nothing left, a concurrency limit holds, or
trials failed): then the rung is decided among the trials that arrived, keeping
``ceil(n / reduction_factor)`` of them at most. A trial that reaches a rung after it was
decided that way (a concurrency limit below an arm's trial count lets trials start late) is
stopped there: with such limits the per-arm counts stay equal only if every arm is limited
alike, so give the sweep enough concurrency for an arm's first rung, or none.

Decisions survive ``--resume``: Ray 2.x pickles the scheduler into ``tuner.pkl`` once, when the
experiment starts, and does not save it again (``TuneController.save_to_dir`` saves trials,
searcher and callbacks only), so this scheduler writes its state to ``fair_asha.json`` after
every change, in the folder Tune uploads to the experiment directory with its own experiment
state, and reloads it when a restored experiment re-adds its trials. A rung decided after
Tune's last upload is decided again on resume, on the first metric each trial reports at or
past the rung (a trial restored from a later checkpoint arrives an epoch late). The same file tells the analysis each trial's arm and the highest rung it reached
(``trial_rungs``).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from analysis.store.arms import STATE_FILE, arm_counts, arm_label, promoted_count, rung_epochs, trial_rungs

log = logging.getLogger(__name__)


class FairASHAScheduler(TrialScheduler):
    """Synchronous successive halving within each arm; see the module docstring."""

    _supports_buffered_results = False  # a decision every epoch, never a batch of them

    def __init__(self, stratify: Sequence[str], *, time_attr: str = "epoch", max_t: int,
                 grace_period: int = 1, reduction_factor: float = 3, trials_per_arm: int | None = None,
                 metric: str | None = None, mode: str | None = None) -> None:
        super().__init__()
        if not stratify:
            raise ValueError("stratify needs at least one config key (use ASHA for a single pool)")
        if grace_period < 1 or reduction_factor <= 1 or max_t < grace_period:
            raise ValueError(f"need 1 <= grace_period <= max_t and reduction_factor > 1, got "
                             f"grace_period={grace_period}, max_t={max_t}, reduction_factor={reduction_factor}")
        self.stratify = tuple(stratify)
        self.time_attr, self.max_t = time_attr, int(max_t)
        self.grace_period, self.reduction_factor = int(grace_period), float(reduction_factor)
        self.rungs = rung_epochs(self.grace_period, self.reduction_factor, self.max_t)
        self.trials_per_arm = trials_per_arm
        self._metric, self._mode = metric, mode
        self.state_path: Path | None = None
        self.trials: dict[str, dict[str, Any]] = {}  # id -> {"arm", "values": {rung: metric}, "ended"}
        self.decisions: dict[str, dict[str, list[str]]] = {}  # arm -> {rung: promoted ids}

    # -- Tune's interface -------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        if (self._metric and metric and metric != self._metric) or (self._mode and mode and mode != self._mode):
            return False
        self._metric, self._mode = self._metric or metric, self._mode or mode
        return True

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        if self._metric is None or self._mode not in ("min", "max"):
            raise ValueError("FairASHAScheduler needs metric and mode (from TuneConfig or its arguments)")
        self._locate_state(trial)
        record = self.trials.setdefault(trial.trial_id, {"values": {}, "ended": False})
        record["arm"] = arm_label(trial.config, self.stratify)
        if trial.status in (Trial.TERMINATED, Trial.ERROR):
            record["ended"] = True  # restored finished trial: it will not report again
        self._save()

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: Mapping[str, Any]) -> str:
        record = self.trials[trial.trial_id]
        epoch = int(result.get(self.time_attr, 0))
        for index, rung_epoch in enumerate(self.rungs):
            if epoch < rung_epoch:
                break
            verdict = self._verdict(record["arm"], index, trial.trial_id)
            if verdict == "promoted":
                continue
            if verdict == "stopped":
                if str(index) not in record["values"]:  # the rung closed before it arrived (see docstring)
                    log.warning("trial %s reached arm %s rung %d after it was decided; stopping it",
                                trial.trial_id, record["arm"], index)
                    record["values"][str(index)] = _score(result.get(self._metric), self._mode)
                    self._save()
                return TrialScheduler.STOP
            if str(index) not in record["values"]:  # first arrival; a resumed trial may pass again
                record["values"][str(index)] = _score(result.get(self._metric), self._mode)
                self._save()
            return self._decide_rung(tune_controller, trial, record["arm"], index)
        return TrialScheduler.CONTINUE

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: Mapping[str, Any] | None) -> None:
        record = self.trials.get(trial.trial_id)
        if record is not None and result and int(result.get(self.time_attr, 0)) >= self.max_t:
            record["values"][str(len(self.rungs))] = _score(result.get(self._metric), self._mode)  # full budget
        self._end(tune_controller, trial)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self._end(tune_controller, trial)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self._end(tune_controller, trial)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        trials = tune_controller.get_trials()
        for trial in trials:  # a trial whose PAUSE was still queued when its rung stopped it
            if trial.status == Trial.PAUSED and self._rejected(trial.trial_id):
                tune_controller.stop_trial(trial)
        for trial in trials:
            if trial.status == Trial.PENDING:
                return trial
        if not any(trial.status == Trial.RUNNING for trial in trials):
            self._close_stalled_rungs(tune_controller)  # nothing else can arrive
        for trial in trials:
            if trial.status == Trial.PAUSED and self._may_continue(trial.trial_id):
                return trial
        return None

    def debug_string(self) -> str:
        decided = sum(len(rungs) for rungs in self.decisions.values())
        return (f"FairASHA: arms by {','.join(self.stratify)}, rungs at {self.rungs} of {self.max_t}, "
                f"{len(self.decisions)} arms, {decided} rung decisions")

    # -- decisions ----------------------------------------------------------------------
    def _verdict(self, arm: str, rung: int, trial_id: str) -> str:
        promoted = self.decisions.get(arm, {}).get(str(rung))
        if promoted is None:
            return "open"
        return "promoted" if trial_id in promoted else "stopped"

    def _expected(self, arm: str, rung: int) -> int | None:
        """How many of the arm's trials are due at the rung (None: not known yet)."""
        if rung == 0:
            return self.trials_per_arm
        below = self.decisions.get(arm, {}).get(str(rung - 1))
        return None if below is None else len(below)

    def _candidates(self, arm: str, rung: int) -> tuple[list[str], int]:
        """Ids that arrived at the rung, and how many due there ended before it."""
        arrived, ended = [], 0
        for trial_id, record in self.trials.items():
            if record.get("arm") != arm or not self._due_at(trial_id, arm, rung):
                continue
            if str(rung) in record["values"]:
                arrived.append(trial_id)
            elif record["ended"]:
                ended += 1
        return arrived, ended

    def _due_at(self, trial_id: str, arm: str, rung: int) -> bool:
        return rung == 0 or trial_id in self.decisions.get(arm, {}).get(str(rung - 1), [])

    def _decide_rung(self, tune_controller: Any, trial: Trial, arm: str, rung: int) -> str:
        """PAUSE until the arm's rung is full; then decide it and answer for this trial."""
        arrived, ended = self._candidates(arm, rung)
        expected = self._expected(arm, rung)
        if expected is None or len(arrived) + ended < expected:
            return TrialScheduler.PAUSE
        self._decide(tune_controller, arm, rung, arrived, expected, current=trial)
        return TrialScheduler.CONTINUE if self._verdict(arm, rung, trial.trial_id) == "promoted" else TrialScheduler.STOP

    def _decide(self, tune_controller: Any, arm: str, rung: int, arrived: list[str], expected: int,
                current: Trial | None = None) -> None:
        keep = min(len(arrived), promoted_count(expected, self.reduction_factor))
        ranked = sorted(arrived, key=lambda trial_id: (-self.trials[trial_id]["values"][str(rung)], trial_id))
        self.decisions.setdefault(arm, {})[str(rung)] = ranked[:keep]
        self._save()
        log.info("arm %s rung %d (epoch %d): %d of %d continue", arm, rung, self.rungs[rung], keep, len(arrived))
        stopped = set(ranked[keep:])
        for other in tune_controller.get_trials():
            if other.trial_id in stopped and other is not current and (other.status == Trial.PAUSED or other.is_saving):
                tune_controller.stop_trial(other)

    def _close_stalled_rungs(self, tune_controller: Any) -> None:
        """Nothing runs or waits to start: decide every open rung among those that arrived."""
        for arm in sorted({record["arm"] for record in self.trials.values() if "arm" in record}):
            for rung in range(len(self.rungs)):
                if self._verdict(arm, rung, "") != "open":
                    continue
                arrived, _ = self._candidates(arm, rung)
                if arrived:
                    expected = self._expected(arm, rung) or len(arrived)
                    self._decide(tune_controller, arm, rung, arrived, max(expected, len(arrived)))
                break

    def _may_continue(self, trial_id: str) -> bool:
        record = self.trials.get(trial_id)
        if record is None or "arm" not in record:
            return True  # not ours to hold
        reached = [int(rung) for rung in record["values"]]
        return not reached or self._verdict(record["arm"], max(reached), trial_id) == "promoted"

    def _rejected(self, trial_id: str) -> bool:
        record = self.trials.get(trial_id)
        reached = [int(rung) for rung in record["values"]] if record and "arm" in record else []
        return bool(reached) and self._verdict(record["arm"], max(reached), trial_id) == "stopped"

    def _end(self, tune_controller: Any, trial: Trial) -> None:
        record = self.trials.get(trial.trial_id)
        if record is None or record["ended"]:
            return
        record["ended"] = True
        self._save()
        arm = record["arm"]
        for rung in range(len(self.rungs)):  # its leaving may complete the rung it was due at
            if self._verdict(arm, rung, "") != "open":
                continue
            arrived, ended = self._candidates(arm, rung)
            expected = self._expected(arm, rung)
            if expected is not None and arrived and len(arrived) + ended >= expected:
                self._decide(tune_controller, arm, rung, arrived, expected)
            break

    # -- persistence --------------------------------------------------------------------
    def _locate_state(self, trial: Trial) -> None:
        """Keep the state in the driver's staging copy of the experiment directory.

        That is where Tune wants searcher state: it uploads the folder to the experiment
        directory with its own experiment state (so both are one consistent snapshot) and
        downloads it again before a restored experiment re-adds its trials. A file written
        straight into the experiment directory would be overwritten by that upload.
        """
        if self.state_path is not None:
            return
        directory = getattr(trial, "local_experiment_path", None)
        if not directory:
            return  # no experiment directory (a bare test): the state stays in memory
        os.makedirs(directory, exist_ok=True)
        self.state_path = Path(directory) / STATE_FILE
        if self.state_path.exists():  # a resumed experiment: the file is newer than tuner.pkl
            state = json.loads(self.state_path.read_text())
            self.trials, self.decisions = state["trials"], state["decisions"]
            log.info("restored per-arm decisions from %s", self.state_path)

    def _save(self) -> None:
        if self.state_path is None:
            return
        state = {"stratify": list(self.stratify), "rungs": self.rungs, "max_t": self.max_t,
                 "reduction_factor": self.reduction_factor, "trials": self.trials, "decisions": self.decisions}
        # Written beside the staging folder, not in it: Tune uploads that folder on its own thread,
        # and a temporary file it listed and then saw renamed failed its copy with a traceback on
        # the console (FileNotFoundError for fair_asha.json.tmp, seen in a 24-trial sweep).
        temporary = self.state_path.parent.parent / f".{self.state_path.parent.name}.{STATE_FILE}.tmp"
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self.state_path)  # never half-written: same file system, atomic


def scheduler_for(plan: Any) -> TrialScheduler:
    """The scheduler a sweep plan asks for: budget-fair ASHA when it stratifies, else Ray's ASHA or FIFO."""
    if plan.scheduler != "asha":
        return FIFOScheduler()
    if not plan.stratify:
        return ASHAScheduler(time_attr="epoch", max_t=plan.max_epochs, grace_period=plan.grace_period,
                             reduction_factor=plan.reduction_factor)
    return FairASHAScheduler(plan.stratify, time_attr="epoch", max_t=plan.max_epochs, grace_period=plan.grace_period,
                             reduction_factor=plan.reduction_factor, trials_per_arm=plan.trials_per_arm)


def _score(value: Any, mode: str) -> float:
    """Larger is better; a missing or non-finite metric ranks last."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return -math.inf
    if not math.isfinite(number):
        return -math.inf
    return number if mode == "max" else -number


__all__ = ["STATE_FILE", "FairASHAScheduler", "arm_counts", "arm_label", "rung_epochs", "trial_rungs"]
