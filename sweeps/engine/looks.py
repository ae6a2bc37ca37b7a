"""The confirmation stage in looks: a Tune Searcher that adds seeds until every comparison is settled.

The confirmation re-runs each arm's chosen configurations with new seeds (sweeps.engine.stages.confirmation).
Instead of every seed at once, `LookSearcher` emits one look at a time: each chosen configuration
with the look's new seeds (`--confirm-batch`), waits for those trials, decides every comparison of
arms with analysis.verdict.looks (group-sequential boundaries, analysis.verdict.sequential), and emits the next
look only if some comparison is still unsettled (neither equivalent nor better by more than the margin)
and seeds are left (`--confirm-repeats`). So an obvious difference stops after the first look, a close
call gets every seed. A trial that diverged, errored or ended short of the budget is a failure of
its arm: it scores the metric's worst value (analysis.verdict.seeds), it is never dropped.

Resume: the decisions are a pure function of the finished trials (seeds fixed in advance, each
trial's look in its config), so the searcher needs no memory of its own to reach the same verdict.
Tune saves its state with the experiment's (get_state), but the experiment state is written first:
a run killed between the two files leaves the searcher a step behind. So after a restore, the
searcher takes which trials exist, and which finished with what, from the experiment state Tune
itself restores from (`ray.tune.ExperimentAnalysis`), and carries on from there.
"""

from __future__ import annotations

import logging
import math
import pickle
from typing import Any, Mapping, Sequence

import pandas as pd
from ray.tune import ExperimentAnalysis
from ray.tune.search import Searcher

from analysis.store import storage
from analysis.verdict.looks import LookPlan, look_verdicts, stage_finished
from analysis.verdict.seeds import failure_score

log = logging.getLogger(__name__)

Key = tuple[str, int]  # (the search trial a confirmation trial re-runs, its seed)
VALUE = "test_accuracy"  # the trial's report whose last value is the verdict's last_test_accuracy


