"""The command line every sweep script shares: flags parsed into typed values.

Only argparse here (no Ray, no Keras), so `--help` answers at once. Values that depend
on the sweep (records, `--set` keys, the metric) are checked by `sweeps.engine.plan`.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shlex
from typing import Any, Sequence

from analysis.cli_parser import number, positive_float, positive_int
from sweeps.engine.errors import DEFAULT_CONFIRM_BATCH, DEFAULT_CONFIRM_REPEATS, MAX_REPEATS, UsageError
from sweeps.engine.sweep import Sweep
from sweeps.engine.trackers import TRACKERS

SEARCHES = ("random", "optuna")  # the search stage's algorithms (sweeps.engine.stages.search)


_seed = number(int, 0, inclusive=True, what="an integer >= 0")
_retries = number(int, -1, inclusive=True, what="an integer >= 0 (or -1: retry without limit)")
_reduction = number(float, 1, inclusive=False, what="a number above 1 (ASHA keeps the top 1/F)")


def _repeats(text: str) -> int:
    value = positive_int(text)
    if value > MAX_REPEATS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_REPEATS}, got {text}")
    return value


def _gpu_share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(
            f"must be a share of one GPU between 0 and 1 (e.g. 0.25 packs 4 trials per GPU), got {text}"
        )
    return value


def batch_value(text: str) -> int | None:
    """--confirm-batch: "auto" (None: sized by sweeps.engine.look_size) or seeds per look (an integer >= 1)."""
    if text == "auto":
        return None
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be auto or an integer >= 1 (seeds per look), got {text!r}") from None


def pack_value(text: str) -> str | int:
    """--pack: "auto", "off", or the most seeds of one configuration one trial trains (an integer >= 1)."""
    if text in ("auto", "off"):
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be auto, off or an integer >= 1 (seeds per pack), got {text!r}")
    return value


_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]*")


def plain_name(text: str) -> str:
    """An experiment name: one directory under --storage-path, never a path."""
    if not _PLAIN_NAME.fullmatch(text) or ".." in text:
        raise argparse.ArgumentTypeError(
            f"must be a plain name (letters, digits, _ . = + -; no path separators or '..'), got {text!r}"
        )
    return text


def _assignment(text: str) -> tuple[str, str]:
    """KEY=VALUE, the value kept as text: its type depends on the key (`sweeps.engine.space.overrides`)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is a UsageError like every other (one line, exit 2; no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser(prog: str, description: str, *, metric: str, mode: str, max_epochs: int,
                 dataset: str, records: Sequence[int], num_samples: int,
                 gpus_per_trial: float, margin: float = 0.01) -> argparse.ArgumentParser:
    """The shared parser; flags whose default depends on --smoke or --record default to None."""
    parser = _Parser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
                     allow_abbrev=False)
    _search_flags(parser.add_argument_group("search"), max_epochs=max_epochs, records=records,
                  num_samples=num_samples)
    sched = parser.add_argument_group("scheduling")
    sched.add_argument("--scheduler", choices=("asha", "fifo"), default="asha",
                       help="asha stops weak trials early; fifo runs every trial to the budget (default: asha)")
    sched.add_argument("--grace-period", type=positive_int, default=None,
                       help="epochs every trial gets before ASHA may stop it (default: max(1, max_epochs // 10))")
    sched.add_argument("--reduction-factor", type=_reduction, default=3.0,
                       help="ASHA keeps the top 1/F at each rung (default: %(default)s)")
    sched.add_argument("--stratify", default=None, metavar="KEY[,KEY...]",
                       help="budget-fair ASHA: every combination of these keys' values (an arm) has its own "
                            "rungs; 'none' = one pool (default: the sweep's scientific keys that take more "
                            "than one value)")
    confirm = parser.add_argument_group("confirmation (after the search; see docs/comparing-activations.md and "
                                        "docs/verdicts.md)")
    confirm.add_argument("--confirm", type=positive_int, default=None, metavar="K",
                         help="re-run each arm's top K configurations with new seeds to the full budget under "
                              "FIFO, as the experiment <name>-confirm, and print the verdict from those runs; "
                              "with --name of a finished search, runs only the confirmation")
    confirm.add_argument("--confirm-repeats", type=_repeats, default=None, metavar="N",
                         help=f"the most new seeds a confirmed configuration may use, the same in every arm: seeds "
                              f"are added in looks of --confirm-batch until every comparison is decided "
                              f"(default: {DEFAULT_CONFIRM_REPEATS})")
    confirm.add_argument("--confirm-batch", type=batch_value, default=None, metavar="auto|B",
                         help="new seeds per configuration at each look; B >= N runs one look of N, the fixed "
                              "design; auto: the look size with the least expected wall time for what a pack of "
                              f"seeds costs on this machine ({DEFAULT_CONFIRM_BATCH} where that is not measured: "
                              "a GPU; docs/verdicts.md) (default: auto)")
    confirm.add_argument("--margin", type=positive_float, default=None, metavar="DELTA",
                         help=f"the smallest difference that matters, in the verdict metric's units (test accuracy: "
                              f"0.01 = one point): two arms within +-DELTA are equivalent, a difference is called "
                              f"only where it is significant (default: the sweep's, {margin:g})")
    sched.add_argument("--metric", default=metric, help="metric to optimise, one the trial reports (default: %(default)s)")
    sched.add_argument("--mode", choices=("max", "min"), default=mode, help="default: %(default)s")
    _resource_flags(parser.add_argument_group("resources"), gpus_per_trial=gpus_per_trial)
    _output_flags(parser.add_argument_group("data and results"), dataset=dataset)
    _tool_flags(parser.add_argument_group("planning, search and tracking"))
    return parser


