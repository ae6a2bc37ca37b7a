"""A Tune search space, read: which keys are grids, which are sampled, which values a key can take.

The one place that knows how a runner search space is spelled (a flat dict whose values are
constants, `tune.grid_search` lists, sampled Tune domains, or `tune.sample_from` functions),
used by the plan, the checks, the dry run, the confirmation and the per-arm searcher alike.
Ray documents `grid_search` as the plain dict ``{"grid_search": values}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ray.tune.search.sample import Categorical, Domain, Function

Space = dict[str, Any]


def is_grid(value: Any) -> bool:
    """A `tune.grid_search` value: every sample runs each of its values."""
    return isinstance(value, dict) and "grid_search" in value


def grid_values(space: Mapping[str, Any], key: str) -> list[Any]:
    """The values of a grid key (a constant counts as a grid of one; a sampled key as none)."""
    value = space.get(key)
    if is_grid(value):
        return list(value["grid_search"])
    return [] if is_sampled(value) or is_derived(value) else [value]


def grid_keys(space: Mapping[str, Any], *, several: bool = False) -> list[str]:
    """Grid keys in space order; `several`: only those with more than one value (they vary)."""
    return [key for key, value in space.items()
            if is_grid(value) and (not several or len(value["grid_search"]) > 1)]


def grid_size(space: Mapping[str, Any], *, without: tuple[str, ...] = ()) -> int:
    """Trials per sample: the product of the grid lengths (keys in `without` left out)."""
    size = 1
    for key in grid_keys(space):
        if key not in without:
            size *= len(space[key]["grid_search"])
    return size


def is_sampled(value: Any) -> bool:
    """A random dimension (choice, uniform, ...): drawn once per sample, shared by its grid."""
    return isinstance(value, Domain) and not isinstance(value, Function)


def is_derived(value: Any) -> bool:
    """A `tune.sample_from` function, computed from the rest of the trial's config."""
    return isinstance(value, Function)


def sampled_keys(space: Mapping[str, Any]) -> list[str]:
    """The random dimensions, in space order."""
    return [key for key, value in space.items() if is_sampled(value)]


def values_of(space: Mapping[str, Any], key: str) -> list[Any]:
    """Every value `key` can take: a constant, a grid's values, a choice's categories; [] for a
    continuous range or a derived key (their values are not a list)."""
    value = space.get(key)
    if isinstance(value, Categorical):
        return list(value.categories)
    return grid_values(space, key)