class LookSearcher(Searcher):
    """Emits the confirmation's trials look by look; FINISHED once every comparison is settled."""

    def __init__(self, plan: LookPlan, seeds: Sequence[int], candidates: Sequence[Any], epochs: int,
                 experiment_dir: str, family: str, max_concurrent: int | None = None,
                 higher_is_better: bool = True) -> None:
        super().__init__()
        self._plan = plan
        self._seeds = list(seeds)
        # search trial id -> (arm, rank): what a confirmation trial is compared as
        self._arms = {candidate.trial_id: (candidate.arm, candidate.rank) for candidate in candidates}
        self._epochs = epochs
        self._experiment_dir = experiment_dir
        self._family = family
        self._max_concurrent = max_concurrent
        self._higher_is_better = higher_is_better
        self._emitted: dict[str, Key] = {}  # Tune trial id -> key
        self._values: dict[Key, float] = {}  # finished trials: the metric at the budget (NaN: none)
        self._look = 1  # the look being run (1-based)
        self._finished = False
        self._reconciled = False  # not saved: each process reads the experiment's state once

    # --- Tune's Searcher interface ----------------------------------------------------------

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        grids = sorted(name for name, value in config.items() if isinstance(value, dict) and "grid_search" in value)
        if grids != ["confirms", "seed"]:
            raise ValueError(f"the confirmation's space must grid over confirms and seed only, got {grids}")
        return True

    def suggest(self, trial_id: str) -> dict | str | None:
        self._reconcile_once()
        if self._finished:
            return Searcher.FINISHED
        pending = [key for key in self._look_keys(self._look) if key not in set(self._emitted.values())]
        if not pending:
            if not self._look_done():
                return None  # the look's trials are still running
            if self._decide():
                self._finished = True
                return Searcher.FINISHED
            self._look += 1
            pending = self._look_keys(self._look)
        if self._max_concurrent and len(self._emitted) - len(self._values) >= self._max_concurrent:
            return None
        key = pending[0]
        self._emitted[trial_id] = key
        return self._config(key)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self._reconcile_once()
        key = self._emitted.get(trial_id)
        if key is None:  # not a trial of this stage: nothing to record
            log.warning("trial %s completed, but the confirmation did not emit it; ignored", trial_id)
            return
        self._values[key] = math.nan if error else self._value(result)

    def get_state(self) -> dict:
        return {"emitted": dict(self._emitted), "values": dict(self._values), "look": self._look,
                "finished": self._finished}

    def set_state(self, state: dict) -> None:
        self._emitted, self._values = dict(state["emitted"]), dict(state["values"])
        self._look, self._finished = int(state["look"]), bool(state["finished"])
        self._reconciled = False

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.get_state(), file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.set_state(pickle.load(file))

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_reconciled"] = False
        return state

    # --- the looks ----------------------------------------------------------------------------

    def _look_keys(self, look: int) -> list[Key]:
        """The trials of one look: every chosen configuration with the look's new seeds, seed by seed."""
        looks = self._plan.looks
        first = looks[look - 2] if look > 1 else 0
        return [(trial_id, seed) for seed in self._seeds[first:looks[look - 1]] for trial_id in self._arms]

    def _look_done(self) -> bool:
        """Every trial of this look and the earlier ones finished (a restore may retry earlier ones)."""
        return all(key in self._values for look in range(1, self._look + 1) for key in self._look_keys(look))

    def _rows(self) -> pd.DataFrame:
        rows = []
        for (trial_id, seed), value in self._values.items():
            arm, _ = self._arms[trial_id]
            rows.append({"family": self._family, "confirm_arm": arm, "seed": seed,
                         "confirm_look": self._plan.look_of(self._seeds.index(seed)), "value": value})
        return pd.DataFrame(rows, columns=["family", "confirm_arm", "seed", "confirm_look", "value"])

    def _decide(self) -> bool:
        """Decide every comparison at the current look; True when the stage stops here."""
        rows = self._rows()
        rows = rows[rows["confirm_look"] <= self._look]
        verdicts = look_verdicts(rows, self._plan, "value", higher_is_better=self._higher_is_better,
                                 look=self._look, details=False, failure_score=failure_score(VALUE))
        done = stage_finished(verdicts, self._plan, self._look)
        looks = self._plan.looks
        decided = sum(item.verdict.settled for item in verdicts)
        seeds = looks[self._look - 1]
        if done:
            saved = "" if self._look == len(looks) else f": {seeds} of at most {self._plan.max_seeds} seeds"
            print(f"[{self._family}] look {self._look} of {len(looks)} ({seeds} seed(s) per configuration): "
                  f"{decided} of {len(verdicts)} comparison(s) settled; the confirmation stops{saved}", flush=True)
        else:
            print(f"[{self._family}] look {self._look} of {len(looks)} ({seeds} seed(s) per configuration): "
                  f"{decided} of {len(verdicts)} comparison(s) settled; adding seeds "
                  f"{self._seeds[seeds]}-{self._seeds[looks[self._look] - 1]}", flush=True)
        return done

    def _value(self, result: Mapping[str, Any] | None) -> float:
        """The metric at the full budget, NaN for a trial that ended before it (diverged) or errored."""
        if not result or int(result.get("epoch", 0)) != self._epochs:
            return math.nan
        value = result.get(VALUE)
        return float(value) if value is not None else math.nan

    def _config(self, key: Key) -> dict:
        """The key's values for the confirmation space's two grids. Tune merges them into the space and
        resolves its lookups (`sample_from`, which it holds as placeholders: a trial directory's name
        shows those, e.g. `confirm_look=fn_ph_...`; the trial's config has the values) on the result.
        (Resolving them here breaks Tune's own resolution, which expects its placeholders in place.)"""
        confirms, seed = key
        return {"confirms": confirms, "seed": seed}

    def _reconcile_once(self) -> None:
        if not self._reconciled:
            self._reconcile()

    def _reconcile(self) -> None:
        """Take the trials Tune knows (its experiment state, which `Tuner.restore` restores) as the
        trials emitted, and the finished ones' values; the current look follows from them."""
        self._reconciled = True
        path, filesystem = storage.ray_storage(self._experiment_dir)  # a local folder or a URI
        try:
            trials = ExperimentAnalysis(path, storage_filesystem=filesystem).trials
        except (ValueError, OSError):  # a new experiment: no state saved yet
            return
        emitted: dict[str, Key] = {}
        for trial in trials:
            key = (str(trial.config["confirms"]), int(trial.config["seed"]))
            emitted[trial.trial_id] = key
            if trial.status == "TERMINATED":
                self._values[key] = self._value(trial.last_result)
        if emitted or self._emitted:
            log.info("confirmation restored: %d trial(s) known, %d finished", len(emitted), len(self._values))
        self._emitted = emitted
        self._values = {key: value for key, value in self._values.items() if key in set(emitted.values())}
        seen = [self._seeds.index(seed) for _, seed in emitted.values()]
        self._look = self._plan.look_of(max(seen)) if seen else 1
        self._finished = False  # decided again from the values: a pure function of them


__all__ = ["LookSearcher"]
