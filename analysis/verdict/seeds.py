"""The seed is the unit of a verdict: one paired difference per seed, failures scored, never dropped.

Why one difference per seed. A confirmation (`--confirm K`) runs each arm's K configurations on
the same seeds. Pairing them on (rank, seed) gave K "pairs" per seed to one paired t-test, but
the K runs of one arm on one seed share that seed's initialisation, data order and draws, and
matching rank r of arm A with rank r of arm B is arbitrary: the test counted N x K independent
pairs where there were N seeds. With a within-seed correlation of 0.3 that called a winner
where there was none 13% of the time instead of 5% (0.6: 20%; tests/analysis/verdict/
test_calibration_designs.py). So each arm's value on a seed is the mean over its
configurations on that seed, and the verdict is a paired test on one difference per seed:
the estimand is "the arm's top K configurations, on average", and the seed, which is what
varies independently, is what the test counts. An arm with fewer configurations than the other
is averaged over the ones it has.

Failures. A confirmation trial that diverged, errored or was cut short before the budget is part
of its arm's result: it scores `failure_score` (0 for an accuracy: a diverged network is worth
nothing; chance would be 1/classes, almost the same penalty at 10 classes) in its arm's mean,
and its seed counts as a failed seed for the arm. Dropping its pair instead let an arm that
diverges on 30% of the seeds be called better on its survivors. The failed seeds per arm are
compared beside the difference (`failures_p_value`: McNemar's exact test on the paired seeds,
statsmodels), and the decision (analysis.verdict.decision) never calls the arm that failed on
more seeds better or equivalent. A trial still running, or interrupted, is not a failure: it
is left out until it ends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.contingency_tables import mcnemar

from analysis.store.schema import metric_direction
from analysis.verdict.stats import Values

# Trial statuses that have not ended (analysis.store.schema.STATUSES): neither a value nor a failure yet.
PENDING_STATUSES = frozenset({"running", "interrupted"})


@dataclass(frozen=True)
class SeedPairs:
    """One comparison's values, one per seed, in seed order.

    a, b: each arm's value on the seed (the mean over its configurations, a failure scored);
    failed_a, failed_b: whether any of the arm's trials on the seed failed; arrival: the 0-based
    look at which the seed was run (0 without looks). NaN in a or b (a failure with no score, for
    a metric without a worst value) leaves the seed out of the test but not out of the failures.
    """

    seeds: np.ndarray
    a: np.ndarray
    b: np.ndarray
    failed_a: np.ndarray
    failed_b: np.ndarray
    arrival: np.ndarray

    @classmethod
    def of(cls, a: Values, b: Values, *, failed_a: Values | None = None, failed_b: Values | None = None,
           seeds: Values | None = None, arrival: Values | None = None) -> SeedPairs:
        """From arrays, one entry per seed; NaN in a or b without a failure flag is a missing seed."""
        a_values, b_values = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
        if a_values.shape != b_values.shape:
            raise ValueError(f"paired samples need equal lengths, got {a_values.size} and {b_values.size}")
        count = a_values.size

        def column(values: Values | None, default: object, dtype: type) -> np.ndarray:
            array = np.full(count, default, dtype=dtype) if values is None else np.asarray(values, dtype=dtype).ravel()
            if array.shape != (count,):
                raise ValueError(f"each seed needs one entry, got {array.size} for {count} seeds")
            return array

        failed_a_values, failed_b_values = column(failed_a, False, bool), column(failed_b, False, bool)
        keep = (np.isfinite(a_values) & np.isfinite(b_values)) | failed_a_values | failed_b_values
        return cls(seeds=column(seeds, 0, int)[keep] if seeds is not None else np.flatnonzero(keep),
                   a=a_values[keep], b=b_values[keep], failed_a=failed_a_values[keep], failed_b=failed_b_values[keep],
                   arrival=column(arrival, 0, int)[keep])

    def __len__(self) -> int:
        return int(self.seeds.size)

    def _take(self, keep: np.ndarray) -> SeedPairs:
        return SeedPairs(self.seeds[keep], self.a[keep], self.b[keep], self.failed_a[keep], self.failed_b[keep],
                         self.arrival[keep])

    def first(self, count: int) -> SeedPairs:
        """The first `count` seeds (a look counted in seeds)."""
        return self._take(np.arange(len(self)) < count)

    def upto(self, look_index: int) -> SeedPairs:
        """The seeds run at or before look `look_index` (0-based)."""
        return self._take(self.arrival <= look_index)

    def tested(self) -> tuple[np.ndarray, np.ndarray]:
        """(a, b) on the seeds with a value on both sides: what the paired tests use."""
        keep = np.isfinite(self.a) & np.isfinite(self.b)
        return self.a[keep], self.b[keep]

    @property
    def failures_a(self) -> int:
        return int(self.failed_a.sum())

    @property
    def failures_b(self) -> int:
        return int(self.failed_b.sum())

    def failures_p_value(self) -> float:
        """McNemar's exact test (statsmodels) of equal failure rates on the paired seeds: a binomial
        test on the seeds where exactly one arm failed. 1 when none did."""
        only_a = int(np.sum(self.failed_a & ~self.failed_b))
        only_b = int(np.sum(self.failed_b & ~self.failed_a))
        if only_a + only_b == 0:
            return 1.0
        both = int(np.sum(self.failed_a & self.failed_b))
        table = [[both, only_a], [only_b, len(self) - both - only_a - only_b]]
        return float(mcnemar(table, exact=True).pvalue)


def failure_score(metric: str) -> float | None:
    """What a failed trial scores in its arm's mean: 0 for an accuracy-like metric (its worst value);
    None where a metric has no worst value (a loss): the failure is then counted, not scored."""
    base = metric.removeprefix("best_").removeprefix("last_")
    return 0.0 if metric_direction(base) == "max" else None


def _arm_by_seed(rows: pd.DataFrame, score: float | None) -> pd.DataFrame:
    """Per seed: the arm's mean over its configurations (failures scored), whether any failed, its look."""
    failed = ~np.isfinite(rows["value"].to_numpy(dtype=float, na_value=np.nan))
    scored = rows["value"].astype(float).where(~failed, np.nan if score is None else score)
    frame = pd.DataFrame({"seed": rows["seed"].to_numpy(), "value": scored.to_numpy(), "failed": failed,
                          "look": rows["look"].to_numpy()})
    grouped = frame.groupby("seed", sort=True)
    # mean() skips NaN: an unscored failure leaves the configurations that finished; all failed -> NaN
    return pd.DataFrame({"value": grouped["value"].mean(), "failed": grouped["failed"].any(),
                         "look": grouped["look"].min()})


