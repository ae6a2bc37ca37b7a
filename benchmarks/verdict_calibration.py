"""Calibrate the verdicts on real seeds: false winners, power, equivalence and seeds spent.

    python benchmarks/verdict_calibration.py [--seeds 40] [--max-epochs 30] --save runs.json
    python benchmarks/verdict_calibration.py --load runs.json [--replays 2000] [--margin 0.01] [--batch 2]
    python benchmarks/verdict_calibration.py --tiny                 # seconds of training: the path works

Recording: the Antirectifier sweep as a user runs it (`sweeps/antirectifier_mnist.py --dataset
digits --scheduler fifo --repeats SEEDS`: antirectifier and relu MLPs at 256 and 512 units, four
configurations, each trained with the same SEEDS seeds on scikit-learn's real digits), read back
from its trials.parquet (analysis.store.export.read_tables); every configuration's metrics per seed are
saved as JSON (--save) so the replay reruns without training (--load).

Replay (the seeds are resampled with replacement, `--replays` times per scenario, each scenario
with its own random stream, in `--jobs` processes):

- null: both arms drawn from the SAME configuration (each one in turn is the reference) under
  two labels, from different seeds; the true difference is exactly 0, so any winner declared is
  false, and "equivalent" is right.
- margin: the same, with arm A's values shifted up by exactly the margin: a true difference of
  one margin, where "A is better" is the power and "equivalent" is false.
- real: each pair of recorded configurations alone, seeds paired as recorded; "truth" is the
  pair's difference over all recorded seeds. Also every pair in one report (Benjamini-Hochberg
  across them, the stage stops once all are decided), reported apart.

Both protocols test at alpha and are planned for the same power (equal error rates): the fixed
one runs N seeds for every comparison, N the fewest with 80% power at one margin on the noisiest
reference configuration (analysis.verdict.power.pairs_for_power, statsmodels), as a researcher who must
fix N before knowing which arms are noisy plans it; the sequential one (analysis.verdict.sequential, the
engine's own looks: batches of `--batch` seeds, O'Brien-Fleming-like spending, stop once every
comparison is equivalent or has a winner) runs at most N times the spending design's inflation
factor (analysis.verdict.sequential.max_pairs_for_power), so both have 80% power there. With
--known-spread (the default) both are also planned for each scenario's own spread, known in
advance: what the looks save when nothing is unknown but the draw. The margin (0.01, one
accuracy point) and the batch (2, the engine's default) are fixed before looking at the data.

Issue 29 adds: failure (each configuration as arm A failing on a fifth of its seeds, scored 0; the
old procedure dropped them), k_null (arms of K = 2 and 3 recorded configurations, one difference
per seed, the K noisiest configurations; the old N x K rank-matched pairs on the same draws), the repeated interval's coverage
at the stop, and the class-rate gap between the designs. `--held-out` records another family
(sweeps/selu_mnist.py, HELD_OUT), which the procedure was not calibrated on.

Last line, these first: {"false_winner_rate_worst" (the worst configuration's null), "false_winner_rate_k3",
"coverage" (the 95% repeated interval at the stop, null / one margin / k_null), "power_worst",
"class_rate_gap" (the largest gap in any class's share between the sequential and the fixed
design, over the null, 0.5/0.8/1/1.5-margin and real scenarios), "seeds_ratio_vs_pilot" (sequential
seeds over an internal pilot's: a fixed design that re-estimates the sd from its first PILOT_SEEDS seeds
and runs to the N with 80% power at one margin, over the same scenarios), "held_out"},
then {"false_winner_rate" (null, sequential), "false_winner_ci" (Clopper-Pearson 95%),
"power" (one margin), "equivalence_rate" (null), "false_equivalence_rate" (one margin),
"significant_difference_rate" (null: the two-sided test rejected, whatever the margin then
said; "equivalent" comes first, so a significant difference inside the margin is no false
winner), "real_wrong_winner_rate" (a winner against the sign of the all-seeds difference),
"seeds_ratio": sequential / fixed-N mean seeds, mean over the null, one-margin and real-pair
scenarios, "seeds_ratio_by_scenario", "fixed": the same rates for the fixed-N protocol,
"by_reference", "real_pairs", "together", "known_spread", "aims", ...}. Aims: false-winner rate
at most alpha (within its interval), power at least 0.8 at one margin, seeds_ratio at most 0.6.
Figures: BENCHMARKS.md and docs/verdicts.md, "Calibration".
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
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestPower

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from analysis.store.schema import higher_is_better  # noqa: E402
from analysis.verdict import sequential  # noqa: E402
from analysis.verdict.decision import Outcome, decide_all  # noqa: E402
from analysis.verdict.looks import LookPlan  # noqa: E402
from analysis.verdict.power import MAX_PLANNED_PAIRS, pairs_for_power  # noqa: E402
from analysis.verdict.seeds import SeedPairs  # noqa: E402

FORMAT = "actsweep-verdict-calibration/2"  # /1: one metric per file (still read)
SWEEP_SCRIPT = "sweeps/antirectifier_mnist.py"
WINNERS = (Outcome.A_BETTER, Outcome.B_BETTER)
AIM_POWER = 0.8
AIM_SEEDS_RATIO = 0.6
AIM_COVERAGE = 0.94
AIM_CLASS_GAP = 0.10
AIM_SEEDS_VS_PILOT = 0.8
HEADLINE = ("false_winner_rate_worst", "false_winner_rate_k3", "coverage", "power_worst", "class_rate_gap",
            "seeds_ratio_vs_pilot", "held_out")
FAILING_CLAIMS = (Outcome.A_BETTER, Outcome.EQUIVALENT, Outcome.A_NOT_WORSE)  # what a failing arm A may not get
DEFAULT_METRIC = "last_test_accuracy"  # the confirmation's verdict metric (analysis.verdict.confirmation)
RECORDED_METRICS = ("last_test_accuracy", "best_val_accuracy", "last_val_accuracy")
# sweeps.engine.errors.DEFAULT_CONFIRM_BATCH, the looks where no pack cost is measured (`--confirm-batch auto`
# makes them bigger where packs are cheap: closer to the fixed design); not imported: the replay runs without the engine
DEFAULT_BATCH = 2
FAILURE_SCORE = 0.0  # what a failed trial scores in an accuracy (analysis.verdict.seeds.failure_score)
K_CONFIGURATIONS = (2, 3)  # configurations per arm in the k_null scenarios
OC_FRACTIONS = (0.5, 0.8, 1.5)  # true differences (in margins) replayed besides 0 (null) and 1 (margin)
# The internal pilot (Wittes & Brittain 1990): a fixed design that runs PILOT_SEEDS seeds, re-estimates the
# paired difference's sd from them, and runs on to the N with 80% power at one margin at that sd (never
# fewer than the pilot). 12 is Julious' (2005) rule of thumb for a pilot; fixed before any replay.
PILOT_SEEDS = 12
PILOT_CAP = 200  # the most seeds a re-estimated plan may ask for
# The held-out family (not the one the procedure was calibrated on): script, its settings, the recording's keys.
HELD_OUT = ("sweeps/selu_mnist.py",
            ["--set", "batch_norm=[true]", "--set", 'kernel_initializer=["glorot_uniform","lecun_normal","random_uniform"]'],
            ("activation", "kernel_initializer"))


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

def record(seeds: int, max_epochs: int, units: list[int], storage: Path, metric: str,
           held_out: bool = False) -> Recording:
    """Run the sweep script as a user would and read its trials table back. held_out: the family the
    procedure was not tuned on (HELD_OUT: 50-layer MLPs with BatchNorm, relu vs selu, three initializers
    per activation, so arms of K = 2 and 3; random_uniform diverges on part of its seeds). A recording
    of that name already under `storage` (killed, or finished but not read) is resumed with the sweep's
    own --resume, which finishes what is left and writes its tables: hours of training are not redone."""
    name = f"calibration-{'held-out-' if held_out else ''}{seeds}x{max_epochs}"
    script, settings, keys = HELD_OUT if held_out else (SWEEP_SCRIPT, ["--set", f"units={json.dumps(units)}"],
                                                        ("activation", "units"))
    command = [sys.executable, script, "--dataset", "digits", "--scheduler", "fifo", "--repeats", str(seeds),
               "--max-epochs", str(max_epochs), *settings, "--gpus-per-trial", "0",
               "--storage-path", str(storage), "--name", name, "--verbose", "0"]
    if (storage / name).is_dir():
        command.append("--resume")
    print("recording:", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"error: the sweep failed ({result.returncode}):\n"
                         f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
    seconds = time.perf_counter() - started
    print(f"recorded in {seconds:.0f} s", flush=True)
    from analysis.store.export import read_tables

    trials = read_tables(storage / name).trials
    return _from_trials(trials, metric, max_epochs, {"command": " ".join(command[1:]), "max_epochs": max_epochs,
                                                     "units": units, "seeds": seeds, "seconds": round(seconds),
                                                     "held_out": held_out}, keys)


def _from_trials(trials, metric: str, max_epochs: int, source: dict,
                 keys: tuple[str, ...] = ("activation", "units")) -> Recording:
    """One column per configuration (its `keys`' values, e.g. activation-units), one row per seed, per
    recorded metric; unfinished trials (diverged, errored) are NaN."""
    finished = trials[(trials["status"] == "terminated") & (trials["epochs_completed"] == max_epochs)]
    seeds = tuple(sorted(int(seed) for seed in trials["seed"].dropna().unique()))
    every: dict[str, dict[str, np.ndarray]] = {}
    for name in dict.fromkeys((metric, *RECORDED_METRICS)):
        if name not in trials.columns:
            continue
        for values_of_keys, group in trials.groupby(list(keys), sort=True):
            values = finished[finished.index.isin(group.index)].set_index("seed")[name].astype(float)
            label = "-".join(str(int(value)) if isinstance(value, (int, float, np.number)) and not isinstance(
                value, bool) else str(value) for value in values_of_keys)
            every.setdefault(name, {})[label] = np.array([values.get(seed, math.nan) for seed in seeds])
    return Recording(metric, seeds, every[metric], source, every)


# --- Replay ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """What one replay decides: comparisons (A, B) of recorded configurations, A shifted up by `shift`.

    null / margin: both arms from one configuration (`columns[0]`, finite seeds), different seeds in
    each pair; real: one recorded pair alone, seeds paired as recorded; together: every recorded pair
    in one report (Benjamini-Hochberg across them, the stage stops when all are settled).
    failure: the null, with arm A failing on a fifth of its seeds (scored 0 and flagged, as the
    confirmation scores a diverged trial: analysis.verdict.seeds); any "A better, equivalent or not
    worse" is wrong. oc: the one-margin scenario at another true difference (`shift`, a fraction of the
    margin in OC_FRACTIONS), for the operating characteristic. k_null: each arm is K recorded configurations (`columns`), both arms the same K,
    on different seeds; each arm's seed is the mean over its K (the new unit), while the old
    procedure paired rank r with rank r in one t-test of N x K pairs.
    """

    name: str
    kind: str
    arms: tuple[str, ...]  # the recorded configurations in `columns`
    columns: tuple[np.ndarray, ...]
    pairs: tuple[tuple[int, int], ...] = ((0, 0),)
    shift: float = 0.0

    @property
    def spread(self) -> float:
        """sd of a paired difference A - B of the (first) comparison, over all recorded seeds."""
        if self.kind in ("null", "margin", "oc"):
            return float(np.std(self.columns[0], ddof=1) * math.sqrt(2.0))
        a, b = (self.columns[index] for index in self.pairs[0])
        differences = a - b
        return float(np.std(differences[np.isfinite(differences)], ddof=1))

    @property
    def truth(self) -> float | None:
        """The true difference where the scenario makes it (null, one margin, K null), else None."""
        return {"null": 0.0, "margin": self.shift, "oc": self.shift, "k_null": 0.0}.get(self.kind)

    def draw(self, pairs: int, rng: np.random.Generator) -> tuple[list[SeedPairs], list | None]:
        """(the comparisons, one value per seed and arm; what the old procedure tested, where it differs)."""
        if self.kind in ("null", "margin", "oc", "failure"):
            values = self.columns[0]
            first = rng.integers(values.size, size=pairs)
            second = (first + rng.integers(1, values.size, size=pairs)) % values.size
            a, b = values[first] + self.shift, values[second]
            if self.kind != "failure":
                return [SeedPairs.of(a, b)], None
            failed = np.zeros(pairs, dtype=bool)
            failed[rng.choice(pairs, max(pairs // 5, 1), replace=False)] = True
            old = [(a[~failed], b[~failed])]  # the old procedure dropped the failed seeds' pairs
            return [SeedPairs.of(np.where(failed, FAILURE_SCORE, a), b, failed_a=failed)], old
        if self.kind == "k_null":
            size = self.columns[0].size
            first = rng.integers(size, size=pairs)
            second = (first + rng.integers(1, size, size=pairs)) % size
            a = np.stack([column[first] for column in self.columns], axis=1)  # seeds x K, correlated within a seed
            b = np.stack([column[second] for column in self.columns], axis=1)
            return [SeedPairs.of(a.mean(axis=1), b.mean(axis=1))], [(a, b)]
        rows = rng.integers(self.columns[0].size, size=pairs)
        drawn = []
        for a, b in self.pairs:  # a seed that did not finish (diverged, errored) is a failure: scored, flagged
            values_a, values_b = self.columns[a][rows] + self.shift, self.columns[b][rows]
            failed_a, failed_b = ~np.isfinite(values_a), ~np.isfinite(values_b)
            drawn.append(SeedPairs.of(np.where(failed_a, FAILURE_SCORE, values_a),
                                      np.where(failed_b, FAILURE_SCORE, values_b), failed_a=failed_a,
                                      failed_b=failed_b))
        return drawn, None


@dataclass(frozen=True)
class Design:
    """Both protocols at equal error rates: the fixed one runs `fixed` seeds for every comparison; the
    sequential one looks every `batch` seeds up to the fixed N times the spending design's inflation
    factor (analysis.verdict.sequential.max_pairs_for_power), so that both have the power of N fixed seeds.
    The internal pilot plans its own N on each draw (`pilot_seeds`)."""

    fixed: int
    looks: tuple[int, ...]
    spending: str
    margin: float = 0.01
    alpha: float = 0.05

    @classmethod
    def for_power(cls, fixed: int, batch: int, margin: float, alpha: float, spending: str) -> Design:
        most = sequential.max_pairs_for_power(fixed, batch, alpha, spending=spending)
        return cls(fixed, LookPlan(max_seeds=most, batch=batch, margin=margin, alpha=alpha, spending=spending).looks,
                   spending, margin, alpha)

    def pilot_seeds(self, comparisons: list[SeedPairs]) -> int:
        """The internal pilot's N on this draw: 80% power at one margin at the largest sd its first
        PILOT_SEEDS seeds show over the report's comparisons (they share the seeds), at least the pilot."""
        spread = max(float(np.std(np.subtract(*pairs.first(PILOT_SEEDS).tested()), ddof=1)) for pairs in comparisons)
        if not spread > 0:
            return PILOT_SEEDS
        bounds = _largest_spreads(self.margin, self.alpha)  # increasing in n
        planned = int(np.searchsorted(bounds, spread, side="left")) + 2
        return min(max(PILOT_SEEDS, planned), PILOT_CAP)


