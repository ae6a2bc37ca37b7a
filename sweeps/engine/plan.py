"""A command line resolved into a checked `Plan`: parsing only, no file system, data or network.

Everything that can be wrong with what the user typed fails here as a `UsageError`:
flag values, `--set` keys and every value of every grid, the configs the search space can
produce (checked by the trainable's own parser), the metric, the record. What needs the
outside world (the storage path, the data, a cluster) is `sweeps.engine.preflight`.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from typing import Any, Sequence

from sweeps.engine.cli import DEFAULT_CONFIRM_BATCH, DEFAULT_CONFIRM_REPEATS, MAX_SEED, UsageError, build_parser
from sweeps.engine.integrations import Tools, tools_from_args
from sweeps.engine.sweep import Space, Sweep

# What the trainable reports that is not a number to rank trials by.
UNRANKABLE_METRICS = ("diverged", "stop_reason", "gpu_ids", "node_id")


@dataclass(frozen=True)
class Plan:
    """A resolved command line: everything `run` needs, checked."""

    sweep: Sweep
    param_space: Space
    num_samples: int
    max_epochs: int
    scheduler: str
    grace_period: int
    reduction_factor: float
    metric: str
    mode: str
    cpus_per_trial: float
    gpus_per_trial: float | None
    max_concurrent: int | None
    storage_path: str
    name: str
    resume: bool
    max_failures: int
    address: str | None
    dashboard: bool
    seed: int
    verbose: int
    stratify: tuple[str, ...] = ()  # ASHA arms' keys (sweeps.engine.fair_asha); () = one pool
    trials_per_arm: int | None = None
    argv: tuple[str, ...] = ()  # the command line, for the resume hint
    tools: Tools = Tools()  # dry run, time budget, search, trackers (sweeps.engine.integrations)
    confirm: int | None = None  # each arm's top K configurations re-run after the search (sweeps.engine.confirm)
    confirm_repeats: int = DEFAULT_CONFIRM_REPEATS  # the most new seeds per confirmed configuration
    confirm_batch: int = DEFAULT_CONFIRM_BATCH  # new seeds per look (sweeps.engine.looks)
    margin: float = 0.01  # the confirmation verdict's margin (--margin, else the sweep's)
    confirmed: tuple[Any, ...] = ()  # a confirmation plan's chosen configurations (analysis.confirmation)
    polite: bool = False  # a local instance's trial workers at Ray's niceness +15 (sweeps.engine.priority)

    @property
    def experiment_dir(self) -> str:
        """<storage_path>/<name>: a local path or a URI (analysis.storage.join keeps its query)."""
        from analysis import storage

        return storage.join(self.storage_path, self.name)

    @property
    def dataset(self) -> str:
        return self.param_space["dataset"]

    @property
    def data_dir(self) -> str | None:
        return self.param_space.get("data_dir")


def parse_args(sweep: Sweep, argv: Sequence[str]) -> argparse.Namespace:
    parser = build_parser(
        prog=f"sweeps/{sweep.family}.py", description=sweep.description, metric=sweep.metric,
        mode=sweep.mode, max_epochs=sweep.max_epochs, dataset=sweep.dataset, records=sorted(sweep.records),
        num_samples=sweep.num_samples, gpus_per_trial=sweep.gpus_per_trial, margin=sweep.margin,
    )
    return parser.parse_args(argv)


def plan_from_args(sweep: Sweep, argv: Sequence[str] | None = None) -> Plan:
    """Parse and check the command line; raise UsageError on anything the user must fix."""
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(sweep, argv)
    if args.seed + args.repeats - 1 > MAX_SEED:
        raise UsageError(f"--seed {args.seed} with --repeats {args.repeats}: trial seeds must stay below 2**32")
    _check_record(sweep, args.record)
    _check_metric(args.metric)
    max_epochs = _budget(sweep, args)
    space = search_space(sweep, args, max_epochs)
    from sweeps.engine.space_checks import check_space

    check_space(space, args.seed)
    grace = args.grace_period or max(1, max_epochs // 10)
    if grace > max_epochs:
        raise UsageError(f"--grace-period {grace} is longer than the budget --max-epochs {max_epochs}")
    if args.resume and not args.name:
        raise UsageError("--resume needs --name of the sweep to restore")
    stratify = _stratify(sweep, args, space)
    _check_confirm(args)
    if args.polite and args.address:
        raise UsageError("--polite sets the priority of a local instance's workers; a cluster's workers run as "
                         "its operator configured them")
    return Plan(
        sweep=sweep, param_space=space, num_samples=_samples(sweep, args), max_epochs=max_epochs,
        scheduler=args.scheduler, grace_period=grace, reduction_factor=args.reduction_factor,
        metric=args.metric, mode=args.mode, cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial, max_concurrent=args.max_concurrent,
        storage_path=_storage_path(args.storage_path),
        name=args.name or f"{sweep.family}-{time.strftime('%Y%m%d-%H%M%S')}", resume=args.resume,
        max_failures=args.max_failures, address=args.address, dashboard=args.dashboard, seed=args.seed,
        verbose=args.verbose, argv=tuple(argv), tools=tools_from_args(args), stratify=stratify,
        trials_per_arm=_trials_per_arm(space, stratify, _samples(sweep, args)) if stratify else None,
        confirm=args.confirm, confirm_repeats=args.confirm_repeats or DEFAULT_CONFIRM_REPEATS,
        confirm_batch=args.confirm_batch or DEFAULT_CONFIRM_BATCH, margin=args.margin or sweep.margin,
        polite=args.polite,
    )


def _check_confirm(args: argparse.Namespace) -> None:
    for flag, value in (("--confirm-repeats", args.confirm_repeats), ("--confirm-batch", args.confirm_batch),
                        ("--margin", args.margin)):
        if value is not None and args.confirm is None:
            raise UsageError(f"{flag} belongs to the confirmation stage: give --confirm K too")
    repeats = args.confirm_repeats or DEFAULT_CONFIRM_REPEATS
    if args.confirm is not None and args.seed + args.repeats + repeats - 1 > MAX_SEED:
        raise UsageError(f"--seed {args.seed}: the confirmation's {repeats} new seeds would pass 2**32")


def _stratify(sweep: Sweep, args: argparse.Namespace, space: Space) -> tuple[str, ...]:
    """--stratify keys (each a grid, so every arm runs the same configurations), else the
    sweep's scientific keys that are grids of more than one value; () for FIFO or 'none'."""
    from sweeps.engine.space import grid_keys, is_grid

    if args.scheduler != "asha" or args.stratify == "none":
        return ()
    if args.stratify is None:
        varying = grid_keys(space, several=True)
        return tuple(key for key in sweep.scientific if key in varying)
    keys = tuple(key.strip() for key in args.stratify.split(",") if key.strip())
    for key in keys:
        if not is_grid(space.get(key)):
            raise UsageError(f"--stratify {key}: not a list of values in this sweep; give it one, "
                             f"e.g. --set '{key}=[...]', or --stratify none")
    return keys


