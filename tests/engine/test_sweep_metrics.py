"""The sweep's metrics callback, without Ray: its numbers from Tune's trial list, what it sets, when."""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest

from analysis.verdict.looks import LookPlan
from sweeps.engine.sweep_metrics import (
    COMPARISON_STATES, GAUGES, STATUSES, UNDECIDED, Scope, SweepMetrics, arm_numbers, comparison_states,
)


@dataclass
class FakeTrial:
    """What the callback reads of Tune's Trial."""

    trial_id: str
    status: str
    config: dict
    last_result: dict = field(default_factory=dict)
    metric_analysis: dict = field(default_factory=dict)


def search_trial(trial_id: str, activation: str, status: str, epochs: int = 0, best: float | None = None,
                 budget: int = 3) -> FakeTrial:
    result = {"epoch": epochs, "val_accuracy": best} if epochs else {}
    analysis = {"val_accuracy": {"max": best, "min": best, "last": best}} if best is not None else {}
    return FakeTrial(trial_id, status, {"activation": activation, "units": 16, "seed": 0, "epochs": budget},
                     result, analysis)


SEARCH = Scope(family="fam", experiment="exp", stage="search", keys=("activation",), metric="val_accuracy",
               mode="max", budget=3, arms=("activation=relu", "activation=selu"))


class Recorder:
    """Stands for `ray.util.metrics.Gauge`: every `set`, in order, into one shared list."""

    def __init__(self, sets: list):
        self.sets = sets

    def __call__(self, name: str, description: str, tag_keys: tuple) -> "Recorder.Gauge":
        assert set(tag_keys) >= {"family", "experiment"}, (name, tag_keys)
        return Recorder.Gauge(name, tuple(tag_keys), self.sets)

    @dataclass
    class Gauge:
        name: str
        tag_keys: tuple
        sets: list

        def set(self, value: float, tags: dict) -> None:
            assert set(tags) == set(self.tag_keys), (self.name, tags)
            self.sets.append((self.name, dict(tags), value))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def callback(scope: Scope = SEARCH, total: int = 4) -> tuple[SweepMetrics, list, Clock]:
    sets: list = []
    clock = Clock()
    metrics = SweepMetrics(scope, gauge=Recorder(sets), clock=clock)
    metrics.setup(total_num_samples=total)
    return metrics, sets, clock


def value(metrics: SweepMetrics, name: str, **tags: Any) -> float:
    matches = [value for (metric, items), value in metrics.exported().items()
               if metric == name and all(dict(items).get(key) == wanted for key, wanted in tags.items())]
    assert len(matches) == 1, (name, tags, matches)
    return matches[0]


def test_every_gauge_is_made_once_at_setup_with_its_tags():
    sets: list = []
    made = []
    recorder = Recorder(sets)
    SweepMetrics(SEARCH, gauge=lambda name, **kwargs: made.append(name) or recorder(name, **kwargs)).setup()
    assert made == list(GAUGES)


def test_numbers_count_statuses_epochs_and_the_worst_case_still_to_run():
    trials = [search_trial("a1", "relu", "TERMINATED", 3, 0.8), search_trial("a2", "relu", "RUNNING", 1, 0.5),
              search_trial("b1", "selu", "TERMINATED", 1, 0.9)]  # b1: stopped early at its first rung
    numbers = arm_numbers(trials, SEARCH, lambda trial: f"activation={trial.config['activation']}",
                          total_trials=4, ended=False)
    relu, selu = numbers["activation=relu"], numbers["activation=selu"]
    assert relu.statuses == {"TERMINATED": 1, "RUNNING": 1} and selu.statuses == {"TERMINATED": 1}
    assert (relu.epochs_done, selu.epochs_done) == (4, 1)
    assert relu.epochs_planned == 3 + 3  # a finished trial's epochs, a running one's budget
    assert selu.epochs_planned == 1 + 3  # its second trial is not generated yet: its whole budget
    assert (relu.best, selu.best) == (0.8, 0.9)
    ended = arm_numbers(trials, SEARCH, lambda trial: f"activation={trial.config['activation']}",
                        total_trials=4, ended=True)
    assert ended["activation=selu"].epochs_planned == 1  # no more trials come


def test_minimising_metric_keeps_the_lowest_and_ignores_non_finite_values():
    scope = Scope(**{**SEARCH.__dict__, "metric": "val_loss", "mode": "min"})
    trials = [FakeTrial("a", "RUNNING", {"activation": "relu", "epochs": 3}, {"epoch": 1},
                        {"val_loss": {"min": 0.7, "max": 2.0}}),
              FakeTrial("b", "RUNNING", {"activation": "relu", "epochs": 3}, {"epoch": 1, "val_loss": math.nan}, {})]
    numbers = arm_numbers(trials, scope, lambda trial: "activation=relu", total_trials=None, ended=False)
    assert numbers["activation=relu"].best == 0.7