@lru_cache(maxsize=8)
def _largest_spreads(margin: float, alpha: float) -> np.ndarray:
    """For n = 2 .. PILOT_CAP seeds, the largest sd of a paired difference at which n seeds have 80% power
    at one margin (statsmodels' TTestPower, as analysis.verdict.power.pairs_for_power plans)."""
    power = TTestPower()
    effects = [np.ravel(power.solve_power(nobs=n, alpha=alpha, power=AIM_POWER, alternative="two-sided"))[0]
               for n in range(2, PILOT_CAP + 1)]
    return margin / np.array(effects, dtype=float)


def replay_scenario(scenario: Scenario, design: Design, margin: float, alpha: float, replays: int,
                    seed: tuple[int, ...]) -> dict:
    """Every protocol on `replays` draws (the fixed ones on the first N seeds of each draw): per replay and
    comparison the outcome and whether the two-sided test rejected; the seeds the sequential one and
    the internal pilot spent."""
    rng = np.random.default_rng(seed)
    result = {"name": scenario.name, "sequential": [], "fixed": [], "pilot": [], "old": [],
              "sequential_significant": [], "fixed_significant": [], "pilot_significant": [], "covered": [],
              "stop_difference": []}
    spent, piloted = [], []
    extra = np.random.default_rng((*seed, 1))  # the pilot's seeds past the sequential most: the other streams stay
    for _ in range(replays):
        comparisons, old = scenario.draw(design.looks[-1], rng)
        verdicts = sequential.decide_at_look(comparisons, len(design.looks) - 1, design.looks, margin, alpha=alpha,
                                             spending=design.spending, details=False)
        fixed = decide_all([pairs.first(design.fixed) for pairs in comparisons], margin, alpha=alpha, details=False)
        pool = _extended(comparisons, PILOT_SEEDS, scenario, extra)
        piloted.append(design.pilot_seeds(pool))
        pool = _extended(pool, piloted[-1], scenario, extra)
        pilot = decide_all([pairs.first(piloted[-1]) for pairs in pool], margin, alpha=alpha, details=False)
        for protocol, run in (("sequential", verdicts), ("fixed", fixed), ("pilot", pilot)):
            result[protocol].append([str(verdict.outcome) for verdict in run])
            result[f"{protocol}_significant"].append([verdict.difference_significant for verdict in run])
        if old is not None:
            result["old"].append([str(verdict.outcome) for verdict in _old_procedure(old, design.fixed, margin, alpha)])
        if scenario.truth is not None:  # the repeated interval at the stop, and the difference it stopped on
            result["covered"].append(bool(verdicts[0].ci_low <= scenario.truth <= verdicts[0].ci_high))
            result["stop_difference"].append(verdicts[0].mean_difference)
        spent.append(sequential.pairs_spent(verdicts, design.looks))
    return {**result, "mean_pairs": float(np.mean(spent)), "fixed_pairs": design.fixed,
            "max_pairs": design.looks[-1], "pilot_pairs": float(np.mean(piloted))}


