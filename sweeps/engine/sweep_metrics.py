"""The sweep as metrics: a Tune callback that keeps Ray's own metrics (`ray.util.metrics`) up to date.

The driver records them; Ray's metrics endpoint on the driver's node serves them (every node runs
one, for Ray's own metrics), so `ray metrics launch-prometheus` and Ray's Grafana dashboards see the
sweep next to Ray's panels with no extra dependency (deploy/grafana-sweep-dashboard.json, and
docs/clusters.md "Watching a sweep"). Prometheus shows them with Ray's prefix, `ray_actsweep_*`:

Tagged family, experiment, stage and arm (the arm of `sweeps.engine.dashboard.trial_arm`):

- `actsweep_trials` (and `status`): trials in that Tune status (PENDING, RUNNING, PAUSED, TERMINATED, ERROR);
- `actsweep_trial_epochs_done`: epochs the arm's trials reported;
- `actsweep_trial_epochs_planned`: the most the arm can run: what finished trials ran, each other
  trial's budget, and the budget of every trial not yet started (equal to done at the end);
- `actsweep_best_metric` (and `metric`): the best value so far of the sweep's `--metric`;
- `actsweep_trial_epochs_per_second`: reports over the last minute (0 once the stage ends).

A confirmation's, tagged family and experiment:

- `actsweep_confirm_look`: its current look (1-based);
- `actsweep_comparison` (and `comparison`, `state`): 1 for each pair of arms' state at the last
  finished look (`undecided` before it, else an `analysis.verdict.decision.Outcome`), 0 for the other states.

`experiment` is the search's `--name` for both stages (one driver runs both), `stage` says which.

Why counted again from Tune's trial list at every event instead of added up from events: every
hook gets all trials with their status and results, which Tune restores on `--resume`, so a
resumed sweep's numbers include the trials finished before it, and nothing is counted twice.
Why gauges, and why they are set again every second: each number is the sweep's state as the
driver sees it. Ray 2.60's worker exports a gauge's value only if it was set since the previous
export (every `metrics_report_interval_ms`, 10 s by default), and its agent drops a series about two
intervals after the last one (measured: a trial count set once had left the endpoint a minute
later). So a thread of the callback sets every current value again each second while Ray runs: the
search's numbers stay on the endpoint through its confirmation and until the driver disconnects,
and leave it about 20 s later, their history kept in Prometheus. Tune's hooks set only the values
that changed (each `set` crosses into Ray's C++ recorder), and a report recounts the trials at most once a
second (a trial's start and end always do, so the end state is exact); the cost per trial-epoch is measured
against a sweep without the callback by benchmarks/sweep_metrics.py (BENCHMARKS.md).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import ray
from ray.tune import Callback
from ray.util.metrics import Gauge

from analysis.verdict.decision import Outcome
from analysis.verdict.looks import LookPlan, look_verdicts
from sweeps.engine.stages.confirmation import look_plan
from sweeps.engine.dashboard import CONFIRMATION, ONE_ARM, SEARCH, arm_keys, experiment_name, trial_arm
from sweeps.engine.looks import VALUE
from sweeps.engine.space.keys import grid_values, is_grid

STATUSES = ("PENDING", "RUNNING", "PAUSED", "TERMINATED", "ERROR")  # Tune's Trial statuses
FINISHED = ("TERMINATED", "ERROR")
UNDECIDED = "undecided"
COMPARISON_STATES = (UNDECIDED, *(outcome.value for outcome in Outcome))
RATE_WINDOW_S = 60.0
REFRESH_S = 1.0  # at most Ray's shortest export interval (it floors metrics_report_interval_ms at 1 s)

ARM_TAGS = ("family", "experiment", "stage", "arm")
GAUGES = {  # name -> (description, tag keys)
    "actsweep_trials": ("Trials of a sweep's arm in each Tune status", (*ARM_TAGS, "status")),
    "actsweep_trial_epochs_done": ("Epochs the arm's trials have reported", ARM_TAGS),
    "actsweep_trial_epochs_planned": ("The most trial-epochs the arm can run (done at the end)", ARM_TAGS),
    "actsweep_best_metric": ("Best value so far of the sweep's metric in the arm", (*ARM_TAGS, "metric")),
    "actsweep_trial_epochs_per_second": ("Trial-epochs reported per second over the last minute", ARM_TAGS),
    "actsweep_confirm_look": ("The confirmation's current look (1-based)", ("family", "experiment")),
    "actsweep_comparison": ("1 for a comparison's state at the last finished look, 0 for the others",
                            ("family", "experiment", "comparison", "state")),
}


@dataclass(frozen=True)
class Scope:
    """What the callback needs of a stage's plan: plain values, so the callback pickles with Tune's
    experiment state (`tuner.pkl`, which `--resume` restores it from)."""

    family: str
    experiment: str  # the search's name, both stages
    stage: str  # SEARCH or CONFIRMATION
    keys: tuple[str, ...]  # what makes a search trial's arm (sweeps.engine.dashboard.arm_keys)
    metric: str
    mode: str
    budget: int  # epochs of a trial not yet started
    arms: tuple[str, ...] = ()  # every arm the stage will run, when known before its trials
    trials_per_arm: Mapping[str, int] = field(default_factory=dict)  # the worst case, when known
    looks: LookPlan | None = None  # a confirmation's
    configurations: int = 0  # a confirmation's chosen configurations (each gets every look's seeds)


def scope_for(plan: Any) -> Scope:
    """The stage's scope; a confirmation's arms and worst case come from its chosen configurations."""
    base = dict(family=plan.sweep.family, experiment=experiment_name(plan), keys=arm_keys(plan),
                metric=plan.metric, mode=plan.mode, budget=int(plan.max_epochs))
    if plan.confirmed:
        looks = look_plan(plan)
        counts = Counter(candidate.arm or ONE_ARM for candidate in plan.confirmed)
        return Scope(**base, stage=CONFIRMATION, arms=tuple(sorted(counts)), looks=looks,
                     trials_per_arm={arm: count * looks.max_seeds for arm, count in counts.items()},
                     configurations=len(plan.confirmed))
    keys = base["keys"]
    if not all(is_grid(plan.param_space.get(key)) for key in keys):
        return Scope(**base, stage=SEARCH)  # arms known only as their trials appear
    values = itertools.product(*(grid_values(plan.param_space, key) for key in keys))
    arms = tuple(trial_arm(dict(zip(keys, combination)), keys) for combination in values)
    return Scope(**base, stage=SEARCH, arms=arms)


@dataclass
class ArmNumbers:
    """One arm's numbers at one moment."""

    statuses: Counter = field(default_factory=Counter)
    epochs_done: int = 0
    epochs_planned: int = 0
    best: float | None = None


