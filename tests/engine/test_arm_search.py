"""`--search optuna`: one TPE study per grid cell, equal trials per arm, seeds a grid, resumable."""

from __future__ import annotations

import random

import pytest
from ray import tune

from sweeps.engine.arm_search import ArmSearch, optuna_search, split_space

pytest.importorskip("optuna")


def space() -> dict:
    result = {
        "model": "deep_mlp", "activation": tune.grid_search(["relu", "selu"]), "units": tune.grid_search([8, 16]),
        "lr": tune.loguniform(1e-3, 1e-1), "batch_size": tune.choice([32, 64]), "seed": tune.grid_search([0, 1, 2]),
    }
    result["repeat"] = tune.sample_from(lambda config: config["seed"])
    return result


def drive(searcher: ArmSearch, start: int, stop: int, complete: bool = True) -> list[dict]:
    configs = []
    for index in range(start, stop):
        config = searcher.suggest(f"trial{index}")
        configs.append(config)
        if complete and isinstance(config, dict):
            searcher.on_trial_complete(f"trial{index}", {"val_accuracy": random.random()})
    return configs


def test_split_space_separates_constants_cells_nuisance_and_seeds():
    constants, cells, nuisance, seeds = split_space(space())
    assert set(constants) == {"model", "repeat"}  # sample_from stays for Tune to resolve per trial
    assert cells == [{"activation": a, "units": u} for a in ("relu", "selu") for u in (8, 16)]
    assert set(nuisance) == {"lr", "batch_size"} and seeds == [0, 1, 2]


def test_every_cell_gets_the_same_trials_and_every_suggestion_every_seed():
    _, cells, nuisance, seeds = split_space(space())
    searcher = ArmSearch(cells, nuisance, seeds, samples_per_cell=4, metric="val_accuracy", mode="max", seed=0)
    configs = drive(searcher, 0, searcher.total)
    assert searcher.total == 4 * 4 * 3 and searcher.suggest("one-more") == ArmSearch.FINISHED
    per_cell: dict[tuple, list] = {}
    for config in configs:
        per_cell.setdefault((config["activation"], config["units"]), []).append(config)
    assert sorted(len(group) for group in per_cell.values()) == [12] * 4
    for group in per_cell.values():
        suggestions: dict[tuple, list] = {}
        for config in group:
            suggestions.setdefault((config["lr"], config["batch_size"]), []).append(config["seed"])
        assert sorted(suggestions.values()) == [[0, 1, 2]] * 4  # each suggestion once per seed
        assert all(1e-3 <= lr <= 1e-1 for lr, _ in suggestions) and {b for _, b in suggestions} <= {32, 64}


def test_state_survives_save_and_restore_in_the_middle_of_a_seed_group(tmp_path):
    _, cells, nuisance, seeds = split_space(space())
    searcher = ArmSearch(cells, nuisance, seeds, samples_per_cell=2, metric="val_accuracy", mode="max", seed=0)
    first = drive(searcher, 0, 5, complete=False)  # a group in flight, nothing reported yet
    searcher.save(str(tmp_path / "state.pkl"))
    reference = drive(searcher, 5, searcher.total, complete=False)

    restored = ArmSearch(cells, nuisance, seeds, samples_per_cell=2, metric="val_accuracy", mode="max", seed=99)
    restored.restore(str(tmp_path / "state.pkl"))
    for index in range(5):  # trials started before the save can still report
        restored.on_trial_complete(f"trial{index}", {"val_accuracy": 0.5})
    resumed = drive(restored, 5, restored.total, complete=False)
    assert resumed[0] == reference[0]  # the group in flight continues with its config and next seed
    assert len(first) + len(resumed) == restored.total


def test_optuna_search_counts_trials_like_random_search_and_caps_concurrency():
    from ray.tune.search import ConcurrencyLimiter

    param_space, settings = optuna_search(space(), 5, "val_accuracy", "max", 0, max_concurrent=3)
    assert settings["num_samples"] == 5 * 4 * 3
    search_alg = settings["search_alg"]
    assert isinstance(search_alg, ConcurrencyLimiter) and search_alg.max_concurrent == 3
    assert "lr" not in param_space and "activation" not in param_space and "seed" not in param_space


def test_a_space_without_random_dimensions_is_refused():
    _, cells, _, seeds = split_space(space())
    with pytest.raises(ValueError, match="sampled"):
        ArmSearch(cells, {}, seeds, 1, "val_accuracy", "max")


def trial_configs(experiment) -> list[dict]:
    import json

    return [json.loads(path.read_text()) for path in sorted(experiment.glob("*/params.json"))]


@pytest.mark.slow
def test_optuna_under_asha_two_arms_equal_counts_and_resumes_after_sigkill(repo_root, tmp_path):
    """A real sweep: SIGKILLed once some trials are done, resumed, 2 trials per arm at the end."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    import pandas as pd
    from support.cluster import kill_process_groups

    name = "optuna"
    experiment = tmp_path / name
    command = [
        sys.executable, str(Path(repo_root) / "sweeps" / "aprelu_cifar.py"), "--smoke", "--search", "optuna",
        "--set", 'activation=["aprelu","relu"]', "--num-samples", "2", "--max-epochs", "3", "--grace-period", "1",
        "--max-concurrent", "1", "--storage-path", str(tmp_path), "--name", name,
    ]
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    try:
        while len(list(experiment.glob("*/params.json"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        kill_process_groups([driver.pid])  # the driver, its Ray and its trial workers (sessions of their own)
        driver.wait()
    assert 2 <= len(trial_configs(experiment)) < 4, "the sweep must be killed midway"
    before = {path.parent.name for path in experiment.glob("*/params.json")}

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    configs = trial_configs(experiment)
    assert before <= {path.parent.name for path in experiment.glob("*/params.json")}
    assert sorted(config["activation"] for config in configs) == ["aprelu"] * 2 + ["relu"] * 2
    assert {config["seed"] for config in configs} == {0}
    trials = pd.read_parquet(experiment / "trials.parquet")
    assert len(trials) == 4 and set(trials["status"]) <= {"terminated", "stopped_early"}
    assert trials["epochs_completed"].min() >= 1 and trials["epochs_completed"].max() == 3
