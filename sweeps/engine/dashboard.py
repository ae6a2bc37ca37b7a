"""A sweep you can watch in Ray's dashboard: the job's name, each trial's actor, where to look.

Left alone, Ray's dashboard knows a sweep as one job named "-" (the Jobs page's Name column reads
the `job_name` key of the job's metadata) and its trials as anonymous `ImplicitFunc` actors whose
Repr is `train` (the Actors page shows an actor's `repr()` so that long-running actors can be told
apart). This module gives the runner what it needs to change that:

- `job_config(plan)`: the job's metadata names the experiment, `<family>: <name>`, on a local
  instance and on a joined cluster alike. A job submitted with a `job_name` of its own (`ray job
  submit --metadata-json`, a KubeRay RayJob) keeps it: Ray lets the submission's metadata win.
- `labelled_trainable(trainable, plan)`: the trial actors' class, whose repr is
  `trial <id> <arm> seed <s> <stage>`, e.g. `trial 5e0f3_00002 activation=relu seed 0 search`.
- `console_lines(context, plan)`: the dashboard, the job, the page with the trials, the metrics.

Why `--dashboard` turns actor reuse off: Ray records an actor's repr once, when the actor is
created (the worker returns `repr(actor)` with its creation task's reply; Ray 2.60 has no call that
changes it later). Tune's `reuse_actors` runs later trials on an actor made for an earlier one, whose
Repr would go on naming that first trial. So with `--dashboard` every trial gets an actor of its own
(the runner's `make_tuner`), and its Repr is exactly right; this costs each trial the actor start
and the imports, about 5 s on a 2-vCPU VM (BENCHMARKS.md, trial start-up), small against the long
trials one watches in a dashboard. Ray names an actor only when it is created with
`.options(name=...)`, which Tune does not expose, so the Name column stays "-".
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import ray
from ray.job_config import JobConfig
from ray.tune.trainable import wrap_function

from analysis.store.arms import arm_label
from sweeps.engine.locations import CONFIRM_SUFFIX
from sweeps.engine.space.keys import grid_keys

ONE_ARM = "one-arm"  # the arm of a sweep whose scientific keys take one value (as sweeps.engine.confirm names it)
SEARCH, CONFIRMATION = "search", "confirmation"
METRICS_PREFIX = "ray_actsweep_"  # what Prometheus shows of sweeps.engine.sweep_metrics' names


def experiment_name(plan: Any) -> str:
    """The search's `--name`, for its confirmation too: one driver runs both stages, as one job."""
    return plan.name[:-len(CONFIRM_SUFFIX)] if plan.confirmed and plan.name.endswith(CONFIRM_SUFFIX) else plan.name


def job_name(plan: Any) -> str:
    """The experiment, as the Jobs page's Name column shows it: `<family>: <name>`."""
    return f"{plan.sweep.family}: {experiment_name(plan)}"


def job_config(plan: Any) -> JobConfig:
    """`ray.init(job_config=...)`: the job's metadata names the experiment (Ray's documented key
    `job_name`), plus the family and experiment on their own for anything that reads the API."""
    return JobConfig(metadata={"job_name": job_name(plan), "actsweep_family": plan.sweep.family,
                               "actsweep_experiment": plan.name})


def arm_keys(plan: Any) -> tuple[str, ...]:
    """The keys whose values make a search trial's arm: `--stratify`'s, else the sweep's scientific
    keys that vary (as budget-fair ASHA and the confirmation stage choose them)."""
    if plan.stratify:
        return tuple(plan.stratify)
    varying = grid_keys(plan.param_space, several=True)
    return tuple(key for key in plan.sweep.scientific if key in varying)


def stage_of(config: Mapping[str, Any]) -> str:
    """A confirmation trial's config says which search trial it re-runs (`confirms`)."""
    return CONFIRMATION if "confirms" in config else SEARCH


def trial_arm(config: Mapping[str, Any], keys: Sequence[str]) -> str:
    """The trial's arm label (analysis.store.arms), the confirmation's own when it has one."""
    if stage_of(config) == CONFIRMATION:
        return str(config.get("confirm_arm") or ONE_ARM)
    return arm_label(config, keys) or ONE_ARM


def trial_label(trial_id: str, config: Mapping[str, Any], keys: Sequence[str]) -> str:
    """`trial <id> <arm> seed <s> <stage>`: what the Actors page's Repr column shows."""
    return f"trial {trial_id} {trial_arm(config, keys)} seed {config.get('seed')} {stage_of(config)}"


def labelled_trainable(trainable: Any, plan: Any) -> type:
    """The function trainable (after `tune.with_resources`, whose resources it keeps) as the class Tune
    would make of it (`wrap_function`, which Tune calls itself when given a function), with a repr that
    names the trial. The Actors page's Class column reads `SweepTrial` (Tune's own: `ImplicitFunc`); the
    class keeps Tune's trainable name (`train`), so trial folders and tables are named as without it."""
    keys = arm_keys(plan)

    class SweepTrial(wrap_function(trainable)):
        def __repr__(self) -> str:  # called by the worker once, right after __init__ (see module docstring)
            return trial_label(self.trial_id, self.config, keys)

    SweepTrial.__qualname__ = SweepTrial.__name__  # not labelled_trainable.<locals>.SweepTrial
    return SweepTrial


def dashboard_url(context: Any) -> str | None:
    url = getattr(context, "dashboard_url", None)
    if not url:
        return None
    return url if url.startswith("http") else f"http://{url}"


def metrics_endpoint() -> str | None:
    """This node's metrics export endpoint (Ray's `ray.nodes()`), where the driver's metrics appear."""
    here = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node.get("NodeID") == here and node.get("MetricsExportPort", -1) > 0:
            return f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
    return None


def console_lines(context: Any, plan: Any) -> list[str]:
    """What `--dashboard` prints once Ray runs: the dashboard, the job and its trials' page, the metrics."""
    url = dashboard_url(context)
    if url is None:
        return ["Ray dashboard did not start (is `ray[default]` installed?)"]
    if plan.address:
        where = f"Ray dashboard: {url} (the cluster's own)"
    else:
        where = (f"Ray dashboard: {url} (bound to 127.0.0.1; from another machine use "
                 "`ssh -L 8265:127.0.0.1:8265 host`)")
    job = ray.get_runtime_context().get_job_id()
    lines = [where,
             f"  job {job_name(plan)!r} ({job}): its trials are on {url}/#/actors, Repr `trial <id> <arm> seed "
             f"<seed> <stage>` (one actor per trial)"]
    metrics = metrics_endpoint()
    if metrics:
        lines.append(f"  sweep metrics: {METRICS_PREFIX}* on {metrics} (Prometheus and Grafana: docs/clusters.md, "
                     "\"Watching a sweep\")")
    lines.append("  sign-in token: `ray get-auth-token` prints it (Ray 2.60 turns token auth on for a local instance "
                 "unless RAY_AUTH_MODE=disabled; a cluster has it only where every node was started with "
                 "RAY_AUTH_MODE=token)")
    return lines


__all__ = ["arm_keys", "console_lines", "experiment_name", "job_config", "job_name", "labelled_trainable", "stage_of",
           "trial_arm", "trial_label"]