def _trials_per_arm(space: Space, stratify: tuple[str, ...], num_samples: int) -> int:
    """Samples x every other grid (seeds included): what each arm runs."""
    from sweeps.engine.space import grid_size

    return num_samples * grid_size(space, without=stratify)


def _storage_path(text: str) -> str:
    """A local path made absolute (Tune needs that), a URI checked: one that embeds credentials is
    refused here, before anything starts, in a line that never shows them (analysis.storage)."""
    from analysis.storage import StorageError, normalize

    try:
        return normalize(text)
    except StorageError as error:
        raise UsageError(f"--storage-path {error}") from None


def _check_record(sweep: Sweep, record: int | None) -> None:
    if record is None or record in sweep.records:
        return
    if not sweep.records:
        raise UsageError(f"--record {record}: {sweep.family} has no published tuning records")
    raise UsageError(f"--record {record}: not a record of {sweep.family} (available: "
                     f"{', '.join(map(str, sorted(sweep.records)))})")


def _check_metric(metric: str) -> None:
    from trainables.trainable import METRICS

    rankable = [name for name in METRICS if name not in UNRANKABLE_METRICS and not name.startswith("test_")]
    if metric.startswith("test_"):  # the test split reports curves; deciding on it biases every best
        raise UsageError(f"--metric {metric!r}: test metrics are never used for decisions; rank by val_* "
                         "(with --validation test the validation split is the test split)")
    if metric not in rankable:
        raise UsageError(f"--metric {metric!r} is not reported by the trainable; one of: {', '.join(rankable)}")


