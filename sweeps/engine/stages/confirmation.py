"""The confirmation stage (`--confirm K --confirm-repeats N --confirm-batch B --margin D`): the
search's verdict, re-run.

A search ranks configurations on one seed, under early stopping, on the validation split:
its best is optimistically biased. So each arm (a combination of the scientific keys'
values: `--stratify`'s keys, else the sweep's scientific keys that vary) sends its top K
configurations (`analysis.verdict.confirmation.top_configurations`) to a second Tune experiment,
`<name>-confirm`, beside the search: every configuration with the same new seeds (after
every seed the search used), to the search's full budget, under FIFO. The seed is the unit:
each arm's value on a seed is the mean over its K configurations (a failed trial scored as the
metric's worst value, never dropped), and the verdict is a paired test on one difference per
seed, from those trials only, on test accuracy at the end of the fixed budget, with a margin D
(analysis.verdict.seeds, docs/verdicts.md).

The seeds come in looks of B (sweeps.engine.looks): after each look every comparison of arms
is decided with group-sequential boundaries, and the stage stops adding
seeds once every one is settled (equivalent, or better by more than the margin), or after N
seeds (the worst case).

`ConfirmationStage` is the stage the runner calls (`sweeps.engine.stages`); the functions
before it build its plan, its Tune settings, its dry-run lines and its words.

Which stage runs follows from what is on storage (a local disk or object storage, alike): a
search with its tables (`trials.parquet`, written when it finished) is done, so `--confirm`
with its `--name` runs the confirmation only, and `--resume` continues whichever stage was
interrupted.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import shlex
from collections import Counter
from typing import Any, Callable

import pyarrow.parquet as pq
from ray import tune

from analysis.store import storage
from analysis.verdict.comparisons import paired_comparisons
from analysis.verdict.confirmation import confirmation_metric, top_configurations
from analysis.verdict import variation
from analysis.verdict.words import verdict_lines
from analysis.store.schema import TRIALS_FILE
from analysis.store.tables import read_tables
from analysis.verdict.looks import LookPlan
from sweeps.engine.errors import MAX_SEED, UsageError
from sweeps.engine.locations import confirm_name, experiment_dirs, is_dir, is_file
from sweeps.engine.looks import LookSearcher
from sweeps.engine.plan import Plan
from sweeps.engine.space.keys import Space, is_grid
from trainables.recovery import PACK_KEY

# The look plan's config keys, and the flags that set them.
PLAN_FLAGS = {"confirm_margin": "--margin", "confirm_seeds": "--confirm-repeats", "confirm_batch": "--confirm-batch"}


def search_finished(plan: Plan) -> bool:
    """The search wrote its tables (the export runs only once its `fit()` returned complete) and
    no trial errored: a search with errored trials exits 1 before the confirmation, and `--resume`
    retries them first (sweeps.engine.lost_trials)."""
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
    _check_resumed_plan(plan)
    confirmation = dataclasses.replace(
        plan, param_space=_space(plan, chosen, seeds), name=confirm_name(plan.name), scheduler="fifo",
        stratify=(), trials_per_arm=None, num_samples=1, max_epochs=epochs,
        resume=plan.resume and is_dir(experiment_dirs(plan)[1]),
        tools=dataclasses.replace(plan.tools, search="random", time_budget=None, dry_run=False),
        confirm=None, confirmed=tuple(chosen),
    )
    # --confirm-batch auto: the looks are decided with the packs (sweeps.engine.packing.resolve)
    return confirmation if plan.confirm_batch is None else with_looks(confirmation)


def look_plan(plan: Plan) -> Any:
    """The stage's looks (analysis.verdict.looks.LookPlan) from --confirm-repeats, --confirm-batch, --margin."""
    if plan.confirm_batch is None:
        raise RuntimeError("--confirm-batch auto is decided with the packs (sweeps.engine.packing.resolve)")
    return LookPlan(max_seeds=plan.confirm_repeats, batch=plan.confirm_batch, margin=plan.margin)


