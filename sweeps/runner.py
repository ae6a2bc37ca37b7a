"""The shared sweep runner: a `Sweep` declaration in, a finished Tune experiment out.

Each `sweeps/*.py` script declares a `Sweep` (its search space, fixed settings, records)
and calls `main(SWEEP)`. Everything else lives here: the CLI, input checks, Ray start-up,
ASHA, resources, resume, and the Parquet export at the end.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from sweeps.cli import UsageError, build_parser

log = logging.getLogger(__name__)

Space = dict[str, Any]


@dataclass(frozen=True)
class Record:
    """A published tuning record: its exact settings and the epochs it planned."""

    settings: Callable[[int], Space]  # max_epochs -> settings (decay epochs scale with the budget)
    epochs: int


@dataclass(frozen=True)
class Sweep:
    """What one experiment family varies (the scientific and nuisance hyperparameters)."""

    family: str
    description: str
    dataset: str  # the real dataset
    fixed: Mapping[str, Any]  # settings every trial shares (model, optimizer, ...)
    space: Callable[[int], Space]  # max_epochs -> Tune search space (flat)
    max_epochs: int
    smoke_dataset: str
    smoke: Mapping[str, Any] = field(default_factory=dict)  # tiny-model overrides for --smoke
    records: Mapping[int, Record] = field(default_factory=dict)  # exact published settings
    num_samples: int = 8
    gpus_per_trial: float = 0.25  # default share when the cluster has GPUs
    metric: str = "val_accuracy"
    mode: str = "max"
    smoke_samples: int = 6
    smoke_epochs: int = 4


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

    @property
    def experiment_dir(self) -> Path:
        return Path(self.storage_path) / self.name


def _is_constant(value: Any) -> bool:
    from ray.tune.search.sample import Domain

    return not isinstance(value, Domain) and not (isinstance(value, dict) and "grid_search" in value)


def plan_from_args(sweep: Sweep, argv: Sequence[str] | None = None) -> Plan:
    """Parse and check the command line; raise UsageError on anything the user must fix."""
    from ray import tune

    records = sorted(sweep.records)
    parser = build_parser(
        prog=f"sweeps/{sweep.family}.py", description=sweep.description, metric=sweep.metric,
        mode=sweep.mode, max_epochs=sweep.max_epochs, dataset=sweep.dataset, records=records,
        num_samples=sweep.num_samples,
    )
    args = parser.parse_args(argv)
    max_epochs = args.max_epochs
    num_samples = args.num_samples
    dataset = args.dataset
    explicit = set(_explicit_flags(argv if argv is not None else sys.argv[1:]))
    if args.smoke and "--num-samples" not in explicit:
        num_samples = sweep.smoke_samples
    if args.record is not None and "--max-epochs" not in explicit:
        max_epochs = sweep.records[args.record].epochs
    if args.smoke:
        max_epochs = max_epochs if "--max-epochs" in explicit else sweep.smoke_epochs
        dataset = dataset if "--dataset" in explicit else sweep.smoke_dataset

    space: Space = dict(sweep.fixed)
    if args.record is not None:
        space.update(sweep.records[args.record].settings(max_epochs))
        space["record"] = args.record
        num_samples = 1
    else:
        space.update(sweep.space(max_epochs))
    if args.smoke:
        space.update(sweep.smoke)
    # A list value (--set 'activation=["aprelu","relu"]') becomes a grid: every sample runs each.
    space.update({key: tune.grid_search(value) if isinstance(value, list) else value for key, value in args.overrides})
    space.update({
        "family": sweep.family,
        "dataset": dataset,
        "data_dir": os.path.abspath(args.data_dir) if args.data_dir else None,
        "epochs": max_epochs,
        "cpus_per_trial": args.cpus_per_trial,
    })
    seeds = [args.seed + repeat for repeat in range(args.repeats)]
    space["seed"] = tune.grid_search(seeds) if len(seeds) > 1 else seeds[0]
    base_seed = args.seed
    space["repeat"] = tune.sample_from(lambda config: config["seed"] - base_seed)

    _check_trial_config(space)
    _check_data(space)
    name = args.name or f"{sweep.family}-{time.strftime('%Y%m%d-%H%M%S')}"
    storage_path = os.path.abspath(os.path.expanduser(args.storage_path))
    if args.resume:
        if not args.name:
            raise UsageError("--resume needs --name of the sweep to restore")
        if not (Path(storage_path) / name).is_dir():
            raise UsageError(f"nothing to resume: no experiment {name!r} under {storage_path}")
    elif (Path(storage_path) / name).exists():
        raise UsageError(f"experiment {name!r} already exists under {storage_path}: pass --resume, or another --name")
    grace = args.grace_period or max(1, max_epochs // 10)
    if grace > max_epochs:
        raise UsageError(f"--grace-period {grace} is longer than the budget --max-epochs {max_epochs}")
    if args.dashboard and args.address:
        raise UsageError("--dashboard starts a local instance; with --address, open the cluster's own dashboard")
    if args.address:
        check_address(args.address)
    return Plan(
        sweep=sweep, param_space=space, num_samples=num_samples, max_epochs=max_epochs,
        scheduler=args.scheduler, grace_period=grace, reduction_factor=args.reduction_factor,
        metric=args.metric, mode=args.mode, cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial, max_concurrent=args.max_concurrent,
        storage_path=storage_path, name=name, resume=args.resume, max_failures=args.max_failures,
        address=args.address or None, dashboard=args.dashboard, seed=args.seed, verbose=args.verbose,
    )


def _explicit_flags(argv: Sequence[str]) -> list[str]:
    return [token.split("=", 1)[0] for token in argv if token.startswith("--")]


def sample_config(space: Space, seed: int = 0) -> dict[str, Any]:
    """One concrete config from the space, as a trial would receive it (for checks)."""
    import numpy as np
    from ray.tune.search.sample import Domain, Function

    rng = np.random.default_rng(seed)
    config: dict[str, Any] = {}
    for key, value in space.items():
        if isinstance(value, dict) and "grid_search" in value:
            config[key] = value["grid_search"][0]
        elif isinstance(value, Function):
            continue  # depends on other keys (repeat); filled in below
        elif isinstance(value, Domain):
            config[key] = value.sample(random_state=rng)
        else:
            config[key] = value
    config.setdefault("repeat", 0)
    return config


def _check_trial_config(space: Space) -> None:
    """Every key known and every builder argument accepted, before any trial starts."""
    from trainables.activations import available_activations
    from trainables.models import available_models
    from trainables.trainable import parse_config

    config = sample_config(space)
    if config.get("model") not in available_models():
        raise UsageError(f"unknown model {config.get('model')!r}; known: {', '.join(available_models())}")
    activations = space.get("activation")
    names = activations["grid_search"] if isinstance(activations, dict) else [config.get("activation")]
    for name in names:
        if name not in available_activations():
            raise UsageError(f"unknown activation {name!r}; known: {', '.join(available_activations())}")
    try:
        parse_config(config)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _check_data(space: Space) -> None:
    from trainables.data import DataError, available_datasets, check_dataset

    name = space["dataset"]
    if name not in available_datasets():
        raise UsageError(f"unknown dataset {name!r}; known: {', '.join(available_datasets())}")
    try:
        check_dataset(name, space.get("data_dir"))
    except DataError as error:
        raise UsageError(str(error)) from None


def _data_settings(space: Space) -> dict[str, Any]:
    keys = ("image_size", "train_limit", "val_limit")
    for key in keys:
        if key in space and not _is_constant(space[key]):
            raise UsageError(f"{key} must be one value for the whole sweep (the data is loaded once)")
    return {key: space.get(key) for key in keys}


def check_address(address: str, timeout: float = 3.0) -> None:
    """Fail fast on an address with no cluster: `ray.init` would retry for minutes."""
    import socket

    if address.startswith("ray://"):
        host_port = address[len("ray://"):]
    elif address == "auto":
        from ray._private.services import canonicalize_bootstrap_address

        try:
            host_port = canonicalize_bootstrap_address("auto") or ""
        except ConnectionError:
            host_port = ""
        if not host_port:
            raise UsageError("--address auto: no running Ray cluster found on this machine (start one with `ray start --head`)")
    else:
        host_port = address
    host, _, port = host_port.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379), ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as error:
        raise UsageError(f"no Ray cluster answers at {address} ({error.strerror or error}); start one with `ray start --head`") from None


def use_auth_token_if_present() -> None:
    """Present the cluster token (~/.ray/auth_token) when joining by address.

    `ray start --head` turns token auth on, but Ray's driver only sends its token to an
    explicit address when RAY_AUTH_MODE=token; sending one to a cluster without auth is
    harmless. An explicit RAY_AUTH_MODE is respected.
    """
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token auth
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def start_ray(plan: Plan) -> Any:
    """Start a local instance or join `plan.address`; returns Ray's context (dashboard URL)."""
    import ray

    env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}}
    try:
        if plan.address:
            use_auth_token_if_present()
            return ray.init(address=plan.address, runtime_env=env, log_to_driver=True)
        return ray.init(
            include_dashboard=plan.dashboard, dashboard_host="127.0.0.1", runtime_env=env,
            configure_logging=True, logging_level=logging.WARNING,
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"at {plan.address}" if plan.address else "locally"
        raise UsageError(f"could not start or join a Ray cluster {where}: {str(error).splitlines()[0]}") from None


def print_dashboard(context: Any) -> None:
    url = context.dashboard_url
    if not url:
        print("Ray dashboard did not start (is `ray[default]` installed?)")
        return
    if not url.startswith("http"):
        url = f"http://{url}"
    print(f"Ray dashboard: {url} (bound to 127.0.0.1; from another machine use `ssh -L 8265:127.0.0.1:8265 host`)")
    print("  sign-in token: `ray get-auth-token` prints it (stored in ~/.ray/auth_token) when token auth is on")


def resolve_gpus(plan: Plan) -> float:
    """The user's share, else the sweep's default share when the cluster has GPUs, else none."""
    import ray

    if plan.gpus_per_trial is not None:
        return plan.gpus_per_trial
    return plan.sweep.gpus_per_trial if ray.cluster_resources().get("GPU", 0) > 0 else 0.0


def make_trainable(plan: Plan, data: Any, gpus: float):
    from ray import tune

    from trainables.trainable import train

    resources = {"cpu": plan.cpus_per_trial, "gpu": gpus}
    return tune.with_resources(tune.with_parameters(train, data=data), resources)


def make_tuner(plan: Plan, trainable: Any):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    if plan.resume:
        return tune.Tuner.restore(str(plan.experiment_dir), trainable=trainable, resume_errored=True)
    if plan.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="epoch", max_t=plan.max_epochs, grace_period=plan.grace_period,
            reduction_factor=plan.reduction_factor,
        )
    else:
        scheduler = FIFOScheduler()
    return tune.Tuner(
        trainable,
        param_space=plan.param_space,
        tune_config=tune.TuneConfig(
            metric=plan.metric, mode=plan.mode, scheduler=scheduler, num_samples=plan.num_samples,
            # Random dimensions are drawn once per sample and shared by its grid (seeds,
            # activations), so repeats and activation comparisons are properly paired.
            # (Tune ignores max_concurrent_trials when given a generator: it goes here.)
            search_alg=BasicVariantGenerator(
                constant_grid_search=True, random_state=plan.seed, max_concurrent=plan.max_concurrent or 0,
            ),
        ),
        run_config=tune.RunConfig(
            name=plan.name, storage_path=plan.storage_path, verbose=plan.verbose,
            failure_config=tune.FailureConfig(max_failures=plan.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        ),
    )


def export_tables(experiment_dir: Path) -> tuple[Path, Path]:
    from analysis.export import export_experiment

    return export_experiment([experiment_dir], out_dir=experiment_dir)


def run(plan: Plan) -> int:
    import ray

    from trainables.data import load_dataset

    context = start_ray(plan)
    try:
        if plan.dashboard:
            print_dashboard(context)
        gpus = resolve_gpus(plan)
        settings = _data_settings(plan.param_space)
        print(f"[{plan.sweep.family}] loading {plan.param_space['dataset']} once for all trials ...", flush=True)
        data = load_dataset(plan.param_space["dataset"], plan.param_space.get("data_dir"), seed=plan.seed, **settings)
        plan = dataclasses.replace(plan, param_space={**plan.param_space, "gpus_per_trial": gpus})
        print(
            f"[{plan.sweep.family}] {plan.name}: {plan.num_samples} sample(s), budget {plan.max_epochs} epochs, "
            f"{plan.scheduler}, {plan.cpus_per_trial} CPU + {gpus} GPU per trial -> {plan.experiment_dir}",
            flush=True,
        )
        tuner = make_tuner(plan, make_trainable(plan, data, gpus))
        results = tuner.fit()
        summarize(results, plan)
        trials_path, epochs_path = export_tables(plan.experiment_dir)
        print(f"tables: {trials_path}\n        {epochs_path}")
        return 0
    finally:
        ray.shutdown()


def summarize(results: Any, plan: Plan) -> None:
    errors = sum(1 for result in results if result.error is not None)
    print(f"{len(results)} trial(s), {errors} errored")
    try:
        best = results.get_best_result(metric=plan.metric, mode=plan.mode, scope="all")
    except (RuntimeError, ValueError, KeyError):
        print("no trial reported the metric; nothing to rank")
        return
    value = best.metrics.get(plan.metric)
    config = {key: best.config[key] for key in sorted(best.config) if key not in ("data_dir",)}
    print(f"best trial: {plan.metric}={value} at epoch {best.metrics.get('epoch')}  ({best.path})")
    print("  config: " + ", ".join(f"{key}={value}" for key, value in config.items()))


def import_keras_quietly() -> None:
    """Import Keras (and TensorFlow) with the C++ start-up chatter kept off the terminal.

    TensorFlow writes its oneDNN/CUDA notices to file descriptor 2 before its logging is
    configured, where no environment variable reaches them; they would bury the one-line
    error a user needs. What it writes is shown after all if the import fails.
    """
    if "keras" in sys.modules:
        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def main(sweep: Sweep, argv: Sequence[str] | None = None) -> int:
    """Entry point of every sweep script; returns the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import_keras_quietly()
    try:
        plan = plan_from_args(sweep, argv)
        return run(plan)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with --resume --name <name>", file=sys.stderr)
        return 130
