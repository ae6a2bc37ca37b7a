"""The confirmation in looks (sweeps.engine.looks): what it emits when, where it stops, and that a run
killed at a look and resumed reaches the verdict of an uninterrupted one (real Ray, digits)."""

from __future__ import annotations

import os
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


# ---------------------------------------------------------------------------- packs (--pack)


def pack_result(unit: list[tuple[str, int]], difference: float, epochs: dict[int, int] | None = None) -> dict:
    """A pack trial's last row (trainables.pack_trial): each member's own keys, and their mean."""
    result: dict = {"epoch": EPOCHS, "test_accuracy": float(np.mean([value(key, difference) for key in unit]))}
    for index, key in enumerate(unit):
        result[f"member_{index}/epoch"] = (epochs or {}).get(index, EPOCHS)
        result[f"member_{index}/test_accuracy"] = value(key, difference)
    return result


def drain_any(made: LookSearcher, difference: float, counter: list[int], complete: bool = True) -> list[list]:
    """`drain` for lone or pack trials: the keys each emitted trial runs, in emission order."""
    emitted = []
    while (config := made.suggest(f"t{counter[0]}")) not in (None, Searcher.FINISHED):
        members = config.get("pack_members") or [{"seed": config["seed"]}]
        emitted.append((f"t{counter[0]}", [(config["confirms"], member["seed"]) for member in members]))
        counter[0] += 1
    if complete:
        for trial_id, unit in emitted:
            made.on_trial_complete(trial_id, pack_result(unit, difference) if len(unit) > 1 or made._members > 1
                                   else {"epoch": EPOCHS, "test_accuracy": value(unit[0], difference)})
    return [unit for _, unit in emitted]


def run_looks(members: int, difference: float, max_seeds: int = 6, batch: int = 3) -> tuple[list, dict, list]:
    """Every look to the end: (the trials of each look, the values, the searcher's look lines)."""
    made, counter, looks = searcher(max_seeds, batch, members=members), [0], []
    while trials := drain_any(made, difference, counter):
        looks.append(trials)
    assert made.suggest("end") == Searcher.FINISHED
    return looks, made._values, made._look


@pytest.mark.parametrize("difference", [0.2, 0.003])
def test_packed_looks_decide_as_lone_trials_do(difference, capsys):
    lone_looks, lone_values, lone_last = run_looks(1, difference)
    lone_lines = capsys.readouterr().out
    pack_looks, pack_values, pack_last = run_looks(2, difference)
    assert pack_values == lone_values and pack_last == lone_last  # the same seeds ran, valued alike
    assert capsys.readouterr().out == lone_lines  # the same decisions, look by look
    assert len(pack_looks) == len(lone_looks)
    for lone, packed in zip(lone_looks, pack_looks):  # each look: its seeds of a configuration in packs of <= 2
        assert sorted(key for unit in packed for key in unit) == sorted(key for unit in lone for key in unit)
        assert [len(unit) for unit in packed] == [2, 2, 1, 1]  # 3 seeds per look by 2: a pack of 2 and one of 1
        assert all(len({trial_id for trial_id, _ in unit}) == 1 for unit in packed)  # one configuration a pack


def test_a_pack_trial_lists_its_members_seed_repeat_and_look():
    made = searcher(4, 2, members=2)
    config = made.suggest("t0")
    assert config == {"confirms": "r1", "seed": 10, "pack_members": [
        {"seed": 10, "repeat": 0, "confirm_look": 1}, {"seed": 11, "repeat": 1, "confirm_look": 1}]}


def test_a_diverged_member_or_an_errored_pack_fails_only_its_seeds():
    made, counter = searcher(4, 2, members=2), [0]
    first, second = drain_any(made, 0.0, counter, complete=False)  # r1 seeds 10-11, s1 seeds 10-11
    made.on_trial_complete("t0", pack_result(first, 0.0, epochs={1: EPOCHS - 1}))  # member 1 diverged
    made.on_trial_complete("t1", error=True)
    assert not np.isnan(made._values[first[0]]) and np.isnan(made._values[first[1]])
    assert all(np.isnan(made._values[key]) for key in second)