def _extended(comparisons: list[SeedPairs], count: int, scenario: Scenario,
              rng: np.random.Generator) -> list[SeedPairs]:
    """The comparisons with at least `count` seeds: more drawn from the scenario where they have fewer."""
    have = len(comparisons[0])
    if have >= count:
        return comparisons
    more, _ = scenario.draw(PILOT_CAP, rng)  # one draw of the cap: a failing arm fails on a fifth of it
    return [SeedPairs.of(np.concatenate([pairs.a, added.a[:count - have]]),
                         np.concatenate([pairs.b, added.b[:count - have]]),
                         failed_a=np.concatenate([pairs.failed_a, added.failed_a[:count - have]]),
                         failed_b=np.concatenate([pairs.failed_b, added.failed_b[:count - have]]))
            for pairs, added in zip(comparisons, more)]


def _old_procedure(old: list, seeds: int, margin: float, alpha: float) -> list:
    """The fixed design as it was before issue 29, on the same draw: failed seeds dropped; K configurations
    paired rank by rank, N x K pairs in one test."""
    return decide_all([(a[:seeds].ravel(), b[:seeds].ravel()) for a, b in old], margin, alpha=alpha, details=False)


def _plan_pairs(spread: float, margin: float, alpha: float) -> int:
    if not spread > 0:  # no spread at all: the exact sign test's two pairs are the least a test takes
        return 2
    needed = pairs_for_power(spread, margin, alpha)
    if needed is None:
        raise SystemExit(f"error: a spread of {spread:g} needs more than {MAX_PLANNED_PAIRS} seeds at margin {margin:g}")
    return needed


