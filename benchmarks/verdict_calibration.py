"""Calibrate the verdicts on real seeds: false winners, power, equivalence and seeds spent.

    python benchmarks/verdict_calibration.py [--seeds 40] [--max-epochs 30] --save runs.json
    python benchmarks/verdict_calibration.py --load runs.json [--replays 2000] [--margin 0.01] [--batch 4]
    python benchmarks/verdict_calibration.py --tiny                 # seconds of training: the path works

Recording: the Antirectifier sweep as a user runs it (`sweeps/antirectifier_mnist.py --dataset
digits --scheduler fifo --repeats SEEDS`: antirectifier and relu MLPs at 256 and 512 units, four
configurations, each trained with the same SEEDS seeds on scikit-learn's real digits), read back
from its trials.parquet (analysis.export.read_tables); each configuration's `best_val_accuracy`
per seed is saved as JSON (--save) so the replay reruns without training (--load).

Replay (the seeds are resampled with replacement, `--replays` times per scenario):

- null: both arms drawn from the SAME configuration (`--reference`, default relu at its largest
  width, the baseline of the sweep's claim) under two labels, from different seeds; the true
  difference is exactly 0, so any winner declared is false, and "equivalent" is right.
- margin: the same, with arm A's values shifted up by exactly the margin: a true difference of
  one margin, where "A is better" is the power and "equivalent" is false.
- real: every pair of recorded configurations decided together (Benjamini-Hochberg across
  them, as a report does), seeds paired as recorded; "truth" is each pair's difference over all
  recorded seeds.

Each replay runs the group-sequential procedure (analysis.sequential: batches of `--batch`
paired seeds, O'Brien-Fleming-like spending, stop once every comparison is equivalent or has a
winner) and the fixed-N protocol (analysis.stats.decide_all on N seeds). Equal error rates: both
test at alpha; N is the smallest fixed design with 80% power at a difference of one margin at
the spread of the recording (statsmodels TTestPower on the reference configuration's
same-configuration differences), and the sequential maximum is N times the spending design's
inflation factor (analysis.sequential.max_pairs_for_power), so both have 80% power there.
The margin (0.01, one accuracy point) and the batch (4) are set before looking at the data.

Last line: {"false_winner_rate" (null, sequential), "false_winner_ci" (Clopper-Pearson 95%),
"power" (one margin), "equivalence_rate" (null), "false_equivalence_rate" (one margin),
"significant_difference_rate" (null: the two-sided test rejected, whatever the margin then
said; "equivalent" comes first, so a significant difference inside the margin is no false
winner), "real_wrong_winner_rate" (a winner against the sign of the all-seeds difference),
"seeds_ratio": sequential / fixed-N mean seeds (mean over the three scenarios),
"seeds_ratio_by_scenario", "margin", "fixed": the same rates for the fixed-N protocol,
"real_pairs", "aims", ...}. Aims: false-winner rate at most alpha (within its interval), power
at least 0.8 at one margin, seeds_ratio at most 0.6.

First full run (40 seeds x 30 epochs, 160 trials, 974 s of training on 2 shared cores; 2000
replays per scenario, 67 s): the digits holdout has 144 images, so best_val_accuracy takes only
2-4 values per configuration (0.972-1.000; sd 0.0034-0.0048 across seeds), and the sd of a
same-configuration difference is 0.0049. At the 0.01 margin a fixed design needs N = 5 pairs,
so the sequential plan has two looks (4, 6). False winners 0/2000 (interval 0-0.0018; the
two-sided test itself rejected 3.5%, inside the margin: "equivalent"), power 0.945 (fixed-N
0.873), equivalence at a true 0: 1.000, false equivalence at one margin 0.051 (fixed 0.046), no
winner against the all-seeds sign; seeds_ratio 1.13 (null 1.10, margin 1.10, real 1.20): the
aim of 0.6 is missed. At 80% power for exactly one margin no spending design stops much earlier
than the fixed N (0.82-0.99 in analysis.sequential's simulations), and with N = 5 there is no
room for looks; all six real pairs lie inside the margin (antirectifier ahead of relu by
0.5-0.8 points), where the report waits for its slowest pair. A replay at margin 0.005, chosen
after seeing the spread (N = 10, looks 4, 8, 11): false winners 0.033 (0.026-0.042), power 0.889
(fixed 0.804), equivalence 0.847, false equivalence 0.044, seeds_ratio 1.01.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestPower

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from analysis import sequential  # noqa: E402
from analysis.schema import higher_is_better  # noqa: E402
from analysis.stats import Outcome, decide_all  # noqa: E402
from analysis.verdicts import LookPlan  # noqa: E402

FORMAT = "actsweep-verdict-calibration/2"  # /1: one metric per file (still read)
SWEEP_SCRIPT = "sweeps/antirectifier_mnist.py"
WINNERS = (Outcome.A_BETTER, Outcome.B_BETTER)
AIM_POWER = 0.8
AIM_SEEDS_RATIO = 0.6
DEFAULT_METRIC = "last_test_accuracy"  # the confirmation's verdict metric (analysis.confirmation)
RECORDED_METRICS = ("last_test_accuracy", "best_val_accuracy", "last_val_accuracy")
DEFAULT_MAX_SEEDS = 10  # the worked examples' --confirm-repeats
DEFAULT_BATCH = 2  # sweeps.engine.cli.DEFAULT_CONFIRM_BATCH (not imported: the replay runs without the engine)


@dataclass(frozen=True)
class Recording:
    """Per configuration, one metric of each seed (NaN where a seed did not finish); `metrics` holds
    every recorded metric the same way, so one recording replays on any of them."""

    metric: str
    seeds: tuple[int, ...]
    configurations: dict[str, np.ndarray]
    source: dict
    metrics: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def select(self, metric: str) -> Recording:
        every = self.metrics or {self.metric: self.configurations}
        if metric not in every:
            raise SystemExit(f"error: the recording has no {metric!r}; it has {', '.join(every)}")
        return Recording(metric, self.seeds, every[metric], self.source, every)

    def save(self, path: Path) -> None:
        every = self.metrics or {self.metric: self.configurations}
        values = {metric: {name: [None if not math.isfinite(v) else float(v) for v in column]
                           for name, column in columns.items()}
                  for metric, columns in every.items()}
        document = {"format": FORMAT, "metrics": values, "higher_is_better": True, "seeds": list(self.seeds),
                    "source": self.source}
        path.write_text(json.dumps(document, indent=1) + "\n")

    @classmethod
    def load(cls, path: Path, metric: str = DEFAULT_METRIC) -> Recording:
        document = json.loads(Path(path).read_text())
        if document.get("format") == "actsweep-verdict-calibration/1":
            document["metrics"] = {document["metric"]: document["configurations"]}
        elif document.get("format") != FORMAT:
            raise SystemExit(f"error: {path} is not a {FORMAT} recording")
        every = {name: {configuration: np.array([math.nan if v is None else v for v in column], dtype=float)
                        for configuration, column in columns.items()}
                 for name, columns in document["metrics"].items()}
        first = next(iter(every))
        return cls(first, tuple(document["seeds"]), every[first], document.get("source", {}), every).select(metric)


# --- Recording -------------------------------------------------------------------------------

def record(seeds: int, max_epochs: int, units: list[int], storage: Path, metric: str) -> Recording:
    """Run the sweep script as a user would and read its trials table back."""
    name = f"calibration-{seeds}x{max_epochs}"
    command = [sys.executable, SWEEP_SCRIPT, "--dataset", "digits", "--scheduler", "fifo", "--repeats", str(seeds),
               "--max-epochs", str(max_epochs), "--set", f"units={json.dumps(units)}", "--gpus-per-trial", "0",
               "--storage-path", str(storage), "--name", name, "--verbose", "0"]
    print("recording:", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: the sweep failed ({result.returncode}):\n"
                         f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
    seconds = time.perf_counter() - started
    print(f"recorded in {seconds:.0f} s", flush=True)
    from analysis.export import read_tables

    trials = read_tables(storage / name).trials
    return _from_trials(trials, metric, max_epochs, {"command": " ".join(command[1:]), "max_epochs": max_epochs,
                                                     "units": units, "seeds": seeds, "seconds": round(seconds)})


def _from_trials(trials, metric: str, max_epochs: int, source: dict) -> Recording:
    """One column per configuration (activation-units), one row per seed, per recorded metric;
    unfinished trials are NaN."""
    finished = trials[(trials["status"] == "terminated") & (trials["epochs_completed"] == max_epochs)]
    seeds = tuple(sorted(int(seed) for seed in trials["seed"].dropna().unique()))
    every: dict[str, dict[str, np.ndarray]] = {}
    for name in dict.fromkeys((metric, *RECORDED_METRICS)):
        if name not in trials.columns:
            continue
        for (activation, units), group in trials.groupby(["activation", "units"], sort=True):
            values = finished[finished.index.isin(group.index)].set_index("seed")[name].astype(float)
            every.setdefault(name, {})[f"{activation}-{int(units)}"] = np.array(
                [values.get(seed, math.nan) for seed in seeds])
    return Recording(metric, seeds, every[metric], source, every)


# --- Replay ----------------------------------------------------------------------------------

def plan(recording: Recording, reference: str, margin: float, max_seeds: int, batch: int, alpha: float,
         spending: str = sequential.DEFAULT_SPENDING) -> dict:
    """The two protocols of one confirmation: the fixed one runs `max_seeds` seeds for every comparison
    (today's `--confirm-repeats N`), the sequential one looks after every `batch` seeds up to the same N
    (analysis.verdicts.LookPlan, the engine's own looks). Both test at alpha across their looks."""
    values = recording.configurations[reference]
    values = values[np.isfinite(values)]
    spread = float(np.std(values, ddof=1) * math.sqrt(2.0))  # sd of a - b for two seeds of one configuration
    if not spread > 0:
        raise SystemExit(f"error: {reference} has no spread across seeds; nothing to calibrate")
    looks = LookPlan(max_seeds=max_seeds, batch=batch, margin=margin, alpha=alpha, spending=spending).looks
    # What a fixed design would need for 80% power at one margin at this spread (statsmodels), for the record.
    needed = math.ceil(TTestPower().solve_power(effect_size=margin / spread, alpha=alpha, power=AIM_POWER))
    return {"spread": spread, "fixed_pairs": max_seeds, "max_pairs": max_seeds, "looks": looks,
            "pairs_for_power": needed, "spending": spending}


def _same_configuration(values: np.ndarray, pairs: int, shift: float, rng: np.random.Generator):
    """Arm A and arm B from one configuration's seeds, different seeds in each pair; A shifted."""
    first = rng.integers(values.size, size=pairs)
    second = (first + rng.integers(1, values.size, size=pairs)) % values.size
    return values[first] + shift, values[second]


def _replay_one(pairs_per_comparison, design: dict, margin: float, alpha: float) -> tuple[list, list, int]:
    """(sequential verdicts, fixed-N verdicts, pairs the sequential procedure spent)."""
    looks = design["looks"]
    verdicts = sequential.decide_at_look(pairs_per_comparison, len(looks) - 1, looks, margin, alpha=alpha,
                                         spending=design["spending"], details=False)
    fixed_pairs = design["fixed_pairs"]
    fixed = decide_all([(a[:fixed_pairs], b[:fixed_pairs]) for a, b in pairs_per_comparison], margin, alpha=alpha,
                       details=False)
    return verdicts, fixed, sequential.pairs_spent(verdicts, looks)


def _rate(outcomes: list[str], wanted: tuple[str, ...]) -> dict:
    hits = sum(outcome in wanted for outcome in outcomes)
    interval = scipy_stats.binomtest(hits, len(outcomes)).proportion_ci(0.95, method="exact")
    return {"rate": hits / len(outcomes), "ci": [float(interval.low), float(interval.high)], "count": hits}


def replay_scenario(name: str, draw, design: dict, margin: float, alpha: float, replays: int) -> dict:
    """Run both protocols on `replays` draws: per replay and comparison the outcome, and whether the
    two-sided test rejected (a difference the margin may still call equivalent); seeds spent."""
    result = {"name": name, "sequential": [], "fixed": [], "sequential_significant": [], "fixed_significant": []}
    spent = []
    for _ in range(replays):
        sequential_run, fixed_run, pairs = _replay_one(draw(), design, margin, alpha)
        for protocol, verdicts in (("sequential", sequential_run), ("fixed", fixed_run)):
            result[protocol].append([str(verdict.outcome) for verdict in verdicts])
            result[f"{protocol}_significant"].append([verdict.difference_significant for verdict in verdicts])
        spent.append(pairs)
    return {**result, "mean_pairs": float(np.mean(spent)), "fixed_pairs": design["fixed_pairs"]}


def _column(outcomes: list[list[str]], index: int) -> list[str]:
    return [run[index] for run in outcomes]


def replay(recording: Recording, *, margin: float = 0.01, max_seeds: int = DEFAULT_MAX_SEEDS,
           batch: int = DEFAULT_BATCH, alpha: float = 0.05, replays: int = 2000,
           references: list[str] | None = None, seed: int = 0, spending: str = sequential.DEFAULT_SPENDING) -> dict:
    """The null and one-margin scenarios of every reference configuration, the real one, and the summary."""
    if not higher_is_better(recording.metric):
        raise SystemExit(f"error: {recording.metric} is lower-is-better; the scenarios shift arm A up as an "
                         f"improvement")
    names = list(recording.configurations)
    unknown = sorted(set(references or ()) - set(names))
    if unknown:
        raise SystemExit(f"error: no configuration {', '.join(unknown)} in the recording ({', '.join(names)})")
    rng = np.random.default_rng(seed)
    by_reference = {}
    for reference in references or names:
        design = plan(recording, reference, margin, max_seeds, batch, alpha, spending)
        values = recording.configurations[reference]
        values = values[np.isfinite(values)]
        null = replay_scenario(f"null {reference}", lambda: [_same_configuration(values, max_seeds, 0.0, rng)],
                               design, margin, alpha, replays)
        shifted = replay_scenario(f"margin {reference}",
                                  lambda: [_same_configuration(values, max_seeds, margin, rng)],
                                  design, margin, alpha, replays)
        by_reference[reference] = (design, null, shifted)
    pairs = list(itertools.combinations(names, 2))
    columns = recording.configurations
    seeds = len(recording.seeds)

    def draw_real():
        rows = rng.integers(seeds, size=max_seeds)
        return [(columns[a][rows], columns[b][rows]) for a, b in pairs]

    real = replay_scenario("real", draw_real, design, margin, alpha, replays)
    return summarize(recording, by_reference, real, pairs, margin, alpha, replays)


def _real_pairs(recording: Recording, pairs: list[tuple[str, str]], real: dict, margin: float,
                alpha: float) -> list[dict]:
    """Per pair: its difference and verdict over all recorded seeds, and the replays' outcome counts."""
    truths = decide_all([(recording.configurations[a], recording.configurations[b]) for a, b in pairs], margin,
                        alpha=alpha, details=False)
    rows = []
    for index, ((a, b), truth) in enumerate(zip(pairs, truths)):
        counts = {protocol: {outcome: _column(real[protocol], index).count(outcome)
                             for outcome in sorted(set(_column(real[protocol], index)))}
                  for protocol in ("sequential", "fixed")}
        rows.append({"a": a, "b": b, "difference": truth.mean_difference, "all_seeds_verdict": str(truth.outcome),
                     "n": truth.n, **counts})
    return rows


def _wrong_winner_rate(rows: list[dict], protocol: str) -> float:
    """Winners declared against the sign of the difference over all recorded seeds, over pairs and replays."""
    wrong = total = 0
    for row in rows:
        against = "b_better" if row["difference"] > 0 else "a_better"
        wrong += row[protocol].get(against, 0) if row["difference"] != 0 else 0
        total += sum(row[protocol].values())
    return wrong / total


def _pooled(runs: list[dict], protocol: str, wanted: tuple[str, ...]) -> dict:
    return _rate([outcome for run in runs for outcome in _column(run[protocol], 0)], wanted)


def _rates(nulls: list[dict], margins: list[dict], protocol: str) -> dict:
    """A protocol's error rates and power, pooled over the scenarios given."""
    return {
        "false_winner_rate": _pooled(nulls, protocol, WINNERS)["rate"],
        "false_winner_ci": _pooled(nulls, protocol, WINNERS)["ci"],
        "power": _pooled(margins, protocol, (Outcome.A_BETTER,))["rate"],
        "power_ci": _pooled(margins, protocol, (Outcome.A_BETTER,))["ci"],
        "equivalence_rate": _pooled(nulls, protocol, (Outcome.EQUIVALENT,))["rate"],
        "false_equivalence_rate": _pooled(margins, protocol, (Outcome.EQUIVALENT,))["rate"],
        "significant_difference_rate": float(np.mean([flag for run in nulls
                                                      for flag in _column(run[f"{protocol}_significant"], 0)])),
    }


def summarize(recording: Recording, by_reference: dict, real: dict, pairs: list, margin: float, alpha: float,
              replays: int) -> dict:
    """Headline rates pooled over the reference configurations (each weighs the same), seeds over every
    scenario run (each reference's null and one-margin, and the real one), against N."""
    design = next(iter(by_reference.values()))[0]
    maximum = design["max_pairs"]
    nulls = [null for _, null, _ in by_reference.values()]
    margins = [shifted for _, _, shifted in by_reference.values()]
    scenarios = [*nulls, *margins, real]
    result = {
        **_rates(nulls, margins, "sequential"),
        "seeds_ratio": float(np.mean([scenario["mean_pairs"] for scenario in scenarios]) / maximum),
        "seeds_ratio_by_scenario": {scenario["name"]: scenario["mean_pairs"] / maximum for scenario in scenarios},
        "margin": margin,
        "alpha": alpha,
        "fixed": _rates(nulls, margins, "fixed"),
        "fixed_pairs": maximum,
        "max_pairs": maximum,
        "batch": design["looks"][0] if len(design["looks"]) > 1 else maximum,
        "looks": list(design["looks"]),
        "spending": design["spending"],
        "by_reference": {
            reference: {"spread": ref_design["spread"], "pairs_for_power": ref_design["pairs_for_power"],
                        "sequential": {**_rates([null], [shifted], "sequential"),
                                       "seeds_null": null["mean_pairs"], "seeds_margin": shifted["mean_pairs"]},
                        "fixed": _rates([null], [shifted], "fixed")}
            for reference, (ref_design, null, shifted) in by_reference.items()},
        "replays": replays,
        "recorded_seeds": len(recording.seeds),
        "metric": recording.metric,
        "real_pairs": _real_pairs(recording, pairs, real, margin, alpha),
        "real_seeds": real["mean_pairs"],
    }
    result["real_wrong_winner_rate"] = _wrong_winner_rate(result["real_pairs"], "sequential")
    result["fixed"]["real_wrong_winner_rate"] = _wrong_winner_rate(result["real_pairs"], "fixed")
    result["aims"] = {
        "false_winner_rate<=alpha": result["false_winner_ci"][0] <= alpha,
        "power>=0.8": result["power"] >= AIM_POWER,
        "seeds_ratio<=0.6": result["seeds_ratio"] <= AIM_SEEDS_RATIO,
    }
    return result


# --- Command line ----------------------------------------------------------------------------

def _print_recording(recording: Recording) -> None:
    print(f"{'configuration':>20} {'seeds':>5} {'mean':>7} {'sd':>7}")
    for name, values in recording.configurations.items():
        finite = values[np.isfinite(values)]
        print(f"{name:>20} {finite.size:>5} {finite.mean():>7.4f} {finite.std(ddof=1):>7.4f}")


def _print_result(result: dict) -> None:
    print(f"protocols: fixed N = {result['max_pairs']} seeds for every comparison; sequential looks at "
          f"{result['looks']} seeds ({result['spending']} spending), margin {result['margin']}, alpha {result['alpha']}")
    header = (f"{'reference':>18} {'sd(a-b)':>8} {'N80%':>5} | {'false winner':>13} {'equivalent@0':>13} "
              f"{'power@1m':>13} {'equiv@1m':>13} {'seeds@0':>8} {'seeds@1m':>8}")
    print(header + "\n" + " " * 35 + "(sequential / fixed)")
    for reference, row in result["by_reference"].items():
        seq, fixed = row["sequential"], row["fixed"]
        cells = [f"{seq[key]:.3f}/{fixed[key]:.3f}" for key in
                 ("false_winner_rate", "equivalence_rate", "power", "false_equivalence_rate")]
        print(f"{reference:>18} {row['spread']:>8.4f} {row['pairs_for_power']:>5} | "
              + " ".join(f"{cell:>13}" for cell in cells)
              + f" {seq['seeds_null']:>8.1f} {seq['seeds_margin']:>8.1f}")
    fixed = result["fixed"]
    print(f"{'pooled':>34} | {result['false_winner_rate']:.3f}/{fixed['false_winner_rate']:.3f} "
          f"{result['equivalence_rate']:.3f}/{fixed['equivalence_rate']:.3f} {result['power']:.3f}/{fixed['power']:.3f} "
          f"{result['false_equivalence_rate']:.3f}/{fixed['false_equivalence_rate']:.3f}")
    print(f"real (every pair together): mean seeds {result['real_seeds']:.1f} of {result['max_pairs']}; "
          f"wrong-sign winners {result['real_wrong_winner_rate']:.4f} (fixed {fixed['real_wrong_winner_rate']:.4f})")
    for row in result["real_pairs"]:
        print(f"  {row['a']} vs {row['b']}: all {row['n']} seeds {row['difference']:+.4f} "
              f"({row['all_seeds_verdict']}); sequential {row['sequential']}; fixed {row['fixed']}")
    print(f"seeds ratio (sequential / fixed N, mean over the scenarios): {result['seeds_ratio']:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=40, help="seeds recorded per configuration")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--units", type=int, nargs="+", default=[256, 512], help="widths recorded (the sweep's)")
    parser.add_argument("--metric", default=DEFAULT_METRIC,
                        help=f"replayed metric (every one of {', '.join(RECORDED_METRICS)} is recorded; default: "
                             "%(default)s, the confirmation verdict's)")
    parser.add_argument("--storage-path", default=None, help="keep the recorded experiment here (default: a temp dir)")
    parser.add_argument("--save", type=Path, help="write the recording here")
    parser.add_argument("--load", type=Path, help="replay this recording instead of training")
    parser.add_argument("--replays", type=int, default=2000, help="resampled replays per scenario")
    parser.add_argument("--margin", type=float, default=0.01, help="in the metric's units (0.01 = one accuracy point)")
    parser.add_argument("--max-seeds", type=int, default=DEFAULT_MAX_SEEDS,
                        help="N: the fixed protocol's seeds, the sequential one's most (default: %(default)s, the "
                             "worked examples' --confirm-repeats)")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                        help="seeds per look (default: %(default)s, the engine's --confirm-batch default)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--spending", choices=sorted(sequential.SPENDING), default=sequential.DEFAULT_SPENDING,
                        help="alpha-spending function of the looks (default: %(default)s, the engine's)")
    parser.add_argument("--reference", action="append", default=None,
                        help="a configuration for the null and one-margin scenarios (repeatable; default: every one)")
    parser.add_argument("--replay-seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true",
                        help="the path only: 4 seeds x 2 epochs of 16/32-unit nets, margin 0.1 (2-epoch nets differ by "
                             "tens of points), 40 replays")
    args = parser.parse_args(argv)
    if args.tiny:
        args.seeds, args.max_epochs, args.units, args.replays, args.margin = 4, 2, [16, 32], 40, 0.1
    started = time.perf_counter()
    if args.load:
        recording = Recording.load(args.load, args.metric)
        print(f"loaded {args.load}: {len(recording.seeds)} seeds", flush=True)
    else:
        with tempfile.TemporaryDirectory() as temporary:
            storage = Path(args.storage_path or temporary)
            recording = record(args.seeds, args.max_epochs, args.units, storage, args.metric)
    if args.save:
        recording.save(args.save)
        print(f"saved {args.save}", flush=True)
    _print_recording(recording)
    result = replay(recording, margin=args.margin, max_seeds=args.max_seeds, batch=args.batch, alpha=args.alpha,
                    replays=args.replays, references=args.reference, seed=args.replay_seed, spending=args.spending)
    _print_result(result)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