def test_the_callback_sets_every_status_and_at_the_end_planned_equals_done_and_no_rate():
    metrics, sets, clock = callback()
    first = search_trial("a1", "relu", "RUNNING", 1, 0.5)
    metrics.on_trial_start(iteration=1, trials=[first], trial=first)
    assert {(tags["arm"], tags["status"]) for name, tags, _ in sets if name == "actsweep_trials"} == {
        (arm, status) for arm in SEARCH.arms for status in STATUSES}  # zeros too, so no series is left behind
    assert value(metrics, "actsweep_trial_epochs_planned", arm="activation=selu") == 2 * 3  # none of its trials yet
    clock.now += 2
    metrics.on_trial_result(iteration=2, trials=[first], trial=first, result=first.last_result)
    done = [search_trial("a1", "relu", "TERMINATED", 3, 0.8), search_trial("a2", "relu", "TERMINATED", 1, 0.6),
            search_trial("b1", "selu", "TERMINATED", 3, 0.7), search_trial("b2", "selu", "ERROR", 2, 0.4)]
    metrics.on_experiment_end(trials=done)
    assert value(metrics, "actsweep_trials", arm="activation=relu", status="TERMINATED") == 2
    assert value(metrics, "actsweep_trials", arm="activation=relu", status="RUNNING") == 0
    assert value(metrics, "actsweep_trials", arm="activation=selu", status="ERROR") == 1
    for arm, epochs in (("activation=relu", 4), ("activation=selu", 5)):
        assert value(metrics, "actsweep_trial_epochs_done", arm=arm) == epochs
        assert value(metrics, "actsweep_trial_epochs_planned", arm=arm) == epochs
        assert value(metrics, "actsweep_trial_epochs_per_second", arm=arm) == 0
    assert value(metrics, "actsweep_best_metric", arm="activation=selu", metric="val_accuracy") == 0.7
    assert all(tags["experiment"] == "exp" and tags["stage"] == "search" for _, tags, _ in sets)


def test_only_changed_values_are_set_again():
    metrics, sets, _ = callback()
    trials = [search_trial("a1", "relu", "RUNNING", 1, 0.5)]
    metrics.on_trial_start(iteration=1, trials=trials, trial=trials[0])
    before = len(sets)
    metrics.on_trial_start(iteration=2, trials=trials, trial=trials[0])
    assert len(sets) == before
    trials[0].last_result["epoch"] = 2
    metrics.on_trial_complete(iteration=3, trials=trials, trial=trials[0])
    assert [name for name, _, _ in sets[before:]] == ["actsweep_trial_epochs_done"]


def test_reports_recount_the_trials_at_most_once_a_second_and_starts_and_ends_always():
    metrics, _, clock = callback()
    trial = search_trial("a1", "relu", "RUNNING", 1, 0.5)
    metrics.on_trial_start(iteration=1, trials=[trial], trial=trial)
    trial.last_result["epoch"] = 2
    metrics.on_trial_result(iteration=2, trials=[trial], trial=trial, result=trial.last_result)
    assert value(metrics, "actsweep_trial_epochs_done", arm="activation=relu") == 1  # counted 0 s ago
    clock.now += 1.0
    metrics.on_trial_result(iteration=3, trials=[trial], trial=trial, result=trial.last_result)
    assert value(metrics, "actsweep_trial_epochs_done", arm="activation=relu") == 2
    trial.last_result["epoch"], trial.status = 3, "TERMINATED"
    metrics.on_trial_complete(iteration=4, trials=[trial], trial=trial)
    assert value(metrics, "actsweep_trial_epochs_done", arm="activation=relu") == 3


def test_refresh_sets_every_current_value_again():
    metrics, sets, _ = callback()
    trials = [search_trial("a1", "relu", "RUNNING", 1, 0.5)]
    metrics.on_trial_start(iteration=1, trials=trials, trial=trials[0])
    before = len(sets)
    metrics.refresh()  # what the callback's thread does every second while Ray runs
    again = {(name, tuple(sorted(tags.items()))): value for name, tags, value in sets[before:]}
    assert len(sets) - before == len(again) and again == metrics.exported()