def test_max_concurrent_counts_pack_trials():
    made = searcher(8, 4, members=2, max_concurrent=3)
    assert len(drain_any(made, 0.0, [0], complete=False)) == 3  # 3 packs of 2 seeds running


def test_a_restored_packed_confirmation_reads_its_members_from_the_experiment_state(saved_state):
    """A kill at look 2 (the searcher's saved state a look behind): the restored searcher takes each pack's
    members from its config and each finished member's value from its own keys, and ends as the whole run."""
    whole, counter = searcher(6, 2, members=2), [0]
    pristine = pickle.dumps(whole)
    first = drain_any(whole, 0.003, counter)
    stale = whole.get_state()
    second = drain_any(whole, 0.003, counter, complete=False)
    whole.on_trial_complete("t2", pack_result(second[0], 0.003))  # one look-2 pack had finished
    trials = {f"t{index}": unit for index, unit in enumerate([*first, *second])}
    saved_state.trials = [
        FakeTrial(trial_id, {"confirms": unit[0][0], "seed": unit[0][1],
                             "pack_members": [{"seed": seed} for _, seed in unit]},
                  "TERMINATED" if trial_id == "t2" or unit in first else "RUNNING", pack_result(unit, 0.003))
        for trial_id, unit in trials.items()]
    restored = pickle.loads(pristine)
    restored.set_state(stale)
    assert restored.suggest("new") is None  # look 2's packs exist: none emitted twice
    assert restored._values == {key: value(key, 0.003) for unit in [*first, second[0]] for key in unit}
    restored.on_trial_complete("t3", pack_result(trials["t3"], 0.003))
    whole.on_trial_complete("t3", pack_result(trials["t3"], 0.003))
    assert drain_any(restored, 0.003, [100]) == drain_any(whole, 0.003, counter)
    assert restored.suggest("end") == whole.suggest("end") == Searcher.FINISHED


def test_a_searcher_state_saved_before_packs_restores():
    made = searcher(4, 2)
    made.set_state({"emitted": {"t0": ("r1", 10)}, "values": {("r1", 10): 0.9}, "look": 1, "finished": False})
    assert made._emitted == {"t0": (("r1", 10),)} and made.suggest("t1") == {"confirms": "s1", "seed": 10}
    old = pickle.loads(pickle.dumps(made))
    del old.__dict__["_members"]  # an object pickled before packs existed (tuner.pkl)
    assert old._members == 1


# ---------------------------------------------------------------------------- real Ray

FLAGS = ["--dataset", "digits", "--set", "units=16", "--max-epochs", "12", "--scheduler", "fifo", "--num-samples",
         "1", "--verbose", "0", "--cpus-per-trial", "1"]
LOOKS = ["--confirm", "1", "--confirm-repeats", "4", "--confirm-batch", "2"]


