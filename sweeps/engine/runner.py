"""The shared sweep runner: a `Sweep` declaration in, a finished Tune experiment out.

Each `sweeps/*.py` script declares a `Sweep` and calls `main(SWEEP)`. The command line
becomes a checked `Plan` (`sweeps.engine.plan`, no I/O), the outside world is checked
(`sweeps.engine.preflight`), and only then does Ray start: ASHA, resources, resume, and the
Parquet export at the end live here, with the exit codes.

Exit codes: 0 the sweep ran and no trial errored; 1 a trial errored, some or all (one line
naming them, the first error and the command that retries them); 2 a usage error (one line);
128 + the signal when stopped by one (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), with the command
that resumes it (sweeps.engine.signals). docs/faults.md says why.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import posixpath
import shlex
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from sweeps.engine.cli import UsageError
from sweeps.engine.plan import Plan, plan_from_args
from sweeps.engine.sweep import Record, Space, Sweep, tune

if TYPE_CHECKING:
    from sweeps.engine.signals import StopSignals

__all__ = ["Plan", "Record", "Space", "Sweep", "main", "plan_from_args", "run", "sample_config", "make_trainable",
           "tune"]

log = logging.getLogger(__name__)

EXIT_OK, EXIT_ERRORED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_ALL_ERRORED = EXIT_ERRORED  # the name before issue 24: 1 now means any errored trial


class Interrupted(Exception):
    """Tune stopped (on a stop signal, or SIGUSR1) and `fit()` returned: the sweep is not finished."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def sample_config(space: Space, seed: int = 0) -> dict[str, Any]:
    """One concrete config from the space, as a trial would receive it (for checks)."""
    from sweeps.engine.space_checks import sample_config as first_config

    return first_config(space, seed)


