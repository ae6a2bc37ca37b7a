"""The interval over seeds and test images (analysis.verdict.two_way) and its place in the report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from support.fake_experiment import FakeTrial, write_fake_experiment

from analysis import report
from analysis.store.export import export_experiment, read_tables
from analysis.verdict.decision import decide
from analysis.verdict.two_way import correctness_by_seed, over_seeds_and_images, two_way_interval
from trainables.correctness import encode


def test_with_no_image_variation_it_is_the_seeds_bootstrap():
    """Each seed's difference the same on every image: only the seeds vary, and the percentile interval
    is close to the t-interval over seeds (a bootstrap is a little narrower at 12 seeds)."""
    per_seed = np.random.default_rng(1).normal(0.01, 0.02, 12)
    a = np.repeat(per_seed[:, None], 50, axis=1)
    low, high = two_way_interval(a, np.zeros_like(a), 0.95)
    t_low, t_high = scipy_stats.t.interval(0.95, 11, loc=per_seed.mean(), scale=scipy_stats.sem(per_seed))
    assert low < per_seed.mean() < high
    assert 0.8 < (high - low) / (t_high - t_low) < 1.05


def test_with_no_seed_variation_it_is_the_images_bootstrap():
    """Every seed alike: the interval is the images' alone, about mean +- 1.96 sd(d) / sqrt(images)."""
    differences = np.random.default_rng(2).choice([-1.0, 0.0, 0.0, 0.0, 1.0], size=400)
    a = np.tile(np.maximum(differences, 0), (6, 1))
    b = np.tile(np.maximum(-differences, 0), (6, 1))
    low, high = two_way_interval(a, b, 0.95)
    half = 1.96 * differences.std(ddof=1) / np.sqrt(differences.size)
    assert abs((high - low) / (2 * half) - 1) < 0.1
    assert abs((low + high) / 2 - differences.mean()) < 0.2 * half


@pytest.mark.slow  # thousands of simulated verdicts: 10-20 s
def test_it_covers_the_true_difference_when_seeds_and_images_both_vary():
    """Simulated crossed data (a seed effect and an image effect on the difference): 95% intervals cover
    the population difference at least 0.93 of the time (the pigeonhole bootstrap errs wide)."""
    generator = np.random.default_rng(3)
    covered, runs = 0, 150
    for _ in range(runs):
        seed_effect = generator.normal(0, 0.01, 8)[:, None]
        image_effect = generator.normal(0, 0.15, 300)[None, :]
        noise = generator.normal(0, 0.05, (8, 300))
        a, b = 0.005 + seed_effect + image_effect + noise, np.zeros((8, 300))
        low, high = two_way_interval(a, b, 0.95, seed=int(generator.integers(1 << 30)))
        covered += low < 0.005 < high
    assert covered / runs >= 0.93, covered / runs


def test_a_failed_trial_scores_zero_on_every_image_and_configurations_are_averaged():
    rows = pd.DataFrame({
        "confirm_arm": ["x", "x", "x", "x"], "seed": [1, 1, 2, 2], "value": [0.5, 1.0, 0.5, np.nan],
        "test_correct": [encode([1, 0, 1, 0]), encode([1, 1, 1, 1]), encode([0, 1, 0, 1]), None],
    })
    np.testing.assert_array_equal(correctness_by_seed(rows, "x", np.array([1, 2]), 0.0),
                                  [[1.0, 0.5, 1.0, 0.5], [0.0, 0.5, 0.0, 0.5]])
    finished_without_bits = rows.assign(test_correct=[encode([1, 0, 1, 0]), None, None, None])
    assert correctness_by_seed(finished_without_bits, "x", np.array([1, 2]), 0.0) is None


def test_the_interval_says_whether_the_verdict_holds():
    generator = np.random.default_rng(4)
    hard = generator.random(40) < 0.5  # few images: the test sample is most of the uncertainty
    rows = []
    for seed in range(8):
        a_bits = ~hard | (generator.random(40) < 0.3)
        b_bits = ~hard | (generator.random(40) < 0.2)
        rows += [{"confirm_arm": "a", "seed": seed, "value": a_bits.mean(), "test_correct": encode(a_bits)},
                 {"confirm_arm": "b", "seed": seed, "value": b_bits.mean(), "test_correct": encode(b_bits)}]
    rows = pd.DataFrame(rows)
    values = rows.pivot(index="seed", columns="confirm_arm", values="value")
    verdict = decide(values["a"].to_numpy(), values["b"].to_numpy(), margin=0.01)
    found = over_seeds_and_images(rows, "a", "b", np.arange(8), verdict, 0.0)
    assert found.images == 40 and found.level == 0.95
    assert found.high - found.low > verdict.ci_high - verdict.ci_low  # the images add their own spread
    assert found.holds == (found.low > 0 if verdict.outcome == "a_better" else None)
    assert over_seeds_and_images(rows.drop(columns="test_correct"), "a", "b", np.arange(8), verdict, 0.0) is None


def test_the_report_shows_it_beside_each_confirmation_verdict(tmp_path, capsys):
    generator = np.random.default_rng(5)
    difficulty = generator.random(120)
    trials = []
    for arm, skill in (("a", 0.75), ("b", 0.70)):
        for seed in range(6):
            bits = difficulty < skill + generator.normal(0, 0.01)  # the same hard images for every seed
            trials.append(FakeTrial(arm, 100 + seed, [0.6, 0.7], family="antirectifier_mnist",
                                    last_reported={"test_accuracy": float(bits.mean()), "test_correct": encode(bits)},
                                    extra_config={"confirm_arm": f"activation={arm}", "confirm_rank": 1,
                                                  "confirms": f"search-{arm}"}))
    experiment = write_fake_experiment(tmp_path, "run-confirm", trials)
    export_experiment([experiment], experiment)
    tables = read_tables(experiment)
    assert tables.trials["test_correct"].notna().all() and "test_correct" not in tables.epochs.columns
    assert report.main([str(experiment), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["metric"] == "last_test_accuracy"
    row = document["comparisons"][0]
    assert row["two_way_level"] in (0.9, 0.95) and row["two_way_low"] < row["two_way_high"]
    assert row["two_way_high"] - row["two_way_low"] > row["decision_high"] - row["decision_low"]
    assert "Over seeds and test images (two-way bootstrap at the decision interval's nominal" in document["verdicts"][0]
    assert report.main([str(experiment), "--at-epoch", "2"]) == 0  # not the budget's bits: not shown
    assert "two-way" not in capsys.readouterr().out
