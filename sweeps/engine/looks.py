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

Packs (`--pack`, sweeps.engine.packing): with `members` > 1 the seeds a look adds to one configuration
train as pack trials of at most `members` seeds (trainables.pack_trial), each member listed in the
trial's `pack_members` with its seed, repeat and look. The bookkeeping stays per (configuration, seed):
a member's value is its own `member_<i>/test_accuracy` at the budget (NaN when it diverged, or its pack
errored), so every look decides on the values the lone trials would have had, and a restore reads
each trial's members from its config.
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
from trainables.recovery import PACK_KEY

log = logging.getLogger(__name__)

Key = tuple[str, int]  # (the search trial a confirmation trial re-runs, its seed)
Unit = tuple[Key, ...]  # what one trial runs: one key, or a pack's keys in member order
VALUE = "test_accuracy"  # the trial's report whose last value is the verdict's last_test_accuracy


class LookSearcher(Searcher):
    """Emits the confirmation's trials look by look; FINISHED once every comparison is settled."""

    _members = 1  # seeds per trial; a searcher pickled before packs existed has none of its own

    def __init__(self, plan: LookPlan, seeds: Sequence[int], candidates: Sequence[Any], epochs: int,
                 experiment_dir: str, family: str, max_concurrent: int | None = None,
                 higher_is_better: bool = True, members: int = 1) -> None:
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
        self._members = members  # 1: lone trials; more: pack trials of at most that many seeds
        self._emitted: dict[str, Unit] = {}  # Tune trial id -> the keys it runs
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
        pending = self._pending(self._look)
        if not pending:
            if not self._look_done():
                return None  # the look's trials are still running
            if self._decide():
                self._finished = True
                return Searcher.FINISHED
            self._look += 1
            pending = self._pending(self._look)
        running = sum(not all(key in self._values for key in unit) for unit in self._emitted.values())
        if self._max_concurrent and running >= self._max_concurrent:
            return None
        self._emitted[trial_id] = pending[0]
        return self._config(pending[0])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        self._reconcile_once()
        unit = self._emitted.get(trial_id)
        if unit is None:  # not a trial of this stage: nothing to record
            log.warning("trial %s completed, but the confirmation did not emit it; ignored", trial_id)
            return
        for index, key in enumerate(unit):
            self._values[key] = math.nan if error else self._value(result, index)

    def get_state(self) -> dict:
        return {"emitted": dict(self._emitted), "values": dict(self._values), "look": self._look,
                "finished": self._finished}

    def set_state(self, state: dict) -> None:
        # (a state saved before packs existed holds one key per trial)
        self._emitted = {trial_id: unit if isinstance(unit[0], tuple) else (unit,)
                         for trial_id, unit in state["emitted"].items()}
        self._values = dict(state["values"])
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

    def _pending(self, look: int) -> list[Unit]:
        """The look's trials not emitted yet: each configuration's remaining seeds in packs of at most
        `members`, in the order of their first seed (lone trials: seed by seed, as `_look_keys`)."""
        emitted = {key for unit in self._emitted.values() for key in unit}
        keys = [key for key in self._look_keys(look) if key not in emitted]
        units = []
        for trial_id in self._arms:
            mine = [key for key in keys if key[0] == trial_id]
            units += [tuple(mine[start:start + self._members]) for start in range(0, len(mine), self._members)]
        return sorted(units, key=lambda unit: keys.index(unit[0]))

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
            first, last = self._seeds[seeds], self._seeds[looks[self._look] - 1]
            adding = f"seeds {first}-{last}" if last > first else f"seed {first}"
            print(f"[{self._family}] look {self._look} of {len(looks)} ({seeds} seed(s) per configuration): "
                  f"{decided} of {len(verdicts)} comparison(s) settled; adding {adding}", flush=True)
        return done

    def _value(self, result: Mapping[str, Any] | None, index: int = 0) -> float:
        """The metric at the full budget, NaN for a trial that ended before it (diverged) or errored;
        a pack's member `index` by its own keys (`member_<i>/...`, trainables.pack_trial)."""
        if not result:
            return math.nan
        prefix = f"member_{index}/" if f"member_{index}/epoch" in result else ""
        if int(result.get(f"{prefix}epoch", 0)) != self._epochs:
            return math.nan
        value = result.get(f"{prefix}{VALUE}")
        return float(value) if value is not None else math.nan

    def _config(self, unit: Unit) -> dict:
        """The key's values for the confirmation space's two grids. Tune merges them into the space and
        resolves its lookups (`sample_from`, which it holds as placeholders: a trial directory's name
        shows those, e.g. `confirm_look=fn_ph_...`; the trial's config has the values) on the result.
        (Resolving them here breaks Tune's own resolution, which expects its placeholders in place.)
        A pack trial (every trial, when the stage packs) also lists its members' own settings; its
        `seed` is its first member's, which the space's `repeat` and `confirm_look` follow."""
        confirms, seed = unit[0]
        config: dict[str, Any] = {"confirms": confirms, "seed": seed}
        if self._members > 1:
            first = self._seeds[0]  # the space's rule (sweeps.engine.stages.confirmation._space)
            config[PACK_KEY] = [{"seed": own, "repeat": own - first, "confirm_look": self._plan.look_of(own - first)}
                                for _, own in unit]
        return config

    @staticmethod
    def _unit_of(config: Mapping[str, Any]) -> Unit:
        """The keys a trial of the experiment state runs, from its config."""
        members = config.get(PACK_KEY) or [{"seed": config["seed"]}]
        return tuple((str(config["confirms"]), int(member["seed"])) for member in members)

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
        emitted: dict[str, Unit] = {}
        for trial in trials:
            unit = emitted[trial.trial_id] = self._unit_of(trial.config)
            if trial.status == "TERMINATED":
                for index, key in enumerate(unit):
                    self._values[key] = self._value(trial.last_result, index)
        if emitted or self._emitted:
            log.info("confirmation restored: %d trial(s) known, %d finished", len(emitted), len(self._values))
        self._emitted = emitted
        known = {key for unit in emitted.values() for key in unit}
        self._values = {key: value for key, value in self._values.items() if key in known}
        seen = [self._seeds.index(seed) for _, seed in known]
        self._look = self._plan.look_of(max(seen)) if seen else 1
        self._finished = False  # decided again from the values: a pure function of them


__all__ = ["LookSearcher"]