def use_auth_token_if_present() -> None:
    """Present the cluster token (~/.ray/auth_token) when joining by address.

    `ray start --head` turns token auth on, but Ray's driver sends its token to an explicit
    address only when RAY_AUTH_MODE=token (`ray.init` enables it by itself only for a local
    or "auto" cluster). Setting that documented variable is not enough here: Ray reads it
    once, when its config is first loaded (at `import ray`, long before an address is known),
    and no public API reloads it. Ray's own helper sets it and reloads the config, so this is
    the one private import of the project, kept to this function. Sending a token to a
    cluster without auth is harmless; an explicit RAY_AUTH_MODE is respected.
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

    from sweeps.engine.console import forward_worker_logs
    from sweeps.engine.dashboard import job_config
    from sweeps.engine.priority import worker_environment
    from sweeps.engine.signals import Stopped
    from trainables.devices import trial_environment

    env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2", **trial_environment(),  # KERAS_BACKEND among them
                        **worker_environment(local=not plan.address, polite=plan.polite)}}
    to_driver = forward_worker_logs(plan.verbose)  # workers' TF notices and checkpoint lines
    try:
        if plan.address:
            use_auth_token_if_present()
            return ray.init(address=plan.address, runtime_env=env, log_to_driver=to_driver, job_config=job_config(plan))
        return ray.init(  # "local": never the cluster a `ray start` on this machine advertises in /tmp/ray
            address="local", include_dashboard=plan.dashboard, dashboard_host="127.0.0.1", runtime_env=env,
            configure_logging=True, logging_level=logging.WARNING, log_to_driver=to_driver, job_config=job_config(plan),
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"at {plan.address}" if plan.address else "locally"
        raise UsageError(f"could not start or join a Ray cluster {where}: {str(error).splitlines()[0]}") from None
    except SystemExit as exit_:  # ray.init's own SIGTERM handler, until StopSignals.install takes it back
        if exit_.code == signal.SIGTERM:
            raise Stopped(signal.SIGTERM) from None
        raise


def print_dashboard(context: Any, plan: Plan) -> None:
    from sweeps.engine.dashboard import console_lines

    print("\n".join(console_lines(context, plan)), flush=True)


def resolve_gpus(plan: Plan) -> float:
    """The GPU share every trial requests (sweeps.engine.resources.gpu_share, as the dry run says)."""
    import ray

    from sweeps.engine.resources import gpu_share

    available = ray.cluster_resources().get("GPU", 0)
    share = gpu_share(plan.gpus_per_trial, plan.sweep.gpus_per_trial, available)
    if share > 0 and available == 0 and not plan.address:  # a local instance has no autoscaler to add GPUs
        raise UsageError(f"--gpus-per-trial {share:g}: this machine has no GPU Ray can see, so no trial "
                         "would ever start; leave it out (or 0) to train on the CPU")
    return share


def make_trainable(plan: Plan, data: Any, gpus: float):
    from ray import tune

    from trainables.trainable import train

    resources = {"cpu": plan.cpus_per_trial, "gpu": gpus}
    trainable = tune.with_resources(tune.with_parameters(train, data=data), resources)
    if plan.dashboard:  # each trial's actor named in the dashboard (sweeps.engine.dashboard)
        from sweeps.engine.dashboard import labelled_trainable

        trainable = labelled_trainable(trainable, plan)
    return trainable


def checkpoint_config(plan: Plan) -> Any:
    """Keep the best epoch's checkpoint by the sweep's metric, and the latest.

    Ray (train/_internal/checkpoint_manager.py, `register_checkpoint`) deletes the
    checkpoints ranked below `num_to_keep` by the score "except for the latest checkpoint",
    and a restored or retried trial continues from `Trial.checkpoint`, the latest: so at
    most two stay on disk, the best for the analysis and the latest for resuming.
    """
    from ray import tune

    return tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute=plan.metric,
                                 checkpoint_score_order=plan.mode)


def reopen_lost_checkpoints(plan: Plan) -> None:
    """Checkpoints Tune deleted before saving the state that names them (trainables.recovery)."""
    from sweeps.engine.locations import restore_source
    from trainables.recovery import recreate_lost_checkpoints

    lost = recreate_lost_checkpoints(*restore_source(plan.experiment_dir))
    if lost:
        print(f"[{plan.sweep.family}] {plan.name}: the interrupted run lost the latest checkpoint of "
              f"{len(lost)} trial(s) ({', '.join(lost)}); they continue from an earlier checkpoint "
              "or from scratch", flush=True)


def make_tuner(plan: Plan, trainable: Any):
    from ray import tune

    from sweeps.engine.credentials import keep_credentials_out_of_runtime_envs
    from sweeps.engine.fair_asha import scheduler_for
    from sweeps.engine.integrations import callbacks, tune_settings
    from sweeps.engine.locations import restore_source, trial_dirname_creator, tune_storage

    keep_credentials_out_of_runtime_envs()  # Ray would log the driver's storage keys with every trial
    param_space, settings = tune_settings(plan)  # by --search; --time-budget
    if plan.resume:  # the same param_space: new trials resolve its sample_from functions
        path, filesystem = restore_source(plan.experiment_dir)  # a URI's endpoint kept (ray-project/ray#34489)
        if not tune.Tuner.can_restore(path, storage_filesystem=filesystem):
            raise UsageError(f"cannot resume {plan.name!r}: {plan.experiment_dir} holds no Tune experiment "
                             "(stopped before Tune saved one); delete it to start that sweep again")
        reopen_lost_checkpoints(plan)
        return tune.Tuner.restore(path, trainable=trainable, resume_errored=True, param_space=param_space,
                                  storage_filesystem=filesystem)
    from sweeps.engine.lost_trials import record_errors

    settings["trial_dirname_creator"] = trial_dirname_creator(plan.storage_path, settings.get("trial_dirname_creator"))
    scheduler = record_errors(scheduler_for(plan))  # ASHA, budget-fair ASHA (--stratify) or FIFO; errors saved
    return tune.Tuner(
        trainable,
        param_space=param_space,
        # reuse_actors: a trial after the first in a process skips the actor start and the imports
        # (benchmarks/trial_startup.py); `train` clears the Keras session, results stay identical
        # (tests/trainables/test_trial_startup.py).
        # Not with budget-fair ASHA: a paused trial resumed on a reused actor lost its promotion
        # (tests/engine/test_fair_asha.py saw 1 of 2 promoted trials reach the next rung, others left PAUSED).
        # Nor with --dashboard: Ray keeps an actor's first repr, so a reused actor would name an earlier trial.
        tune_config=tune.TuneConfig(metric=plan.metric, mode=plan.mode, scheduler=scheduler,
                                    reuse_actors=not plan.stratify and not plan.dashboard,
                                    **settings),
        run_config=tune.RunConfig(
            name=plan.name, **tune_storage(plan.storage_path), verbose=plan.verbose,
            failure_config=tune.FailureConfig(max_failures=plan.max_failures),
            checkpoint_config=checkpoint_config(plan), callbacks=callbacks(plan), log_to_file=True,
        ),
    )


def export_tables(experiment_dir: str) -> tuple[Path | str, Path | str]:
    from analysis.export import export_experiment

    return export_experiment([experiment_dir], out_dir=experiment_dir)


def load_data(plan: Plan) -> Any:
    """The arrays, once for all trials; a data problem found only now is still a usage error."""
    from sweeps.engine.space_checks import DATA_KEYS
    from trainables.data import DataError, load_dataset

    settings = {key: plan.param_space.get(key) for key in DATA_KEYS}
    print(f"[{plan.sweep.family}] loading {plan.dataset} once for all trials ...", flush=True)
    try:
        return load_dataset(plan.dataset, plan.data_dir, seed=plan.seed, **settings)
    except DataError as error:
        raise UsageError(str(error)) from None


def run(plan: Plan) -> int:
    """Check the outside world, run the search and/or its confirmation, report; returns the exit code."""
    from sweeps.engine.signals import StopSignals

    active = StopSignals.active()  # main's
    if active is not None:
        return run_with(plan, active)
    with StopSignals() as stop:
        return run_with(plan, stop)


def run_with(plan: Plan, stop: StopSignals) -> int:
    """`run`, with the stop signals handled by `stop`."""
    import ray

    from sweeps.engine import confirm, lease
    from sweeps.engine.console import quiet_driver_environment
    from sweeps.engine.preflight import check_experiment_dir, preflight
    from sweeps.engine.shared_storage import check_shared_storage

    stop.last_words = lambda signum: interrupted_line(plan, signum)  # if Ray never lets the main thread out
    lease.check_free(plan.storage_path, [plan.name, confirm.confirm_name(plan.name)])  # reads only
    only_confirm = confirm.confirmation_only(plan)
    confirm_plan = confirm.confirmation_plan(plan) if only_confirm else None
    preflight(confirm_plan or plan)
    stages = [plan.name] + ([confirm_plan.name] if confirm_plan else [])
    with lease.holding(plan.storage_path, stages, on_lost=lambda holder: stop.request_stop()) as leases:

        def last_words(signum: int) -> str:  # the process ends itself (sweeps.engine.signals): no lease left
            leases.release()
            return interrupted_line(plan, signum)

        stop.last_words = last_words
        quiet_driver_environment()
        context = start_ray(plan)
        stop.install()  # after ray.init, which put its own handlers (and absl's crash dump) on SIGTERM
        try:
            check_shared_storage(plan.storage_path)  # on several nodes a local path must be one shared disk
            if plan.dashboard:
                print_dashboard(context, plan)
            gpus = resolve_gpus(plan)
            data = load_data(confirm_plan or plan)  # the confirmation runs on the data the search ran on
            if confirm_plan is None:
                code = run_stage(plan, data, gpus, stop)
                if plan.confirm is None or code != EXIT_OK:
                    return code
                confirm_plan = confirm.confirmation_plan(plan)
                check_experiment_dir(confirm_plan)
                leases.hold(confirm_plan.name)
            confirm.announce(confirm_plan, asked=plan.confirm)
            code = run_stage(confirm_plan, data, gpus, stop)
            if code == EXIT_OK:
                confirm.print_verdict(confirm_plan)
            return code
        finally:
            ray.shutdown()


def run_stage(plan: Plan, data: Any, gpus: float, stop: StopSignals | None = None) -> int:
    """One Tune experiment (the search, or the confirmation) to its tables."""
    from trainables.devices import keras_backend

    plan = dataclasses.replace(plan, param_space={**plan.param_space, "gpus_per_trial": gpus,
                                                  "keras_backend": keras_backend()})
    print(
        f"[{plan.sweep.family}] {plan.name}: {plan.num_samples} sample(s), budget {plan.max_epochs} epochs, "
        f"{plan.scheduler}, {plan.cpus_per_trial} CPU + {gpus} GPU per trial -> {plan.experiment_dir}",
        flush=True,
    )
    # Ctrl-C must reach us as KeyboardInterrupt (exit 130). Tune's own SIGINT handler makes
    # fit() return normally, and its ResultGrid cannot tell that from a finished sweep when
    # the interrupted search had not generated every trial yet (Tune's documented switch;
    # the experiment state is saved after every trial checkpoint; one lost in between is
    # handled by trainables.recovery).
    # Stop signals (Ctrl-C, SIGTERM, SIGHUP) are the runner's (sweeps.engine.signals): it hands
    # them to Tune's stop switch during fit(), so Tune's own SIGINT handler stays off (Tune's
    # documented switch); a fit() that returns after a stop signal is reported as interrupted
    # even when Tune's ResultGrid looks complete (a search that had not generated every trial).
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    from sweeps.engine.signals import StopSignals

    stop = stop or StopSignals()
    with stop.tune_running():
        results = make_tuner(plan, make_trainable(plan, data, gpus)).fit()
    if stop.received is not None:
        raise Interrupted(stop.received)
    return finish(results, plan)


def finish(results: Any, plan: Plan) -> int:
    """Summary, tables and exit code of a sweep whose `fit()` returned."""
    from sweeps.engine.lost_trials import errored_summary

    if results.num_terminated + results.num_errors < len(results):
        raise Interrupted(signal.SIGUSR1)  # Tune stopped early (SIGUSR1): trials are still running or pending
    summarize(results, plan)
    trials_path, epochs_path = export_tables(plan.experiment_dir)
    print(f"tables: {trials_path}\n        {epochs_path}")
    line = errored_summary(list(results), resume_command(plan))
    if line is not None:
        print(f"error: {line}", file=sys.stderr)
        return EXIT_ERRORED
    return EXIT_OK


def first_error_line(error: BaseException) -> str:
    """The exception a trial raised, in one line (Ray wraps it with the remote traceback)."""
    from sweeps.engine.lost_trials import error_line

    return error_line(error)


def summarize(results: Any, plan: Plan) -> None:
    from analysis import storage

    errors = results.num_errors
    print(f"{len(results)} trial(s), {errors} errored")
    if plan.confirmed:  # one seed's best run says nothing there: the verdict that follows is the result
        return
    try:
        best = results.get_best_result(metric=plan.metric, mode=plan.mode, scope="all")
    except (RuntimeError, ValueError, KeyError):
        print("no trial reported the metric; nothing to rank")
        return
    value = best.metrics.get(plan.metric)
    config = {key: best.config[key] for key in sorted(best.config) if key not in ("data_dir",)}
    where = storage.join(plan.experiment_dir, posixpath.basename(best.path))  # Tune's path lacks the scheme
    print(f"best trial: {plan.metric}={value} at epoch {best.metrics.get('epoch')}  ({where})")
    print("  config: " + ", ".join(f"{key}={value}" for key, value in config.items()))


def resume_command(plan: Plan) -> str:
    """The command that continues this sweep: the same flags, plus --resume --name NAME."""
    kept, skip = [], False
    for token in plan.argv:
        if skip:
            skip = False
        elif token in ("--name", "--resume") or token.startswith("--name="):
            skip = token == "--name"
        else:
            kept.append(token)
    return shlex.join(["python", f"sweeps/{plan.sweep.family}.py", *kept, "--resume", "--name", plan.name])


def main(sweep: Sweep, argv: Sequence[str] | None = None) -> int:
    """Entry point of every sweep script; returns the process exit code."""
    from sweeps.engine.plan import parse_args
    from sweeps.engine.preflight import existing_experiments
    from sweeps.engine.signals import StopSignals

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    plan, existing = None, None  # existing: None until known (then a usage error may clean up)
    with StopSignals():
        try:
            args = parse_args(sweep, argv)  # --help and malformed flags answer before Keras is imported (~5 s)
            if args.name and not args.dry_run:  # so does a second driver on a running experiment
                from sweeps.engine.confirm import confirm_name
                from sweeps.engine.lease import check_free

                check_free(args.storage_path, [args.name, confirm_name(args.name)])
            import_keras_quietly()
            plan = plan_from_args(sweep, argv)
            if plan.tools.dry_run:
                return dry_run(plan)
            existing = existing_experiments(plan)
            return run(plan)
        except UsageError as error:
            return usage_error(error, plan, existing)
        except OSError as error:
            return storage_error(error, plan)
        except ValueError as error:  # analysis.storage.StorageError: object storage failed during the run
            return object_storage_error(error, plan, existing)
        except (KeyboardInterrupt, Interrupted) as error:
            return interrupted(plan, getattr(error, "signum", signal.SIGINT))


def dry_run(plan: Plan) -> int:
    """`--dry-run`: the plan, checked against what exists (no storage probe, no download), printed."""
    from sweeps.engine import confirm
    from sweeps.engine.integrations import dry_run_lines
    from analysis import storage
    from sweeps.engine.preflight import check_address, check_experiment_dir

    remote = storage.is_remote(plan.storage_path)  # object storage is not reached by a dry run
    if not remote and confirm.confirmation_only(plan):  # the search is done: what the confirmation would run
        plan = confirm.confirmation_plan(plan)
    if not remote:
        check_experiment_dir(plan)
    if plan.address:
        check_address(plan.address)
    lines = dry_run_lines(plan, before_join=use_auth_token_if_present)
    if remote:
        lines.append(f"storage: {plan.storage_path} not read by a dry run (whether {plan.name!r} exists is "
                     "checked when the sweep starts, with a write probe)")
    if plan.confirm is not None:
        lines += confirm.describe(plan)
    elif plan.confirmed:
        lines += confirm.describe_confirmation(plan)
    print("\n".join(lines))
    return EXIT_OK


def usage_error(error: UsageError, plan: Plan | None, existing: frozenset[str] | None = None) -> int:
    """One line, exit 2; what this run created goes, once it is known what was there before it
    (never another live driver's experiment)."""
    from sweeps.engine.lease import LeaseHeld
    from sweeps.engine.preflight import remove_unfinished_experiment

    if plan is not None and existing is not None and not isinstance(error, LeaseHeld):
        remove_unfinished_experiment(plan, keep=existing)
    print(f"error: {error}", file=sys.stderr)
    return EXIT_USAGE


def object_storage_error(error: ValueError, plan: Plan | None, existing: frozenset[str] | None) -> int:
    """Object storage that failed (unreachable, denied, missing bucket): the usage-error line
    (analysis.storage words it without secrets); any other ValueError is a bug, raised as is."""
    from analysis.storage import StorageError

    if not isinstance(error, StorageError):
        raise error
    return usage_error(UsageError(str(error)), plan, existing)


def storage_error(error: OSError, plan: Plan | None) -> int:
    """A storage path that turned read-only or full during the run: one line, exit 2."""
    from sweeps.engine.preflight import storage_error_message

    message = storage_error_message(error, plan.storage_path) if plan is not None else None
    if message is None:
        raise error
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def interrupted(plan: Plan | None, signum: int = signal.SIGINT) -> int:
    """128 + the signal (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), and one line saying how to resume."""
    from sweeps.engine.signals import exit_code

    try:
        print(interrupted_line(plan, signum), file=sys.stderr)
    except OSError:  # SIGHUP: the terminal is gone
        pass
    return exit_code(signum)


def interrupted_line(plan: Plan | None, signum: int) -> str:
    from analysis import storage
    from sweeps.engine.signals import signal_name

    try:
        started = plan is not None and storage.is_dir(plan.experiment_dir)
    except ValueError:  # object storage unreachable now: the hint may still help
        started = True
    by = f"by {signal_name(signum)}"
    if not started:
        return f"interrupted {by} before the sweep started; nothing to resume"
    return f"interrupted {by}; resume with: {resume_command(plan)}"


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
