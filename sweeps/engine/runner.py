"""The shared sweep runner: a `Sweep` declaration in, a finished Tune experiment out.

Each `sweeps/*.py` script declares a `Sweep` and calls `main(SWEEP)`. The command line
becomes a checked `Plan` (`sweeps.engine.plan`, no I/O), the outside world is checked
(`sweeps.engine.preflight`), and only then does Ray start: ASHA, resources, resume, and the
Parquet export at the end live here, with the exit codes.

Exit codes: 0 the sweep ran and at least one trial finished; 1 every trial errored (one
line naming the first error); 2 a usage error (one line); 130 interrupted (Ctrl-C), with
the command that resumes it.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

from sweeps.engine.cli import UsageError
from sweeps.engine.plan import Plan, plan_from_args
from sweeps.engine.sweep import Record, Space, Sweep, tune

__all__ = ["Plan", "Record", "Space", "Sweep", "main", "plan_from_args", "run", "sample_config", "make_trainable",
           "tune"]

log = logging.getLogger(__name__)

EXIT_OK, EXIT_ALL_ERRORED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Interrupted(Exception):
    """Tune stopped on SIGINT and `fit()` returned: the sweep is not finished."""


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
    from trainables.devices import trial_environment

    env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2", **trial_environment()}}  # KERAS_BACKEND among them
    to_driver = forward_worker_logs(plan.verbose)  # workers' TF notices and checkpoint lines
    try:
        if plan.address:
            use_auth_token_if_present()
            return ray.init(address=plan.address, runtime_env=env, log_to_driver=to_driver)
        return ray.init(
            include_dashboard=plan.dashboard, dashboard_host="127.0.0.1", runtime_env=env,
            configure_logging=True, logging_level=logging.WARNING, log_to_driver=to_driver,
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
    from trainables.recovery import recreate_lost_checkpoints

    lost = recreate_lost_checkpoints(str(plan.experiment_dir))
    if lost:
        print(f"[{plan.sweep.family}] {plan.name}: the interrupted run lost the latest checkpoint of "
              f"{len(lost)} trial(s) ({', '.join(lost)}); they continue from an earlier checkpoint "
              "or from scratch", flush=True)


def make_tuner(plan: Plan, trainable: Any):
    from ray import tune

    from sweeps.engine.fair_asha import scheduler_for
    from sweeps.engine.integrations import callbacks, tune_settings

    param_space, settings = tune_settings(plan)  # by --search; --time-budget
    if plan.resume:  # the same param_space: new trials resolve its sample_from functions
        if not tune.Tuner.can_restore(str(plan.experiment_dir)):
            raise UsageError(f"cannot resume {plan.name!r}: {plan.experiment_dir} holds no Tune experiment "
                             "(stopped before Tune saved one); delete it to start that sweep again")
        reopen_lost_checkpoints(plan)
        return tune.Tuner.restore(str(plan.experiment_dir), trainable=trainable, resume_errored=True,
                                  param_space=param_space)
    scheduler = scheduler_for(plan)  # ASHA, budget-fair ASHA (--stratify) or FIFO
    return tune.Tuner(
        trainable,
        param_space=param_space,
        # reuse_actors: a trial after the first in a process skips the actor start and the imports
        # (benchmarks/trial_startup.py); `train` clears the Keras session, results stay identical
        # (tests/test_trial_startup.py).
        # Not with budget-fair ASHA: a paused trial resumed on a reused actor lost its promotion
        # (tests/test_fair_asha.py saw 1 of 2 promoted trials reach the next rung, others left PAUSED).
        tune_config=tune.TuneConfig(metric=plan.metric, mode=plan.mode, scheduler=scheduler,
                                    reuse_actors=not plan.stratify,
                                    **settings),
        run_config=tune.RunConfig(
            name=plan.name, storage_path=plan.storage_path, verbose=plan.verbose,
            failure_config=tune.FailureConfig(max_failures=plan.max_failures),
            checkpoint_config=checkpoint_config(plan), callbacks=callbacks(plan), log_to_file=True,
        ),
    )


def export_tables(experiment_dir: Path) -> tuple[Path, Path]:
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
    import ray

    from sweeps.engine import confirm
    from sweeps.engine.console import quiet_driver_environment
    from sweeps.engine.preflight import check_experiment_dir, preflight

    only_confirm = confirm.confirmation_only(plan)
    confirm_plan = confirm.confirmation_plan(plan) if only_confirm else None
    preflight(confirm_plan or plan)
    quiet_driver_environment()
    context = start_ray(plan)
    try:
        if plan.dashboard:
            print_dashboard(context)
        gpus = resolve_gpus(plan)
        data = load_data(confirm_plan or plan)  # the confirmation runs on the data the search ran on
        if confirm_plan is None:
            code = run_stage(plan, data, gpus)
            if plan.confirm is None or code != EXIT_OK:
                return code
            confirm_plan = confirm.confirmation_plan(plan)
            check_experiment_dir(confirm_plan)
        confirm.announce(confirm_plan, asked=plan.confirm)
        code = run_stage(confirm_plan, data, gpus)
        if code == EXIT_OK:
            confirm.print_verdict(confirm_plan)
        return code
    finally:
        ray.shutdown()


def run_stage(plan: Plan, data: Any, gpus: float) -> int:
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
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    results = make_tuner(plan, make_trainable(plan, data, gpus)).fit()
    return finish(results, plan)


def finish(results: Any, plan: Plan) -> int:
    """Summary, tables and exit code of a sweep whose `fit()` returned."""
    if results.num_terminated + results.num_errors < len(results):
        raise Interrupted  # Tune stopped early (SIGUSR1): trials are still running or pending
    summarize(results, plan)
    trials_path, epochs_path = export_tables(plan.experiment_dir)
    print(f"tables: {trials_path}\n        {epochs_path}")
    if len(results) and results.num_errors == len(results):
        print(f"error: every trial errored; the first: {first_error_line(results.errors[0])}", file=sys.stderr)
        return EXIT_ALL_ERRORED
    return EXIT_OK


def first_error_line(error: BaseException) -> str:
    """The exception a trial raised, in one line (Ray wraps it with the remote traceback)."""
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}".strip()


def summarize(results: Any, plan: Plan) -> None:
    errors = results.num_errors
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

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    argv = list(sys.argv[1:] if argv is None else argv)
    plan, existing = None, frozenset()
    try:
        parse_args(sweep, argv)  # --help and malformed flags answer before Keras is imported (~5 s)
        import_keras_quietly()
        plan = plan_from_args(sweep, argv)
        existing = existing_experiments(plan)
        if plan.tools.dry_run:
            return dry_run(plan)
        return run(plan)
    except UsageError as error:
        return usage_error(error, plan, existing)
    except OSError as error:
        return storage_error(error, plan)
    except (KeyboardInterrupt, Interrupted):
        return interrupted(plan)


def dry_run(plan: Plan) -> int:
    """`--dry-run`: the plan, checked against what exists (no storage probe, no download), printed."""
    from sweeps.engine import confirm
    from sweeps.engine.integrations import dry_run_lines
    from sweeps.engine.preflight import check_address, check_experiment_dir

    if confirm.confirmation_only(plan):  # the search is done: what the confirmation would run
        plan = confirm.confirmation_plan(plan)
    check_experiment_dir(plan)
    if plan.address:
        check_address(plan.address)
    lines = dry_run_lines(plan, before_join=use_auth_token_if_present)
    if plan.confirm is not None:
        lines += confirm.describe(plan)
    elif plan.confirmed:
        lines += confirm.describe_confirmation(plan)
    print("\n".join(lines))
    return EXIT_OK


def usage_error(error: UsageError, plan: Plan | None, existing: frozenset[Path] = frozenset()) -> int:
    from sweeps.engine.preflight import remove_unfinished_experiment

    if plan is not None:
        remove_unfinished_experiment(plan, keep=existing)
    print(f"error: {error}", file=sys.stderr)
    return EXIT_USAGE


def storage_error(error: OSError, plan: Plan | None) -> int:
    """A storage path that turned read-only or full during the run: one line, exit 2."""
    from sweeps.engine.preflight import storage_error_message

    message = storage_error_message(error, plan.storage_path) if plan is not None else None
    if message is None:
        raise error
    print(f"error: {message}", file=sys.stderr)
    return EXIT_USAGE


def interrupted(plan: Plan | None) -> int:
    if plan is None or not plan.experiment_dir.is_dir():
        print("interrupted before the sweep started; nothing to resume", file=sys.stderr)
    else:
        print(f"interrupted; resume with: {resume_command(plan)}", file=sys.stderr)
    return EXIT_INTERRUPTED


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