def with_looks(plan: Plan) -> Plan:
    """A confirmation plan whose trials say which look of which plan they belong to (analysis.verdict.looks),
    once its batch is known."""
    seeds = plan.param_space["seed"]["grid_search"]
    looks, first = look_plan(plan), seeds[0]
    space = dict(plan.param_space, confirm_margin=looks.margin, confirm_seeds=looks.max_seeds, confirm_batch=looks.batch)
    space["confirm_look"] = tune.sample_from(lambda config: looks.look_of(config["seed"] - first))
    return dataclasses.replace(plan, param_space=space)


def _check_resumed_plan(plan: Plan) -> None:
    """A resumed confirmation keeps the looks and margin it started with: its boundaries spend alpha over
    the N seeds it was planned for, so more seeds (or another batch or margin) would void its error rates."""
    directory = experiment_dirs(plan)[1]
    wanted = {"confirm_margin": plan.margin, "confirm_seeds": plan.confirm_repeats, "confirm_batch": plan.confirm_batch}
    wanted = {key: value for key, value in wanted.items() if value is not None}  # auto: as it started (packing)
    trials = sorted(entry.name for entry in storage.list_dir(directory) if entry.is_dir) if is_dir(directory) else []
    for trial in trials[:1]:
        try:
            recorded = json.loads(storage.read_text(storage.join(directory, trial, "params.json")))
        except (OSError, ValueError):  # JSONDecodeError and StorageError are ValueErrors
            return
        differ = [f"{PLAN_FLAGS[key]} {float(recorded[key]):g} (asked: {float(wanted[key]):g})"
                  for key in wanted if key in recorded and float(recorded[key]) != float(wanted[key])]
        if differ:
            seeds = int(float(recorded.get("confirm_seeds", plan.confirm_repeats)))
            raise UsageError(f"the confirmation {confirm_name(plan.name)!r} ran with {', '.join(differ)}; give the "
                             f"same values to continue it: its boundaries were planned for {seeds} seeds, so changing "
                             "the plan mid-way would void its error rates (run a new confirmation under another "
                             "--name for more seeds)")


def _search_configs(experiment_dir: str, trials: Any) -> dict[str, dict[str, Any]]:
    """Trial id -> the config it ran (params.json: exact types, unlike Parquet's flattened columns);
    a pack's member (a row of its own) -> the pack's config with the member's own settings over it."""
    configs = {}
    for row in trials[["trial_id", "trial_dir", "seed"]].itertuples(index=False):
        path = storage.join(experiment_dir, str(row.trial_dir), "params.json")
        try:
            config = json.loads(storage.read_text(path))
        except (OSError, ValueError) as error:  # JSONDecodeError and StorageError are ValueErrors
            raise UsageError(f"--confirm: cannot read the search trial's config {storage.redact(path)}: "
                             f"{storage.one_line(error)}") from None
        members = config.pop(PACK_KEY, None) or []
        config.update(next((own for own in members if own.get("seed") == row.seed), members[0] if members else {}))
        configs[str(row.trial_id)] = config
    return configs


def _new_seeds(configs: dict[str, dict[str, Any]], repeats: int) -> list[int]:
    """N seeds after every seed the search used, so no confirmation run repeats a search run."""
    first = max(int(config.get("seed", 0)) for config in configs.values()) + 1
    if first + repeats - 1 > MAX_SEED:
        raise UsageError(f"--confirm-repeats {repeats}: the confirmation's seeds would pass 2**32")
    return list(range(first, first + repeats))


def _space(plan: Plan, chosen: list[Any], seeds: list[int]) -> Space:
    """A grid over (confirmed search trial, seed); each configuration's keys follow its trial.

    Keys with one value across the chosen configurations stay constants (the data settings
    among them: the data is loaded once); the others are `sample_from` lookups by `confirms`.
    """
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


