"""The confirmation in looks (sweeps.engine.looks): what it emits when, where it stops, and that a run
killed at a look and resumed reaches the verdict of an uninterrupted one (real Ray, digits)."""

from __future__ import annotations

import pickle
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from ray.tune.search import Searcher
from support.cluster import kill_process_groups

from analysis.verdict.confirmation import Candidate
from analysis.store.tables import read_tables
from analysis.verdict.looks import LookPlan
from sweeps.engine import looks as looks_module
from sweeps.engine.looks import LookSearcher

EPOCHS = 3
SEEDS = list(range(10, 30))
CANDIDATES = [Candidate("activation=relu", 1, "r1", EPOCHS, 0.9, {}),
              Candidate("activation=selu", 1, "s1", EPOCHS, 0.8, {})]
SPACE = {"confirms": {"grid_search": ["r1", "s1"]}, "seed": {"grid_search": SEEDS}, "lr": 0.1}


@dataclass
class FakeTrial:
    """What the searcher reads of a trial in Tune's saved experiment state."""

    trial_id: str
    config: dict
    status: str
    last_result: dict


class FakeAnalysis:
    trials: list[FakeTrial] = []

    def __init__(self, path: str, storage_filesystem: object = None) -> None:
        if not self.trials:
            raise ValueError("no experiment state")  # what Tune says before its first save


@pytest.fixture(autouse=True)
def saved_state(monkeypatch):
    FakeAnalysis.trials = []
    monkeypatch.setattr(looks_module, "ExperimentAnalysis", FakeAnalysis)  # (ray.tune's own stays)
    return FakeAnalysis


def searcher(max_seeds: int, batch: int, **kwargs) -> LookSearcher:
    made = LookSearcher(LookPlan(max_seeds, batch, 0.01), SEEDS[:max_seeds], CANDIDATES, EPOCHS, "/nowhere",
                        "family", **kwargs)
    assert made.set_search_properties("val_accuracy", "max", SPACE)
    return made


def value(key: tuple[str, int], difference: float) -> float:
    """relu ahead of selu by `difference`, with seed-to-seed noise shared by both arms and its own."""
    trial_id, seed = key
    noise = np.random.default_rng(seed).normal(0, 0.01, 2)
    return 0.9 + noise[0] + (difference + noise[1] if trial_id == "r1" else 0.0)


def drain(made: LookSearcher, difference: float, counter: list[int], complete: bool = True) -> list[tuple[str, int]]:
    """Ask for trials until the searcher waits or finishes; complete them (as Tune would) if asked."""
    emitted = []
    while True:
        trial_id = f"t{counter[0]}"
        config = made.suggest(trial_id)
        if config is None or config == Searcher.FINISHED:
            break
        counter[0] += 1
        emitted.append((trial_id, (config["confirms"], config["seed"])))
    if complete:
        for trial_id, key in emitted:
            made.on_trial_complete(trial_id, {"epoch": EPOCHS, "test_accuracy": value(key, difference)})
    return [key for _, key in emitted]


def test_a_clear_difference_stops_after_the_first_look(capsys):
    made, counter = searcher(20, 10), [0]
    first = drain(made, 0.2, counter)
    assert first == [(trial_id, seed) for seed in SEEDS[:10] for trial_id in ("r1", "s1")]  # seed by seed
    assert made.suggest("next") == Searcher.FINISHED  # decided: no second look
    assert "look 1 of 2 (10 seed(s) per configuration): 1 of 1 comparison(s) settled; the confirmation stops: " \
           "10 of at most 20 seeds" in capsys.readouterr().out


def test_a_close_call_gets_every_look_and_each_waits_for_the_last():
    made, counter = searcher(6, 2), [0]
    first = drain(made, 0.003, counter, complete=False)
    assert len(first) == 4 and made.suggest("waiting") is None  # look 1 still running
    for index, key in enumerate(first):
        made.on_trial_complete(f"t{index}", {"epoch": EPOCHS, "test_accuracy": value(key, 0.003)})
    second = drain(made, 0.003, counter)
    assert {seed for _, seed in second} == {12, 13}
    third = drain(made, 0.003, counter)
    assert {seed for _, seed in third} == {14, 15} and made.suggest("after") == Searcher.FINISHED


def test_a_trial_short_of_the_budget_or_errored_is_a_failure_of_its_arm():
    made, counter = searcher(4, 2), [0]
    keys = drain(made, 0.0, counter, complete=False)
    assert keys[:2] == [("r1", 10), ("s1", 10)]
    made.on_trial_complete("t0", {"epoch": EPOCHS - 1, "test_accuracy": 0.9})  # diverged: stopped early
    made.on_trial_complete("t2", error=True)  # relu on seed 11
    for index in (1, 3):
        made.on_trial_complete(f"t{index}", {"epoch": EPOCHS, "test_accuracy": 0.9})
    assert np.isnan(made._values[keys[0]]) and np.isnan(made._values[keys[2]])
    [item] = looks_module.look_verdicts(made._rows(), made._plan, "value", failure_score=0.0)
    assert (item.verdict.failures_a, item.verdict.failures_b, item.verdict.n) == (2, 0, 2)  # kept, scored 0
    assert list(item.pairs.a) == [0.0, 0.0] and item.verdict.outcome in ("b_better", "inconclusive")
    assert made.suggest("t4") is not None  # the look is done: not settled, seeds left


def test_max_concurrent_holds_back_trials():
    made, counter = searcher(4, 2, max_concurrent=3), [0]
    assert len(drain(made, 0.0, counter, complete=False)) == 3