def scenarios(recording: Recording, references: list[str], margin: float) -> dict[str, list[Scenario]]:
    """The null and one-margin scenarios of every reference, each recorded pair alone, and all together."""
    columns = recording.configurations
    by_kind: dict[str, list[Scenario]] = {"null": [], "margin": [], "oc": [], "real": [], "together": [],
                                          "failure": [], "k_null": []}
    for reference in references:
        values = columns[reference][np.isfinite(columns[reference])]
        if values.size < 2 or not np.std(values) > 0:
            raise SystemExit(f"error: {reference} has no spread across seeds; nothing to calibrate")
        by_kind["null"].append(Scenario(f"null {reference}", "null", (reference,), (values,)))
        by_kind["margin"].append(Scenario(f"margin {reference}", "margin", (reference,), (values,), shift=margin))
        by_kind["oc"] += [Scenario(f"oc {fraction:g} {reference}", "oc", (reference,), (values,), shift=fraction * margin)
                          for fraction in OC_FRACTIONS]
        by_kind["failure"].append(Scenario(f"failure {reference}", "failure", (reference,), (values,)))
    names = list(columns)
    # K configurations per arm: the noisiest K, where seeds shared across an arm's configurations matter most
    noisiest = sorted(names, key=lambda name: (-float(np.nanstd(columns[name], ddof=1)), names.index(name)))
    for count in K_CONFIGURATIONS:
        if len(names) >= count:
            chosen = tuple(noisiest[:count])
            complete = np.all([np.isfinite(columns[name]) for name in chosen], axis=0)  # seeds all of them finished
            by_kind["k_null"].append(Scenario(f"k_null K={count}", "k_null", chosen,
                                              tuple(columns[name][complete] for name in chosen)))
    arrays = tuple(columns[name] for name in names)
    pairs = tuple(itertools.combinations(range(len(names)), 2))
    for a, b in pairs:
        by_kind["real"].append(Scenario(f"real {names[a]} vs {names[b]}", "real", (names[a], names[b]),
                                        (arrays[a], arrays[b]), ((0, 1),)))
    if len(pairs) > 1:
        by_kind["together"].append(Scenario("every real pair together", "together", tuple(names), arrays, pairs))
    return by_kind


