"""The sweep's optional tools, connected to the runner: flags, pre-flight checks, Tune settings.

Dry run, search algorithm, experiment trackers and the quiet console each live in their
own module (the time budget is Tune's `time_budget_s`); this one adds their flags to the
shared parser, checks what they need before Ray starts, and turns a `Plan` into the
`TuneConfig` / `RunConfig` pieces, so the runner calls a few functions and knows none of
the tools.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any, Callable

from sweeps.engine.trackers import TRACKERS

SEARCHES = ("random", "optuna")  # here, not in sweeps.engine.search: --help must not import Ray


@dataclass(frozen=True)
class Tools:
    """The optional tools a command line asked for (a `Plan` field)."""

    dry_run: bool = False
    time_budget: float | None = None
    search: str = "random"
    trackers: tuple[str, ...] = ()
    tracker_uri: str | None = None
    tracker_project: str | None = None


def add_arguments(parser: argparse.ArgumentParser, positive_float: Any) -> None:
    """The tools' flags, in their own group of the shared parser."""
    group = parser.add_argument_group("planning, search and tracking")
    group.add_argument("--dry-run", action="store_true",
                       help="print the resolved plan (trials per arm, sampled configs, resources, FIFO and ASHA "
                            "budgets) and exit without starting Ray or writing anything")
    group.add_argument("--time-budget", type=positive_float, default=None, metavar="SECONDS",
                       help="stop the whole sweep after this many seconds (Tune's time_budget_s); the trials "
                            "it stops or never starts have status time_budget in the tables")
    group.add_argument("--search", choices=SEARCHES, default="random",
                       help="random: nuisance values drawn once per sample and shared by every arm (paired); "
                            "optuna: TPE per arm over the nuisance dimensions, seeds a grid (default: random)")
    group.add_argument("--tracker", dest="trackers", choices=TRACKERS, action="append", default=[],
                       help="also log every trial to MLflow, Weights & Biases or Aim (repeatable)")
    group.add_argument("--tracker-uri", default=None,
                       help="MLflow tracking URI or Aim repository (default: $MLFLOW_TRACKING_URI / $AIM_REPO, "
                            "else beside the experiments under --storage-path; with object storage (s3://...), "
                            "under ~/ray_results on the driver, as are W&B's offline runs)")
    group.add_argument("--tracker-project", default=None,
                       help="MLflow experiment / W&B project (default: $MLFLOW_EXPERIMENT_NAME / $WANDB_PROJECT, "
                            "else the sweep's name / family)")


def tools_from_args(args: argparse.Namespace) -> Tools:
    return Tools(dry_run=args.dry_run, time_budget=args.time_budget, search=args.search,
                 trackers=tuple(dict.fromkeys(args.trackers)), tracker_uri=args.tracker_uri,
                 tracker_project=args.tracker_project)


def missing_package(tools: Tools) -> str | None:
    """One line naming the extra to install, for a tool whose package is absent (checked before Ray)."""
    from sweeps.engine import search, trackers

    if tools.dry_run:
        return None
    return (search.missing_package_message(tools.search)
            or trackers.missing_package_message(tools.trackers, tools.tracker_uri))


def tune_settings(plan: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(param_space, TuneConfig keyword arguments): the search by `--search`, the time budget."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    budget = {"time_budget_s": plan.tools.time_budget}
    if plan.confirmed:  # a confirmation stage: its trials come look by look (sweeps.engine.looks)
        from sweeps.engine.confirm import search_settings

        return plan.param_space, {**search_settings(plan), **budget}
    if plan.tools.search == "optuna":
        from sweeps.engine.search import optuna_search

        space, settings = optuna_search(plan.param_space, plan.num_samples, plan.metric, plan.mode, plan.seed,
                                        plan.max_concurrent)
        return space, {**settings, **budget}
    # Random dimensions are drawn once per sample and shared by its grid (seeds,
    # activations), so repeats and activation comparisons are properly paired.
    # (Tune ignores max_concurrent_trials when given a generator: it goes here.)
    search_alg = BasicVariantGenerator(constant_grid_search=True, random_state=plan.seed,
                                       max_concurrent=plan.max_concurrent or 0)
    return plan.param_space, {"search_alg": search_alg, "num_samples": plan.num_samples, **budget}


def callbacks(plan: Any) -> list[Any]:
    """Tune callbacks: the trackers asked for, and the sweep's metrics with --dashboard."""
    from sweeps.engine.sweep_metrics import metrics_callbacks
    from sweeps.engine.trackers import tracker_callbacks

    return tracker_callbacks(plan.tools.trackers, name=plan.name, family=plan.sweep.family,
                             storage_path=plan.storage_path, uri=plan.tools.tracker_uri,
                             project=plan.tools.tracker_project) + metrics_callbacks(plan)


def dry_run_lines(plan: Any, before_join: Callable[[], None] = lambda: None) -> list[str]:
    """The `--dry-run` report; joins a cluster (after `before_join`, e.g. presenting its token)
    only to read its resources when --address is given."""
    from sweeps.engine.dry_run import describe
    from sweeps.engine.resources import cluster_resources, local_resources

    if plan.address:
        before_join()
    resources = cluster_resources(plan.address) if plan.address else local_resources()
    lines = describe(plan, resources)
    if plan.tools.search == "optuna":
        where = next(index for index, line in enumerate(lines) if line.startswith("sampled configurations"))
        lines.insert(where, "--search optuna: the same trials per arm, but TPE chooses the nuisance values "
                            "(the samples below are what random search would run)")
    return lines