def _sweep(repo_root: str, storage: Path, *argv: str) -> subprocess.CompletedProcess:
    script = Path(repo_root) / "sweeps" / "antirectifier_mnist.py"
    result = subprocess.run([sys.executable, str(script), *FLAGS, "--storage-path", str(storage), *argv],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def _look_two_checkpointed(experiment: Path) -> dict[str, object]:
    """Unfinished trials of the second look -> the checkpoint Tune's saved state names for each
    ({} until the state holds one)."""
    from ray import tune

    try:
        trials = tune.ExperimentAnalysis(str(experiment)).trials
    except (ValueError, OSError):  # not saved yet, or being replaced
        return {}
    return {trial.trial_id: trial.checkpoint for trial in trials
            if trial.config.get("confirm_look") == 2 and trial.status != "TERMINATED" and trial.checkpoint}


def _verdict(stdout: str, name: str) -> list[str]:
    lines = stdout[stdout.index("verdict ("):].splitlines()
    return [line.replace(name, "NAME") for line in lines if not line.startswith("report:")]


@pytest.mark.slow
def test_a_packed_confirmation_killed_at_a_look_resumes_to_the_verdict_of_lone_trials(repo_root, tmp_path):
    """One search on digits, confirmed twice: one trial per seed (`--pack off`) uninterrupted, and packed
    (the default: a look's 2 seeds of a configuration per trial) by a second sweep given the finished
    search's name (it runs the confirmation alone), killed in its second look with its latest
    checkpoints lost, then resumed. Every seed's result and the verdict agree to the bit."""
    pytest.importorskip("sklearn")
    storage = tmp_path / "results"
    whole = _sweep(repo_root, storage, "--name", "whole", *LOOKS, "--pack", "off")  # the search, its confirmation
    assert "look 1 of 2 (2 seed(s) per configuration): 0 of 1 comparison(s) settled; adding seeds" in whole.stdout
    assert "whole-confirm: packs: none, every seed its own trial (--pack off)" in whole.stdout
    shutil.copytree(storage / "whole", storage / "killed", ignore=shutil.ignore_patterns("*-confirm"))

    script = Path(repo_root) / "sweeps" / "antirectifier_mnist.py"
    # Killed once Tune's saved state (what --resume restores) names a checkpoint of a pack of the
    # second look still training: the first look's packs are not run again. (12 epochs: the look
    # lasts longer than the ~10 s between two saves of the state.)
    console = storage / "killed.out"
    with open(console, "w") as out:  # unbuffered: what it printed before the kill is in the file
        process = subprocess.Popen([sys.executable, str(script), *FLAGS, "--storage-path", str(storage), "--name",
                                    "killed", *LOOKS], start_new_session=True, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and process.poll() is None and not _look_two_checkpointed(
            storage / "killed-confirm"):
        time.sleep(0.5)  # reading Tune's state costs CPU the sweep needs
    assert process.poll() is None, "the confirmation ended before a pack of its second look was checkpointed"
    kill_process_groups([process.pid])  # the driver, its Ray and the trial workers, as a crash would
    process.wait()
    printed = console.read_text()  # the search was finished: only its confirmation ran
    assert "] killed-confirm: " in printed and "] killed: " not in printed, printed[-3000:]
    # Ray deletes a superseded checkpoint when it registers the next one and saves the state naming
    # the new one only later; a kill in between leaves the state naming a deleted checkpoint
    # (trainables.recovery). Put every unfinished pack of the look in that state: each starts again.
    # The kill itself may have left one there already (its checkpoint gone): the same state.
    lost = _look_two_checkpointed(storage / "killed-confirm")
    for checkpoint in lost.values():
        shutil.rmtree(checkpoint.path, ignore_errors=True)
    resumed = _sweep(repo_root, storage, "--name", "killed", *LOOKS, "--resume")
    assert f"lost the latest checkpoint of {len(lost)} trial(s) ({', '.join(sorted(lost))})" in resumed.stdout
    assert "killed-confirm: packs: up to 2 seeds of a look per trial (auto: CPU, --confirm-batch 2" in resumed.stdout
    assert len(list((storage / "killed-confirm").glob("train_pack_*_seeds*"))) == 4  # 2 configurations x 2 looks
    assert "] killed: " not in resumed.stdout  # the search is finished: only its confirmation resumes

    assert _verdict(resumed.stdout, "killed-confirm") == _verdict(whole.stdout, "whole-confirm")
    assert re.search(r"stopped after look 2 of 2", resumed.stdout)
    tables = {name: read_tables(storage / f"{name}-confirm").trials for name in ("whole", "killed")}
    values = {name: table[table["status"] == "terminated"].set_index(["confirm_arm", "seed"])["last_test_accuracy"]
              .sort_index() for name, table in tables.items()}
    assert len(values["whole"]) == 8 and values["killed"].to_dict() == values["whole"].to_dict()  # to the bit
