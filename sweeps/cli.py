"""The command line every sweep script shares, and its checks.

Every check that can fail on user input runs here, before Ray starts or a trial is
scheduled, so a typo costs one readable line and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any, Callable, Sequence


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit code 2."""


def _positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a number of `kind` that must be > 0."""

    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be a positive {kind.__name__}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names it in "invalid int value: 'x'"
    return parse


_positive_int, _positive_float = _positive(int), _positive(float)


def _gpu_share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(
            f"must be a share of one GPU between 0 and 1 (e.g. 0.25 packs 4 trials per GPU), got {text}"
        )
    return value


def parse_value(text: str) -> Any:
    """`--set` values: JSON when it parses (numbers, true/false, null), else the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _assignment(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), parse_value(value.strip())


class _Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line and exit 2 (argparse prints usage too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(prog: str, description: str, *, metric: str, mode: str, max_epochs: int,
                 dataset: str, records: Sequence[int], num_samples: int) -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    sweep = parser.add_argument_group("search")
    sweep.add_argument("--num-samples", type=_positive_int, default=num_samples,
                       help="configurations sampled from the search space; each runs every grid value "
                            "(default: %(default)s)")
    sweep.add_argument("--repeats", type=_positive_int, default=1,
                       help="run each sampled configuration with K seeds, for the statistics (default: 1)")
    sweep.add_argument("--seed", type=int, default=0,
                       help="base seed: sampling of the space, and trial seeds seed..seed+K-1 (default: 0)")
    sweep.add_argument("--record", type=int, choices=list(records) or None, default=None,
                       help=f"run one published tuning record exactly (available: {', '.join(map(str, records)) or 'none'})")
    sweep.add_argument("--max-epochs", type=_positive_int, default=max_epochs,
                       help="epoch budget of every trial (default: %(default)s; a --record defaults to its published budget)")
    sweep.add_argument("--set", dest="overrides", type=_assignment, action="append", default=[], metavar="KEY=VALUE",
                       help="fix one trial config key for every trial, e.g. --set batch_size=128; a JSON list makes "
                            "it a grid, e.g. --set 'activation=[\"aprelu\",\"relu\"]' (repeatable)")
    sweep.add_argument("--smoke", action="store_true",
                       help="a complete tiny sweep on generated data in a few minutes on a CPU")

    sched = parser.add_argument_group("scheduling")
    sched.add_argument("--scheduler", choices=("asha", "fifo"), default="asha",
                       help="asha stops weak trials early; fifo runs every trial to the budget (default: asha)")
    sched.add_argument("--grace-period", type=_positive_int, default=None,
                       help="epochs every trial gets before ASHA may stop it (default: max(1, max_epochs // 10))")
    sched.add_argument("--reduction-factor", type=_positive_float, default=3.0,
                       help="ASHA keeps the top 1/F at each rung (default: %(default)s)")
    sched.add_argument("--metric", default=metric, help="metric to optimise (default: %(default)s)")
    sched.add_argument("--mode", choices=("max", "min"), default=mode, help="default: %(default)s")

    res = parser.add_argument_group("resources")
    res.add_argument("--cpus-per-trial", type=_positive_float, default=1.0, help="default: %(default)s")
    res.add_argument("--gpus-per-trial", type=_gpu_share, default=None,
                     help="share of one GPU per trial, fractions allowed (default: 0.25 when the cluster has GPUs, else 0)")
    res.add_argument("--max-concurrent", type=_positive_int, default=None,
                     help="trials running at once (default: as many as the resources allow)")
    res.add_argument("--address", default=os.environ.get("RAY_ADDRESS"),
                     help="join an existing Ray cluster, e.g. 10.0.0.5:6379 or 'auto' (default: $RAY_ADDRESS, "
                          "else a local instance)")
    res.add_argument("--dashboard", action="store_true",
                     help="start the Ray dashboard on 127.0.0.1 and print its URL (local instance only)")

    out = parser.add_argument_group("data and results")
    out.add_argument("--dataset", default=dataset,
                     help="dataset name: the real one or a stand-in (synthetic-..., digits) (default: %(default)s)")
    out.add_argument("--data-dir", default=None,
                     help="offline data directory holding the standard files (see README, 'Offline data')")
    out.add_argument("--storage-path", default=os.path.expanduser("~/ray_results"),
                     help="where experiments are stored (default: ~/ray_results)")
    out.add_argument("--name", default=None, help="experiment name (default: <family>-<timestamp>)")
    out.add_argument("--resume", action="store_true",
                     help="restore the interrupted sweep --name: finished trials are kept, errored ones retried")
    out.add_argument("--max-failures", type=int, default=1,
                     help="retries of a trial that raised, from its last checkpoint (default: %(default)s)")
    out.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, help="Tune's console output level")
    return parser