def per_seed(rows: pd.DataFrame, arm_a: str, arm_b: str, *, score: float | None) -> SeedPairs:
    """The seeds both arms ran, from `rows` (one per trial: arm, seed, value, look).

    `value` NaN is a failed trial (scored `score`); `look` is the 1-based look of the trial's seed
    (0 or missing without looks). Pending trials must be left out of `rows` by the caller.
    """
    side_a = _arm_by_seed(rows[rows["arm"] == arm_a], score)
    side_b = _arm_by_seed(rows[rows["arm"] == arm_b], score)
    both = side_a.add_suffix("_a").join(side_b.add_suffix("_b"), how="inner").sort_index()
    looks = both[["look_a", "look_b"]].max(axis=1).fillna(1).to_numpy(dtype=float)
    return SeedPairs.of(both["value_a"].to_numpy(dtype=float), both["value_b"].to_numpy(dtype=float),
                        failed_a=both["failed_a"].to_numpy(dtype=bool), failed_b=both["failed_b"].to_numpy(dtype=bool),
                        seeds=both.index.to_numpy(dtype=int), arrival=np.maximum(looks - 1, 0).astype(int))


def seed_means(values_a: np.ndarray, values_b: np.ndarray, seeds: np.ndarray | None) -> SeedPairs:
    """Matched runs (same settings and seed) averaged per seed: a search's comparisons, one value per
    seed and arm whatever the number of settings run on it. Without seeds every pair is its own unit."""
    if seeds is None:
        return SeedPairs.of(values_a, values_b)
    frame = pd.DataFrame({"seed": seeds, "a": values_a, "b": values_b}).groupby("seed", sort=True).mean()
    return SeedPairs.of(frame["a"].to_numpy(), frame["b"].to_numpy(), seeds=frame.index.to_numpy(dtype=int))


def failed_trial(status: object, reached: bool, value: float) -> bool | None:
    """A confirmation trial's standing: True failed, False has its value, None still pending."""
    if str(status) in PENDING_STATUSES:
        return None
    return not (reached and math.isfinite(value))


__all__ = ["PENDING_STATUSES", "SeedPairs", "failed_trial", "failure_score", "per_seed", "seed_means"]