def _run(tasks: list[tuple[Scenario, Design]], margin: float, alpha: float, replays: int, seed: int,
         jobs: int) -> list[dict]:
    """Replay every (scenario, design), in processes; each task has its own random stream (seed, task), so
    the result does not depend on --jobs. One progress line per finished task."""
    arguments = [(scenario, design, margin, alpha, replays, (seed, index)) for index, (scenario, design) in
                 enumerate(tasks)]
    started = time.perf_counter()
    results: list[dict | None] = [None] * len(tasks)
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(replay_scenario, *argument): index for index, argument in enumerate(arguments)}
        for done, future in enumerate(as_completed(futures), start=1):
            index = futures[future]
            results[index] = future.result()
            scenario, design = tasks[index]
            print(f"[{done}/{len(tasks)}] {scenario.name}: {results[index]['mean_pairs']:.1f} seeds, fixed "
                  f"{design.fixed}, most {design.looks[-1]} ({time.perf_counter() - started:.0f} s)", flush=True)
    return results


def replay(recording: Recording, *, margin: float = 0.01, fixed_seeds: int | None = None,
           batch: int = DEFAULT_BATCH, alpha: float = 0.05, replays: int = 2000,
           references: list[str] | None = None, seed: int = 0, spending: str = sequential.DEFAULT_SPENDING,
           jobs: int = 1, known_spread: bool = True) -> dict:
    """Replay both protocols, planned once for every configuration (the headline) and, with
    known_spread, planned for each scenario's own spread."""
    if not higher_is_better(recording.metric):
        raise SystemExit(f"error: {recording.metric} is lower-is-better; the scenarios shift arm A up as an "
                         f"improvement")
    names = list(recording.configurations)
    unknown = sorted(set(references or ()) - set(names))
    if unknown:
        raise SystemExit(f"error: no configuration {', '.join(unknown)} in the recording ({', '.join(names)})")
    by_kind = scenarios(recording, references or names, margin)
    needed = {scenario.name: _plan_pairs(scenario.spread, margin, alpha)
              for kind in ("null", "margin", "real") for scenario in by_kind[kind]}
    noisiest = max(by_kind["null"], key=lambda scenario: scenario.spread)
    fixed = fixed_seeds or needed[noisiest.name]
    planned = Design.for_power(fixed, batch, margin, alpha, spending)
    every = [scenario for kind in ("null", "margin", "oc", "real", "together", "failure", "k_null")
             for scenario in by_kind[kind]]
    tasks = [(scenario, planned) for scenario in every]
    own = [scenario for kind in ("null", "margin", "real") for scenario in by_kind[kind]] if known_spread else []
    tasks += [(scenario, Design.for_power(needed[scenario.name], batch, margin, alpha, spending)) for scenario in own]
    results = _run(tasks, margin, alpha, replays, seed, jobs)
    headline = dict(zip((scenario.name for scenario in every), results[:len(every)]))
    tailored = dict(zip((scenario.name for scenario in own), results[len(every):]))
    return summarize(recording, by_kind, headline, tailored, needed, planned, noisiest.name if not fixed_seeds
                     else "--fixed-seeds", margin, alpha, replays)


def _column(outcomes: list[list[str]], index: int) -> list[str]:
    return [run[index] for run in outcomes]


def _rate(outcomes: list[str], wanted: tuple[str, ...]) -> dict:
    hits = sum(outcome in wanted for outcome in outcomes)
    interval = scipy_stats.binomtest(hits, len(outcomes)).proportion_ci(0.95, method="exact")
    return {"rate": hits / len(outcomes), "ci": [float(interval.low), float(interval.high)], "count": hits}


def _pooled(runs: list[dict], protocol: str, wanted: tuple[str, ...]) -> dict:
    return _rate([outcome for run in runs for outcome in _column(run[protocol], 0)], wanted)


def _rates(nulls: list[dict], margins: list[dict], protocol: str) -> dict:
    """A protocol's error rates and power, pooled over the scenarios given."""
    false_winners = _pooled(nulls, protocol, WINNERS)
    power = _pooled(margins, protocol, (Outcome.A_BETTER,))
    return {
        "false_winner_rate": false_winners["rate"],
        "false_winner_ci": false_winners["ci"],
        "power": power["rate"],
        "power_ci": power["ci"],
        "equivalence_rate": _pooled(nulls, protocol, (Outcome.EQUIVALENT,))["rate"],
        "false_equivalence_rate": _pooled(margins, protocol, (Outcome.EQUIVALENT,))["rate"],
        "significant_difference_rate": float(np.mean([flag for run in nulls
                                                      for flag in _column(run[f"{protocol}_significant"], 0)])),
    }


def _truth(scenario: Scenario, margin: float, alpha: float) -> list:
    """Each comparison decided on all recorded seeds (its 'true' difference and verdict)."""
    return decide_all([(scenario.columns[a], scenario.columns[b]) for a, b in scenario.pairs], margin, alpha=alpha,
                      details=False)


def _wrong_winners(result: dict, truths: list, protocol: str) -> tuple[int, int]:
    """(winners against the sign of the all-seeds difference, verdicts) over a scenario's comparisons."""
    wrong = total = 0
    for index, truth in enumerate(truths):
        outcomes = _column(result[protocol], index)
        if truth.mean_difference != 0:
            wrong += outcomes.count("b_better" if truth.mean_difference > 0 else "a_better")
        total += len(outcomes)
    return wrong, total


def _counts(outcomes: list[str]) -> dict[str, int]:
    return {outcome: outcomes.count(outcome) for outcome in sorted(set(outcomes))}


