"""The confirmation stage (`--confirm K --confirm-repeats N`): the search's verdict, re-run.

A search ranks configurations on one seed, under early stopping, on the validation split:
its best is optimistically biased. So each arm (a combination of the scientific keys'
values: `--stratify`'s keys, else the sweep's scientific keys that vary) sends its top K
configurations (`analysis.confirmation.top_configurations`) to a second Tune experiment,
`<name>-confirm`, beside the search: every configuration with the same N new seeds (after
every seed the search used), to the search's full budget, under FIFO. Arms pair up by
(configuration rank, seed), so each comparison has N x K pairs, and the verdict comes from
those trials only, on test accuracy at the end of the fixed budget.

Which stage runs follows from what is on storage (a local disk or object storage, alike): a
search with its tables (`trials.parquet`, written when it finished) is done, so `--confirm`
with its `--name` runs the confirmation only, and `--resume` continues whichever stage was
interrupted.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections import Counter
from typing import Any, Callable

from analysis import storage
from sweeps.engine.cli import MAX_SEED, UsageError
from sweeps.engine.plan import Plan

SUFFIX = "-confirm"


def confirm_name(name: str) -> str:
    return f"{name}{SUFFIX}"


def search_finished(plan: Plan) -> bool:
    """The search wrote its tables (the export runs only once its `fit()` returned complete) and
    no trial errored: a search with errored trials exits 1 before the confirmation, and `--resume`
    retries them first (sweeps.engine.lost_trials)."""
    import pyarrow.parquet as pq

    from analysis.schema import TRIALS_FILE
    from sweeps.engine.locations import is_file

    path = storage.join(plan.experiment_dir, TRIALS_FILE)
    if not is_file(path):
        return False
    location = storage.locate(path)
    statuses = pq.read_table(location.path, filesystem=location.filesystem, columns=["status"]).column("status")
    return "errored" not in statuses.to_pylist()


def confirmation_only(plan: Plan) -> bool:
    """`--confirm` with the name of a finished search: the search is not run again."""
    return plan.confirm is not None and search_finished(plan)


def confirmation_plan(plan: Plan) -> Plan:
    """The confirmation experiment's plan, from the finished search's tables and configs."""
    from analysis.confirmation import top_configurations
    from analysis.tables import read_tables
    from sweeps.engine.locations import experiment_dirs, is_dir

    tables = read_tables(plan.experiment_dir)  # a local folder or a URI
    configs = _search_configs(plan.experiment_dir, tables.trials)
    if not configs:
        raise UsageError(f"--confirm: the search {plan.name!r} has no trials to confirm")
    keys = [key for key in (plan.stratify or plan.sweep.scientific)
            if len({json.dumps(config.get(key), default=str) for config in configs.values()}) > 1]
    candidates = top_configurations(configs, tables.epochs, keys, plan.metric, plan.mode, plan.confirm)
    chosen = [candidate for ranked in candidates.values() for candidate in ranked]
    if not chosen:
        raise UsageError(f"--confirm: no trial of {plan.name!r} reported {plan.metric!r}; nothing to rank")
    seeds = _new_seeds(configs, plan.confirm_repeats)
    epochs = max(int(candidate.config["epochs"]) for candidate in chosen)
    return dataclasses.replace(
        plan, param_space=_space(plan, chosen, seeds), name=confirm_name(plan.name), scheduler="fifo",
        stratify=(), trials_per_arm=None, num_samples=1, max_epochs=epochs,
        resume=plan.resume and is_dir(experiment_dirs(plan)[1]),
        tools=dataclasses.replace(plan.tools, search="random", time_budget=None, dry_run=False),
        confirm=None, confirmed=tuple(chosen),
    )


def _search_configs(experiment_dir: str, trials: Any) -> dict[str, dict[str, Any]]:
    """Trial id -> the config it ran (params.json: exact types, unlike Parquet's flattened columns)."""
    configs = {}
    for row in trials[["trial_id", "trial_dir"]].itertuples(index=False):
        path = storage.join(experiment_dir, str(row.trial_dir), "params.json")
        try:
            configs[str(row.trial_id)] = json.loads(storage.read_text(path))
        except (OSError, ValueError) as error:  # JSONDecodeError and StorageError are ValueErrors
            raise UsageError(f"--confirm: cannot read the search trial's config {storage.redact(path)}: "
                             f"{storage.one_line(error)}") from None
    return configs


def _new_seeds(configs: dict[str, dict[str, Any]], repeats: int) -> list[int]:
    """N seeds after every seed the search used, so no confirmation run repeats a search run."""
    first = max(int(config.get("seed", 0)) for config in configs.values()) + 1
    if first + repeats - 1 > MAX_SEED:
        raise UsageError(f"--confirm-repeats {repeats}: the confirmation's seeds would pass 2**32")
    return list(range(first, first + repeats))


def _space(plan: Plan, chosen: list[Any], seeds: list[int]) -> dict[str, Any]:
    """A grid over (confirmed search trial, seed); each configuration's keys follow its trial.

    Keys with one value across the chosen configurations stay constants (the data settings
    among them: the data is loaded once); the others are `sample_from` lookups by `confirms`.
    """
    from ray import tune

    table = {candidate.trial_id: {**candidate.config, "confirm_arm": candidate.arm, "confirm_rank": candidate.rank}
             for candidate in chosen}
    space: dict[str, Any] = {}
    for key in sorted({key for config in table.values() for key in config}):
        values = {json.dumps(config.get(key), sort_keys=True, default=str) for config in table.values()}
        space[key] = next(iter(table.values())).get(key) if len(values) == 1 else tune.sample_from(_lookup(table, key))
    space["confirms"] = tune.grid_search([candidate.trial_id for candidate in chosen])
    space["seed"] = tune.grid_search(seeds)
    first = seeds[0]
    space["repeat"] = tune.sample_from(lambda config: config["seed"] - first)
    space["cpus_per_trial"] = plan.cpus_per_trial
    if plan.data_dir:  # the user's --data-dir wins (the data moved); else the search's
        space["data_dir"] = plan.data_dir
    return space


def _lookup(table: dict[str, dict[str, Any]], key: str) -> Callable[[Any], Any]:
    def value(config: Any) -> Any:
        return table[config["confirms"]].get(key)

    return value


def describe(plan: Plan) -> list[str]:
    """What the confirmation will run, before the search has said which configurations."""
    return [f"confirmation: each arm's top {plan.confirm} configuration(s) x {plan.confirm_repeats} new seed(s), "
            f"FIFO to the full budget ({plan.max_epochs} epochs) -> "
            f"{storage.join(plan.storage_path, confirm_name(plan.name))}; "
            "the verdict comes from those trials only (test accuracy at the budget)"]


def announce(plan: Plan, asked: int) -> None:
    """One line per confirmed configuration: what the search chose, and where it was ranked."""
    print(f"[{plan.sweep.family}] confirming {len(plan.confirmed)} configuration(s) with seeds "
          f"{', '.join(map(str, plan.param_space['seed']['grid_search']))}:", flush=True)
    for candidate in plan.confirmed:
        print(f"  {candidate.arm or 'one arm'} #{candidate.rank}: search trial {candidate.trial_id}, "
              f"{plan.metric}={candidate.value:.4f} at epoch {candidate.rung_epoch}", flush=True)
    for arm, count in sorted(Counter(candidate.arm for candidate in plan.confirmed).items()):
        if count < asked:
            print(f"  {arm or 'one arm'}: only {count} configuration(s) reached its highest rung "
                  f"(asked for {asked}); the arms' comparison pairs on the ranks they share", flush=True)


def print_verdict(plan: Plan) -> None:
    """Every pair of arms, paired by configuration rank and seed, on test accuracy at the budget."""
    from analysis.comparisons import paired_comparisons
    from analysis.confirmation import confirmation_metric
    from analysis.tables import read_tables

    tables = read_tables(plan.experiment_dir)
    metric = confirmation_metric(tables.trials)
    table = paired_comparisons(tables.trials, metric, epochs=tables.epochs)
    print(f"verdict ({metric} at the full budget, {plan.name} trials only, paired by configuration rank and seed):")
    if table.empty:
        print("  nothing to compare: one arm, or fewer than 2 pairs of finished trials per comparison")
    for row in table.itertuples(index=False):
        print(f"  {row.verdict}")
    print(f"report: python -m analysis.report {shlex.quote(plan.experiment_dir)}")