def trial_epochs(trial: Any) -> int:
    """Epochs the trial reported (the trainable's `epoch`, which a restored trial continues)."""
    result = trial.last_result or {}
    return int(result.get("epoch", result.get("training_iteration", 0)) or 0)


def trial_best(trial: Any, metric: str, mode: str) -> float | None:
    """The trial's best value of `metric` over all its reports (Tune keeps it, and restores it)."""
    analysis = (getattr(trial, "metric_analysis", None) or {}).get(metric) or {}
    value = analysis.get(mode, (trial.last_result or {}).get(metric))
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def arm_numbers(trials: Sequence[Any], scope: Scope, arm_of: Callable[[Any], str], *,
                total_trials: int | None, ended: bool) -> dict[str, ArmNumbers]:
    """Every arm's numbers from Tune's trial list. `total_trials` is what Tune said it will generate
    (the worst case for a confirmation); `ended`: no more trials will come."""
    numbers = {arm: ArmNumbers() for arm in scope.arms}
    for trial in trials:
        entry = numbers.setdefault(arm_of(trial), ArmNumbers())
        entry.statuses[trial.status] += 1
        done = trial_epochs(trial)
        entry.epochs_done += done
        budget = int(trial.config.get("epochs", scope.budget))
        entry.epochs_planned += done if trial.status in FINISHED else max(done, budget)
        best = trial_best(trial, scope.metric, scope.mode)
        if best is not None and (entry.best is None or (best - entry.best) * (1 if scope.mode == "max" else -1) > 0):
            entry.best = best
    if not ended:
        for arm, expected in _expected(scope, total_trials).items():
            missing = expected - sum(numbers.setdefault(arm, ArmNumbers()).statuses.values())
            numbers[arm].epochs_planned += max(0, missing) * scope.budget
    return numbers


