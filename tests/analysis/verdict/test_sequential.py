"""analysis.verdict.sequential: Lan-DeMets boundaries against SciPy and published values, and by simulation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestPower

from analysis.verdict import decision, sequential
from analysis.verdict.decision import DecisionLevels, Outcome
from analysis.verdict.power import pairs_for_power
from analysis.verdict.words import sentence

MARGIN = 0.01


def test_plan_looks() -> None:
    assert sequential.plan_looks(24, 4) == (4, 8, 12, 16, 20, 24)
    assert sequential.plan_looks(21, 4) == (4, 8, 12, 16, 20, 21)
    assert sequential.plan_looks(5, 1) == (2, 3, 4, 5)
    assert sequential.plan_looks(3, 8) == (3,)
    for bad in ((1, 1), (10, 0), (10.5, 2)):
        with pytest.raises(ValueError):
            sequential.plan_looks(*bad)


def test_obrien_fleming_boundaries_are_the_published_ones() -> None:
    # Lan-DeMets O'Brien-Fleming spending, 5 equally spaced looks, one-sided 0.025, as tabulated
    # to three decimals (gsDesign and rpact print the same); SciPy's check is the next test.
    published = [4.877, 3.357, 2.680, 2.290, 2.031]
    assert sequential.boundaries([1, 2, 3, 4, 5], 0.025) == pytest.approx(published, abs=6e-4)


@pytest.mark.parametrize("spending", sorted(sequential.SPENDING))
@pytest.mark.parametrize("looks", [(4, 8, 12), (4, 8, 12, 14), (2, 3, 10)])
def test_boundaries_spend_alpha_as_scipys_multivariate_normal_says(spending: str, looks: tuple[int, ...]) -> None:
    alpha = 0.025
    bounds = sequential.boundaries(looks, alpha, spending)
    fractions = np.array(looks) / looks[-1]
    correlation = np.sqrt(np.minimum.outer(fractions, fractions) / np.maximum.outer(fractions, fractions))
    for k in range(1, len(looks) + 1):
        stayed = scipy_stats.multivariate_normal.cdf(
            np.array(bounds[:k]), cov=correlation[:k, :k], abseps=1e-8, releps=0, maxpts=400_000,
            rng=np.random.default_rng(0),
        )
        assert 1.0 - stayed == pytest.approx(sequential.spent(fractions[k - 1], alpha, spending), abs=2e-6)


@pytest.mark.parametrize("bound", [-20.0, -1.5, 0.0, 2.0, 9.0, 30.0])
def test_the_integration_grid_ends_at_the_bound_and_integrates_the_normal_below_it(bound: float) -> None:
    from analysis.verdict import boundaries

    center, scale = 0.7, 1.3
    points, weights = boundaries._grid(center, scale, center + bound * scale)
    assert points[-1] == center + bound * scale and np.all(np.diff(points) > 0) and len(points) % 2 == 1
    density = scipy_stats.norm.pdf(points, center, scale)
    assert weights @ density == pytest.approx(scipy_stats.norm.cdf(bound), abs=1e-7)


@pytest.mark.parametrize("looks", [pytest.param(200, marks=pytest.mark.slow), 500])  # 200: a finer grid, 6 s
def test_hundreds_of_looks_integrate_on_an_even_grid_and_spend_alpha(looks: int, monkeypatch) -> None:
    """--confirm-repeats 1000 in looks of 2 (500 looks; 999 in looks of 1 was checked by hand): on
    Jennison & Turnbull's grid (r = 24) the increments were far narrower than its tail spacing, the mass
    grew look after look, and from about 420 looks every later boundary came out as the search's cap (8).
    Plans of more than 150 even looks integrate on an even grid: alpha spent as planned, O'Brien-Fleming's
    last boundary as its trend says, and (at 200 looks) within 5e-4 of a grid twice as fine."""
    from analysis.verdict import boundaries

    plan = tuple(range(2, 2 * looks + 1, 2))
    bounds = np.array(sequential.boundaries(plan, 0.025))
    assert np.all(np.isfinite(bounds)) and 2.18 < bounds[-1] < 2.25 and np.all(bounds[len(bounds) // 4:] < 5)
    assert sequential.crossing_probabilities(bounds, plan).sum() == pytest.approx(0.025, abs=1e-9)
    if looks > 200:
        return
    monkeypatch.setattr(boundaries, "EVEN_POINTS", 2 * boundaries.EVEN_POINTS - 1)
    monkeypatch.setattr(boundaries, "SPACING", boundaries.SPACING / 2)
    boundaries._boundaries.cache_clear()
    finer = np.array(sequential.boundaries(plan, 0.025))
    boundaries._boundaries.cache_clear()
    reached = finer < 7.9  # the early looks' boundaries sit at the search's cap on both grids
    assert np.max(np.abs(bounds - finer)[reached]) < 5e-4


def test_crossing_probabilities_and_power_by_monte_carlo() -> None:
    looks = (4, 8, 12, 16)
    bounds = sequential.boundaries(looks, 0.025)
    assert sequential.crossing_probabilities(bounds, looks).sum() == pytest.approx(0.025, abs=1e-9)
    rng = np.random.default_rng(1)
    drift, paths = 2.8, 40_000
    increments = rng.normal(size=(paths, len(looks))) * np.sqrt(np.diff(np.r_[0, looks]) / looks[-1])
    fractions = np.array(looks) / looks[-1]
    z = (np.cumsum(increments, axis=1) + drift * fractions) / np.sqrt(fractions)
    simulated = (z >= np.array(bounds)).any(axis=1).mean()
    computed = sequential.crossing_probabilities(bounds, looks, drift=drift).sum()
    assert simulated == pytest.approx(computed, abs=4 * math.sqrt(computed * (1 - computed) / paths))


def test_nominal_levels() -> None:
    assert sequential.nominal_alpha(0, (10,), 0.05) == pytest.approx(0.05)  # one look: the fixed design
    assert sequential.nominal_alpha(0, (10,), 0.05, sided=1) == pytest.approx(0.05)
    looks = sequential.plan_looks(24, 4)
    levels = [sequential.nominal_alpha(k, looks, 0.05) for k in range(len(looks))]
    assert levels == sorted(levels) and levels[-1] < 0.05 and levels[0] < 1e-5  # O'Brien-Fleming: little early
    pocock = [sequential.nominal_alpha(k, looks, 0.05, spending="pocock") for k in range(len(looks))]
    assert max(pocock) / min(pocock) < 1.3 and max(pocock) < 0.02  # Pocock-like: even levels
    one_sided = sequential.nominal_alpha(2, looks, sided=1)
    assert sequential.look_levels(2, looks) == DecisionLevels(levels[2], one_sided, 3, 6)
    with pytest.raises(ValueError):
        sequential.nominal_alpha(6, looks)
    with pytest.raises(ValueError):
        sequential.boundaries(looks, 0.025, spending="haybittle")


def _comparisons(rng: np.random.Generator, n: int, shifts: list[float], sd: float = 0.01):
    pairs = []
    for shift in shifts:
        b = 0.9 + rng.normal(0, sd, n)
        pairs.append((b + shift + rng.normal(0, sd, n), b))
    return pairs


def test_decide_at_look_is_stateless_and_freezes_conclusive_comparisons() -> None:
    looks = sequential.plan_looks(24, 4)
    pairs = _comparisons(np.random.default_rng(3), 24, [0.05, 0.0, 0.006])
    final = sequential.decide_at_look(pairs, 5, looks, MARGIN)
    assert sequential.decide_at_look(pairs, 5, looks, MARGIN) == final  # deterministic
    for look_index in range(len(looks)):
        # data past the look is ignored: the engine may have run extra seeds
        cut = [(a[: looks[look_index]], b[: looks[look_index]]) for a, b in pairs]
        assert sequential.decide_at_look(pairs, look_index, looks, MARGIN) == sequential.decide_at_look(
            cut, look_index, looks, MARGIN)
    winner = final[0]
    assert winner.outcome is Outcome.A_BETTER and winner.look < 6
    at_its_look = sequential.decide_at_look(pairs, winner.look - 1, looks, MARGIN)[0]
    assert at_its_look == winner  # frozen: later seeds do not change it
    levels = sequential.look_levels(winner.look - 1, looks)
    direct = decision.decide_all([(a[: looks[winner.look - 1]], b[: looks[winner.look - 1]]) for a, b in pairs],
                              MARGIN, levels=levels)[0]
    assert direct == dataclasses.replace(winner, superiority_look=None) and winner.superiority_look == winner.look
    assert winner.beyond_margin and winner.settled  # better by more than the margin: what a winner stops on
    assert winner.interval_kind == "repeated" and winner.ci_low > 0  # the look's repeated interval excludes 0
    assert sequential.finished(final, 5, looks)
    assert sequential.pairs_spent(final, looks) == looks[max(v.look for v in final) - 1]
    assert "look" in sentence(winner, "a", "b")


def test_a_non_inferior_comparison_is_not_frozen_before_the_final_look() -> None:
    looks = (6, 12)
    b = np.array([0.90, 0.91, 0.89, 0.92, 0.90, 0.91] * 2)
    a = b - np.array([0.03, -0.005, 0.02, 0.0, 0.025, -0.01] * 2)
    first = sequential.decide_at_look([(a, b)], 0, looks, MARGIN)[0]
    assert first.outcome is Outcome.INCONCLUSIVE or not first.conclusive
    assert not sequential.finished([first], 0, looks)
    assert sequential.decide_at_look([(a, b)], 1, looks, MARGIN)[0].look == 2


def test_a_winner_inside_the_margin_goes_on_and_keeps_its_crossing() -> None:
    # a clear difference of 0.7 margins: significant at the second look, equivalence shown at the third
    looks = sequential.plan_looks(24, 4)
    rng = np.random.default_rng(3)
    b = 0.9 + rng.normal(0, 0.002, 24)
    a = b + 0.007 + rng.normal(0, 0.002, 24)
    first = sequential.decide_at_look([(a, b)], 1, looks, MARGIN)[0]
    assert first.outcome is Outcome.A_BETTER and not first.settled  # a provisional winner: more seeds are added
    assert not sequential.finished([first], 1, looks)
    final = sequential.decide_at_look([(a, b)], 5, looks, MARGIN)[0]
    assert final.outcome is Outcome.EQUIVALENT and (final.look, final.superiority_look) == (3, 2)
    assert final.tost_high < MARGIN and final.ci_low > 0  # better, but within the margin: practically equivalent
    assert "practically equivalent" in sentence(final, "a", "b")


def _simulate(true_difference: float, sd: float, looks: tuple[int, ...], runs: int, seed: int,
              levels_for=None) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes and pairs spent of `runs` sequential comparisons of normal differences."""
    rng = np.random.default_rng(seed)
    outcomes, spent = [], []
    zeros = np.zeros(looks[-1])
    for _ in range(runs):
        pairs = [(rng.normal(true_difference, sd, looks[-1]), zeros)]
        if levels_for is None:
            verdicts = sequential.decide_at_look(pairs, len(looks) - 1, looks, MARGIN, details=False)
        else:
            verdicts = _naive(pairs, looks, levels_for)
        outcomes.append(str(verdicts[0].outcome))
        spent.append(sequential.pairs_spent(verdicts, looks))
    return np.array(outcomes), np.array(spent)


