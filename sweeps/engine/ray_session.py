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
  before its first trial: one of the project's three reaches into Ray's internals, kept to
  `keep_credentials_out_of_runtime_envs`.
- **The storage client's settings** (`analysis.store.storage.s3_settings`: the checksum setting an
  S3-compatible endpoint needs) go to every trial in its runtime env: a node's own environment
  may lack them, and they hold no secret.
- **The code travels with the sweep** (`project_code`): trials import `trainables` (and unpickle
  what the driver's `sweeps` and `analysis` hand them), so on a joined cluster the runner ships the
  three source packages, as the driver imported them, through Ray's runtime env (`py_modules`);
  Ray puts them first on every trial worker's path, on every node, so the nodes need Ray and the
  project's dependencies but not the checkout, and a node's own older copy is never the one run.
  Only those package folders go (about 0.6 MB; no results, `.git` or data); one console line says
  what and how much. A local instance runs from this checkout already: nothing is shipped. In a
  Ray job whose own runtime env already sets `py_modules`, Ray refuses the merge (one line, exit 2).
- **Token authentication** when joining by address: `use_auth_token_if_present` presents the
  token (the second reach: Ray's private helper); before that, `sweeps.engine.admission` asks the
  cluster's GCS, through Ray's generated gRPC stubs (the third), whether it answers a stranger (no token)
  and this driver's token. Ray 2.60 enables token auth on a cluster only where told: `ray start
  --head` with RAY_AUTH_MODE unset enables it only if a token already exists (~/.ray/auth_token,
  RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN; else it starts open and logs a warning), `ray start
  --address` never enables it by itself (RAY_AUTH_MODE=token must be set on every node), only a
  local `ray.init()` turns it on by default (ray/_private/authentication/authentication_token_setup.py).
  A sweep that joins an open cluster warns in one line rather than refusing: the cluster is open
  to its network whether or not the sweep runs, the sweep cannot close it, and some operators
  keep clusters open on purpose behind a private network; the line says how to close it.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import AuthenticationError

try:  # Tune's and Ray's internals (the module docstring counts the project's reaches into them)
    from ray.tune.execution import class_cache
except ImportError:  # a Ray that moved it: nothing to turn off
    class_cache = None
try:
    from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available
except ImportError:  # a Ray without token auth
    maybe_enable_token_auth_if_token_available = None

import analysis
import sweeps
import trainables
from analysis.store import storage
from sweeps.engine.admission import check_admission, gcs_admits, open_cluster_warning, token_refused_line
from sweeps.engine.dashboard import console_lines, job_config
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
    propagated = getattr(class_cache, "ENV_VARS_TO_PROPAGATE", None)
    if isinstance(propagated, set) and propagated & CREDENTIAL_VARIABLES:
        propagated.difference_update(CREDENTIAL_VARIABLES)
        log.debug("Tune no longer copies %s into trial runtime envs", sorted(CREDENTIAL_VARIABLES))


@dataclass(frozen=True)
class ProjectCode:
    """The source packages a joined cluster's trials import, as this driver imported them."""

    folders: tuple[Path, ...]
    files: int
    size_bytes: int

    def runtime_env(self) -> dict[str, list[str]]:
        return {"py_modules": [str(folder) for folder in self.folders]}

    def describe(self) -> str:
        names = ", ".join(folder.name for folder in self.folders)
        roots = sorted({str(folder.parent) for folder in self.folders})
        return (f"shipping the project's code with the sweep: {names} from {', '.join(roots)} "
                f"({self.files} files, {self.size_bytes / 2**20:.2f} MiB, Ray's py_modules); "
                "every trial imports this copy, not one installed on its node")


def project_code() -> ProjectCode:
    """The folders of `trainables`, `sweeps` and `analysis` (the packages pyproject.toml installs)."""
    folders = tuple(Path(package.__file__).resolve().parent for package in (trainables, sweeps, analysis))
    files = [path for folder in folders for path in folder.rglob("*") if path.is_file()]
    return ProjectCode(folders, len(files), sum(path.stat().st_size for path in files))


def refused_for_its_token(error: BaseException) -> bool:
    """Whether ray.init failed because the cluster refused the token ("auto" addresses, which are
    not checked beforehand): Ray wraps its AuthenticationError, at times only as text, in the
    ConnectionError it raises."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, AuthenticationError) or "InvalidAuthToken" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def join_cluster(plan: Plan, env: dict[str, Any], to_driver: bool) -> Any:
    """`ray.init(address=...)` with the project's code shipped and the token presented. Before
    joining, the cluster is asked whether it admits this driver (`sweeps.engine.admission`, also
    asked before Keras is imported): one line at once when it wants a token this driver lacks or
    one it does not hold (not after Ray's retries), a warning when it wants none."""
    code = project_code()
    open_to_strangers = check_admission(plan.address)
    use_auth_token_if_present()
    context = ray.init(address=plan.address, runtime_env={**env, **code.runtime_env()}, log_to_driver=to_driver,
                       job_config=job_config(plan))  # the job named after the experiment
    print(f"[{plan.sweep.family}] {code.describe()}", flush=True)
    if open_to_strangers is None and not plan.address.startswith("ray://"):  # "auto": asked once joined
        open_to_strangers = gcs_admits(ray.get_runtime_context().gcs_address)
    if open_to_strangers:
        print(f"[{plan.sweep.family}] {open_cluster_warning(plan.address)}", flush=True)
    return context


def use_auth_token_if_present() -> None:
    """Present the cluster token (~/.ray/auth_token) when joining by address.

    Ray's driver sends its token to an explicit address only when RAY_AUTH_MODE=token
    (`ray.init` enables it by itself only for a local or "auto" cluster). Setting that
    documented variable is not enough here: Ray reads it once, when its config is first
    loaded (at `import ray`, long before an address is known), and no public API reloads it.
    Ray's own helper sets it and reloads the config. Sending a token to a cluster without
    auth is harmless; an explicit RAY_AUTH_MODE is respected.
    """
    if maybe_enable_token_auth_if_token_available is not None:
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
            return join_cluster(plan, env, to_driver)
        return ray.init(  # "local": never the cluster a `ray start` on this machine advertises in /tmp/ray
            address="local", include_dashboard=plan.dashboard, dashboard_host="127.0.0.1", runtime_env=env,
            configure_logging=True, logging_level=logging.WARNING, log_to_driver=to_driver, job_config=job_config(plan),
        )
    except UsageError:
        raise
    except (ConnectionError, RuntimeError, ValueError) as error:
        if refused_for_its_token(error):
            raise UsageError(token_refused_line(plan.address)) from None
        where = f"at {plan.address}" if plan.address else "locally"
        raise UsageError(f"could not start or join a Ray cluster {where}: {str(error).splitlines()[0]}") from None
    except SystemExit as exit_:  # ray.init's own SIGTERM handler, until StopSignals.install takes it back
        if exit_.code == signal.SIGTERM:
            raise Stopped(signal.SIGTERM) from None
        raise


def print_dashboard(context: Any, plan: Plan) -> None:
    """The dashboard, the job and its trials' page, the metrics endpoint (`sweeps.engine.dashboard`)."""
    print("\n".join(console_lines(context, plan)), flush=True)


def resolve_gpus(plan: Plan) -> float:
    """The GPU share every trial requests (sweeps.engine.resources.gpu_share, as the dry run says)."""
    available = ray.cluster_resources().get("GPU", 0)
    share = gpu_share(plan.gpus_per_trial, plan.sweep.gpus_per_trial, available)
    if share > 0 and available == 0 and not plan.address:  # a local instance has no autoscaler to add GPUs
        raise UsageError(f"--gpus-per-trial {share:g}: this machine has no GPU Ray can see, so no trial "
                         "would ever start; leave it out (or 0) to train on the CPU")
    return share