def _budget(sweep: Sweep, args: argparse.Namespace) -> int:
    """--max-epochs, else the record's published budget, else the smoke or the sweep's own."""
    if args.max_epochs is not None:
        return args.max_epochs
    if args.record is not None:
        return sweep.records[args.record].epochs
    return sweep.smoke_epochs if args.smoke else sweep.max_epochs


def _samples(sweep: Sweep, args: argparse.Namespace) -> int:
    if args.record is not None:
        return 1  # a record is one exact configuration
    if args.num_samples is not None:
        return args.num_samples
    return sweep.smoke_samples if args.smoke else sweep.num_samples


def _dataset(sweep: Sweep, args: argparse.Namespace) -> str:
    from trainables.data import available_datasets

    name = args.dataset or (sweep.smoke_dataset if args.smoke else sweep.dataset)
    if name not in available_datasets():
        raise UsageError(f"unknown dataset {name!r}; known: {', '.join(available_datasets())}")
    return name


def search_space(sweep: Sweep, args: argparse.Namespace, max_epochs: int) -> Space:
    """The flat Tune search space: the sweep's, the record or smoke overrides, typed --set values."""
    from ray import tune

    space: Space = dict(sweep.fixed)
    if args.record is not None:
        space.update(sweep.records[args.record].settings(max_epochs))
        space["record"] = args.record
    else:
        space.update(sweep.space(max_epochs))
    if args.smoke:
        space.update(sweep.smoke)
    overrides = typed_overrides(space, args.overrides)
    # A list value (--set 'activation=["aprelu","relu"]') becomes a grid: every sample runs each.
    space.update({key: tune.grid_search(value) if isinstance(value, list) else value
                  for key, value in overrides.items()})
    space.update({
        "family": sweep.family,
        "dataset": _dataset(sweep, args),
        "data_dir": os.path.abspath(os.path.expanduser(args.data_dir)) if args.data_dir else None,
        "epochs": max_epochs,
        "cpus_per_trial": args.cpus_per_trial,
    })
    if args.validation is not None:
        space["validation"] = args.validation
    space.setdefault("validation", "holdout")  # always a column: which protocol ran
    seeds = [args.seed + repeat for repeat in range(args.repeats)]
    space["seed"] = tune.grid_search(seeds) if len(seeds) > 1 else seeds[0]
    base_seed = args.seed
    space["repeat"] = tune.sample_from(lambda config: config["seed"] - base_seed)
    return space


def typed_overrides(space: Space, pairs: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """--set values converted by their keys' types; model and activation names checked first."""
    from sweeps.engine.overrides import convert_overrides, convert_value
    from sweeps.engine.space import values_of
    from trainables.activations import available_activations
    from trainables.models import available_models

    names = {name: [convert_value(key, text, str) for key, text in pairs if key == name]
             for name in ("model", "activation")}
    models = _flatten(names["model"]) or values_of(space, "model")
    activations = _flatten(names["activation"]) or values_of(space, "activation")
    for kind, given, known in (("model", models, available_models()), ("activation", activations, available_activations())):
        for name in given:
            if name not in known:
                raise UsageError(f"unknown {kind} {name!r}; known: {', '.join(known)}")
    from sweeps.engine.overrides import settable_types

    where = f"model {'/'.join(models)} or activation {'/'.join(activations)}"
    return convert_overrides(pairs, settable_types(models, activations), where)


def _flatten(values: list[Any]) -> list[Any]:
    """The last --set of a key wins; a list is a grid of names."""
    if not values:
        return []
    last = values[-1]
    return list(last) if isinstance(last, list) else [last]
