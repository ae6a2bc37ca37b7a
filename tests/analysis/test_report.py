"""analysis.report on exported hand-made experiments: budgets, comparisons, JSON, links."""

from __future__ import annotations
from support import REPO_ROOT

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from analysis import report
from analysis.store.export import export_experiment, read_tables
from analysis.verdict.decision import DEFAULT_MARGIN, decide
from analysis.verdict.words import sentence
from support.fake_experiment import FakeTrial, standard_trials, write_fake_experiment

SEEDS = (0, 1, 2, 3)
RELU_BEST = [0.80 + 0.003 * seed for seed in SEEDS]
SELU_BEST = [0.825 + 0.002 * seed for seed in SEEDS]  # epoch 4: 0.825 + 0.003 s - 0.001 s


def _export(tmp_path: Path, trials: list[FakeTrial], name: str = "sweep") -> Path:
    experiment = write_fake_experiment(tmp_path / "storage", name, trials)
    export_experiment([experiment], tmp_path / "tables")
    return tmp_path / "tables"


@pytest.fixture()
def tables(tmp_path: Path):
    return read_tables(_export(tmp_path, standard_trials(seeds=SEEDS)))


def asha_trials() -> list[FakeTrial]:
    """selu beats relu at the full budget (4 epochs), but ASHA stopped most selu trials after
    epoch 1 and the relu ones after epoch 2, so mixing budgets would make relu look better."""
    trials = []
    for seed in range(10):
        if seed < 4:
            trials.append(FakeTrial("relu", seed, [0.70, 0.75, 0.78, 0.80 + 0.002 * seed]))
            trials.append(FakeTrial("selu", seed, [0.60, 0.70, 0.80, 0.82 + 0.001 * seed]))
        else:
            trials.append(FakeTrial("relu", seed, [0.70 + 0.003 * (seed - 4), 0.75], status="stopped_early", epochs=4))
            trials.append(FakeTrial("selu", seed, [0.60 + 0.002 * (seed - 4)], status="stopped_early", epochs=4))
    return trials


def test_leaderboard_compares_only_trials_that_ran_the_full_budget(tables) -> None:
    board = report.leaderboard(tables.trials).set_index("activation")
    assert list(board.index[:2]) == ["selu", "relu"]  # sorted best first
    relu = board.loc["relu"]
    assert relu["n"] == 4 and relu["mean"] == pytest.approx(np.mean(RELU_BEST)) and relu["budget"] == "full budget (4 epochs)"
    assert relu["std"] == pytest.approx(np.std(RELU_BEST, ddof=1))
    low, high = scipy_stats.t.interval(0.95, 3, loc=np.mean(RELU_BEST), scale=scipy_stats.sem(RELU_BEST))
    assert (relu["ci_low"], relu["ci_high"]) == pytest.approx((low, high))
    # stopped early, errored, diverged and running trials are counted, never averaged in.
    gelu = board.loc["gelu"]
    assert gelu["n"] == 0 and gelu["cut_short"] == 2 and np.isnan(gelu["mean"])
    assert board.loc["elu", "cut_short"] == 1 and board.loc["swish", "cut_short"] == 1 and relu["cut_short"] == 0


def test_mixing_budgets_would_flip_the_verdict_and_the_report_does_not(tmp_path: Path) -> None:
    trials = read_tables(_export(tmp_path, asha_trials())).trials
    by_seed = trials.pivot(index="seed", columns="activation", values="best_val_accuracy")
    mixed = decide(by_seed["selu"], by_seed["relu"], DEFAULT_MARGIN)  # what the old report did: every seed's best
    assert mixed.outcome == "b_better" and sentence(mixed, "selu", "relu").startswith("relu is better than selu")

    fair = report.paired_comparison(trials, "selu", "relu")
    assert fair.n == 4 and fair.cut_short == 12 and fair.budget == "full budget (4 epochs)"
    assert fair.outcome == "a_better" and fair.sentence.startswith("selu is better than relu")
    expected = scipy_stats.ttest_rel([0.82 + 0.001 * s for s in SEEDS], [0.80 + 0.002 * s for s in SEEDS])
    assert fair.p_value == pytest.approx(expected.pvalue)
    board = report.leaderboard(trials).set_index("activation")
    assert board.index[0] == "selu" and board.loc["selu", "n"] == 4 and board.loc["selu", "cut_short"] == 6