def parse_args(sweep: Sweep, argv: Sequence[str]) -> argparse.Namespace:
    """The command line of `sweep`'s script, parsed once (`sweeps.engine.plan` resolves it)."""
    parser = build_parser(
        prog=f"sweeps/{sweep.family}.py", description=sweep.description, metric=sweep.metric,
        mode=sweep.mode, max_epochs=sweep.max_epochs, dataset=sweep.dataset, records=sorted(sweep.records),
        num_samples=sweep.num_samples, gpus_per_trial=sweep.gpus_per_trial, margin=sweep.margin,
    )
    return parser.parse_args(argv)


def _search_flags(group: Any, *, max_epochs: int, records: Sequence[int], num_samples: int) -> None:
    group.add_argument("--num-samples", type=positive_int, default=None,
                       help=f"configurations sampled from the search space; each runs every grid value "
                            f"(default: {num_samples}; --smoke: the smoke sweep's)")
    group.add_argument("--repeats", type=_repeats, default=1,
                       help="run each sampled configuration with K seeds, for the statistics (default: 1)")
    group.add_argument("--seed", type=_seed, default=0,
                       help="base seed: sampling of the space, and trial seeds seed..seed+K-1 (default: 0)")
    group.add_argument("--record", type=int, default=None,
                       help=f"run one published tuning record exactly (available: {', '.join(map(str, records)) or 'none'})")
    group.add_argument("--max-epochs", type=positive_int, default=None,
                       help=f"epoch budget of every trial (default: {max_epochs}; a --record: its published budget; "
                            "--smoke: the smoke sweep's)")
    group.add_argument("--set", dest="overrides", type=_assignment, action="append", default=[], metavar="KEY=VALUE",
                       help="fix one trial config key for every trial, e.g. --set batch_size=128; a JSON list makes "
                            "it a grid, e.g. --set 'activation=[\"aprelu\",\"relu\"]' (repeatable)")
    group.add_argument("--smoke", action="store_true",
                       help="a complete tiny sweep on generated data in a few minutes on a CPU")


