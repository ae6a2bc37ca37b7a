"""The steps a sweep takes, top to bottom: `run` reads like the procedure it runs.

1. read what exists: the first stage (the search, or the confirmation of a finished one);
2. check the outside world (storage, cluster address, data, extras) before anything starts;
3. take a lease on each experiment (one driver per experiment, `sweeps.engine.lease`);
4. start or join Ray, check a local storage path is shared by every node, resolve the GPU share;
5. load the data once for all trials;
6. run each stage's Tune experiment in turn (`sweeps.engine.tune_run`), until one fails or none follows.

The runner's front door (`sweeps.engine.runner.main`) parses the command line, then calls
`plan_from_args` and `run` (or `dry_run`) here; its error handlers turn what goes wrong into
one line and an exit code.
"""

from __future__ import annotations

from typing import Any

import ray

from sweeps.engine import lease
from sweeps.engine.dry_run import dry_run_lines
from sweeps.engine.errors import EXIT_OK, UsageError
from sweeps.engine.exits import interrupted_line
from sweeps.engine.locations import experiment_names
from sweeps.engine.plan import Plan, plan_from_args
from sweeps.engine.preflight import check_experiment_dir, existing_experiments, preflight
from sweeps.engine.ray_session import print_dashboard, resolve_gpus, start_ray
from sweeps.engine.shared_storage import check_shared_storage
from sweeps.engine.signals import StopSignals
from sweeps.engine.space.checks import DATA_KEYS
from sweeps.engine.stages import first_stage
from sweeps.engine.tune_run import run_stage
from trainables.data import DataError, load_dataset

__all__ = ["dry_run", "existing_experiments", "plan_from_args", "run"]


def run(plan: Plan) -> int:
    """Check the outside world, run the search and/or its confirmation; returns the exit code."""
    active = StopSignals.active()  # main's
    if active is not None:
        return run_with(plan, active)
    with StopSignals() as stop:
        return run_with(plan, stop)


def run_with(plan: Plan, stop: StopSignals) -> int:
    """`run`, with the stop signals handled by `stop`."""

    def last_words(signum: int) -> str:
        return interrupted_line(plan, signum)

    stop.last_words = last_words  # if Ray never lets the main thread out
    lease.check_free(plan.storage_path, experiment_names(plan.name))  # reads only
    stage = first_stage(plan)
    preflight(stage.plan)
    with lease.holding(plan.storage_path, list(dict.fromkeys([plan.name, stage.plan.name])),
                       on_lost=lambda holder: stop.request_stop()) as leases:

        def release_and_say(signum: int) -> str:  # the process ends itself (sweeps.engine.signals)
            leases.release()
            return last_words(signum)

        stop.last_words = release_and_say
        context = start_ray(plan)
        stop.install()  # after ray.init, which put its own handlers (and absl's crash dump) on SIGTERM
        try:
            check_shared_storage(plan.storage_path)  # on several nodes a local path must be one shared disk
            if plan.dashboard:
                print_dashboard(context, plan)
            gpus = resolve_gpus(plan)
            data = load_data(stage.plan)  # a confirmation runs on the data its search ran on
            while stage is not None:
                code = run_stage(stage, data, gpus, stop)
                if code != EXIT_OK:
                    return code
                stage.conclude()
                stage = stage.following()
                if stage is not None:
                    check_experiment_dir(stage.plan)
                    leases.hold(stage.plan.name)
            return EXIT_OK
        finally:
            ray.shutdown()


def load_data(plan: Plan) -> Any:
    """The arrays, once for all trials; a data problem found only now is still a usage error."""
    settings = {key: plan.param_space.get(key) for key in DATA_KEYS}
    print(f"[{plan.sweep.family}] loading {plan.dataset} once for all trials ...", flush=True)
    try:
        return load_dataset(plan.dataset, plan.data_dir, seed=plan.seed, **settings)
    except DataError as error:
        raise UsageError(str(error)) from None


def dry_run(plan: Plan) -> int:
    """`--dry-run`: the plan, checked against what exists (no storage probe, no download), printed."""
    print("\n".join(dry_run_lines(plan)))
    return EXIT_OK