def test_at_epoch_compares_every_trial_that_reached_it_at_that_epoch(tmp_path: Path) -> None:
    tables = read_tables(_export(tmp_path, asha_trials()))
    at_one = report.paired_comparison(tables.trials, "selu", "relu", epochs=tables.epochs, at_epoch=1)
    assert at_one.n == 10 and at_one.cut_short == 0 and at_one.budget == "epoch 1"
    assert at_one.sentence.startswith("relu is better than selu")  # true at epoch 1
    board = report.leaderboard(tables.trials, epochs=tables.epochs, at_epoch=2).set_index("activation")
    assert (board.loc["relu", "n"], board.loc["relu", "cut_short"]) == (10, 0)
    assert (board.loc["selu", "n"], board.loc["selu", "cut_short"]) == (4, 6)
    assert board.loc["selu", "mean"] == pytest.approx(0.70)  # best of epochs 1..2
    last = report.leaderboard(tables.trials, "last_val_accuracy", epochs=tables.epochs, at_epoch=3).set_index("activation")
    assert last.loc["relu", "mean"] == pytest.approx(0.78) and last.loc["relu", "n"] == 4
    with pytest.raises(ValueError, match="epochs column"):
        report.leaderboard(tables.trials, "best_val_accuracy_epoch", epochs=tables.epochs, at_epoch=1)


def test_leaderboard_groups_by_swept_settings_and_pools_seeds(tmp_path: Path) -> None:
    trials = [
        FakeTrial(activation, seed, [0.5 + 0.1 * lr_index + 0.01 * seed], extra_config={"lr": lr})
        for activation in ("relu", "selu")
        for lr_index, lr in enumerate((0.01, 0.1))
        for seed in (0, 1, 2)
    ]
    board = report.leaderboard(read_tables(_export(tmp_path, trials)).trials)
    assert len(board) == 4 and set(board["n"]) == {3}
    assert set(board["settings"]) == {"lr=0.01", "lr=0.1"}
    assert board.iloc[0]["mean"] == pytest.approx(0.61)


def test_paired_comparison_against_scipy(tables) -> None:
    comparison = report.paired_comparison(tables.trials, "selu", "relu", family="selu_mnist")
    expected = scipy_stats.ttest_rel(SELU_BEST, RELU_BEST)
    assert comparison.n == 4
    assert comparison.mean_difference == pytest.approx(np.mean(np.subtract(SELU_BEST, RELU_BEST)))
    assert comparison.p_value == pytest.approx(expected.pvalue, rel=1e-8)
    assert (comparison.ci_low, comparison.ci_high) == pytest.approx(tuple(expected.confidence_interval(0.95)))
    assert comparison.wilcoxon_p == pytest.approx(scipy_stats.wilcoxon(SELU_BEST, RELU_BEST).pvalue)
    assert comparison.outcome == "a_better" and comparison.sentence.startswith("selu is better than relu")
    assert {"seed", "repeat", "lr", "family"} <= set(comparison.matched_on)
    assert "activation" not in comparison.matched_on and "gpus_per_trial" not in comparison.matched_on


