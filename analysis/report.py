"""Reports over exported tables: leaderboard, paired comparisons, compute, reproduction.

    python -m analysis.report <tables-dir> [--at-epoch E] [--margin D] [--plots DIR] [--out report.md] [--json]

prints Markdown (or, with --json, the same numbers as JSON). It opens with the verdicts in words,
one line per comparison (analysis.verdict.comparisons: equivalent, a winner, not worse or inconclusive at a
margin, Benjamini-Hochberg across the report's comparisons; a confirmation run in looks as its stage
decided it); the tables after it hold numbers only. Every comparison is made at one budget, stated
beside it: by default each trial's full `epochs` budget, with --at-epoch E every trial that reached
epoch E at that epoch; trials that did not reach it are counted and listed.
The tables are built by functions that return pandas DataFrames, so the notebook and tests
call the same code; this module only assembles and formats them.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.cli_parser import OneLineParser, positive_float, positive_int
from analysis.compute import compute_accounting
from analysis.reproduction import reproduction_table
from analysis.store.schema import DEFAULT_METRIC, ExportError
from analysis.store.tables import Tables, read_tables
from analysis.verdict import variation
from analysis.verdict.budget import at_budget
from analysis.verdict.comparisons import PairedComparison, paired_comparison, paired_comparisons, resolve_margin
from analysis.verdict.confirmation import confirmation_metric, is_confirmation
from analysis.verdict.decision import DEFAULT_MARGIN
from analysis.verdict.leaderboard import leaderboard
from analysis.verdict.words import verdict_lines

__all__ = [
    "DEFAULT_METRIC", "PairedComparison", "ReportData", "build_report", "compute_accounting", "leaderboard",
    "main", "paired_comparison", "paired_comparisons", "render_json", "render_markdown", "reproduction_table",
    "to_markdown", "verdict_lines",
]

logger = logging.getLogger(__name__)

# Each verdict is taken on the adjusted p-values against the levels (alpha, or a look's); the JSON has all.
# decision_low / decision_high: the interval the outcome's test used, at decision_level (0.90 for equivalent
# and not worse, 0.95 otherwise; interval_kind "repeated" after looks).
COMPARISON_SHOWN = [
    "arm_a", "arm_b", "outcome", "seeds", "beyond_margin", "look", "mean_difference", "decision_low", "decision_high",
    "decision_level", "interval_kind", "margin", "p_value", "p_adjusted", "p_equivalence_adjusted",
    "p_not_worse_a_adjusted", "p_not_worse_b_adjusted", "level_two_sided", "level_one_sided", "failures_a",
    "failures_b", "p_failures", "probability_a_beats_b", "seeds_needed_total", "cut_short",
]
CALIBRATION = ("How often these verdicts are wrong was measured on real runs (two arms of one configuration: false "
               "winners; a difference of one margin: power; seeds against a fixed count): docs/verdicts.md, "
               "\"Calibration\".")


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows; Markdown and JSON are two renderings of it."""

    metric: str
    budget: str | None  # None when no trial reported the metric
    margin: float
    summary: dict[str, object]
    variation: dict[str, list[str]]  # what the seeds vary and what they hold fixed (analysis.verdict.variation)
    leaderboard: pd.DataFrame | None
    comparisons: pd.DataFrame | None
    cut_short: pd.DataFrame | None
    compute: pd.DataFrame
    reproduction: pd.DataFrame


def default_metric(trials: pd.DataFrame) -> str:
    """A confirmation's verdict is on test accuracy at its fixed budget; a search ranks on validation."""
    return confirmation_metric(trials) if is_confirmation(trials) else DEFAULT_METRIC


def build_report(tables: Tables, metric: str | None = None, at_epoch: int | None = None,
                 margin: float | None = None) -> ReportData:
    """All report tables at one budget (full by default, else epoch at_epoch), verdicts at `margin`
    (analysis.verdict.comparisons.resolve_margin: a confirmation's own, else this, else the default)."""
    trials, epochs = tables.trials, tables.epochs
    metric = metric or default_metric(trials)
    margin = resolve_margin(trials, margin)
    summary = {
        "trials": len(trials),
        "trial_epochs": len(epochs),
        "experiments": sorted(trials["experiment"].unique()),
    }
    board = comparisons = cut_short = None
    budget = None
    if metric in trials.columns:
        at = at_budget(trials, metric, epochs=epochs, at_epoch=at_epoch)
        budget, cut_short = at.budget, at.cut_short
        board = leaderboard(trials, metric, epochs=epochs, at_epoch=at_epoch)
        comparisons = paired_comparisons(trials, metric, epochs=epochs, at_epoch=at_epoch, margin=margin)
    return ReportData(
        metric=metric, budget=budget, margin=margin, summary=summary, variation=variation.sources_of_variation(trials),
        leaderboard=board, comparisons=comparisons,
        cut_short=cut_short, compute=compute_accounting(trials), reproduction=reproduction_table(trials, epochs),
    )