def summarize(recording: Recording, by_kind: dict[str, list[Scenario]], headline: dict[str, dict],
              tailored: dict[str, dict], needed: dict[str, int], planned: Design, planned_from: str, margin: float,
              alpha: float, replays: int) -> dict:
    """Headline rates pooled over the reference configurations (each weighs the same); seeds of the
    sequential protocol over the fixed N, mean over the null, one-margin and real-pair scenarios."""
    nulls = [headline[scenario.name] for scenario in by_kind["null"]]
    margins = [headline[scenario.name] for scenario in by_kind["margin"]]
    counted = [scenario.name for kind in ("null", "margin", "real") for scenario in by_kind[kind]]
    real_pairs, wrong = [], {"sequential": [0, 0], "fixed": [0, 0]}
    for scenario in by_kind["real"]:
        result, (truth,) = headline[scenario.name], _truth(scenario, margin, alpha)
        for protocol, counts in wrong.items():
            hits, total = _wrong_winners(result, [truth], protocol)
            counts[0] += hits
            counts[1] += total
        real_pairs.append({"a": scenario.arms[0], "b": scenario.arms[1],
                           "difference": truth.mean_difference, "spread": scenario.spread,
                           "pairs_for_power": needed[scenario.name], "all_seeds_verdict": str(truth.outcome),
                           "n": truth.n, "seeds": result["mean_pairs"],
                           **{protocol: _counts(_column(result[protocol], 0)) for protocol in ("sequential", "fixed")}})
    result = {
        **_rates(nulls, margins, "sequential"),
        "seeds_ratio": float(np.mean([headline[name]["mean_pairs"] for name in counted]) / planned.fixed),
        "seeds_ratio_by_scenario": {name: headline[name]["mean_pairs"] / planned.fixed for name in counted},
        "margin": margin,
        "alpha": alpha,
        "fixed": _rates(nulls, margins, "fixed"),
        "fixed_pairs": planned.fixed,
        "planned_from": planned_from,
        "max_pairs": planned.looks[-1],
        "looks": list(planned.looks),
        "spending": planned.spending,
        "by_reference": {
            scenario.arms[0]: {
                "spread": scenario.spread, "pairs_for_power": needed[scenario.name],
                "sequential": {**_rates([headline[scenario.name]], [headline[shifted.name]], "sequential"),
                               "seeds_null": headline[scenario.name]["mean_pairs"],
                               "seeds_margin": headline[shifted.name]["mean_pairs"]},
                "fixed": _rates([headline[scenario.name]], [headline[shifted.name]], "fixed")}
            for scenario, shifted in zip(by_kind["null"], by_kind["margin"])},
        "real_pairs": real_pairs,
        "real_wrong_winner_rate": wrong["sequential"][0] / max(wrong["sequential"][1], 1),
        "replays": replays,
        "recorded_seeds": len(recording.seeds),
        "metric": recording.metric,
    }
    result["fixed"]["real_wrong_winner_rate"] = wrong["fixed"][0] / max(wrong["fixed"][1], 1)
    piloted = [scenario.name for kind in ("null", "margin", "oc", "real") for scenario in by_kind[kind]]
    result["pilot"] = {**_rates(nulls, margins, "pilot"), "pilot_seeds": PILOT_SEEDS, "most": PILOT_CAP,
                       "seeds": float(np.mean([headline[name]["pilot_pairs"] for name in piloted]))}
    result["seeds_ratio_vs_pilot"] = float(np.mean([headline[name]["mean_pairs"] for name in piloted])
                                           / result["pilot"]["seeds"])
    result["operating_characteristic"] = _operating_characteristic(by_kind, headline, margin)
    for scenario in by_kind["together"]:
        run, truths = headline[scenario.name], _truth(scenario, margin, alpha)
        result["together"] = {
            "seeds": run["mean_pairs"], "seeds_ratio": run["mean_pairs"] / planned.fixed,
            "wrong_winner_rate": _ratio(*_wrong_winners(run, truths, "sequential")),
            "fixed_wrong_winner_rate": _ratio(*_wrong_winners(run, truths, "fixed")),
        }
    if tailored:
        own_nulls = [tailored[scenario.name] for scenario in by_kind["null"]]
        own_margins = [tailored[scenario.name] for scenario in by_kind["margin"]]
        result["known_spread"] = {
            "seeds_ratio": float(np.mean([run["mean_pairs"] / run["fixed_pairs"] for run in tailored.values()])),
            "by_scenario": {name: {"fixed_pairs": run["fixed_pairs"], "max_pairs": run["max_pairs"],
                                   "seeds": run["mean_pairs"], "ratio": run["mean_pairs"] / run["fixed_pairs"]}
                            for name, run in tailored.items()},
            **_rates(own_nulls, own_margins, "sequential"),
            "fixed": _rates(own_nulls, own_margins, "fixed"),
        }
    result.update(_issue_29(by_kind, headline, result))
    result["aims"] = {
        "false_winner_rate<=alpha": result["false_winner_ci"][0] <= alpha,
        "false_winner_rate_worst<=alpha": result["false_winner_worst_ci"][0] <= alpha,
        "false_winner_rate_k3<=alpha": result["false_winner_rate_k3"] is None or result["k_null"]["K=3"]["ci"][0] <= alpha,
        "power>=0.8": result["power"] >= AIM_POWER,
        "power_worst>=0.8": result["power_worst"] >= AIM_POWER,
        "coverage>=0.94": result["coverage"] >= AIM_COVERAGE,
        "class_rate_gap<=0.10": result["class_rate_gap"] <= AIM_CLASS_GAP,
        "failing_arm_claimed<=alpha": max(row["sequential"] for row in result["failure"].values()) <= alpha,
        "seeds_ratio<=0.6": result["seeds_ratio"] <= AIM_SEEDS_RATIO,
        "seeds_ratio_vs_pilot<=0.8": result["seeds_ratio_vs_pilot"] <= AIM_SEEDS_VS_PILOT,
    }
    return result


