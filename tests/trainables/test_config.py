"""TrainConfig: a flat trial config split into training settings and builder arguments, unknown keys refused."""

from __future__ import annotations

import pytest

from trainables.config import TrainConfig


def test_config_splits_builder_args_and_rejects_unknown_keys():
    flat = {"model": "m", "activation": "relu", "dataset": "digits", "epochs": 2, "units": 8}
    config = TrainConfig.from_flat(flat, {"units", "dropout"})
    assert config.model_args == {"units": 8}
    with pytest.raises(ValueError, match="unknown config key.*'unitz'"):
        TrainConfig.from_flat({**flat, "unitz": 3}, {"units"})
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig.from_flat({**flat, "optimizer": "lbfgs"}, {"units"})