def _expected(scope: Scope, total_trials: int | None) -> dict[str, int]:
    """Trials each arm will run at most: the confirmation's from its plan, a search's an equal share
    of Tune's total (every arm is crossed with the same samples and grids); {} when unknown."""
    if scope.trials_per_arm:
        return dict(scope.trials_per_arm)
    if not scope.arms or not total_trials or total_trials % len(scope.arms):
        return {}
    return {arm: total_trials // len(scope.arms) for arm in scope.arms}


def current_look(trials: Sequence[Any]) -> int:
    """The confirmation's look: the latest among its trials (its searcher emits a look's trials only
    after deciding the one before)."""
    return max((int(trial.config.get("confirm_look") or 1) for trial in trials), default=0)


def comparison_states(trials: Sequence[Any], scope: Scope) -> dict[str, str]:
    """Comparison -> state of a confirmation, decided as its look searcher decides (sweeps.engine.looks):
    at the last look whose every trial finished, on test accuracy at the budget."""
    rows = []
    for trial in trials:
        config, result = trial.config, trial.last_result or {}
        if trial.status not in FINISHED:
            continue
        reached = trial.status == "TERMINATED" and int(result.get("epoch", 0)) == scope.budget
        rows.append({"family": scope.family, "confirm_arm": config.get("confirm_arm"),
                     "confirm_rank": config.get("confirm_rank"), "seed": config.get("seed"),
                     "confirm_look": int(config.get("confirm_look") or 1),
                     "value": float(result.get(VALUE, math.nan)) if reached else math.nan})
    frame = pd.DataFrame(rows, columns=["family", "confirm_arm", "confirm_rank", "seed", "confirm_look", "value"])
    states = {f"{arm_a} vs {arm_b}": UNDECIDED for arm_a, arm_b in itertools.combinations(sorted(scope.arms), 2)}
    decided = 0
    for look, seeds in enumerate(scope.looks.looks if scope.looks else (), start=1):
        if int((frame["confirm_look"] <= look).sum()) < scope.configurations * seeds:
            break
        decided = look
    if decided:
        finished = frame[frame["confirm_look"] <= decided]
        for item in look_verdicts(finished, scope.looks, "value", look=decided, details=False):
            states[f"{item.arm_a} vs {item.arm_b}"] = str(item.verdict.outcome)
    return states


class SweepMetrics(Callback):
    """Keeps the gauges of one stage (search or confirmation) up to date; see the module docstring.

    `gauge` makes a gauge as `ray.util.metrics.Gauge(name, description=..., tag_keys=...)` does (tests
    pass a recorder), `clock` is `time.monotonic` (for the rate)."""

    def __init__(self, scope: Scope, gauge: Callable[..., Any] = Gauge, clock: Callable[[], float] = time.monotonic):
        self.scope = scope
        self._gauge, self._clock = gauge, clock
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()  # Tune's thread and the refresher's set the same gauges
        self._stop = threading.Event()
        self._gauges: dict[str, Any] = {}
        self._exported: dict[tuple, float] = {}  # (name, tags) -> the value last set
        self._reports: dict[str, deque] = {}  # arm -> report times within the rate window
        self._first_report: float | None = None
        self._counted = -math.inf  # when the trials were last counted
        self._arms: dict[str, str] = {}  # trial id -> arm (a trial's arm never changes)
        self._total: int | None = None
        self._states: dict[str, str] | None = None  # a confirmation's comparisons, decided again as trials end

    def __getstate__(self) -> dict:  # Ray's gauges stay in the process that made them
        return {"scope": self.scope, "_gauge": self._gauge, "_clock": self._clock}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._reset()

    # --- Tune's hooks ----------------------------------------------------------------------------

    def setup(self, stop: Any = None, num_samples: int | None = None, total_num_samples: int | None = None,
              **info: Any) -> None:
        self._total = total_num_samples
        self._gauges = {name: self._gauge(name, description=description, tag_keys=tags)
                        for name, (description, tags) in GAUGES.items()}
        if ray.is_initialized():
            threading.Thread(target=self._refresh_while_ray_runs, name="actsweep-metrics", daemon=True).start()

    def _refresh_while_ray_runs(self) -> None:
        while not self._stop.wait(REFRESH_S) and ray.is_initialized():  # ends once the driver disconnects
            self.refresh()

    def refresh(self) -> None:
        """Set every value again, so that Ray's next export carries it (see the module docstring)."""
        with self._lock:
            for (name, tags), value in self._exported.items():
                self._gauges[name].set(value, tags=dict(tags))

    def close(self) -> None:
        """Stop refreshing (the values leave the endpoint two export intervals later)."""
        self._stop.set()

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.update(trials)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        now = self._clock()
        self._first_report = now if self._first_report is None else self._first_report
        self._reports.setdefault(self._arm(trial), deque()).append(now)
        if now - self._counted >= REFRESH_S:  # counting every trial at every report cost 1 ms with 256 trials
            self.update(trials)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.update(trials, decide=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.update(trials, decide=True)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.update(trials, decide=True, ended=True)

    # --- the numbers -------------------------------------------------------------------------------

    def _arm(self, trial: Any) -> str:
        arm = self._arms.get(trial.trial_id)
        if arm is None:
            arm = self._arms[trial.trial_id] = trial_arm(trial.config, self.scope.keys)
        return arm

    def rates(self, ended: bool = False) -> dict[str, float]:
        """Trial-epochs per second of each arm over the last RATE_WINDOW_S (less at the start)."""
        now = self._clock()
        span = 0.0 if self._first_report is None else min(RATE_WINDOW_S, now - self._first_report)
        rates = {}
        for arm, times in self._reports.items():
            while times and now - times[0] > RATE_WINDOW_S:
                times.popleft()
            rates[arm] = 0.0 if ended or span <= 0 else len(times) / span
        return rates

    def update(self, trials: Sequence[Any], decide: bool = False, ended: bool = False) -> None:
        """Count the trials again and set every gauge whose value changed."""
        if not self._gauges:  # hooks before setup: Tune always calls setup first
            return
        self._counted = self._clock()
        scope = self.scope
        numbers = arm_numbers(trials, scope, self._arm, total_trials=self._total, ended=ended)
        rates = self.rates(ended)
        for arm, entry in numbers.items():
            tags = {"family": scope.family, "experiment": scope.experiment, "stage": scope.stage, "arm": arm}
            for status in STATUSES:
                self._set("actsweep_trials", entry.statuses.get(status, 0), {**tags, "status": status})
            self._set("actsweep_trial_epochs_done", entry.epochs_done, tags)
            self._set("actsweep_trial_epochs_planned", entry.epochs_planned, tags)
            if entry.best is not None:
                self._set("actsweep_best_metric", entry.best, {**tags, "metric": scope.metric})
            self._set("actsweep_trial_epochs_per_second", rates.get(arm, 0.0), tags)
        if scope.stage != CONFIRMATION:
            return
        if decide or self._states is None:
            self._states = comparison_states(trials, scope)
        stage_tags = {"family": scope.family, "experiment": scope.experiment}
        self._set("actsweep_confirm_look", current_look(trials), stage_tags)
        for comparison, current in self._states.items():
            for state in COMPARISON_STATES:
                self._set("actsweep_comparison", float(state == current),
                          {**stage_tags, "comparison": comparison, "state": state})

    def _set(self, name: str, value: float, tags: Mapping[str, str]) -> None:
        key = (name, tuple(sorted(tags.items())))
        if self._exported.get(key) == value:
            return
        with self._lock:
            self._exported[key] = value
            self._gauges[name].set(value, tags=dict(tags))

    def exported(self) -> dict[tuple, float]:
        """What the callback has set: (name, sorted tag items) -> value (for tests and the benchmark)."""
        return dict(self._exported)


def metrics_callbacks(plan: Any) -> list[Callback]:
    """The callback when the sweep is watched (`--dashboard`), else none: a sweep without it costs
    and prints what it did before."""
    return [SweepMetrics(scope_for(plan))] if plan.dashboard else []


__all__ = ["GAUGES", "Scope", "SweepMetrics", "arm_numbers", "comparison_states", "current_look", "metrics_callbacks",
           "scope_for"]