def _resource_flags(group: Any, *, gpus_per_trial: float) -> None:
    group.add_argument("--cpus-per-trial", type=positive_float, default=1.0, help="default: %(default)s")
    group.add_argument("--gpus-per-trial", type=_gpu_share, default=None,
                       help=f"share of one GPU per trial, fractions allowed (default: {gpus_per_trial:g} when the "
                            f"cluster has GPUs, else 0)")
    group.add_argument("--pack", type=pack_value, default="auto", metavar="auto|N|off",
                       help="train up to N seeds of one configuration as one trial (a pack: each seed's results "
                            "those of its own trial, bit for bit): a look's seeds in the confirmation, --repeats' "
                            "seeds in the search, where ASHA and FIFO then decide on the seeds' mean; auto sizes "
                            "packs by the machine (docs/command-line.md, \"Packs\"); 1 or off: every seed its own "
                            "trial (default: auto)")
    group.add_argument("--max-concurrent", type=positive_int, default=None,
                       help="trials running at once (default: as many as the resources allow)")
    group.add_argument("--address", default=os.environ.get("RAY_ADDRESS") or None,
                       help="join an existing Ray cluster, e.g. 10.0.0.5:6379 or 'auto' (default: $RAY_ADDRESS, "
                            "else a local instance)")
    group.add_argument("--dashboard", action="store_true",
                       help="watch the sweep in Ray's dashboard: a local instance starts it on 127.0.0.1 (with "
                            "--address: the cluster's own); the job is named after the experiment, each trial's "
                            "actor after its trial (one actor per trial), and the sweep's metrics are exported "
                            "(docs/clusters.md)")
    group.add_argument("--polite", action="store_true",
                       help="run a local instance's trial workers at Ray's low CPU priority (nice +15), so other "
                            "work on this machine goes first (default: the driver's priority; see docs/faults.md)")


def _output_flags(group: Any, *, dataset: str) -> None:
    group.add_argument("--dataset", default=None,
                       help=f"dataset name: the real one or a stand-in (synthetic-..., digits) (default: {dataset}; "
                            "--smoke: a generated stand-in)")
    group.add_argument("--data-dir", default=None,
                       help="offline data directory holding the standard files (see docs/data.md)")
    group.add_argument("--validation", choices=("holdout", "test"), default=None,
                       help="holdout: decide on 10%% of the training split held out (default; --record: test); "
                            "test: the seeds' protocol, validating on the test split")
    group.add_argument("--validation-split", choices=("fixed", "per-seed"), default=None,
                       help="which training images a holdout sets aside: drawn with each trial's seed (per-seed, "
                            "the default wherever a holdout is drawn: a verdict's seeds then also vary the validation "
                            "and training images; docs/verdicts.md) or the same for every trial (fixed, as 0.1.0; "
                            "the only choice under --validation test and for beans)")
    group.add_argument("--storage-path", default=os.path.expanduser("~/ray_results"),
                       help="where experiments are stored: a local path (on a cluster, one every node mounts "
                            "at the same path) or s3://BUCKET/PREFIX, credentials and endpoint from the "
                            "environment (AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL; docs/clusters.md) "
                            "(default: ~/ray_results)")
    group.add_argument("--name", type=plain_name, default=None, help="experiment name (default: <family>-<timestamp>)")
    group.add_argument("--resume", action="store_true",
                       help="restore the interrupted sweep --name: finished trials are kept, errored ones retried")
    group.add_argument("--max-failures", type=_retries, default=1,
                       help="retries of a trial that raised, from its last checkpoint (default: %(default)s)")
    group.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help="Tune's console output level")


def _tool_flags(group: Any) -> None:
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


def resume_command(plan: Any) -> str:
    """The command that continues a sweep: the same flags, plus --resume --name NAME."""
    kept, skip = [], False
    for token in plan.argv:
        if skip:
            skip = False
        elif token in ("--name", "--resume") or token.startswith("--name="):
            skip = token == "--name"
        else:
            kept.append(token)
    return shlex.join(["python", f"sweeps/{plan.sweep.family}.py", *kept, "--resume", "--name", plan.name])
