"""One stage's Tune experiment, from its trainable to its tables and exit code.

The stage says what to search (`sweeps.engine.stages`); this module builds the Tuner around
it the same way for every stage: resources per trial, checkpoints kept, the scheduler (ASHA,
budget-fair ASHA or FIFO), storage, trackers, resume, and after `fit()` the summary, the
Parquet export and the line that names errored trials.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import signal
import sys
from pathlib import Path
from typing import Any

from ray import tune

from analysis.store.export import export_experiment
from analysis.store.tune_files import read_experiment
from sweeps.engine import packing, trackers
from sweeps.engine.cli import resume_command
from sweeps.engine.compat import old_module_names
from sweeps.engine.dashboard import labelled_trainable
from sweeps.engine.errors import EXIT_ERRORED, EXIT_OK, Interrupted, UsageError
from sweeps.engine.fair_asha import scheduler_for
from sweeps.engine.locations import restore_source, trial_dirname_creator, tune_storage
from sweeps.engine.lost_trials import errored_summary, record_errors
from sweeps.engine.plan import Plan
from sweeps.engine.ray_session import keep_credentials_out_of_runtime_envs
from sweeps.engine.resources import concurrency, gpu_memory, running_resources
from sweeps.engine.signals import StopSignals
from sweeps.engine.stages import Stage
from sweeps.engine.sweep_metrics import metrics_callbacks
from trainables.devices import keras_backend
from trainables.recovery import recreate_lost_checkpoints
from trainables.trainable import train


def make_trainable(plan: Plan, data: Any, gpus: float) -> Any:
    """The stage's trainable with the data and each trial's resources: a pack trial when the stage
    packs (sweeps.engine.packing), with the resources of one lone trial."""
    resources = {"cpu": plan.cpus_per_trial, "gpu": gpus}
    function = train
    if plan.members > 1:
        from trainables.pack_trial import train_pack  # imports TensorFlow, which packs need (and only they)

        function = train_pack
    trainable = tune.with_resources(tune.with_parameters(function, data=data), resources)
    if plan.dashboard:  # each trial's actor named in the dashboard (sweeps.engine.dashboard)
        trainable = labelled_trainable(trainable, plan)
    return trainable


def checkpoint_config(plan: Plan) -> Any:
    """Keep the best epoch's checkpoint by the sweep's metric, and the latest.

    Ray (train/_internal/checkpoint_manager.py, `register_checkpoint`) deletes the
    checkpoints ranked below `num_to_keep` by the score "except for the latest checkpoint",
    and a restored or retried trial continues from `Trial.checkpoint`, the latest: so at
    most two stay on disk, the best for the analysis and the latest for resuming.
    """
    return tune.CheckpointConfig(num_to_keep=1, checkpoint_score_attribute=plan.metric,
                                 checkpoint_score_order=plan.mode)


def reopen_lost_checkpoints(plan: Plan) -> None:
    """Checkpoints Tune deleted before saving the state that names them (trainables.recovery)."""
    lost = recreate_lost_checkpoints(*restore_source(plan.experiment_dir))
    if lost:
        print(f"[{plan.sweep.family}] {plan.name}: the interrupted run lost the latest checkpoint of "
              f"{len(lost)} trial(s) ({', '.join(lost)}); they continue from an earlier checkpoint "
              "or from scratch", flush=True)


def as_started(param_space: dict[str, Any], experiment_dir: str) -> dict[str, Any]:
    """The param_space without the keys its experiment began without, read from its trials' configs.

    Tune refuses a restore whose param_space names other keys, and a key a later version adds with a
    default (validation_split, 0.2.0) must not change the remaining trials of an experiment that
    began without it: left out, the trainable's own default (0.1.0's behaviour) applies. Without a
    trial yet there is nothing to read, and the param_space goes as built."""
    configs = [trial.config for trial in read_experiment(experiment_dir)]
    if not configs:
        return param_space
    began_with = set().union(*configs)
    return {key: value for key, value in param_space.items() if key in began_with}


def make_tuner(stage: Stage, trainable: Any) -> Any:
    plan = stage.plan
    keep_credentials_out_of_runtime_envs()  # Ray would log the driver's storage keys with every trial
    param_space, settings = stage.tune_settings()
    if plan.resume:  # the same param_space: new trials resolve its sample_from functions
        path, filesystem = restore_source(plan.experiment_dir)  # a URI's endpoint kept (ray-project/ray#34489)
        if not tune.Tuner.can_restore(path, storage_filesystem=filesystem):
            raise UsageError(f"cannot resume {plan.name!r}: {plan.experiment_dir} holds no Tune experiment "
                             "(stopped before Tune saved one); delete it to start that sweep again")
        reopen_lost_checkpoints(plan)
        try:
            return tune.Tuner.restore(path, trainable=trainable, resume_errored=True,
                                      param_space=as_started(param_space, plan.experiment_dir),
                                      storage_filesystem=filesystem)
        except ValueError as error:  # Tune's check that the param_space names the keys it began with
            if "param_space" not in str(error):
                raise
            raise UsageError(f"cannot resume {plan.name!r}: its search space has other keys than this version of "
                             "the sweep builds; resume it with the version that started it") from None
    settings["trial_dirname_creator"] = trial_dirname_creator(plan.storage_path, settings.get("trial_dirname_creator"))
    scheduler = record_errors(scheduler_for(plan))  # ASHA, budget-fair ASHA (--stratify) or FIFO; errors saved
    return tune.Tuner(
        trainable,
        param_space=param_space,
        # reuse_actors: a trial after the first in a process skips the actor start and the imports
        # (benchmarks/trial_startup.py); `train` clears the Keras session, results stay identical
        # (tests/trainables/test_trial_startup.py).
        # Budget-fair ASHA's paused trials too: with the scheduler's queued-PAUSE fix (fae7350) its rungs
        # decide alike on reused actors (tests/engine/test_sweeps.py, test_fair_asha.py; the selu and
        # antirectifier smoke sweeps: the same results as fresh actors, 34 -> 20 s for the latter).
        # Not with --dashboard: Ray keeps an actor's first repr, so a reused actor would name an earlier trial.
        tune_config=tune.TuneConfig(metric=plan.metric, mode=plan.mode, scheduler=scheduler,
                                    reuse_actors=not plan.dashboard, **settings),
        run_config=tune.RunConfig(
            name=plan.name, **tune_storage(plan.storage_path), verbose=plan.verbose,
            failure_config=tune.FailureConfig(max_failures=plan.max_failures),
            checkpoint_config=checkpoint_config(plan), log_to_file=True,
            callbacks=trackers.callbacks(plan) + metrics_callbacks(plan),  # metrics only with --dashboard
        ),
    )


def run_stage(stage: Stage, data: Any, gpus: float, stop: StopSignals) -> int:
    """One Tune experiment (the search, or the confirmation) to its tables; returns the exit code."""
    plan = dataclasses.replace(stage.plan, param_space={**stage.plan.param_space, "gpus_per_trial": gpus,
                                                        "keras_backend": keras_backend()})
    plan = packing.resolve(plan, concurrency(running_resources(), plan.cpus_per_trial, gpus, plan.max_concurrent), gpus,
                           memory=gpu_memory() if gpus > 0 else None,
                           count=functools.partial(packing.count_parameters, data=data))
    stage = dataclasses.replace(stage, plan=plan)
    stage.announce()
    print(
        f"[{plan.sweep.family}] {plan.name}: {plan.num_samples} sample(s), budget {plan.max_epochs} epochs, "
        f"{plan.scheduler}, {plan.cpus_per_trial} CPU + {gpus} GPU per trial -> {plan.experiment_dir}",
        flush=True,
    )
    print(f"[{plan.sweep.family}] {plan.name}: {packing.describe(plan)}", flush=True)
    # Stop signals (Ctrl-C, SIGTERM, SIGHUP) are the runner's (sweeps.engine.signals): it hands
    # them to Tune's stop switch during fit(), so Tune's own SIGINT handler stays off (Tune's
    # documented switch); a fit() that returns after a stop signal is reported as interrupted
    # even when Tune's ResultGrid looks complete (a search that had not generated every trial).
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    restoring = old_module_names() if plan.resume else contextlib.nullcontext()  # what older versions pickled
    with stop.tune_running(), restoring:
        results = make_tuner(stage, make_trainable(plan, data, gpus)).fit()
    if stop.received is not None:
        raise Interrupted(stop.received)
    return finish(results, stage)


def finish(results: Any, stage: Stage) -> int:
    """Summary, tables and exit code of a stage whose `fit()` returned."""
    if results.num_terminated + results.num_errors < len(results):
        raise Interrupted(signal.SIGUSR1)  # Tune stopped early (SIGUSR1): trials are still running or pending
    print(f"{len(results)} trial(s), {results.num_errors} errored")
    stage.summarize(results)
    trials_path, epochs_path = export_tables(stage.plan.experiment_dir)
    print(f"tables: {trials_path}\n        {epochs_path}")
    line = errored_summary(list(results), resume_command(stage.plan))
    if line is not None:
        print(f"error: {line}", file=sys.stderr)
        return EXIT_ERRORED
    return EXIT_OK


def export_tables(experiment_dir: str) -> tuple[Path | str, Path | str]:
    return export_experiment([experiment_dir], out_dir=experiment_dir)
