"""Every config a search space can produce, checked with the trainable's own parser.

Tune draws random dimensions only when trials start; these checks enumerate what it can
draw (every grid combination, every category, both ends of a range) so that a bad value
anywhere in the space fails before Ray starts, with the trainable's own message.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterator, Mapping

import numpy as np
from ray.tune.search.sample import Categorical, Float, Integer

from sweeps.engine.errors import UsageError
from sweeps.engine.space.keys import Space, grid_keys, grid_size, is_derived, is_grid, is_sampled
from trainables.trainable import parse_config

# Settings of the data the driver loads once and shares: one value for the whole sweep.
DATA_KEYS = ("image_size", "train_limit", "val_limit", "validation", "validation_fraction", "validation_split")
# Trials per sample beyond which a grid is a typo (a pasted list), not an experiment.
MAX_GRID_COMBINATIONS = 100_000


def sample_config(space: Space, seed: int = 0) -> dict[str, Any]:
    """One concrete config from the space, as a trial would receive it (first grid values)."""
    return next(iter(_grid_configs(space, seed)))


def _fill(space: Space, grid_values: Mapping[str, Any], rng: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A config: grid values, random dimensions drawn (or overridden), derived keys computed."""
    config: dict[str, Any] = {}
    for key, value in space.items():
        if key in overrides:
            config[key] = overrides[key]
        elif key in grid_values:
            config[key] = grid_values[key]
        elif is_sampled(value):
            config[key] = value.sample(random_state=rng)
        elif not is_derived(value):
            config[key] = value
    for key, value in space.items():  # sample_from: depends on the keys filled above
        if is_derived(value) and key not in overrides:
            try:
                config[key] = value.sample(config=config)
            except Exception as error:  # the sweep's own function, fed a value the user set
                raise _Underivable(key, config, error) from None
    return config


class _Underivable(Exception):
    """A `sample_from` key could not be computed from the other values of a config."""

    def __init__(self, key: str, config: dict[str, Any], error: Exception):
        super().__init__(key)
        self.key, self.config = key, config
        self.reason = f"{type(error).__name__}: {error}".splitlines()[0]


def _grid_configs(space: Space, seed: int) -> Iterator[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    keys = grid_keys(space)
    for combination in itertools.product(*(space[key]["grid_search"] for key in keys)):
        yield _fill(space, dict(zip(keys, combination)), rng, {})


def _extreme_values(space: Space) -> Iterator[tuple[str, Any]]:
    """(key, value) for every category of a choice and both ends of a numeric range."""
    for key, value in space.items():
        if isinstance(value, Categorical):
            yield from ((key, category) for category in value.categories)
        elif isinstance(value, Float):
            yield from ((key, bound) for bound in (value.lower, value.upper))
        elif isinstance(value, Integer):
            yield from ((key, bound) for bound in (value.lower, value.upper - 1))  # upper is exclusive


def configs_to_check(space: Space, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Every grid combination (random dimensions drawn), then each extreme value in turn."""
    first = None
    for config in _grid_configs(space, seed):
        first = first or config
        yield config
    rng = np.random.default_rng(seed)
    grid_values = {key: value for key, value in first.items() if is_grid(space.get(key))} if first else {}
    for key, value in _extreme_values(space):
        yield _fill(space, grid_values, rng, {key: value})


def check_space(space: Space, seed: int = 0) -> None:
    """Raise UsageError with the trainable's message for the first config it would reject."""
    for key in DATA_KEYS:
        if key in space and (is_grid(space[key]) or is_sampled(space[key])):
            raise UsageError(f"{key} must be one value for the whole sweep (the data is loaded once)")
    combinations = grid_size(space)
    if combinations > MAX_GRID_COMBINATIONS:
        raise UsageError(f"the grids make {combinations} trials per sample (more than {MAX_GRID_COMBINATIONS}); "
                         "fewer --set lists or --repeats")
    try:
        for config in configs_to_check(space, seed):
            _parse(config)
    except _Underivable as failure:
        _parse(failure.config)  # the value it was derived from is usually the one at fault
        raise UsageError(f"{failure.key} is derived from the other settings, and that failed for "
                         f"this config: {failure.reason}") from None


def _parse(config: Mapping[str, Any]) -> None:
    try:
        parse_config(config)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error).splitlines()[0] if str(error) else repr(error)) from None