def _operating_characteristic(by_kind: dict[str, list[Scenario]], headline: dict[str, dict],
                               margin: float) -> dict[str, dict]:
    """Per true difference (in margins: 0, OC_FRACTIONS and 1), each protocol's share of every class pooled
    over the reference configurations, the sequential one's least "A better" over them, and seeds spent."""
    by_shift: dict[float, list[Scenario]] = {}
    for scenario in (*by_kind["null"], *by_kind["margin"], *by_kind["oc"]):
        by_shift.setdefault(round(scenario.shift / margin, 6), []).append(scenario)
    curve = {}
    for shift in sorted(by_shift):
        runs = [headline[scenario.name] for scenario in by_shift[shift]]
        curve[f"{shift:g}"] = {
            **{protocol: _shares([outcome for run in runs for outcome in _column(run[protocol], 0)])
               for protocol in ("sequential", "fixed", "pilot")},
            "a_better_worst": min(_rate(_column(run["sequential"], 0), (Outcome.A_BETTER,))["rate"] for run in runs),
            "seeds": float(np.mean([run["mean_pairs"] for run in runs])),
            "pilot_seeds": float(np.mean([run["pilot_pairs"] for run in runs]))}
    return curve


def _shares(outcomes: list[str]) -> dict[str, float]:
    return {outcome: count / len(outcomes) for outcome, count in _counts(outcomes).items()}


def _gap(first: list[str], second: list[str]) -> float:
    """The largest difference between two designs' shares of any one class."""
    classes = set(first) | set(second)
    return max(abs(first.count(name) / len(first) - second.count(name) / len(second)) for name in classes)


def _issue_29(by_kind: dict[str, list[Scenario]], headline: dict[str, dict], result: dict) -> dict:
    """The figures of issue 29: the worst configuration, K configurations per arm, failures, the repeated
    interval's coverage, the class-rate gap between the designs, and the old procedure beside the new."""
    references = result["by_reference"]
    worst = max(references, key=lambda name: references[name]["sequential"]["false_winner_rate"])
    weakest = min(references, key=lambda name: references[name]["sequential"]["power"])
    worst_run = headline[f"null {worst}"]
    k_null = {}
    for scenario in by_kind["k_null"]:
        run = headline[scenario.name]
        rates = {protocol: _rate(_column(run[protocol], 0), WINNERS) for protocol in ("sequential", "fixed", "old")}
        k_null[scenario.name.removeprefix("k_null ")] = {
            "configurations": list(scenario.arms), "false_winner_rate": rates["sequential"]["rate"],
            "ci": rates["sequential"]["ci"], "fixed": rates["fixed"]["rate"], "old_fixed": rates["old"]["rate"],
            "old_ci": rates["old"]["ci"]}
    failure = {}
    for scenario in by_kind["failure"]:
        run = headline[scenario.name]
        failure[scenario.arms[0]] = {protocol: _rate(_column(run[protocol], 0), FAILING_CLAIMS)["rate"]
                                     for protocol in ("sequential", "fixed", "old")}
        failure[scenario.arms[0]]["b_better"] = _rate(_column(run["sequential"], 0), (Outcome.B_BETTER,))["rate"]
    covered = [hit for kind in ("null", "margin", "k_null") for scenario in by_kind[kind]
               for hit in headline[scenario.name]["covered"]]
    gaps = {scenario.name: _gap(_column(headline[scenario.name]["sequential"], 0),
                                _column(headline[scenario.name]["fixed"], 0))
            for kind in ("null", "margin", "oc", "real") for scenario in by_kind[kind]}
    bias = {scenario.arms[0]: float(np.mean(headline[scenario.name]["stop_difference"]) - scenario.shift)
            for scenario in by_kind["margin"]}
    return {
        "false_winner_rate_worst": references[worst]["sequential"]["false_winner_rate"],
        "false_winner_worst_ci": _rate(_column(worst_run["sequential"], 0), WINNERS)["ci"],
        "false_winner_rate_k3": k_null["K=3"]["false_winner_rate"] if "K=3" in k_null else None,
        "coverage": float(np.mean(covered)) if covered else math.nan,
        "power_worst": references[weakest]["sequential"]["power"],
        "class_rate_gap": max(gaps.values()),
        "seeds_ratio_vs_pilot": result["seeds_ratio_vs_pilot"],
        "held_out": False,
        "worst_configuration": worst, "weakest_configuration": weakest, "k_null": k_null, "failure": failure,
        "class_rate_gap_by_scenario": gaps, "stop_bias_at_one_margin": bias,
    }


def _ratio(hits: int, total: int) -> float:
    return hits / total if total else math.nan


# --- Command line ----------------------------------------------------------------------------

def _print_recording(recording: Recording) -> None:
    print(f"{'configuration':>20} {'seeds':>5} {'mean':>7} {'sd':>7}")
    for name, values in recording.configurations.items():
        finite = values[np.isfinite(values)]
        print(f"{name:>20} {finite.size:>5} {finite.mean():>7.4f} {finite.std(ddof=1):>7.4f}")