def test_paired_comparison_not_distinguishable_and_too_few(tmp_path: Path) -> None:
    noise = [0.01, -0.02, 0.015, -0.005]
    trials = [FakeTrial("relu", seed, [0.8]) for seed in range(4)]
    trials += [FakeTrial("gelu", seed, [0.8 + noise[seed]]) for seed in range(4)]
    trials += [FakeTrial("selu", 0, [0.9])]
    frame = read_tables(_export(tmp_path, trials)).trials
    noisy = report.paired_comparison(frame, "gelu", "relu")
    assert noisy.n == 4 and noisy.p_value >= 0.05 and noisy.outcome == "inconclusive" and "inconclusive" in noisy.sentence
    single = report.paired_comparison(frame, "selu", "relu")
    assert single.n == 1 and single.outcome == "inconclusive" and "at least 2 needed" in single.sentence
    # Only pairs with n >= 2 are listed by default.
    listed = report.paired_comparisons(frame)
    assert list(zip(listed["arm_a"], listed["arm_b"])) == [("gelu", "relu")]


def test_paired_comparison_ignores_keys_only_one_activation_sets(tmp_path: Path) -> None:
    trials = [FakeTrial("aprelu", seed, [0.8 + 0.01 * seed], extra_config={"reduction": 4}) for seed in range(3)]
    trials += [FakeTrial("relu", seed, [0.78 + 0.012 * seed]) for seed in range(3)]
    frame = read_tables(_export(tmp_path, trials)).trials
    comparison = report.paired_comparison(frame, "aprelu", "relu")
    assert comparison.n == 3 and "reduction" not in comparison.matched_on


def test_paired_comparison_refuses_ambiguous_pairs(tmp_path: Path) -> None:
    trials = [FakeTrial("relu", 0, [0.8]), FakeTrial("relu", 0, [0.81]), FakeTrial("selu", 0, [0.82])]
    frame = read_tables(_export(tmp_path, trials)).trials
    with pytest.raises(ValueError, match="share the settings"):
        report.paired_comparison(frame, "relu", "selu")
    with pytest.raises(ValueError, match="not a trials column"):
        report.paired_comparison(frame, "relu", "selu", metric="best_top5")


def test_compute_accounting_per_status(tables) -> None:
    table = report.compute_accounting(tables.trials).set_index("status")
    assert list(table.index) == ["terminated", "stopped_early", "diverged", "errored", "running", "total"]
    # Every fake epoch takes 2 s of wall time at 0.5 GPU per trial.
    early = table.loc["stopped_early"]
    assert (early["trial_epochs"], early["budget_epochs"]) == (2, 4)
    assert early["accelerator_seconds"] == pytest.approx(2.0) and early["budget_accelerator_seconds"] == pytest.approx(4.0)
    total = table.loc["total"]
    assert total["trial_epochs"] == 4 * 8 + 2 + 1 + 3 + 2 and total["budget_epochs"] == 4 * 12
    assert total["accelerator_seconds"] == pytest.approx(total["trial_epochs"] * 1.0)
    assert total["accelerator_seconds_saved"] == pytest.approx(total["budget_accelerator_seconds"] - total["accelerator_seconds"])


def test_reproduction_table_at_the_published_epoch_for_present_families_only(tmp_path: Path) -> None:
    trials = [
        FakeTrial("antirectifier", seed, [0.95, 0.97, 0.975, 0.976 + 0.001 * seed, 0.97], family="antirectifier_mnist",
                  epochs=40, status="stopped_early", extra_config={"units": 256, "dataset": "mnist"})
        for seed in range(2)
    ]
    trials.append(FakeTrial("antirectifier", 2, [0.95, 0.99, 0.99], family="antirectifier_mnist", epochs=40,
                            status="stopped_early", extra_config={"units": 256, "dataset": "mnist"}))
    # the same family on a stand-in dataset is never set against the published MNIST number
    trials += [FakeTrial("antirectifier", seed, [0.5] * 4, family="antirectifier_mnist", epochs=40,
                         status="stopped_early", extra_config={"units": 256, "dataset": "digits"}) for seed in (5, 6)]
    tables = read_tables(_export(tmp_path, trials))
    table = report.reproduction_table(tables.trials, tables.epochs)
    assert list(table["key"]) == ["antirectifier_mlp"]  # no rows of families that did not run
    row = table.iloc[0]
    assert row["published"] == 0.978 and row["budget"] == "epoch 4"
    assert row["n"] == 2 and row["cut_short"] == 1  # the 3-epoch trial's 0.99 is not compared
    assert row["mean"] == pytest.approx(0.9765) and row["best"] == pytest.approx(0.977)
    assert row["difference"] == pytest.approx(0.9765 - 0.978)