def search_settings(plan: Plan) -> dict[str, Any]:
    """TuneConfig settings of a confirmation plan: its trials come from the look searcher."""
    seeds = plan.param_space["seed"]["grid_search"]
    epochs = int(plan.max_epochs)
    searcher = LookSearcher(look_plan(plan), seeds, plan.confirmed, epochs, str(plan.experiment_dir),
                            plan.sweep.family, max_concurrent=plan.max_concurrent, members=plan.members)
    arms = {candidate.trial_id: (candidate.arm or "one-arm", candidate.rank) for candidate in plan.confirmed}
    return {"search_alg": searcher, "num_samples": len(plan.confirmed) * len(seeds),
            "trial_dirname_creator": functools.partial(trial_dirname, arms=arms)}


def trial_dirname(trial: Any, arms: dict[str, tuple[str, int]]) -> str:
    """`train_<id>_<arm>_rank<k>_seed<s>` (a pack: `train_pack_<id>_<arm>_rank<k>_seeds<first>-<last>`).
    Tune's default name lists the config's lookups as its placeholders (`confirm_look=fn_ph_92b5d860`);
    the searcher's keys say which trial this is."""
    arm, rank = arms.get(trial.config.get("confirms"), ("unknown-arm", 0))
    seeds = [member["seed"] for member in trial.config.get(PACK_KEY) or []]
    seed = f"seeds{seeds[0]}-{seeds[-1]}" if seeds else f"seed{trial.config.get('seed')}"
    return f"{trial.trainable_name}_{trial.trial_id}_{arm}_rank{rank}_{seed}"


def arm_count(plan: Plan) -> int:
    """Arms the search will send (the grids of the stratification keys, else the scientific ones)."""
    keys = plan.stratify or plan.sweep.scientific
    return math.prod(len(plan.param_space[key]["grid_search"]) for key in keys if is_grid(plan.param_space.get(key)))


NO_VERDICT = ("  no verdict: one new seed per configuration gives each comparison one difference, and a paired "
              "test needs two (--confirm-repeats 2 or more); the chosen configurations still re-run, into the tables")


def _cost_lines(looks: Any, configurations: int, epochs: int, fewer: str = "") -> list[str]:
    first, most = looks.looks[0], looks.max_seeds
    worst = (f"  worst case: {most} seed(s) per configuration = {configurations * most} trial(s), "
             f"{configurations * most * epochs} trial-epochs{fewer}")
    if most < 2:
        return [worst.replace("worst case", "cost"), NO_VERDICT]
    return [
        worst,
        (f"  best case: every comparison decided at the first look, {first} seed(s) = {configurations * first} "
         f"trial(s); on the digits calibration (docs/verdicts.md) arms quieter than the plan stopped at a third to "
         f"two thirds of the worst case, and a close call on arms as noisy as the plan allows uses most of it"),
        (f"  power: 80% to call a difference of one margin (±{looks.margin:g}) while the sd of a per-seed difference "
         f"(each arm's mean over its configurations) is at most {looks.spread_for_power():.2g}; noisier arms need a "
         f"larger --confirm-repeats (an inconclusive verdict says how many seeds a new confirmation needs)"),
        ("  a comparison stops once it is equivalent or better by more than the margin; a difference near the margin "
         "runs to the worst case, so its class does not depend on when it stopped"),
    ]


def _why(plan: Plan) -> str:
    return f"[{plan.batch_reason}]" if plan.batch_reason else ""


def describe(plan: Plan) -> list[str]:
    """What the confirmation will run, before the search has said which configurations."""
    looks = look_plan(plan)
    configurations = arm_count(plan) * plan.confirm
    return [f"confirmation: each arm's top {plan.confirm} configuration(s), FIFO to the full budget "
            f"({plan.max_epochs} epochs) -> {storage.redact(storage.join(plan.storage_path, confirm_name(plan.name)))}; "
            f"new seeds in {looks.describe(_why(plan))}: "
            "it stops adding seeds once every comparison of arms is equivalent or better by more than the "
            "margin; "
            "the verdict comes from those trials only (test accuracy at the budget, one difference per seed)",
            *_cost_lines(looks, configurations, plan.max_epochs, fewer=" (fewer when an arm has fewer configurations "
                                                                        "at its top rung)")]


