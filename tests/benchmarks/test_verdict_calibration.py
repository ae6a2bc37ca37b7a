"""benchmarks/verdict_calibration.py: the replay on a small synthetic recording (no Ray, no training)."""

from __future__ import annotations
from support import REPO_ROOT

import json
import math
import os
import itertools
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))

import verdict_calibration as calibration  # noqa: E402

from analysis.verdict import sequential  # noqa: E402
from analysis.verdict.power import pairs_for_power  # noqa: E402

BLOCKER = '''import sys
for name in ("ray", "tensorflow", "keras"):
    sys.modules[name] = None  # a replay must not need them
'''


def _recording(seeds: int = 12) -> calibration.Recording:
    rng = np.random.default_rng(0)
    split = rng.normal(0, 0.004, seeds)  # what the seed's holdout split does to every configuration
    means = {"antirectifier-16": 0.950, "antirectifier-32": 0.962, "relu-16": 0.930, "relu-32": 0.948}
    columns = {name: np.round((mean + split + rng.normal(0, 0.006, seeds)) * 360) / 360 for name, mean in means.items()}
    columns["relu-16"][3] = math.nan  # a seed that did not finish
    return calibration.Recording("last_test_accuracy", tuple(range(seeds)), columns, {"synthetic": True})


def test_recording_round_trips(tmp_path):
    recording = _recording()
    recording.save(tmp_path / "r.json")
    loaded = calibration.Recording.load(tmp_path / "r.json")
    assert loaded.seeds == recording.seeds and loaded.metric == recording.metric == "last_test_accuracy"
    for name, values in recording.configurations.items():
        np.testing.assert_array_equal(loaded.configurations[name], values)  # NaN where it was
    (tmp_path / "other.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(SystemExit, match="not a"):
        calibration.Recording.load(tmp_path / "other.json")
    with pytest.raises(SystemExit, match="has no 'best_val_accuracy'"):
        calibration.Recording.load(tmp_path / "r.json", "best_val_accuracy")
    # the first format held one metric: still read
    old = {"format": "actsweep-verdict-calibration/1", "metric": "best_val_accuracy", "seeds": [0, 1],
           "configurations": {"relu-8": [0.9, None]}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    first = calibration.Recording.load(tmp_path / "old.json", "best_val_accuracy")
    assert first.metric == "best_val_accuracy" and np.isnan(first.configurations["relu-8"][1])


def test_a_trials_table_becomes_one_column_per_configuration_and_metric(tmp_path):
    rows = []
    for seed in range(3):
        for activation in ("antirectifier", "relu"):
            value = 0.9 + seed / 100 + (activation == "relu") / 10
            rows.append({"activation": activation, "units": 16, "seed": seed, "status": "terminated",
                         "epochs_completed": 5, "last_test_accuracy": value, "best_val_accuracy": value - 0.05})
    rows[-1].update(status="error", epochs_completed=2)  # relu, seed 2 did not finish
    recording = calibration._from_trials(pd.DataFrame(rows), "last_test_accuracy", 5, {})
    assert recording.seeds == (0, 1, 2) and set(recording.metrics) == {"last_test_accuracy", "best_val_accuracy"}
    np.testing.assert_allclose(recording.configurations["antirectifier-16"], [0.9, 0.91, 0.92])
    np.testing.assert_allclose(recording.configurations["relu-16"], [1.0, 1.01, math.nan])
    recording.save(tmp_path / "both.json")  # one recording replays on either metric
    validation = calibration.Recording.load(tmp_path / "both.json", "best_val_accuracy")
    np.testing.assert_allclose(validation.configurations["antirectifier-16"], [0.85, 0.86, 0.87])


@pytest.mark.slow  # thousands of simulated verdicts: 10-20 s
def test_replay_of_a_synthetic_recording_prints_the_summary_last(tmp_path):
    path = tmp_path / "recording.json"
    _recording().save(path)
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "verdict_calibration.py"), "--load", str(path),
         "--replays", "30", "--jobs", "2"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(blocker)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert "[47/47] " in result.stdout  # a progress line per replayed scenario (12 of them the OC's)
    # the issue 29 figures come first on the last line
    headline = ["false_winner_rate_worst", "false_winner_rate_k3", "coverage", "power_worst", "class_rate_gap",
                "seeds_ratio_vs_pilot", "held_out"]
    assert list(summary)[:7] == headline and summary["held_out"] is False
    for key in headline[:5]:
        assert 0.0 <= summary[key] <= 1.0, key
    assert summary["false_winner_rate_worst"] >= summary["false_winner_rate"] - 1e-12
    assert summary["power_worst"] <= summary["power"] + 1e-12
    assert set(summary["k_null"]) == {"K=2", "K=3"} and summary["k_null"]["K=3"]["configurations"] == [
        "relu-16", "antirectifier-16", "relu-32"]  # the noisiest three, noisiest first
    assert set(summary["failure"]) == {"antirectifier-16", "antirectifier-32", "relu-16", "relu-32"}
    for row in summary["failure"].values():  # the failing arm is never called better, equivalent or not worse
        assert row["sequential"] == row["fixed"] == 0.0
    # seeds against the internal pilot, over the null, OC, one-margin and real-pair scenarios
    pilot = summary["pilot"]
    assert pilot["pilot_seeds"] == 12 and 12 <= pilot["seeds"] <= pilot["most"] == 200
    assert summary["seeds_ratio_vs_pilot"] > 0 and 0.0 <= pilot["power"] <= 1.0
    curve = summary["operating_characteristic"]
    assert list(curve) == ["0", "0.5", "0.8", "1", "1.5"]
    for row in curve.values():  # each protocol's classes are shares of one set of replays
        for protocol in ("sequential", "fixed", "pilot"):
            assert sum(row[protocol].values()) == pytest.approx(1.0)
    assert curve["0"]["sequential"].get("a_better", 0.0) + curve["0"]["sequential"].get("b_better", 0.0) == (
        pytest.approx(summary["false_winner_rate"]))
    assert curve["1"]["sequential"]["a_better"] == pytest.approx(summary["power"])
    assert any(name.startswith("oc 0.8 ") for name in summary["class_rate_gap_by_scenario"])
    rates = ("false_winner_rate", "power", "equivalence_rate", "false_equivalence_rate",
             "significant_difference_rate", "real_wrong_winner_rate")
    for key in rates:
        assert 0.0 <= summary[key] <= 1.0 and 0.0 <= summary["fixed"][key] <= 1.0
    assert summary["false_winner_ci"][0] <= summary["false_winner_rate"] <= summary["false_winner_ci"][1]
    assert summary["power_ci"][0] <= summary["power"] <= summary["power_ci"][1]
    assert summary["margin"] == 0.01 and summary["replays"] == 30
    references = summary["by_reference"]
    assert set(references) == {"antirectifier-16", "antirectifier-32", "relu-16", "relu-32"}
    # N: the fewest fixed seeds with 80% power at one margin on the noisiest reference (statsmodels)
    noisiest = max(references, key=lambda name: references[name]["spread"])
    assert summary["planned_from"] == f"null {noisiest}"
    assert summary["fixed_pairs"] == references[noisiest]["pairs_for_power"] == max(
        row["pairs_for_power"] for row in references.values())
    assert summary["fixed_pairs"] == pairs_for_power(references[noisiest]["spread"], 0.01)
    # the sequential most: N times O'Brien-Fleming's inflation, in looks of 2
    assert summary["looks"][-1] == summary["max_pairs"] == sequential.max_pairs_for_power(summary["fixed_pairs"], 2)
    assert summary["looks"][:2] == [2, 4] and summary["spending"] == "obrien_fleming"
    assert 0.0 < summary["seeds_ratio"] <= summary["max_pairs"] / summary["fixed_pairs"]
    real = {f"real {a} vs {b}" for a, b in itertools.combinations(
        ["antirectifier-16", "antirectifier-32", "relu-16", "relu-32"], 2)}
    assert set(summary["seeds_ratio_by_scenario"]) == {*(f"{kind} {name}" for kind in ("null", "margin")
                                                         for name in references), *real}
    assert summary["seeds_ratio"] == pytest.approx(np.mean(list(summary["seeds_ratio_by_scenario"].values())))
    assert len(summary["real_pairs"]) == 6 and set(summary["aims"]) == {
        "false_winner_rate<=alpha", "false_winner_rate_worst<=alpha", "false_winner_rate_k3<=alpha", "power>=0.8",
        "power_worst>=0.8", "coverage>=0.94", "class_rate_gap<=0.10", "failing_arm_claimed<=alpha",
        "seeds_ratio<=0.6", "seeds_ratio_vs_pilot<=0.8"}
    for pair in summary["real_pairs"]:
        assert sum(pair["sequential"].values()) == sum(pair["fixed"].values()) == 30
        assert 2 <= pair["seeds"] <= summary["max_pairs"]
    assert 2 <= summary["together"]["seeds"] <= summary["max_pairs"]
    # both protocols planned for each scenario's own spread: every scenario but the report of all pairs
    known = summary["known_spread"]
    assert set(known["by_scenario"]) == set(summary["seeds_ratio_by_scenario"])
    for row in known["by_scenario"].values():
        assert row["max_pairs"] == sequential.max_pairs_for_power(row["fixed_pairs"], 2)
        assert row["ratio"] == pytest.approx(row["seeds"] / row["fixed_pairs"])
    # what the synthetic recording was made with: the 0.01 margin is about one sd of a same-configuration difference
    assert summary["power"] >= 0.6 and summary["false_winner_rate"] <= 0.15
    assert summary["fixed"]["power"] >= 0.6 and summary["fixed"]["false_winner_rate"] <= 0.15


@pytest.mark.slow  # thousands of simulated verdicts: 10-20 s
def test_replays_are_reproducible_and_refuse_what_they_cannot_calibrate():
    recording = _recording()
    quick = {"replays": 8, "seed": 3, "known_spread": False, "references": ["relu-16"]}
    first = calibration.replay(recording, **quick)
    # each scenario has its own random stream: the same numbers in one process or two
    assert calibration.replay(recording, **quick, jobs=2) == first
    assert "known_spread" not in first and set(first["by_reference"]) == {"relu-16"}
    fixed = calibration.replay(recording, **quick, fixed_seeds=6)
    assert fixed["fixed_pairs"] == 6 and fixed["planned_from"] == "--fixed-seeds" and fixed["looks"][-1] >= 6
    flat = calibration.Recording("best_val_accuracy", (0, 1, 2), {"relu-8": np.full(3, 0.9)}, {})
    with pytest.raises(SystemExit, match="no spread"):
        calibration.replay(flat, replays=5)
    with pytest.raises(SystemExit, match="lower-is-better"):
        loss = calibration.Recording("best_val_loss", recording.seeds, recording.configurations, {})
        calibration.replay(loss, replays=5)
    with pytest.raises(SystemExit, match="no configuration gelu-8"):
        calibration.replay(recording, references=["gelu-8"], replays=5)


def test_the_internal_pilot_plans_from_its_first_seeds_as_statsmodels_does():
    """N: the fewest seeds with 80% power at one margin at the sd of the first 12 paired differences
    (analysis.verdict.power.pairs_for_power, statsmodels), never fewer than the 12, at most 200."""
    design = calibration.Design.for_power(20, 2, 0.01, 0.05, sequential.DEFAULT_SPENDING)
    rng = np.random.default_rng(1)
    for sd in (0.002, 0.008, 0.015, 0.03):
        a, b = rng.normal(0.9, sd, 40), rng.normal(0.9, 0.0, 40)
        pairs = calibration.SeedPairs.of(a, b)
        spread = float(np.std(a[:12] - b[:12], ddof=1))
        assert design.pilot_seeds([pairs]) == min(max(12, pairs_for_power(spread, 0.01)), 200), sd
    steady = calibration.SeedPairs.of(np.full(40, 0.9), np.full(40, 0.9))
    assert design.pilot_seeds([steady]) == 12
    wide = calibration.SeedPairs.of(rng.normal(0.9, 0.5, 40), np.zeros(40))
    assert design.pilot_seeds([steady, wide]) == 200  # the report's noisiest comparison plans the seeds
