"""sweeps.engine.space.checks: every config a space can produce, checked with the trainable's parser."""

from __future__ import annotations

import pytest
from ray import tune

from sweeps import antirectifier_mnist
from sweeps.engine.errors import UsageError
from sweeps.engine.space.checks import check_space, configs_to_check, sample_config


def _space(**changes):
    return {**antirectifier_mnist.SWEEP.fixed, **antirectifier_mnist.SWEEP.space(4), "family": "antirectifier_mnist",
            "dataset": "digits", "data_dir": None, "epochs": 4, "cpus_per_trial": 1.0, "seed": 0,
            "validation": "holdout", **changes}


def test_every_grid_value_and_both_ends_of_a_range_are_checked():
    space = _space(units=tune.grid_search([16, 32]), lr=tune.loguniform(1e-4, 1e-2))
    configs = list(configs_to_check(space))
    assert {config["units"] for config in configs} == {16, 32}
    assert {1e-4, 1e-2} <= {config["lr"] for config in configs}
    assert sample_config(space)["units"] == 16


def test_a_bad_value_anywhere_in_the_space_fails_with_the_trainables_message():
    check_space(_space())
    with pytest.raises(UsageError):
        check_space(_space(units=tune.grid_search([16, -1])))


def test_data_settings_are_one_value_for_the_whole_sweep():
    with pytest.raises(UsageError, match="validation must be one value"):
        check_space(_space(validation=tune.grid_search(["holdout", "test"])))


def test_a_derived_key_that_cannot_be_computed_names_itself():
    with pytest.raises(UsageError, match="units is derived"):
        check_space(_space(units=tune.sample_from(lambda config: config["no_such_key"])))