def describe_confirmation(plan: Plan) -> list[str]:
    """A confirmation plan's looks and cost (its configurations are known): for --dry-run."""
    looks = look_plan(plan)
    steps = [end - start for start, end in zip((0, *looks.looks), looks.looks)]  # seeds each look adds
    packs = len(plan.confirmed) * sum(math.ceil(seeds / plan.members) for seeds in steps)
    runs = (f"; as {packs} pack trial(s) (packs above)" if plan.members > 1 else "")
    return [f"confirmation {plan.name}: {len(plan.confirmed)} configuration(s), new seeds in {looks.describe(_why(plan))}; "
            f"the trials above are the worst case{runs}",
            *_cost_lines(looks, len(plan.confirmed), plan.max_epochs)]


def announce(plan: Plan, asked: int) -> None:
    """One line per confirmed configuration: what the search chose, and where it was ranked."""
    seeds = plan.param_space["seed"]["grid_search"]
    looks = look_plan(plan)
    print(f"[{plan.sweep.family}] confirming {len(plan.confirmed)} configuration(s) with new seeds "
          f"{seeds[0]}-{seeds[-1]} in {looks.describe(_why(plan))} (worst case {len(plan.confirmed) * len(seeds)} trials):",
          flush=True)
    if looks.max_seeds < 2:
        print(NO_VERDICT, flush=True)
    for candidate in plan.confirmed:
        print(f"  {candidate.arm or 'one arm'} #{candidate.rank}: search trial {candidate.trial_id}, "
              f"{plan.metric}={candidate.value:.4f} at epoch {candidate.rung_epoch}", flush=True)
    for arm, count in sorted(Counter(candidate.arm for candidate in plan.confirmed).items()):
        if count < asked:
            print(f"  {arm or 'one arm'}: only {count} configuration(s) reached its highest rung "
                  f"(asked for {asked}); its value on a seed is the mean over the ones it has", flush=True)


def print_verdict(plan: Plan) -> None:
    """Every pair of arms, as the stage decided it, in words (analysis.report's verdict lines)."""
    tables = read_tables(plan.experiment_dir)
    metric = confirmation_metric(tables.trials)
    table = paired_comparisons(tables.trials, metric, epochs=tables.epochs)
    looks = table.attrs.get("looks")
    ran = int(tables.trials["confirm_look"].max()) if "confirm_look" in tables.trials.columns else None
    where = (f"; looks at {', '.join(map(str, looks))} seeds, stopped after look {ran} of {len(looks)}"
             if looks and ran else "")
    print(f"verdict ({metric} at the full budget, {plan.name} trials only, one difference per seed: each arm's mean "
          f"over its configurations, failures scored; margin ±{table.attrs['margin']:g}{where}):")
    if table.empty:
        print("  nothing to compare: one arm, or fewer than 2 pairs of finished trials per comparison")
    for line in verdict_lines(table):
        print(f"  {line}")
    print(f"  {variation.describe(variation.sources_of_variation(tables.trials))}")
    print(f"report: python -m analysis.report {shlex.quote(plan.experiment_dir)}")


@dataclasses.dataclass(frozen=True)
class ConfirmationStage:
    """The confirmation's Tune experiment, built from its finished search (`sweeps.engine.stages`)."""

    plan: Plan  # the confirmation's own plan: `<name>-confirm`, FIFO, its chosen configurations
    asked: int  # --confirm K, which an arm with fewer configurations at its top rung falls short of

    @classmethod
    def after(cls, search: Plan) -> ConfirmationStage:
        return cls(confirmation_plan(search), asked=search.confirm or 0)

    def tune_settings(self) -> tuple[Space, dict[str, Any]]:
        return self.plan.param_space, search_settings(self.plan)

    def announce(self) -> None:
        announce(self.plan, self.asked)

    def summarize(self, results: Any) -> None:
        """Nothing per trial: one seed's best run says nothing here, the verdict is the result."""

    def conclude(self) -> None:
        print_verdict(self.plan)

    def following(self) -> None:
        return None

    def dry_run_lines(self) -> list[str]:
        return describe_confirmation(self.plan)
