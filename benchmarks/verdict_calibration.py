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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestPower

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from analysis import sequential  # noqa: E402
from analysis.schema import higher_is_better  # noqa: E402
from analysis.stats import Outcome, decide_all  # noqa: E402

FORMAT = "actsweep-verdict-calibration/1"
SWEEP_SCRIPT = "sweeps/antirectifier_mnist.py"
WINNERS = (Outcome.A_BETTER, Outcome.B_BETTER)
AIM_POWER = 0.8
AIM_SEEDS_RATIO = 0.6
MAX_FIXED_PAIRS = 400  # a replay resamples this many from the recorded seeds: past it, nothing is calibrated


@dataclass(frozen=True)
class Recording:
    """Per configuration, the metric of each seed (NaN where a seed did not finish)."""

    metric: str
    seeds: tuple[int, ...]
    configurations: dict[str, np.ndarray]
    source: dict

    def save(self, path: Path) -> None:
        values = {name: [None if not math.isfinite(v) else float(v) for v in column]
                  for name, column in self.configurations.items()}
        document = {"format": FORMAT, "metric": self.metric, "higher_is_better": True, "seeds": list(self.seeds),
                    "configurations": values, "source": self.source}
        path.write_text(json.dumps(document, indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Recording:
        document = json.loads(Path(path).read_text())
        if document.get("format") != FORMAT:
            raise SystemExit(f"error: {path} is not a {FORMAT} recording")
        configurations = {name: np.array([math.nan if v is None else v for v in column], dtype=float)
                          for name, column in document["configurations"].items()}
        return cls(document["metric"], tuple(document["seeds"]), configurations, document.get("source", {}))


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
    print(f"recorded in {time.perf_counter() - started:.0f} s", flush=True)
    from analysis.export import read_tables

    trials = read_tables(storage / name).trials
    return _from_trials(trials, metric, max_epochs, {"command": " ".join(command[1:]), "max_epochs": max_epochs,
                                                     "units": units, "seeds": seeds})


def _from_trials(trials, metric: str, max_epochs: int, source: dict) -> Recording:
    """One column per configuration (activation-units), one row per seed; unfinished trials are NaN."""
    finished = trials[(trials["status"] == "terminated") & (trials["epochs_completed"] == max_epochs)]
    seeds = tuple(sorted(int(seed) for seed in trials["seed"].dropna().unique()))
    configurations = {}
    for (activation, units), group in trials.groupby(["activation", "units"], sort=True):
        values = finished[finished.index.isin(group.index)].set_index("seed")[metric].astype(float)
        configurations[f"{activation}-{int(units)}"] = np.array([values.get(seed, math.nan) for seed in seeds])
    return Recording(metric, seeds, configurations, source)


# --- Replay ----------------------------------------------------------------------------------

def _default_reference(names: list[str]) -> str:
    """relu at its largest width (the baseline of the sweep's claim), else the first configuration."""
    relu = [name for name in names if name.startswith("relu-")]
    return max(relu, key=lambda name: int(name.rpartition("-")[2])) if relu else names[0]


def plan(recording: Recording, reference: str, margin: float, batch: int, alpha: float) -> dict:
    """Fixed N with 80% power at one margin at the recorded spread, and the sequential plan of equal power."""
    values = recording.configurations[reference]
    values = values[np.isfinite(values)]
    spread = float(np.std(values, ddof=1) * math.sqrt(2.0))  # sd of a - b for two seeds of one configuration
    if not spread > 0:
        raise SystemExit(f"error: {reference} has no spread across seeds; nothing to calibrate")
    fixed = max(2, math.ceil(TTestPower().solve_power(effect_size=margin / spread, alpha=alpha, power=AIM_POWER)))
    if fixed > MAX_FIXED_PAIRS:
        raise SystemExit(f"error: a margin of {margin} at a spread of {spread:.4f} needs {fixed} paired seeds for 80% "
                         f"power (more than {MAX_FIXED_PAIRS}); choose a larger --margin or train longer")
    maximum = sequential.max_pairs_for_power(fixed, batch, alpha, AIM_POWER)
    looks = sequential.plan_looks(maximum, batch)
    return {"spread": spread, "fixed_pairs": fixed, "max_pairs": maximum, "looks": looks}


def _same_configuration(values: np.ndarray, pairs: int, shift: float, rng: np.random.Generator):
    """Arm A and arm B from one configuration's seeds, different seeds in each pair; A shifted."""
    first = rng.integers(values.size, size=pairs)
    second = (first + rng.integers(1, values.size, size=pairs)) % values.size
    return values[first] + shift, values[second]


def _replay_one(pairs_per_comparison, design: dict, margin: float, alpha: float) -> tuple[list, list, int]:
    """(sequential verdicts, fixed-N verdicts, pairs the sequential procedure spent)."""
    looks = design["looks"]
    verdicts = sequential.decide_at_look(pairs_per_comparison, len(looks) - 1, looks, margin, alpha=alpha,
                                         details=False)
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


def replay(recording: Recording, *, margin: float = 0.01, batch: int = 4, alpha: float = 0.05, replays: int = 2000,
           reference: str | None = None, seed: int = 0) -> dict:
    """The three scenarios, and the summary the last line prints."""
    if not higher_is_better(recording.metric):
        raise SystemExit(f"error: {recording.metric} is lower-is-better; the scenarios shift arm A up as an "
                         f"improvement")
    names = list(recording.configurations)
    reference = reference or _default_reference(names)
    design = plan(recording, reference, margin, batch, alpha)
    rng = np.random.default_rng(seed)
    reference_values = recording.configurations[reference]
    reference_values = reference_values[np.isfinite(reference_values)]
    maximum = design["max_pairs"]
    null = replay_scenario("null", lambda: [_same_configuration(reference_values, maximum, 0.0, rng)],
                           design, margin, alpha, replays)
    shifted = replay_scenario("margin", lambda: [_same_configuration(reference_values, maximum, margin, rng)],
                              design, margin, alpha, replays)
    pairs = list(itertools.combinations(names, 2))
    columns = recording.configurations
    seeds = len(recording.seeds)

    def draw_real():
        rows = rng.integers(seeds, size=maximum)
        return [(columns[a][rows], columns[b][rows]) for a, b in pairs]

    real = replay_scenario("real", draw_real, design, margin, alpha, replays)
    return summarize(recording, reference, design, margin, batch, alpha, replays, null, shifted, real, pairs)


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


def summarize(recording, reference, design, margin, batch, alpha, replays, null, shifted, real, pairs) -> dict:
    fixed_pairs = design["fixed_pairs"]
    scenarios = (null, shifted, real)
    result = {
        "false_winner_rate": _rate(_column(null["sequential"], 0), WINNERS)["rate"],
        "false_winner_ci": _rate(_column(null["sequential"], 0), WINNERS)["ci"],
        "power": _rate(_column(shifted["sequential"], 0), (Outcome.A_BETTER,))["rate"],
        "power_ci": _rate(_column(shifted["sequential"], 0), (Outcome.A_BETTER,))["ci"],
        "equivalence_rate": _rate(_column(null["sequential"], 0), (Outcome.EQUIVALENT,))["rate"],
        "significant_difference_rate": float(np.mean(_column(null["sequential_significant"], 0))),
        "false_equivalence_rate": _rate(_column(shifted["sequential"], 0), (Outcome.EQUIVALENT,))["rate"],
        "seeds_ratio": float(np.mean([s["mean_pairs"] for s in scenarios]) / fixed_pairs),
        "seeds_ratio_by_scenario": {s["name"]: s["mean_pairs"] / fixed_pairs for s in scenarios},
        "margin": margin,
        "alpha": alpha,
        "fixed": {
            "false_winner_rate": _rate(_column(null["fixed"], 0), WINNERS)["rate"],
            "power": _rate(_column(shifted["fixed"], 0), (Outcome.A_BETTER,))["rate"],
            "equivalence_rate": _rate(_column(null["fixed"], 0), (Outcome.EQUIVALENT,))["rate"],
            "false_equivalence_rate": _rate(_column(shifted["fixed"], 0), (Outcome.EQUIVALENT,))["rate"],
            "significant_difference_rate": float(np.mean(_column(null["fixed_significant"], 0))),
        },
        "mean_pairs": {s["name"]: s["mean_pairs"] for s in scenarios},
        "fixed_pairs": fixed_pairs,
        "max_pairs": design["max_pairs"],
        "batch": batch,
        "looks": list(design["looks"]),
        "spread": design["spread"],
        "reference": reference,
        "replays": replays,
        "recorded_seeds": len(recording.seeds),
        "metric": recording.metric,
        "real_pairs": _real_pairs(recording, pairs, real, margin, alpha),
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
    print(f"plan: reference {result['reference']}, sd of same-configuration differences {result['spread']:.4f}, "
          f"fixed N = {result['fixed_pairs']}, sequential looks {result['looks']}")
    print(f"{'':>28} {'sequential':>10} {'fixed-N':>8}")
    rows = (("false winner (null)", result["false_winner_rate"], result["fixed"]["false_winner_rate"]),
            ("equivalent (null)", result["equivalence_rate"], result["fixed"]["equivalence_rate"]),
            ("A better (one margin)", result["power"], result["fixed"]["power"]),
            ("equivalent (one margin)", result["false_equivalence_rate"], result["fixed"]["false_equivalence_rate"]),
            ("two-sided rejects (null)", result["significant_difference_rate"],
             result["fixed"]["significant_difference_rate"]),
            ("wrong-sign winner (real)", result["real_wrong_winner_rate"], result["fixed"]["real_wrong_winner_rate"]))
    for label, seq, fixed in rows:
        print(f"{label:>28} {seq:>10.3f} {fixed:>8.3f}")
    for name, pairs in result["mean_pairs"].items():
        print(f"{'mean seeds (' + name + ')':>28} {pairs:>10.1f} {result['fixed_pairs']:>8}")
    for row in result["real_pairs"]:
        print(f"real {row['a']} vs {row['b']}: all {row['n']} seeds {row['difference']:+.4f} "
              f"({row['all_seeds_verdict']}); sequential {row['sequential']}; fixed {row['fixed']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=40, help="seeds recorded per configuration")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--units", type=int, nargs="+", default=[256, 512], help="widths recorded (the sweep's)")
    parser.add_argument("--metric", default="best_val_accuracy")
    parser.add_argument("--storage-path", default=None, help="keep the recorded experiment here (default: a temp dir)")
    parser.add_argument("--save", type=Path, help="write the recording here")
    parser.add_argument("--load", type=Path, help="replay this recording instead of training")
    parser.add_argument("--replays", type=int, default=2000, help="resampled replays per scenario")
    parser.add_argument("--margin", type=float, default=0.01, help="in the metric's units (0.01 = one accuracy point)")
    parser.add_argument("--batch", type=int, default=4, help="paired seeds per look")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--reference", default=None, help="configuration of the null and one-margin scenarios")
    parser.add_argument("--replay-seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true",
                        help="the path only: 4 seeds x 2 epochs of 16/32-unit nets, margin 0.1 (2-epoch nets differ by "
                             "tens of points), 40 replays")
    args = parser.parse_args(argv)
    if args.tiny:
        args.seeds, args.max_epochs, args.units, args.replays, args.margin = 4, 2, [16, 32], 40, 0.1
    started = time.perf_counter()
    if args.load:
        recording = Recording.load(args.load)
        print(f"loaded {args.load}: {len(recording.seeds)} seeds", flush=True)
    else:
        with tempfile.TemporaryDirectory() as temporary:
            storage = Path(args.storage_path or temporary)
            recording = record(args.seeds, args.max_epochs, args.units, storage, args.metric)
    if args.save:
        recording.save(args.save)
        print(f"saved {args.save}", flush=True)
    _print_recording(recording)
    result = replay(recording, margin=args.margin, batch=args.batch, alpha=args.alpha, replays=args.replays,
                    reference=args.reference, seed=args.replay_seed)
    _print_result(result)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
