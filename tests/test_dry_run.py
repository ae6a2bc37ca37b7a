"""`--dry-run`: the plan's counts and budgets, checked against Ray's own schedulers and a real sweep."""

from __future__ import annotations

import pytest
from ray import tune

from sweeps.dry_run import (
    Resources, arm_keys, asha_rungs, asha_trial_epochs, concurrency, generate_trials, trials_per_arm,
)


@pytest.mark.parametrize("max_epochs, grace, factor", [(4, 1, 3.0), (9, 1, 3.0), (100, 10, 3.0), (20, 2, 2.0)])
def test_rungs_are_the_milestones_of_rays_asha(max_epochs, grace, factor):
    from ray.tune.schedulers import ASHAScheduler

    scheduler = ASHAScheduler(time_attr="epoch", max_t=max_epochs, grace_period=grace, reduction_factor=factor)
    rays = sorted(milestone for milestone, _ in scheduler._brackets[0]._rungs)  # no public accessor
    assert asha_rungs(max_epochs, grace, factor) == pytest.approx(rays)


def test_asha_bound_by_hand():
    # 6 trials, rungs at 1 and 3, budget 4: 6 run 1 epoch, 2 run to 3, 2/3 run to 4.
    assert asha_trial_epochs(6, 4, 1, 3.0) == pytest.approx(6 + 2 * 2 + 2 / 3)
    assert asha_trial_epochs(9, 9, 1, 3.0) == pytest.approx(9 + 3 * 2 + 1 * 6)


def test_counts_per_arm_with_grid_and_repeats_follow_tunes_generator():
    space = {
        "activation": tune.grid_search(["relu", "selu"]), "units": tune.grid_search([8, 16]),
        "lr": tune.loguniform(1e-3, 1e-1), "seed": tune.grid_search([0, 1, 2]),
    }
    space["repeat"] = tune.sample_from(lambda config: config["seed"])
    trials = generate_trials(space, num_samples=5, seed=0)
    assert len(trials) == 5 * 2 * 2 * 3
    keys = arm_keys(space, scientific=("activation",))
    assert trials_per_arm(trials, keys) == {"activation=relu": 30, "activation=selu": 30}
    for sample in range(5):  # random dimensions drawn once per sample, shared by its grid
        assert len({config["lr"] for index, config in trials if index == sample}) == 1
    assert all(config["repeat"] == config["seed"] for _, config in trials)
    assert len({config["lr"] for _, config in trials}) == 5


def test_concurrency_is_limited_by_cpus_gpus_and_the_cap():
    machine = Resources(cpus=16, gpus=2, where="here")
    assert concurrency(machine, 1, 0, None) == 16
    assert concurrency(machine, 1, 0.25, None) == 8
    assert concurrency(machine, 4, 0.25, None) == 4
    assert concurrency(machine, 1, 0.25, 3) == 3
    assert concurrency(Resources(cpus=2, gpus=0, where="here"), 1, 0.5, None) == 0