def test_the_rate_counts_reports_over_the_last_minute():
    metrics, _, clock = callback()
    trial = search_trial("a1", "relu", "RUNNING", 1, 0.5)
    for _ in range(3):
        metrics.on_trial_result(iteration=1, trials=[trial], trial=trial, result={})
        clock.now += 1.0
    # 3 reports since the first, 3 s ago
    assert value(metrics, "actsweep_trial_epochs_per_second", arm="activation=relu") == pytest.approx(3 / 2)
    assert metrics.rates()["activation=relu"] == pytest.approx(3 / 3)
    clock.now += 120
    assert metrics.rates()["activation=relu"] == 0  # the window holds none of them


def test_a_trial_of_an_arm_not_known_in_advance_gets_its_own_series():
    scope = Scope(**{**SEARCH.__dict__, "arms": ()})
    metrics, _, _ = callback(scope)
    trial = search_trial("a1", "relu", "RUNNING", 1, 0.5)
    metrics.on_trial_start(iteration=1, trials=[trial], trial=trial)
    assert value(metrics, "actsweep_trials", arm="activation=relu", status="RUNNING") == 1
    assert value(metrics, "actsweep_trial_epochs_planned", arm="activation=relu") == 3  # no worst case known


CONFIRMATION = Scope(family="fam", experiment="exp", stage="confirmation", keys=(), metric="val_accuracy",
                     mode="max", budget=3, arms=("activation=relu", "activation=selu"),
                     trials_per_arm={"activation=relu": 4, "activation=selu": 4},
                     looks=LookPlan(max_seeds=4, batch=2, margin=0.01), configurations=2)


def confirm_trial(number: int, arm: str, seed: int, status: str, accuracy: float | None) -> FakeTrial:
    look = 1 if seed < 12 else 2
    config = {"confirms": f"search-{arm}", "confirm_arm": arm, "confirm_rank": 1, "seed": seed, "confirm_look": look,
              "activation": arm.split("=")[1], "epochs": 3}
    result = {"epoch": 3, "test_accuracy": accuracy, "val_accuracy": accuracy} if accuracy is not None else {}
    return FakeTrial(f"c{number}", status, config, result)


def test_a_confirmation_exports_its_look_and_each_comparison_once_the_look_finished():
    metrics, _, _ = callback(CONFIRMATION, total=8)
    running = [confirm_trial(1, "activation=relu", 10, "TERMINATED", 0.50),
               confirm_trial(2, "activation=selu", 10, "RUNNING", None)]
    metrics.on_trial_complete(iteration=1, trials=running, trial=running[0])
    assert value(metrics, "actsweep_confirm_look") == 1
    assert value(metrics, "actsweep_comparison", state=UNDECIDED) == 1
    assert value(metrics, "actsweep_comparison", state="a_better") == 0
    assert value(metrics, "actsweep_trial_epochs_planned", arm="activation=selu") == 4 * 3
    look_one = [confirm_trial(number, arm, seed, "TERMINATED", accuracy) for number, (arm, seed, accuracy) in
                enumerate([("activation=relu", 10, 0.50), ("activation=relu", 11, 0.51),
                           ("activation=selu", 10, 0.90), ("activation=selu", 11, 0.91)])]
    states = comparison_states(look_one, CONFIRMATION)
    assert list(states) == ["activation=relu vs activation=selu"]
    metrics.on_trial_complete(iteration=2, trials=look_one, trial=look_one[-1])
    decided = states["activation=relu vs activation=selu"]
    assert decided in COMPARISON_STATES and decided != UNDECIDED
    assert value(metrics, "actsweep_comparison", state=decided) == 1
    assert value(metrics, "actsweep_comparison", state=UNDECIDED) == 0


def test_a_look_is_decided_only_when_all_its_trials_finished():
    trials = [confirm_trial(1, "activation=relu", 10, "TERMINATED", 0.5),
              confirm_trial(2, "activation=selu", 10, "TERMINATED", 0.9)]  # seed 11 not generated yet
    assert set(comparison_states(trials, CONFIRMATION).values()) == {UNDECIDED}


def test_the_callback_pickles_with_tunes_state_and_makes_its_gauges_again():
    metrics = SweepMetrics(SEARCH)  # Ray's own gauge and clock, as the runner makes it
    metrics._gauges = {"actsweep_trials": lambda: None}  # stands for Ray's gauges, which do not pickle
    restored = pickle.loads(pickle.dumps(metrics))
    assert restored.scope == SEARCH and restored.exported() == {}
    trial = search_trial("a1", "relu", "RUNNING", 1, 0.5)
    restored.on_trial_start(iteration=1, trials=[trial], trial=trial)  # before Tune's setup: nothing is set
    assert restored.exported() == {}