# --------------------------------------------------------------------------- markdown


def _cell(value: object, float_digits: int) -> str:
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{float_digits}f}"
    if isinstance(value, tuple):
        return ", ".join(map(str, value))
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(table: pd.DataFrame, float_digits: int = 4) -> str:
    """A GitHub Markdown table (no tabulate dependency); missing values print as n/a."""
    if table.empty:
        return "_(no rows)_"
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    body = ["| " + " | ".join(_cell(value, float_digits) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def _verdict_section(data: ReportData) -> str:
    comparisons = data.comparisons
    looks = comparisons.attrs.get("looks") if comparisons is not None else None
    design = (f"decided in looks at {', '.join(map(str, looks))} seeds (analysis.verdict.sequential: the error "
              "rates hold across looks), each comparison stopped once equivalent or better by more than the margin"
              if looks else "one look at all seeds")
    heading = f"## Verdicts ({data.metric} at {data.budget}, margin ±{data.margin:g}, {design})"
    lines = verdict_lines(comparisons)
    if not lines:
        return f"{heading}\n\n_nothing to compare: one arm, or fewer than 2 pairs per comparison_"
    multiple = (f" Benjamini-Hochberg across the {len(lines)} comparisons." if len(lines) > 1 else "")
    return (f"{heading}\n\n" + "\n".join(f"- {line}" for line in lines)
            + f"\n\nOne difference per seed (each arm's mean over its configurations; a failed trial scores the "
              f"metric's worst value). Equivalent: the difference lies within ±{data.margin:g} (two one-sided tests: "
              "the 90% interval inside the margin), even where one arm is significantly better by less than it; "
              "better: the paired t-test finds a difference (95% interval), by more than the margin where that is "
              f"shown too; not worse: worse by less than {data.margin:g} (one-sided), neither better nor equivalent. "
              "After looks the intervals are repeated confidence intervals, which hold whenever the stage stopped."
              f"{multiple} {variation.describe(data.variation)} {CALIBRATION}")


def _comparison_sections(data: ReportData) -> list[str]:
    if data.leaderboard is None:
        return [f"## Leaderboard\n\n_no {data.metric} column: no trial reported it yet_"]
    cut = len(data.cut_short)
    note = f"Budget: **{data.budget}**. Only trials that reached it are compared; {cut} trial(s) cut short are listed below."
    fate = "not compared"
    if data.comparisons is not None and data.comparisons.attrs.get("by") == "confirm_arm":
        note = (f"Budget: **{data.budget}**. A confirmation trial that did not reach it (diverged, errored, cut short) "
                f"is a failure of its arm, scored as the metric's worst value in the verdicts; {cut} are listed below.")
        fate = "failures of their arm in the verdicts; running ones not yet counted"
    return [
        note,
        f"## Leaderboard ({data.metric} at {data.budget}, mean over seeds, 95% t-interval)\n\n" + to_markdown(data.leaderboard),
        f"## Paired comparisons ({_pairing(data)}, at {data.budget}; the verdicts above in numbers)\n\n"
        + to_markdown(data.comparisons[_shown(data.comparisons)]),
        f"## Cut short (did not reach the {data.budget}; {fate})\n\n" + to_markdown(data.cut_short),
    ]


def _shown(comparisons: pd.DataFrame) -> list[str]:
    """The numbers of the comparison table; the family too when several share the report."""
    several = comparisons["family"].nunique() > 1
    return ["family", *COMPARISON_SHOWN] if several else COMPARISON_SHOWN


def _pairing(data: ReportData) -> str:
    if data.comparisons is not None and data.comparisons.attrs.get("by") == "confirm_arm":
        return "arm a - arm b, each arm's own best configurations, one difference per seed"
    return "a - b, runs with the same seed and settings, averaged per seed"


def render_markdown(data: ReportData, plot_links: Sequence[str] = ()) -> str:
    """The whole Markdown report; plot_links are image paths as report.md should refer to them."""
    summary = data.summary
    sections = [
        f"# Sweep report\n\n{summary['trials']} trials, {summary['trial_epochs']} trial-epochs, "
        f"experiments: {', '.join(summary['experiments'])}.",
    ]
    if data.leaderboard is not None:
        sections.append(_verdict_section(data))
    sections += [
        *_comparison_sections(data),
        "## Compute (spent vs every trial run to its epoch budget)\n\n" + to_markdown(data.compute),
        "## Reproduction of published numbers (at the published epoch count, on the published dataset)\n\n"
        + to_markdown(data.reproduction.drop(columns=["description"])),
    ]
    if plot_links:
        sections.append("## Plots\n\n" + "\n".join(f"![{Path(link).stem}]({link})" for link in plot_links))
    return "\n\n".join(sections) + "\n"


# --------------------------------------------------------------------------- json


def _plain(value: object) -> object:
    """JSON-ready: NaN, infinities (the t of differences that are all equal) and NA become null, numpy
    scalars Python numbers, tuples lists."""
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and not math.isfinite(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    return value


def _records(table: pd.DataFrame | None) -> list[dict[str, object]] | None:
    if table is None:
        return None
    return [{column: _plain(value) for column, value in row.items()} for row in table.to_dict("records")]


def render_json(data: ReportData) -> str:
    """The same tables as the Markdown, unrounded, as one JSON object."""
    comparisons = data.comparisons
    looks = comparisons.attrs.get("looks") if comparisons is not None else None
    document = {
        "metric": data.metric,
        "budget": data.budget,
        "margin": data.margin,
        "looks": list(looks) if looks else None,
        "variation": data.variation,
        **data.summary,
        "verdicts": verdict_lines(comparisons),
        "leaderboard": _records(data.leaderboard),
        "comparisons": _records(data.comparisons),
        "cut_short": _records(data.cut_short),
        "compute": _records(data.compute),
        "reproduction": _records(data.reproduction),
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"


# --------------------------------------------------------------------------- command line


def _write_plots(tables: Tables, data: ReportData, plots_dir: str, out: str | None) -> list[str]:
    """Write the PNGs; links relative to report.md's folder (to the working directory on stdout)."""
    from analysis import plots  # a measured start-up cost: matplotlib, 0.34 s, only when plots are asked for

    paths = plots.save_plots(tables.trials, tables.epochs, plots_dir, data.metric, comparisons=data.comparisons)
    base = Path(out).resolve().parent if out else Path.cwd()
    return [Path(os.path.relpath(path.resolve(), base)).as_posix() for path in paths]


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m analysis.report", description="Report on exported tables (Markdown or JSON).")
    parser.add_argument("tables_dir", help="directory holding trials.parquet and epochs.parquet")
    parser.add_argument("--metric", default=None,
                        help=f"trials column to rank by (default {DEFAULT_METRIC}; a confirmation's tables: "
                             "last_test_accuracy, the verdict's metric)")
    parser.add_argument("--at-epoch", type=positive_int, default=None, metavar="E",
                        help="compare every trial that reached epoch E at that epoch (default: the full budget)")
    parser.add_argument("--margin", type=positive_float, default=None, metavar="D",
                        help="the smallest difference that matters, in the metric's units (0.01 = one accuracy "
                             "point): inside it two arms are equivalent (default: a confirmation's own, recorded "
                             f"with its trials, else {DEFAULT_MARGIN})")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON instead of Markdown")
    parser.add_argument("--plots", default=None, metavar="DIR", help="also write PNG plots to DIR (Markdown only)")
    parser.add_argument("--out", default=None, metavar="FILE", help="write the report to FILE instead of stdout")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.json and args.plots:
        parser.error("--plots belongs to the Markdown report; leave it out with --json")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        tables = read_tables(args.tables_dir)
        data = build_report(tables, args.metric, args.at_epoch, args.margin)
        if args.json:
            text = render_json(data)
        else:
            links = _write_plots(tables, data, args.plots, args.out) if args.plots else []
            text = render_markdown(data, links)
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
    except (ExportError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.out:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
