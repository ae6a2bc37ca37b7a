"""`--search optuna`: Optuna's TPE per arm over the nuisance dimensions, seeds kept a grid.

Random search draws each nuisance configuration once and runs it in every grid cell
(every arm, every seed), which pairs the arms. A model-based searcher cannot be shared
that way: what TPE learns from one activation's results says little about another's, and
one study over all trials lets the fastest arm steer everyone's samples. So every grid
cell (each combination of the grid values other than the seed: the arms, and any other
grid the sweep or `--set` declares) gets its own `OptunaSearch`, cells take turns so each
gets the same number of trials, and each suggestion runs once per seed through Tune's
`Repeater` (TPE learns from the mean over seeds).
"""

from __future__ import annotations

import functools
import itertools
import pickle
from typing import Any, Mapping, Sequence

from ray.tune.search import ConcurrencyLimiter, Repeater, Searcher
from ray.tune.search.repeater import TRIAL_INDEX

from sweeps.engine.space.keys import grid_values, is_grid, is_sampled

Space = dict[str, Any]


def split_space(space: Mapping[str, Any], seed_key: str = "seed") -> tuple[Space, list[dict], Space, list]:
    """(constants, grid cells, nuisance domains, seeds) of a runner search space.

    Constants include `sample_from` functions (Tune resolves them on the trial's config);
    the nuisance domains are the randomly sampled dimensions TPE takes over.
    """
    constants, grids, nuisance = {}, {}, {}
    for key, value in space.items():
        if is_grid(value) and key != seed_key:
            grids[key] = list(value["grid_search"])
        elif is_sampled(value):
            nuisance[key] = value
        elif key != seed_key:
            constants[key] = value
    seeds = grid_values(space, seed_key)
    cells = [dict(zip(grids, values)) for values in itertools.product(*grids.values())]
    return constants, cells, nuisance, seeds


class ArmSearch(Searcher):
    """One Repeater(OptunaSearch) per grid cell; cells take turns, seeds are each suggestion's grid.

    Tune's `Repeater.save` keeps only the inner searcher, so a resumed sweep would lose the
    groups in flight; this class saves everything (cells, groups, studies) in one pickle.
    """

    def __init__(self, cells: list[dict], nuisance: Space, seeds: list, samples_per_cell: int,
                 metric: str, mode: str, seed: int = 0, seed_key: str = "seed") -> None:
        super().__init__(metric=metric, mode=mode)
        if not nuisance:
            raise ValueError("--search optuna needs at least one sampled (random) dimension to tune")
        self.cells = cells
        self.seeds = seeds
        self.seed_key = seed_key
        self.total = samples_per_cell * len(cells) * len(seeds)
        self.created = 0
        self.trial_cells: dict[str, int] = {}
        startup = startup_trials(samples_per_cell)
        self.searchers = [Repeater(_optuna(nuisance, metric, mode, seed + index, startup), repeat=len(seeds),
                                   set_index=True) for index in range(len(cells))]

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # metric, mode and space are fixed at construction, per cell

    def suggest(self, trial_id: str) -> dict | None:
        if self.created >= self.total:
            return Searcher.FINISHED
        cell = (self.created // len(self.seeds)) % len(self.cells)
        suggested = self.searchers[cell].suggest(trial_id)
        if suggested is None or suggested == Searcher.FINISHED:
            return None
        self.created += 1
        self.trial_cells[trial_id] = cell
        repeat = suggested.pop(TRIAL_INDEX)
        return {**suggested, **self.cells[cell], self.seed_key: self.seeds[repeat]}

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if trial_id in self.trial_cells:
            self.searchers[self.trial_cells[trial_id]].on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if trial_id in self.trial_cells:
            self.searchers[self.trial_cells[trial_id]].on_trial_complete(trial_id, result=result, error=error)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as handle:
            pickle.dump(self.__dict__, handle)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as handle:
            self.__dict__.update(pickle.load(handle))


def startup_trials(samples_per_cell: int) -> int:
    """Random suggestions before TPE models the results: Optuna's default 10, but at most a
    third of an arm's suggestions, so a small sweep is not random search under another name."""
    return max(2, min(10, samples_per_cell // 3))


def _optuna(nuisance: Space, metric: str, mode: str, seed: int, startup: int) -> Any:
    import optuna  # optional extra: optuna (checked installed before the sweep starts)
    from optuna.samplers import TPESampler  # optional extra, as above
    from ray.tune.search.optuna import OptunaSearch  # imports optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one "study created" line per arm otherwise

    # Tune converts its own domains (choice, loguniform, ...) to Optuna distributions.
    return OptunaSearch(space=OptunaSearch.convert_search_space(nuisance), metric=metric, mode=mode,
                        sampler=TPESampler(seed=seed, n_startup_trials=startup))


def trial_dirname(trial: Any, keys: Sequence[str]) -> str:
    """`train_<id>_activation=relu`: Tune's default name for searcher trials lists every config key."""
    cell = ",".join(f"{key}={trial.config.get(key)}" for key in keys)
    return f"{trial.trainable_name}_{trial.trial_id}" + (f"_{cell}" if cell else "")


def optuna_search(space: Mapping[str, Any], num_samples: int, metric: str, mode: str, seed: int,
                  max_concurrent: int | None) -> tuple[Space, dict[str, Any]]:
    """(param_space, `tune.TuneConfig` keyword arguments) for `--search optuna`.

    `num_samples` counts trials for a searcher: samples x grid cells x seeds, as random search.
    """
    constants, cells, nuisance, seeds = split_space(space)
    searcher: Searcher = ArmSearch(cells, nuisance, seeds, num_samples, metric, mode, seed)
    total = searcher.total
    if max_concurrent:
        searcher = ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
    dirname = functools.partial(trial_dirname, keys=list(cells[0]) + ["seed"])
    return constants, {"search_alg": searcher, "num_samples": total, "trial_dirname_creator": dirname}


