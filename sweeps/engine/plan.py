"""A command line resolved into a checked `Plan`: parsing only, no file system, data or network.

Everything that can be wrong with what the user typed fails here as a `UsageError`:
flag values, `--set` keys and every value of every grid, the configs the search space can
produce (checked by the trainable's own parser), the metric, the record. What needs the
outside world (the storage path, the data, a cluster) is `sweeps.engine.preflight`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any, Sequence

from analysis.store import storage
from sweeps.engine.cli import parse_args
from sweeps.engine.early_checks import check_record, storage_path
from sweeps.engine.errors import DEFAULT_CONFIRM_BATCH, DEFAULT_CONFIRM_REPEATS, MAX_SEED, UsageError
from sweeps.engine.space.build import search_space
from sweeps.engine.space.checks import check_space
from sweeps.engine.space.keys import grid_keys, grid_size, is_grid
from sweeps.engine.sweep import Space, Sweep
from trainables.devices import keras_backend
from trainables.trainable import METRICS

# What the trainable reports that is not a number to rank trials by.
UNRANKABLE_METRICS = ("diverged", "stop_reason", "gpu_ids", "node_id")


@dataclass(frozen=True)
class Tools:
    """The optional tools a command line asked for: dry run, time budget, search, trackers."""

    dry_run: bool = False
    time_budget: float | None = None
    search: str = "random"
    trackers: tuple[str, ...] = ()
    tracker_uri: str | None = None
    tracker_project: str | None = None


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
    tools: Tools = Tools()  # dry run, time budget, search, trackers
    confirm: int | None = None  # each arm's top K configurations re-run after the search (stages.confirmation)
    confirm_repeats: int = DEFAULT_CONFIRM_REPEATS  # the most new seeds per confirmed configuration
    confirm_batch: int | None = DEFAULT_CONFIRM_BATCH  # new seeds per look; None: auto (sweeps.engine.look_size)
    batch_reason: str = ""  # why that many, once auto is decided (sweeps.engine.packing.resolve)
    margin: float = 0.01  # the confirmation verdict's margin (--margin, else the sweep's)
    confirmed: tuple[Any, ...] = ()  # a confirmation plan's chosen configurations
    polite: bool = False  # a local instance's trial workers at Ray's niceness +15 (sweeps.engine.ray_session)
    pack: str | int = "auto"  # --pack as asked: "auto", "off" or N; resolved per stage (sweeps.engine.packing)
    members: int = 1  # the stage's resolved packs: the most seeds of one configuration one trial trains (1: none)
    pack_reason: str = ""  # why that many, for the dry run and the stage's first line

    @property
    def experiment_dir(self) -> str:
        """<storage_path>/<name>: a local path or a URI (analysis.store.storage.join keeps its query)."""
        return storage.join(self.storage_path, self.name)

    @property
    def dataset(self) -> str:
        return self.param_space["dataset"]

    @property
    def data_dir(self) -> str | None:
        return self.param_space.get("data_dir")


def plan_for(sweep: Sweep, argv: Sequence[str]) -> Plan:
    """The plan of a command line, for a caller that has not parsed it (benchmarks, notebooks)."""
    return plan_from_args(sweep, parse_args(sweep, argv), tuple(argv))


def plan_from_args(sweep: Sweep, args: argparse.Namespace, argv: tuple[str, ...] = ()) -> Plan:
    """Check the parsed command line (`cli.parse_args`) and resolve it; raise UsageError on anything
    the user must fix. `argv` is kept as typed, for the resume command."""
    if args.seed + args.repeats - 1 > MAX_SEED:
        raise UsageError(f"--seed {args.seed} with --repeats {args.repeats}: trial seeds must stay below 2**32")
    check_record(sweep, args.record)
    _check_metric(args.metric)
    max_epochs = _budget(sweep, args)
    space = search_space(sweep, args, max_epochs)
    check_space(space, args.seed)
    grace = args.grace_period or max(1, max_epochs // 10)
    if grace > max_epochs:
        raise UsageError(f"--grace-period {grace} is longer than the budget --max-epochs {max_epochs}")
    if args.resume and not args.name:
        raise UsageError("--resume needs --name of the sweep to restore")
    stratify = _stratify(sweep, args, space)
    _check_confirm(args)
    _check_pack(args.pack)
    return Plan(
        sweep=sweep, param_space=space, num_samples=_samples(sweep, args), max_epochs=max_epochs,
        scheduler=args.scheduler, grace_period=grace, reduction_factor=args.reduction_factor,
        metric=args.metric, mode=args.mode, cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial, max_concurrent=args.max_concurrent,
        storage_path=storage_path(args.storage_path),
        name=args.name or f"{sweep.family}-{time.strftime('%Y%m%d-%H%M%S')}", resume=args.resume,
        max_failures=args.max_failures, address=args.address, dashboard=args.dashboard, seed=args.seed,
        verbose=args.verbose, argv=tuple(argv), tools=_tools(args), stratify=stratify,
        trials_per_arm=trials_per_arm(space, stratify, _samples(sweep, args)) if stratify else None,
        confirm=args.confirm, confirm_repeats=args.confirm_repeats or DEFAULT_CONFIRM_REPEATS,
        confirm_batch=args.confirm_batch, margin=args.margin or sweep.margin,
        polite=args.polite, pack=args.pack,
    )


def _check_confirm(args: argparse.Namespace) -> None:
    for flag, value in (("--confirm-repeats", args.confirm_repeats), ("--confirm-batch", args.confirm_batch),
                        ("--margin", args.margin)):
        if value is not None and args.confirm is None:
            raise UsageError(f"{flag} belongs to the confirmation stage: give --confirm K too")
    repeats = args.confirm_repeats or DEFAULT_CONFIRM_REPEATS
    if args.confirm is not None and args.seed + args.repeats + repeats - 1 > MAX_SEED:
        raise UsageError(f"--seed {args.seed}: the confirmation's {repeats} new seeds would pass 2**32")


def _check_pack(pack: str | int) -> None:
    """Packs train on TensorFlow (trainables.pack); asked for by number elsewhere, they cannot run."""
    if isinstance(pack, int) and pack > 1 and (backend := keras_backend()) != "tensorflow":
        raise UsageError(f"--pack {pack}: packs train on the tensorflow Keras backend, this one is {backend}; "
                         "use --pack auto or off")


def _stratify(sweep: Sweep, args: argparse.Namespace, space: Space) -> tuple[str, ...]:
    """--stratify keys (each a grid, so every arm runs the same configurations), else the
    sweep's scientific keys that are grids of more than one value; () for FIFO or 'none'."""
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


def trials_per_arm(space: Space, stratify: tuple[str, ...], num_samples: int) -> int:
    """Samples x every other grid (seeds included): what each arm runs."""
    return num_samples * grid_size(space, without=stratify)




def _check_metric(metric: str) -> None:
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


def _tools(args: argparse.Namespace) -> Tools:
    return Tools(dry_run=args.dry_run, time_budget=args.time_budget, search=args.search,
                 trackers=tuple(dict.fromkeys(args.trackers)), tracker_uri=args.tracker_uri,
                 tracker_project=args.tracker_project)