def test_a_restore_from_a_stale_searcher_state_follows_the_experiment_state(saved_state):
    """Tune writes its experiment state, then the searcher's: a kill in between leaves the searcher a
    look behind. The restored one must neither emit a trial twice nor lose a finished one."""
    whole, counter = searcher(6, 2), [0]
    pristine = pickle.dumps(whole)  # what Tuner.restore unpickles (tuner.pkl), before any look
    first = drain(whole, 0.003, counter)
    stale = whole.get_state()  # saved after look 1 ...
    second = drain(whole, 0.003, counter, complete=False)  # ... look 2 emitted, running at the kill
    done = {"t4"}  # one look-2 trial had finished; the others restart
    whole.on_trial_complete("t4", {"epoch": EPOCHS, "test_accuracy": value(second[0], 0.003)})
    keys = {f"t{index}": key for index, key in enumerate([*first, *second])}
    saved_state.trials = [
        FakeTrial(trial_id, {"confirms": key[0], "seed": key[1]},
                  "TERMINATED" if trial_id in done or key in first else "RUNNING",
                  {"epoch": EPOCHS, "test_accuracy": value(key, 0.003)})
        for trial_id, key in keys.items()]
    restored = pickle.loads(pristine)
    restored.set_state(stale)
    assert restored.suggest("new") is None  # nothing emitted twice: look 2's trials exist, some running
    for trial_id in ("t5", "t6", "t7"):  # Tune re-runs the restored ones and reports them
        restored.on_trial_complete(trial_id, {"epoch": EPOCHS, "test_accuracy": value(keys[trial_id], 0.003)})
    third = drain(restored, 0.003, [100])
    for trial_id in ("t5", "t6", "t7"):  # the uninterrupted searcher, told the same
        whole.on_trial_complete(trial_id, {"epoch": EPOCHS, "test_accuracy": value(keys[trial_id], 0.003)})
    assert third == drain(whole, 0.003, counter) and {seed for _, seed in third} == {14, 15}
    assert restored.suggest("end") == whole.suggest("end") == Searcher.FINISHED


# ---------------------------------------------------------------------------- real Ray

FLAGS = ["--dataset", "digits", "--set", "units=16", "--max-epochs", "8", "--scheduler", "fifo", "--num-samples",
         "1", "--verbose", "0", "--cpus-per-trial", "1"]
LOOKS = ["--confirm", "1", "--confirm-repeats", "4", "--confirm-batch", "2"]


def _sweep(repo_root: str, storage: Path, *argv: str) -> subprocess.CompletedProcess:
    script = Path(repo_root) / "sweeps" / "antirectifier_mnist.py"
    result = subprocess.run([sys.executable, str(script), *FLAGS, "--storage-path", str(storage), *argv],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _running_in_look_two(experiment: Path) -> bool:
    """Tune's saved state holds a trial of the second look that has not finished."""
    from ray import tune

    try:
        trials = tune.ExperimentAnalysis(str(experiment)).trials
    except (ValueError, OSError):  # not saved yet, or being replaced
        return False
    return any(trial.config.get("confirm_look") == 2 and trial.status != "TERMINATED" for trial in trials)


def _verdict(stdout: str, name: str) -> list[str]:
    lines = stdout[stdout.index("verdict ("):].splitlines()
    return [line.replace(name, "NAME") for line in lines if not line.startswith("report:")]


@pytest.mark.slow
def test_a_confirmation_killed_at_a_look_resumes_to_the_uninterrupted_verdict(repo_root, tmp_path):
    pytest.importorskip("sklearn")
    storage = tmp_path / "results"
    whole = _sweep(repo_root, storage, "--name", "whole", *LOOKS)  # the search (2 arms), then its confirmation
    assert "look 1 of 2 (2 seed(s) per configuration): 0 of 1 comparison(s) settled; adding seeds" in whole.stdout
    shutil.copytree(storage / "whole", storage / "killed")  # the same finished search, confirmed again

    script = Path(repo_root) / "sweeps" / "antirectifier_mnist.py"
    # Killed once Tune's saved state (what --resume restores) holds the second look unfinished: its
    # trials are restarted, the first look's are not. (8 epochs: the look lasts longer than the ~10 s
    # between two saves of the state.)
    process = subprocess.Popen([sys.executable, str(script), *FLAGS, "--storage-path", str(storage), "--name",
                                "killed", *LOOKS], start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and process.poll() is None and not _running_in_look_two(
            storage / "killed-confirm"):
        time.sleep(0.5)  # reading Tune's state costs CPU the sweep needs
    assert process.poll() is None, "the confirmation ended before a trial of its second look was saved running"
    kill_process_groups([process.pid])  # the driver, its Ray and the trial workers, as a crash would
    process.wait()
    resumed = _sweep(repo_root, storage, "--name", "killed", *LOOKS, "--resume")

    assert _verdict(resumed.stdout, "killed-confirm") == _verdict(whole.stdout, "whole-confirm")
    assert re.search(r"stopped after look 2 of 2", resumed.stdout)
    tables = {name: read_tables(storage / f"{name}-confirm").trials for name in ("whole", "killed")}
    values = {name: table[table["status"] == "terminated"].set_index(["confirm_arm", "seed"])["last_test_accuracy"]
              .sort_index() for name, table in tables.items()}
    assert len(values["whole"]) == 8 and values["killed"].to_dict() == values["whole"].to_dict()  # to the bit