def _naive(pairs, looks, level: float):
    """Testing at the full alpha at every look: what the spending exists to prevent."""
    for index, count in enumerate(looks):
        levels = DecisionLevels(level, level, index + 1, len(looks))
        verdict = decision.decide_all([(a[:count], b[:count]) for a, b in pairs], MARGIN, levels=levels,
                                      details=False)[0]
        if verdict.conclusive:
            break
    return [verdict]


def _upper(hits: int, runs: int) -> tuple[float, float]:
    interval = scipy_stats.binomtest(hits, runs).proportion_ci(0.95, method="exact")
    return interval.low, interval.high


def test_false_winners_across_looks_stay_at_alpha_where_testing_every_look_would_not() -> None:
    # sd 5x the margin: equivalence is out of reach, every run goes on to the last look
    looks, runs = sequential.plan_looks(24, 4), 500
    outcomes, _ = _simulate(0.0, 0.05, looks, runs, seed=10)
    winners = int(np.isin(outcomes, ["a_better", "b_better"]).sum())
    low, _ = _upper(winners, runs)
    assert low <= 0.05, winners
    naive, _ = _simulate(0.0, 0.05, looks, runs, seed=10, levels_for=0.05)
    naive_winners = int(np.isin(naive, ["a_better", "b_better"]).sum())
    assert _upper(naive_winners, runs)[0] > 0.05 and naive_winners > 1.5 * winners, (naive_winners, winners)


