"""The Ray instance a sweep runs on: started or joined, its environment set, its GPUs read.

Everything about the Ray processes lives here, in the order a sweep meets it:

- **The driver's console** (measured on a 2-trial smoke sweep, Ray 2.60, TensorFlow 2.21): every
  trial process forwards TensorFlow's C++ start-up notices (absl "I0000 ... oneDNN", "cuInit" ...)
  and one "Checkpoint successfully created at: ..." line per epoch to the driver's terminal.
  `TF_CPP_MIN_LOG_LEVEL` does not reach the absl lines, so the supported knob is Ray's own:
  `ray.init(log_to_driver=False)` keeps worker output in Ray's per-worker logs (`--verbose 2`
  shows it), and `RunConfig(log_to_file=True)` writes each trial's stdout/stderr to its folder.
  Tune's snapshot warning, which one-second epochs trigger every few seconds, is turned off
  through the variable it names (a value the user set is kept).
- **The workers' CPU priority**: Ray starts every worker at niceness +15 (`worker_niceness`); on
  a machine other normal-priority work keeps busy, Linux weighs nice 15 against nice 0 as 36 to
  1024, and a trial got about 3% of a core (benchmarks/busy_machine.py). So a local instance's
  workers run at the driver's priority (`RAY_worker_niceness=0` in the job's runtime env, the
  switch Ray's own job supervisor uses); `--polite` keeps Ray's +15; a joined cluster is left as
  its operator configured it.
- **Storage credentials stay out of what Ray records**: Tune copies the driver's AWS keys into
  every trial actor's runtime env (`ray/tune/execution/class_cache.py`, `ENV_VARS_TO_PROPAGATE`),
  and Ray's runtime-env agent logs that env in clear on every node, the GCS keeps it with each
  actor (tests/engine/test_object_storage.py searches everything a sweep wrote for the keys).
  Every node brings its own credentials instead (docs/clusters.md), so the sweep empties that set
  before its first trial: one of the project's two reaches into Ray's internals, kept to
  `keep_credentials_out_of_runtime_envs`.
- **The storage client's settings** (`analysis.store.storage.s3_settings`: the checksum setting an
  S3-compatible endpoint needs) go to every trial in its runtime env: a node's own environment
  may lack them, and they hold no secret.
- **Token authentication** when joining by address: `use_auth_token_if_present`, the other one.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

import ray

from analysis.store import storage
from sweeps.engine.errors import UsageError
from sweeps.engine.plan import Plan
from sweeps.engine.resources import gpu_share
from sweeps.engine.signals import Stopped
from trainables.devices import trial_environment

log = logging.getLogger(__name__)

# Tune warns when checkpoints every epoch force frequent experiment-state snapshots; with
# one-second epochs in small sweeps that is every few seconds and says nothing to act on.
SNAPSHOT_WARNING_VARIABLE = "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"
WORKER_NICENESS_VARIABLE = "RAY_worker_niceness"
CREDENTIAL_VARIABLES = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN",
                                  "AWS_SESSION_TOKEN"})


def quiet_driver_environment() -> None:
    """Set the driver-side switches before Tune starts (the user's own values win)."""
    os.environ.setdefault(SNAPSHOT_WARNING_VARIABLE, "0")


def forward_worker_logs(verbose: int) -> bool:
    """`ray.init(log_to_driver=...)`: worker output on the console only at `--verbose 2`."""
    return verbose >= 2


def worker_environment(local: bool, polite: bool) -> dict[str, str]:
    """runtime_env `env_vars` that set the trial workers' niceness (none: Ray's default)."""
    if local and not polite:
        return {WORKER_NICENESS_VARIABLE: "0"}
    return {}


def keep_credentials_out_of_runtime_envs() -> None:
    """Stop Tune from copying the driver's storage keys into its trial actors' runtime env."""
    try:
        from ray.tune.execution import class_cache  # Tune's internals: absent from another Ray
    except ImportError:
        return
    propagated = getattr(class_cache, "ENV_VARS_TO_PROPAGATE", None)
    if isinstance(propagated, set) and propagated & CREDENTIAL_VARIABLES:
        propagated.difference_update(CREDENTIAL_VARIABLES)
        log.debug("Tune no longer copies %s into trial runtime envs", sorted(CREDENTIAL_VARIABLES))


def use_auth_token_if_present() -> None:
    """Present the cluster token (~/.ray/auth_token) when joining by address.

    Ray's driver sends its token to an explicit address only when RAY_AUTH_MODE=token
    (`ray.init` enables it by itself only for a local or "auto" cluster). Setting that
    documented variable is not enough here: Ray reads it once, when its config is first
    loaded (at `import ray`, long before an address is known), and no public API reloads it.
    Ray's own helper sets it and reloads the config. Sending a token to a cluster without
    auth is harmless; an explicit RAY_AUTH_MODE is respected.
    """
    try:
        from ray._private.authentication.authentication_token_setup import (  # private: see above
            maybe_enable_token_auth_if_token_available,
        )
    except ImportError:  # a Ray without token auth
        return
    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def start_ray(plan: Plan) -> Any:
    """Start a local instance or join `plan.address`; returns Ray's context (dashboard URL)."""
    env = {"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2", **trial_environment(),  # KERAS_BACKEND among them
                        **worker_environment(local=not plan.address, polite=plan.polite),
                        **storage.s3_settings(plan.storage_path)}}  # the trials' uploads as the probe's
    to_driver = forward_worker_logs(plan.verbose)  # workers' TF notices and checkpoint lines
    quiet_driver_environment()
    try:
        if plan.address:
            use_auth_token_if_present()
            return ray.init(address=plan.address, runtime_env=env, log_to_driver=to_driver)
        return ray.init(  # "local": never the cluster a `ray start` on this machine advertises in /tmp/ray
            address="local", include_dashboard=plan.dashboard, dashboard_host="127.0.0.1", runtime_env=env,
            configure_logging=True, logging_level=logging.WARNING, log_to_driver=to_driver,
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"at {plan.address}" if plan.address else "locally"
        raise UsageError(f"could not start or join a Ray cluster {where}: {str(error).splitlines()[0]}") from None
    except SystemExit as exit_:  # ray.init's own SIGTERM handler, until StopSignals.install takes it back
        if exit_.code == signal.SIGTERM:
            raise Stopped(signal.SIGTERM) from None
        raise


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
    """The GPU share every trial requests (sweeps.engine.resources.gpu_share, as the dry run says)."""
    available = ray.cluster_resources().get("GPU", 0)
    share = gpu_share(plan.gpus_per_trial, plan.sweep.gpus_per_trial, available)
    if share > 0 and available == 0 and not plan.address:  # a local instance has no autoscaler to add GPUs
        raise UsageError(f"--gpus-per-trial {share:g}: this machine has no GPU Ray can see, so no trial "
                         "would ever start; leave it out (or 0) to train on the CPU")
    return share
