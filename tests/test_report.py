"""analysis.report and analysis.plots on exported hand-made experiments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from analysis import report
from analysis.export import export_experiment, read_tables
from fake_experiment import FakeTrial, standard_trials, write_fake_experiment

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


def test_leaderboard_mean_std_and_t_interval(tables) -> None:
    board = report.leaderboard(tables.trials)
    assert list(board["activation"][:2]) == ["selu", "relu"]  # sorted best first
    relu = board[board["activation"] == "relu"].iloc[0]
    assert relu["n"] == 4 and relu["mean"] == pytest.approx(np.mean(RELU_BEST))
    assert relu["std"] == pytest.approx(np.std(RELU_BEST, ddof=1))
    low, high = scipy_stats.t.interval(0.95, 3, loc=np.mean(RELU_BEST), scale=scipy_stats.sem(RELU_BEST))
    assert (relu["ci_low"], relu["ci_high"]) == pytest.approx((low, high))
    # errored and running trials have no result; stopped-early and diverged ones do.
    assert set(board["activation"]) == {"relu", "selu", "gelu", "elu"}
    assert board.loc[board["activation"] == "gelu", "n"].item() == 1


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
    assert comparison.wilcoxon_p == pytest.approx(scipy_stats.wilcoxon(SELU_BEST, RELU_BEST).pvalue)
    assert comparison.distinguishable and comparison.verdict.startswith("selu is better than relu")
    assert {"seed", "repeat", "lr", "family"} <= set(comparison.matched_on)
    assert "activation" not in comparison.matched_on and "gpus_per_trial" not in comparison.matched_on


def test_paired_comparison_not_distinguishable_and_too_few(tmp_path: Path) -> None:
    noise = [0.01, -0.02, 0.015, -0.005]
    trials = [FakeTrial("relu", seed, [0.8]) for seed in range(4)]
    trials += [FakeTrial("gelu", seed, [0.8 + noise[seed]]) for seed in range(4)]
    trials += [FakeTrial("selu", 0, [0.9])]
    frame = read_tables(_export(tmp_path, trials)).trials
    noisy = report.paired_comparison(frame, "gelu", "relu")
    assert noisy.n == 4 and noisy.p_value >= 0.05 and "not distinguishable" in noisy.verdict
    single = report.paired_comparison(frame, "selu", "relu")
    assert single.n == 1 and "not distinguishable" in single.verdict
    # Only pairs with n >= 2 are listed by default.
    listed = report.paired_comparisons(frame)
    assert list(zip(listed["activation_a"], listed["activation_b"])) == [("gelu", "relu")]


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


def test_reproduction_table(tmp_path: Path) -> None:
    trials = [
        FakeTrial("antirectifier", seed, [0.95, 0.97, 0.975, 0.976 + 0.001 * seed, 0.97], family="antirectifier_mnist", epochs=40, status="stopped_early",
                  extra_config={"units": 256})
        for seed in range(2)
    ]
    tables = read_tables(_export(tmp_path, trials))
    table = report.reproduction_table(tables.trials, tables.epochs).set_index("key")
    row = table.loc["antirectifier_mlp"]
    assert row["published"] == 0.978 and row["published_epochs"] == 4
    assert row["reproduced"] == pytest.approx(0.977) and row["reproduced_epoch"] == 4 and row["epochs_run"] == 5
    assert row["at_published_epoch"] == pytest.approx(0.977) and row["trials"] == 2
    assert row["difference"] == pytest.approx(0.977 - 0.978)
    assert table.loc["mobilenet_v2_relu6", "trials"] == 0 and pd.isna(table.loc["mobilenet_v2_relu6", "reproduced"])


def test_report_cli_prints_markdown_and_writes_plots(
    tmp_path: Path, tables, capsys: pytest.CaptureFixture
) -> None:
    tables_dir = tmp_path / "tables"
    assert report.main([str(tables_dir), "--plots", str(tmp_path / "plots")]) == 0
    text = capsys.readouterr().out
    for heading in ("## Leaderboard", "## Paired comparisons", "## Compute", "## Reproduction", "## Plots"):
        assert heading in text
    assert "| family | activation |" in text and "selu is better than relu" in text
    pngs = sorted((tmp_path / "plots").glob("*.png"))
    assert [path.name for path in pngs] == [
        "best_val_accuracy_vs_compute.png",
        "selu_mnist_best_val_accuracy_vs_hyperparameters.png",
        "selu_mnist_learning_curves.png",
    ]
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in pngs)


def test_report_cli_missing_tables_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert report.main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "trials.parquet" in error


def test_to_markdown_formats_missing_values() -> None:
    text = report.to_markdown(pd.DataFrame({"a": [1.23456, float("nan")], "b": ["x|y", None]}))
    assert text.splitlines() == ["| a | b |", "|---|---|", "| 1.2346 | x\\|y |", "| n/a | n/a |"]