def test_power_at_one_margin_equivalence_at_zero_and_seeds_saved() -> None:
    sd = 0.012  # the margin is 0.83 sd: a fixed design needs 14 pairs for 80% power
    fixed = math.ceil(TTestPower().solve_power(effect_size=MARGIN / sd, alpha=0.05, power=0.8))
    looks = sequential.plan_looks(sequential.max_pairs_for_power(fixed, 2), 2)
    runs = 300
    at_margin, spent_margin = _simulate(MARGIN, sd, looks, runs, seed=30)
    power = float(np.mean(at_margin == "a_better"))
    expected = sequential.sequential_power(looks, MARGIN / sd)
    assert expected >= 0.8 and power == pytest.approx(expected, abs=0.1), (power, expected)
    false_equivalence = int(np.sum(at_margin == "equivalent"))
    assert _upper(false_equivalence, runs)[0] <= 0.05
    at_zero, spent_zero = _simulate(0.0, sd / 3, looks, runs, seed=21)  # small spread: equivalence holds
    assert np.mean(at_zero == "equivalent") >= 0.95
    assert spent_zero.mean() < 0.6 * fixed and spent_margin.mean() < looks[-1]


def test_the_spread_a_plan_has_power_for_holds_up_in_simulation() -> None:
    # one look is a fixed design: the sd at which N pairs give a t-test 80% power (statsmodels)
    solved = TTestPower().solve_power(effect_size=None, nobs=8, alpha=0.05, power=0.8)
    assert sequential.spread_for_power((8,), MARGIN) == pytest.approx(MARGIN / solved, rel=1e-6)
    two = sequential.spread_for_power((2,), MARGIN)  # where statsmodels' solver is unstable (nobs 2.0001 -> 9.7)
    assert two == pytest.approx(MARGIN / TTestPower().solve_power(effect_size=None, nobs=2, alpha=0.05, power=0.8))
    looks = sequential.plan_looks(10, 2)
    sd = sequential.spread_for_power(looks, MARGIN)
    assert sd < sequential.spread_for_power(sequential.plan_looks(20, 2), MARGIN)  # more seeds, noisier arms
    assert pairs_for_power(sd, MARGIN) <= looks[-1]  # the looks cost a little power, not a whole seed
    runs = 400
    outcomes, _ = _simulate(MARGIN, sd, looks, runs, seed=41)
    power = float(np.mean(outcomes == "a_better"))
    assert 0.8 - 3 * math.sqrt(0.16 / runs) <= power, power  # 80%, within three standard errors


def test_the_seeds_a_plan_needs_are_the_fewest_with_the_fixed_designs_power_and_scaled_past_the_exact_range():
    """A comparison of two noisy seeds asks for thousands of seeds: the plan for those is the plan
    for EXACT_PAIRS scaled (integrating hundreds of looks once per N tried took two minutes)."""
    from analysis.verdict.boundaries import EXACT_PAIRS

    effect = (scipy_stats.norm.isf(0.025) + scipy_stats.norm.ppf(0.8)) / math.sqrt(40)
    planned = sequential.max_pairs_for_power(40, 2)
    assert sequential.sequential_power(sequential.plan_looks(planned, 2), effect) >= 0.8
    assert sequential.sequential_power(sequential.plan_looks(planned - 1, 2), effect) < 0.8
    factor = sequential.max_pairs_for_power(EXACT_PAIRS, 2) / EXACT_PAIRS
    assert 1.0 < factor < 1.1
    assert sequential.max_pairs_for_power(5000, 2) == math.ceil(5000 * factor)
