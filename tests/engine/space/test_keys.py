"""sweeps.engine.space.keys: how a Tune search space is read (grids, sampled and derived keys)."""

from __future__ import annotations

from ray import tune

from sweeps.engine.space.keys import (
    grid_keys, grid_size, grid_values, is_derived, is_grid, is_sampled, sampled_keys, values_of,
)

SPACE = {
    "activation": tune.grid_search(["relu", "selu"]),
    "seed": tune.grid_search([0, 1, 2]),
    "lr": tune.loguniform(1e-4, 1e-2),
    "initializer": tune.choice(["he_normal", "lecun_normal"]),
    "units": 64,
    "repeat": tune.sample_from(lambda config: config["seed"]),
    "width": tune.grid_search([8]),
}


def test_grids_sampled_and_derived_keys_are_told_apart():
    assert is_grid(SPACE["activation"]) and not is_grid(SPACE["lr"]) and not is_grid(64)
    assert is_sampled(SPACE["lr"]) and is_sampled(SPACE["initializer"]) and not is_sampled(SPACE["repeat"])
    assert is_derived(SPACE["repeat"]) and not is_derived(SPACE["lr"])
    assert sampled_keys(SPACE) == ["lr", "initializer"]


def test_grid_keys_and_sizes_follow_the_space_order():
    assert grid_keys(SPACE) == ["activation", "seed", "width"]
    assert grid_keys(SPACE, several=True) == ["activation", "seed"]
    assert grid_size(SPACE) == 6
    assert grid_size(SPACE, without=("activation",)) == 3


def test_values_of_a_key_a_constant_a_grid_a_choice_and_none_for_a_range():
    assert values_of(SPACE, "activation") == ["relu", "selu"]
    assert values_of(SPACE, "units") == [64]
    assert values_of(SPACE, "initializer") == ["he_normal", "lecun_normal"]
    assert values_of(SPACE, "lr") == [] and values_of(SPACE, "repeat") == []
    assert grid_values(SPACE, "missing") == [None]
