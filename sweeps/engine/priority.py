"""The CPU priority of a local sweep's trial workers: the driver's own, or Ray's polite one.

Ray starts every worker process at niceness +15 (its `worker_niceness` setting; a worker's
niceness is the raylet's plus that, capped at 19), so that the driver and Ray's own daemons
stay responsive. On a machine other normal-priority work keeps busy, such workers get almost
no CPU: Linux' scheduler weighs nice 15 against nice 0 as 36 to 1024, so beside two CPU-bound
processes on 2 cores a trial gets about 3% of a core (benchmarks/busy_machine.py; issue 24 saw
2 epochs in 14 minutes of a sweep that takes a minute on the idle machine).

So a local instance's workers run at the driver's priority by default: `RAY_worker_niceness=0`
in the job's runtime environment, the switch Ray's own job supervisor uses for the same
purpose (ray/dashboard/modules/job/job_manager.py). The sweep then shares the machine as any
other process of its user would; `nice -n 10 python sweeps/...` lowers all of it. `--polite`
keeps Ray's +15, for a sweep that should only use what others leave. A joined cluster
(`--address`) is left as its operator configured it.
"""

from __future__ import annotations

WORKER_NICENESS_VARIABLE = "RAY_worker_niceness"


def worker_environment(local: bool, polite: bool) -> dict[str, str]:
    """runtime_env `env_vars` that set the trial workers' niceness (none: Ray's default)."""
    if local and not polite:
        return {WORKER_NICENESS_VARIABLE: "0"}
    return {}
