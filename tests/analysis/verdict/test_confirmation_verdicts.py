"""analysis.verdict.looks and the report on a confirmation run in looks: the looks, which look decided each
comparison with how many seeds, and the new fields of `python -m analysis.report DIR --json`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.weightstats import ttost_paired
from support.fake_experiment import FakeTrial, write_fake_experiment

from analysis import report
from analysis.store.export import export_experiment
from analysis.verdict import sequential
from analysis.verdict.looks import LookPlan, look_verdicts

ARMS = {"a": 0.0, "b": 0.05, "c": 0.0005, "d": 0.0}  # arm -> shift over arm a; d is noisy
PLAN = LookPlan(max_seeds=6, batch=2, margin=0.01)


@pytest.mark.parametrize("seeds, batch, looks", [
    (10, 2, (2, 4, 6, 8, 10)), (5, 2, (2, 4, 5)), (10, 5, (5, 10)), (3, 1, (2, 3)), (1, 1, (1,)), (4, 10, (4,)),
])
def test_looks_count_seeds_and_skip_a_look_of_one(seeds, batch, looks):
    plan = LookPlan(max_seeds=seeds, batch=batch, margin=0.01)
    assert plan.looks == looks
    assert [plan.look_of(position) for position in range(seeds)] == [
        next(index for index, count in enumerate(looks, start=1) if position < count) for position in range(seeds)]


def test_a_plan_refuses_what_it_cannot_run():
    for bad in ({"max_seeds": 0, "batch": 2, "margin": 0.01}, {"max_seeds": 4, "batch": 2, "margin": 0.0}):
        with pytest.raises(ValueError):
            LookPlan(**bad)


def _value(arm: str, seed: int, rank: int = 1) -> float:
    noise = np.random.default_rng([seed, rank]).normal(0, 0.001)
    spread = np.random.default_rng([seed, rank, 7]).normal(0, 0.03) if arm == "d" else 0.0
    return 0.90 + 0.002 * seed + ARMS[arm] + (noise if arm != "a" else 0.0) + spread


def _rows(seeds: int, ranks: int = 1) -> list[dict]:
    return [{"family": "f", "confirm_arm": f"activation={arm}", "confirm_rank": rank, "seed": 100 + seed,
             "confirm_look": PLAN.look_of(seed), "value": _value(arm, seed, rank)}
            for arm in ARMS for seed in range(seeds) for rank in range(1, ranks + 1)]


def test_look_verdicts_decide_one_difference_per_seed_each_arm_averaged_over_its_configurations():
    import pandas as pd

    rows = pd.DataFrame(_rows(6, ranks=2))  # two configurations per arm: still one difference per seed
    verdicts = look_verdicts(rows, PLAN, "value")
    assert [(item.arm_a, item.arm_b) for item in verdicts][:3] == [
        ("activation=a", "activation=b"), ("activation=a", "activation=c"), ("activation=a", "activation=d")]
    means = rows.pivot_table(index="seed", columns="confirm_arm", values="value", aggfunc="mean")
    arrival = rows.groupby("seed")["confirm_look"].first().to_numpy() - 1
    pairs = [(means[item.arm_a].to_numpy(), means[item.arm_b].to_numpy()) for item in verdicts]
    expected = sequential.decide_at_look(pairs, 2, PLAN.looks, 0.01, arrivals=[arrival] * len(pairs))
    assert [item.verdict for item in verdicts] == expected
    by_arms = {(item.arm_a[-1], item.arm_b[-1]): item for item in verdicts}
    # a clear difference (five margins) is settled at the second look: 4 seeds, not 4 x 2 "pairs"
    assert by_arms["a", "b"].verdict.outcome == "b_better" and by_arms["a", "b"].verdict.look == 2
    assert by_arms["a", "b"].seeds == 4 and by_arms["a", "b"].verdict.n == 4
    assert by_arms["a", "b"].verdict.beyond_margin
    # one configuration per arm: the arm's values themselves
    single = pd.DataFrame(_rows(6))
    in_seeds = sequential.decide_at_look(
        [(single[single["confirm_arm"] == "activation=a"]["value"].to_numpy(),
          single[single["confirm_arm"] == "activation=b"]["value"].to_numpy())], 2, PLAN.looks, 0.01)
    assert look_verdicts(single[single["confirm_arm"].isin(["activation=a", "activation=b"])], PLAN,
                         "value")[0].verdict == in_seeds[0]


def test_a_failed_trial_scores_zero_in_its_arms_mean_and_is_counted_per_arm():
    import pandas as pd

    rows = pd.DataFrame(_rows(6, ranks=2))
    failing = (rows["confirm_arm"] == "activation=c") & (rows["seed"] == 101) & (rows["confirm_rank"] == 2)
    rows.loc[failing, "value"] = np.nan  # diverged
    item = next(item for item in look_verdicts(rows, PLAN, "value") if item.arm_b == "activation=c")
    assert (item.verdict.failures_a, item.verdict.failures_b) == (0, 1) and item.verdict.n == 6
    c_on_101 = rows[(rows["confirm_arm"] == "activation=c") & (rows["seed"] == 101)]["value"].fillna(0.0).mean()
    assert item.pairs.b[list(item.pairs.seeds).index(101)] == pytest.approx(c_on_101)  # (value + 0) / 2
    assert item.verdict.outcome != "equivalent" and item.verdict.outcome not in ("b_better", "b_not_worse")


def _confirmation(tmp_path: Path, seeds: int) -> Path:
    trials = []
    for arm in ARMS:
        for seed in range(seeds):
            value = _value(arm, seed)
            trials.append(FakeTrial(arm, 100 + seed, [value - 0.1, value], family="antirectifier_mnist", extra_config={
                "confirm_arm": f"activation={arm}", "confirm_rank": 1, "confirms": f"search-{arm}",
                "confirm_margin": 0.01, "confirm_seeds": PLAN.max_seeds, "confirm_batch": PLAN.batch,
                "confirm_look": PLAN.look_of(seed)}))
    experiment = write_fake_experiment(tmp_path, "run-confirm", trials)
    export_experiment([experiment], experiment)
    return experiment


def test_the_report_says_which_look_decided_each_comparison_and_carries_the_new_fields(tmp_path, capsys):
    experiment = _confirmation(tmp_path, 6)  # the noisy arm d kept the stage going to its last look
    assert report.main([str(experiment), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["metric"] == "last_val_accuracy" and document["margin"] == 0.01
    assert document["looks"] == [2, 4, 6] and len(document["verdicts"]) == len(document["comparisons"]) == 6
    rows = {(row["arm_a"][-1], row["arm_b"][-1]): row for row in document["comparisons"]}
    for row in rows.values():
        for key in ("outcome", "margin", "p_value", "p_adjusted", "p_equivalence", "p_equivalence_adjusted",
                    "p_not_worse_a", "p_not_worse_b", "probability_a_beats_b", "probability_low", "probability_high",
                    "seeds_needed_total", "seeds_needed_for", "look", "looks", "seeds", "n", "level_two_sided",
                    "level_one_sided", "failures_a", "failures_b", "p_failures", "beyond_margin", "ci_low", "ci_high",
                    "tost_low", "tost_high", "interval_kind", "decision_low", "decision_high", "decision_level",
                    "superiority_look"):
            assert key in row, key
        assert row["interval_kind"] == "repeated" and row["decision_level"] in (0.9, 0.95)
        assert (row["failures_a"], row["failures_b"]) == (0, 0)
        assert row["looks"] == 3 and row["seeds"] == [2, 4, 6][row["look"] - 1] and row["margin"] == 0.01
        assert row["probability_low"] <= row["probability_a_beats_b"] <= row["probability_high"]
    winner, equivalent, noisy = rows["a", "b"], rows["a", "c"], rows["a", "d"]
    levels = sequential.look_levels(1, PLAN.looks)  # what look 2 tested at
    assert (winner["level_two_sided"], winner["level_one_sided"]) == pytest.approx((levels.two_sided,
                                                                                    levels.one_sided))
    assert (winner["outcome"], winner["look"], winner["seeds"], winner["n"]) == ("b_better", 2, 4, 4)
    assert (equivalent["outcome"], equivalent["look"], equivalent["seeds"]) == ("equivalent", 2, 4)
    a = [_value("a", seed) for seed in range(4)]
    c = [_value("c", seed) for seed in range(4)]
    tost, (_, p_low, _), (_, p_high, _) = ttost_paired(np.array(a), np.array(c), -0.01, 0.01)
    assert equivalent["p_equivalence"] == pytest.approx(tost, rel=1e-9)  # statsmodels' TOST, on the look's pairs
    assert (equivalent["p_not_worse_a"], equivalent["p_not_worse_b"]) == pytest.approx((p_low, p_high), rel=1e-9)
    assert noisy["look"] == 3 and noisy["seeds"] == 6
    if noisy["outcome"] == "inconclusive":
        assert noisy["seeds_needed_total"] > 6
    assert any("Used 4 seed(s) of at most 6" in line for line in document["verdicts"])
    assert "weight initialisation" in document["variation"]["covered"]
    assert any(source.startswith("the test sample") for source in document["variation"]["not_covered"])


def test_the_markdown_opens_with_the_verdicts_and_its_table_holds_numbers(tmp_path, capsys):
    experiment = _confirmation(tmp_path, 6)
    assert report.main([str(experiment)]) == 0
    text = capsys.readouterr().out
    sections = [section.split("\n", 1)[0] for section in text.split("\n## ")[1:]]
    assert sections[0].startswith("Verdicts (last_val_accuracy at full budget (2 epochs), margin ±0.01, decided in "
                                  "looks at 2, 4, 6 seeds")
    verdicts = text.split("\n## ")[1].splitlines()
    assert verdicts[2].startswith("- activation=a vs activation=b") or verdicts[2].startswith("- activation=b is better")
    table = text.split("## Paired comparisons")[1].splitlines()
    header = next(line for line in table if line.startswith("| "))
    assert "| arm_a | arm_b | outcome | seeds |" in header and "sentence" not in header and "activation_a" not in header
    assert "is better than" not in "\n".join(line for line in table if line.startswith("| "))


def test_another_margin_than_the_stage_decided_at_is_refused_in_one_line(tmp_path, capsys):
    experiment = _confirmation(tmp_path, 4)
    assert report.main([str(experiment), "--margin", "0.02"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "decided in looks at margin 0.01" in error
    assert report.main([str(experiment), "--margin", "0.01"]) == 0
