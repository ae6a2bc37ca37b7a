"""analysis.verdict.seeds and the tests on it: one difference per seed, failures scored and counted,
intervals that match the tests; every number against SciPy or statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.weightstats import DescrStatsW, ttost_paired

from analysis.verdict import decision, sequential
from analysis.verdict.decision import Outcome
from analysis.verdict.seeds import SeedPairs, failure_score, per_seed, seed_means
from analysis.verdict.words import sentence

MARGIN = 0.01


def _rows(values: dict[str, np.ndarray], looks: np.ndarray | None = None) -> pd.DataFrame:
    """One row per trial from arm -> (seeds x configurations) values; NaN is a failed trial."""
    rows = []
    for arm, table in values.items():
        for seed_index, row in enumerate(table):
            for rank, value in enumerate(row, start=1):
                rows.append({"arm": arm, "seed": 100 + seed_index, "rank": rank, "value": value,
                             "look": 1 if looks is None else int(looks[seed_index])})
    return pd.DataFrame(rows)


def _correlated(rng: np.random.Generator, seeds: int, configurations: int, correlation: float) -> np.ndarray:
    """Accuracies of one arm: the configurations of one seed share a seed effect (within-seed correlation)."""
    shared = rng.normal(0, math.sqrt(correlation), (seeds, 1))
    own = rng.normal(0, math.sqrt(1 - correlation), (seeds, configurations))
    return 0.9 + 0.01 * (shared + own)


@pytest.mark.parametrize("configurations", [1, 2, 3])
def test_k_configurations_with_correlated_ranks_give_one_difference_per_seed(configurations: int) -> None:
    rng = np.random.default_rng(configurations)
    a, b = _correlated(rng, 7, configurations, 0.6), _correlated(rng, 7, configurations, 0.6)
    pairs = per_seed(_rows({"A": a, "B": b}), "A", "B", score=0.0)
    assert len(pairs) == 7 and list(pairs.seeds) == list(range(100, 107))
    np.testing.assert_allclose(pairs.a, a.mean(axis=1))
    np.testing.assert_allclose(pairs.b, b.mean(axis=1))
    result = decision.decide(pairs, margin=MARGIN)
    reference = scipy_stats.ttest_rel(a.mean(axis=1), b.mean(axis=1))
    tost, (_, p_low, _), (_, p_high, _) = ttost_paired(a.mean(axis=1), b.mean(axis=1), -MARGIN, MARGIN)
    assert result.n == 7 and result.p_value == pytest.approx(reference.pvalue, rel=1e-12)
    assert result.p_equivalence == pytest.approx(tost, rel=1e-12)
    assert (result.p_not_worse_a, result.p_not_worse_b) == pytest.approx((p_low, p_high), rel=1e-12)
    assert (result.ci_low, result.ci_high) == pytest.approx(tuple(reference.confidence_interval(0.95)), rel=1e-12)


def test_an_arm_with_fewer_configurations_is_averaged_over_the_ones_it_has() -> None:
    a = np.array([[0.90, 0.92, 0.94], [0.91, 0.93, 0.95]])
    b = np.array([[0.80], [0.81]])
    pairs = per_seed(_rows({"A": a, "B": b}), "A", "B", score=0.0)
    np.testing.assert_allclose(pairs.a - pairs.b, [0.12, 0.12])


def test_a_failure_scores_the_worst_value_and_is_counted_for_its_arm() -> None:
    a = np.array([[0.90, np.nan], [0.91, 0.92], [np.nan, np.nan], [0.90, 0.91]])
    b = np.array([[0.90, 0.91], [0.91, 0.90], [0.92, 0.90], [np.nan, 0.92]])
    pairs = per_seed(_rows({"A": a, "B": b}), "A", "B", score=failure_score("last_test_accuracy"))
    assert failure_score("last_test_accuracy") == 0.0 and failure_score("last_val_loss") is None
    np.testing.assert_allclose(pairs.a, [0.45, 0.915, 0.0, 0.905])
    np.testing.assert_allclose(pairs.b, [0.905, 0.905, 0.91, 0.46])
    assert (pairs.failures_a, pairs.failures_b) == (2, 1) and list(pairs.failed_b) == [False, False, False, True]
    # McNemar's exact test on the paired seeds: statsmodels, and the binomial test on the discordant ones
    table = [[0, 2], [1, 1]]
    assert pairs.failures_p_value() == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert pairs.failures_p_value() == pytest.approx(scipy_stats.binomtest(1, 3, 0.5).pvalue)
    result = decision.decide(pairs, margin=MARGIN)
    assert (result.failures_a, result.failures_b, result.n) == (2, 1, 4)
    assert result.p_value == pytest.approx(scipy_stats.ttest_rel(pairs.a, pairs.b).pvalue)
    # a loss has no worst value: a failure is counted, the configurations that finished carry the seed
    unscored = per_seed(_rows({"A": a, "B": b}), "A", "B", score=None)
    assert (unscored.failures_a, unscored.failures_b) == (2, 1) and np.isnan(unscored.a[2])
    assert decision.decide(unscored, margin=MARGIN).n == 3


def test_failures_on_one_side_never_make_that_arm_better_or_equivalent() -> None:
    b = np.array([0.90, 0.91, 0.92, 0.90, 0.91, 0.92, 0.90, 0.91])
    survivors = b + np.array([0.001, -0.001, 0.0005, 0.0, 0.001, -0.0005, 0.0, 0.0005])
    dropped = decision.decide(survivors[2:], b[2:], MARGIN)
    assert dropped.outcome is Outcome.EQUIVALENT  # what dropping the failed seeds used to say
    a = survivors.copy()
    a[:2] = 0.0  # failed: scored as the worst accuracy
    held = decision.decide(SeedPairs.of(a, b, failed_a=[True, True] + [False] * 6), margin=MARGIN)
    assert held.outcome not in (Outcome.A_BETTER, Outcome.EQUIVALENT, Outcome.A_NOT_WORSE)
    assert "failed seeds" in sentence(held, "fragile", "steady")
    # even when the score is mild (a made-up worst value) the arm that failed more is held back
    mild = survivors.copy()
    mild[:2] = b[:2] - 0.001
    guarded = decision.decide(SeedPairs.of(mild, b, failed_a=[True, True] + [False] * 6), margin=MARGIN)
    assert guarded.outcome is Outcome.B_NOT_WORSE and guarded.held_back  # equivalence -> the other's not worse
    assert "fragile failed on more seeds" in sentence(guarded, "fragile", "steady")
    winner = decision.decide(SeedPairs.of(b + 0.05, b, failed_a=[True] + [False] * 7), margin=MARGIN)
    assert winner.outcome is Outcome.INCONCLUSIVE and winner.held_back
    assert decision.hold_back(Outcome.B_BETTER, 2, 0) is Outcome.B_BETTER  # the steadier arm may win
    assert decision.hold_back(Outcome.B_NOT_WORSE, 0, 2) is Outcome.INCONCLUSIVE
    assert decision.hold_back(Outcome.EQUIVALENT, 1, 1) is Outcome.EQUIVALENT


def test_zero_spread_ties_and_two_seeds_with_failures() -> None:
    ties = decision.decide(SeedPairs.of(np.zeros(5), np.zeros(5), failed_a=[True] * 5, failed_b=[True] * 5),
                           margin=MARGIN)
    assert ties.zero_spread and ties.outcome is Outcome.EQUIVALENT and (ties.failures_a, ties.failures_b) == (5, 5)
    assert ties.p_failures == 1.0 and ties.p_equivalence == pytest.approx(0.5**5)
    two = decision.decide(SeedPairs.of([0.0, 0.9], [0.9, 0.91], failed_a=[True, False]), margin=MARGIN)
    assert two.n == 2 and two.outcome is Outcome.INCONCLUSIVE
    assert two.p_value == pytest.approx(scipy_stats.ttest_rel([0.0, 0.9], [0.9, 0.91]).pvalue)
    assert two.p_failures == pytest.approx(mcnemar([[0, 1], [0, 1]], exact=True).pvalue) == 1.0
    one = decision.decide(SeedPairs.of([0.0], [0.9], failed_a=[True]), margin=MARGIN)
    assert one.n == 1 and "at least 2 needed" in sentence(one, "a", "b") and "failed seeds" in sentence(one, "a", "b")


def test_the_intervals_are_the_ones_the_tests_use() -> None:
    rng = np.random.default_rng(21)
    for _ in range(40):
        n = int(rng.integers(2, 12))
        b = 0.9 + rng.normal(0, 0.01, n)
        a = b + rng.normal(rng.choice([0.0, 0.005, 0.012]), 0.006, n)
        result = decision.decide(a, b, MARGIN)
        described = DescrStatsW(a - b)
        assert (result.ci_low, result.ci_high) == pytest.approx(described.tconfint_mean(alpha=0.05), rel=1e-10)
        assert (result.tost_low, result.tost_high) == pytest.approx(described.tconfint_mean(alpha=0.10), rel=1e-10)
        # each interval decides exactly as its test does
        assert (result.ci_low > 0 or result.ci_high < 0) == (result.p_value < 0.05)
        assert (-MARGIN < result.tost_low and result.tost_high < MARGIN) == (result.p_equivalence < 0.05)
        assert (result.tost_low > -MARGIN) == (result.p_not_worse_a < 0.05)
        low, high, level = result.decision_interval()
        if result.outcome in (Outcome.EQUIVALENT, Outcome.A_NOT_WORSE, Outcome.B_NOT_WORSE):
            assert (low, high, level) == (result.tost_low, result.tost_high, 0.9)
            assert "90% CI" in sentence(result, "a", "b")
        else:
            assert (low, high, level) == (result.ci_low, result.ci_high, 0.95)
            assert "95% CI" in sentence(result, "a", "b")


def test_a_looks_interval_is_the_repeated_confidence_interval_at_its_nominal_level() -> None:
    looks = sequential.plan_looks(12, 4)
    rng = np.random.default_rng(5)
    d = rng.normal(0.004, 0.01, 12)
    result = sequential.decide_at_look([(d, np.zeros(12))], 1, looks, MARGIN)[0]
    levels = sequential.look_levels(result.look - 1, looks)
    seen = d[: looks[result.look - 1]]
    expected = scipy_stats.t.interval(1 - levels.two_sided, seen.size - 1, loc=seen.mean(), scale=scipy_stats.sem(seen))
    assert result.interval_kind == "repeated" and (result.ci_low, result.ci_high) == pytest.approx(expected)
    tost = scipy_stats.t.interval(1 - 2 * levels.one_sided, seen.size - 1, loc=seen.mean(), scale=scipy_stats.sem(seen))
    assert (result.tost_low, result.tost_high) == pytest.approx(tost)
    assert "95% repeated CI" in sentence(result, "a", "b") or "90% repeated CI" in sentence(result, "a", "b")


def test_a_searchs_runs_are_averaged_per_seed_over_their_settings() -> None:
    values_a = np.array([0.9, 0.8, 0.91, 0.81])
    values_b = np.array([0.85, 0.78, 0.86, 0.79])
    pairs = seed_means(values_a, values_b, np.array([0, 0, 1, 1]))  # two learning rates per seed
    np.testing.assert_allclose(pairs.a - pairs.b, [0.035, 0.035])
    np.testing.assert_array_equal(pairs.seeds, [0, 1])
    assert len(seed_means(values_a, values_b, None)) == 4
    with pytest.raises(ValueError, match="equal lengths"):
        SeedPairs.of([0.1, 0.2], [0.1])