def _print_result(result: dict) -> None:
    print(f"protocols: fixed N = {result['fixed_pairs']} seeds for every comparison (80% power at one margin on "
          f"{result['planned_from']}); sequential looks at {result['looks']} seeds ({result['spending']} spending), "
          f"margin {result['margin']}, alpha {result['alpha']}")
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
    print(f"real pairs, each alone: wrong-sign winners {result['real_wrong_winner_rate']:.4f} "
          f"(fixed {fixed['real_wrong_winner_rate']:.4f})")
    for row in result["real_pairs"]:
        print(f"  {row['a']} vs {row['b']}: all {row['n']} seeds {row['difference']:+.4f} sd {row['spread']:.4f} "
              f"({row['all_seeds_verdict']}); {row['seeds']:.1f} seeds; sequential {row['sequential']}; "
              f"fixed {row['fixed']}")
    if "together" in result:
        together = result["together"]
        print(f"every real pair in one report: {together['seeds']:.1f} seeds ({together['seeds_ratio']:.2f} of N); "
              f"wrong-sign winners {together['wrong_winner_rate']:.4f} (fixed {together['fixed_wrong_winner_rate']:.4f})")
    print(f"seeds ratio (sequential / fixed N, mean over the null, one-margin and real-pair scenarios): "
          f"{result['seeds_ratio']:.3f}")
    if "known_spread" in result:
        known = result["known_spread"]
        print(f"with each scenario's spread known in advance (both protocols planned for it): seeds ratio "
              f"{known['seeds_ratio']:.3f}; power {known['power']:.3f}/{known['fixed']['power']:.3f}, false winners "
              f"{known['false_winner_rate']:.3f}/{known['fixed']['false_winner_rate']:.3f} (sequential / fixed)")
    print(f"worst configuration: false winners {result['false_winner_rate_worst']:.3f} ({result['worst_configuration']}, "
          f"interval {result['false_winner_worst_ci'][0]:.3f}-{result['false_winner_worst_ci'][1]:.3f}); power "
          f"{result['power_worst']:.3f} ({result['weakest_configuration']})")
    for name, row in result["k_null"].items():
        print(f"{name} configurations per arm, no difference: false winners {row['false_winner_rate']:.3f} "
              f"(fixed {row['fixed']:.3f}; the old N x K pairs on the same draws {row['old_fixed']:.3f})")
    for name, row in result["failure"].items():
        print(f"{name} failing on a fifth of its seeds: called better, equivalent or not worse {row['sequential']:.3f} "
              f"(fixed {row['fixed']:.3f}; the old, failures dropped, {row['old']:.3f}); the steady arm better "
              f"{row['b_better']:.3f}")
    pilot = result["pilot"]
    print(f"internal pilot ({pilot['pilot_seeds']} seeds, then N for 80% power at one margin at their sd): "
          f"{pilot['seeds']:.1f} seeds on average; false winners {pilot['false_winner_rate']:.3f}, power "
          f"{pilot['power']:.3f}; sequential seeds / the pilot's {result['seeds_ratio_vs_pilot']:.3f}")
    print("operating characteristic (share of each class, sequential / fixed / internal pilot; seeds):")
    for shift, row in result["operating_characteristic"].items():
        classes = sorted(set(row["sequential"]) | set(row["fixed"]) | set(row["pilot"]))
        cells = ", ".join(f"{name} {row['sequential'].get(name, 0):.3f}/{row['fixed'].get(name, 0):.3f}/"
                          f"{row['pilot'].get(name, 0):.3f}" for name in classes)
        print(f"  {shift:>4} margin(s): {cells}; seeds {row['seeds']:.1f} (pilot {row['pilot_seeds']:.1f}); "
              f"least 'A better' over configurations {row['a_better_worst']:.3f}")
    print(f"repeated interval coverage at the stop {result['coverage']:.3f}; class-rate gap sequential/fixed "
          f"{result['class_rate_gap']:.3f}; difference at the stop minus the truth at one margin "
          + ", ".join(f"{name} {value:+.4f}" for name, value in result["stop_bias_at_one_margin"].items()))


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
    parser.add_argument("--fixed-seeds", type=int, default=None, metavar="N",
                        help="the fixed protocol's seeds (default: the fewest with 80%% power at one margin on the "
                             "noisiest reference configuration); the sequential one's most follows from it")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH,
                        help="seeds per look (default: %(default)s, the engine's --confirm-batch default)")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--spending", choices=sorted(sequential.SPENDING), default=sequential.DEFAULT_SPENDING,
                        help="alpha-spending function of the looks (default: %(default)s, the engine's)")
    parser.add_argument("--reference", action="append", default=None,
                        help="a configuration for the null and one-margin scenarios (repeatable; default: every one)")
    parser.add_argument("--known-spread", action=argparse.BooleanOptionalAction, default=True,
                        help="also replay both protocols planned for each scenario's own spread (default: on)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="replay processes (default: the cores)")
    parser.add_argument("--replay-seed", type=int, default=0)
    parser.add_argument("--held-out", action="store_true",
                        help="record the held-out family instead (sweeps/selu_mnist.py: 50-layer MLPs with BatchNorm, "
                             "relu vs selu, three initializers each; hours of training)")
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
            recording = record(args.seeds, args.max_epochs, args.units, storage, args.metric, args.held_out)
    if args.save:
        recording.save(args.save)
        print(f"saved {args.save}", flush=True)
    _print_recording(recording)
    result = replay(recording, margin=args.margin, fixed_seeds=args.fixed_seeds, batch=args.batch, alpha=args.alpha,
                    replays=args.replays, references=args.reference, seed=args.replay_seed, spending=args.spending,
                    jobs=args.jobs, known_spread=args.known_spread)
    result["held_out"] = bool(recording.source.get("held_out", False))
    _print_result(result)
    result["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps({key: result[key] for key in HEADLINE} | result))  # the issue 29 figures first


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