def _markdown_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """Heading (first word after ##) -> rows of the Markdown table under it."""
    tables: dict[str, list[dict[str, str]]] = {}
    for section in text.split("\n## ")[1:]:
        lines = [line for line in section.splitlines() if line.startswith("|")]
        if len(lines) < 2:
            continue
        split = lambda line: [cell.strip() for cell in line.strip("|").split(" | ")]  # noqa: E731
        header = split(lines[0])
        tables[section.split()[0].lower()] = [dict(zip(header, split(line))) for line in lines[2:]]
    return tables


def _formatted(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def test_json_numbers_equal_the_markdowns(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    on_mnist = [dataclasses.replace(trial, extra_config={**trial.extra_config, "dataset": "mnist"})
                for trial in standard_trials(family="antirectifier_mnist", seeds=(0, 1))]
    tables_dir = _export(tmp_path, [*asha_trials(), *on_mnist])
    assert report.main([str(tables_dir), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert report.main([str(tables_dir)]) == 0
    markdown = _markdown_tables(capsys.readouterr().out)
    assert document["budget"] == "full budget (4 epochs)" and document["trials"] == 28
    for key, heading in (("leaderboard", "leaderboard"), ("comparisons", "paired"), ("cut_short", "cut"),
                         ("compute", "compute"), ("reproduction", "reproduction")):
        rows = markdown[heading]
        assert len(rows) == len(document[key]) > 0, key
        for shown, record in zip(rows, document[key]):
            for column, cell in shown.items():
                assert cell == _formatted(record[column]).replace("|", "\\|"), (key, column)
    assert any(row["sentence"].startswith("selu is better than relu") for row in document["comparisons"])


def test_report_cli_writes_report_with_links_relative_to_itself(tmp_path: Path, tables) -> None:
    out = tmp_path / "reports" / "report.md"
    out.parent.mkdir()
    completed = subprocess.run(
        [sys.executable, "-m", "analysis.report", str(tmp_path / "tables"), "--plots", str(tmp_path / "reports" / "plots"),
         "--out", str(out)],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == ""
    text = out.read_text()
    for heading in ("## Leaderboard", "## Paired comparisons", "## Cut short", "## Compute", "## Reproduction", "## Plots"):
        assert heading in text
    assert "Budget: **full budget (4 epochs)**" in text and "selu is better than relu" in text
    links = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert links and all(link.startswith("plots/") and (out.parent / link).is_file() for link in links)
    assert all((out.parent / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for link in links)


def test_report_cli_errors_exit_2_with_one_line(tmp_path: Path, tables, capsys: pytest.CaptureFixture) -> None:
    assert report.main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "trials.parquet" in error
    # the number types are analysis.cli_parser's, which the engine's flags share: one wording for both
    for flags, words in ((["--at-epoch", "0"], "must be a positive integer, got 0"),
                         (["--at-epoch", "ten"], "must be a positive integer, got 'ten'"),
                         (["--at", "2"], "unrecognized"),
                         (["--json", "--plots", str(tmp_path / "plots")], "--plots belongs")):
        completed = subprocess.run(
            [sys.executable, "-m", "analysis.report", str(tmp_path / "tables"), *flags],
            capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
        )
        assert completed.returncode == 2 and completed.stderr.count("\n") == 1 and words in completed.stderr, completed.stderr
    assert report.main([str(tmp_path / "tables"), "--at-epoch", "99"]) == 0  # no trial reached it: empty, not an error


def test_to_markdown_formats_missing_values() -> None:
    text = report.to_markdown(pd.DataFrame({"a": [1.23456, float("nan")], "b": ["x|y", None]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1.2346 | x\\|y |", "| n/a | n/a |"]
