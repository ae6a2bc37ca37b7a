"""The confirmation stage (issue 9): which configurations it re-runs, how it pairs them, and the
whole protocol through the real command line and Ray (one trial per seed; the packed confirmation
killed and resumed is in test_looks.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.store.tables import read_tables
from analysis.verdict import sequential
from analysis.verdict.comparisons import paired_comparisons
from analysis.verdict.confirmation import top_configurations
from sweeps import antirectifier_mnist, selu_mnist
from sweeps.engine.runner import main


def epochs_table(curves: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"trial_id": trial_id, "epoch": epoch, "val_accuracy": value}
                         for trial_id, values in curves.items() for epoch, value in enumerate(values, start=1)])


def test_each_arm_ranks_its_own_configurations_at_its_highest_rung():
    configs = {
        "r1": {"activation": "relu", "lr": 0.1, "seed": 0}, "r2": {"activation": "relu", "lr": 0.1, "seed": 1},
        "r3": {"activation": "relu", "lr": 0.3, "seed": 0}, "r4": {"activation": "relu", "lr": 0.5, "seed": 0},
        "s1": {"activation": "selu", "lr": 0.1, "seed": 0}, "s2": {"activation": "selu", "lr": 0.3, "seed": 0},
    }
    epochs = epochs_table({
        "r1": [0.5, 0.6, 0.7], "r2": [0.5, 0.6, 0.9],  # lr 0.1: mean 0.8 over its two seeds at epoch 3
        "r3": [0.9, 0.95],  # the best value anywhere, but stopped before the arm's rung (3): not ranked
        "r4": [0.1, 0.2, 0.85],  # lr 0.5: 0.85 at the rung
        "s1": [0.1, 0.2], "s2": [0.3, 0.1],  # selu's rung is epoch 2: s1 wins there, though s2 led at 1
    })
    chosen = top_configurations(configs, epochs, ["activation"], "val_accuracy", "max", k=5)
    relu, selu = chosen["activation=relu"], chosen["activation=selu"]
    assert [(c.rank, c.config["lr"], c.rung_epoch) for c in relu] == [(1, 0.5, 3), (2, 0.1, 3)]
    assert relu[1].trial_id == "r2" and relu[1].value == pytest.approx(0.8)  # the better seed's trial
    assert "seed" not in relu[0].config
    assert [(c.trial_id, c.rung_epoch) for c in selu] == [("s1", 2), ("s2", 2)]
    assert [c.config["lr"] for c in top_configurations(configs, epochs, ["activation"], "val_accuracy", "min",
                                                       k=1)["activation=relu"]] == [0.1]


def confirmation_trials() -> pd.DataFrame:
    rows = []
    for rank in (1, 2):
        for seed in (10, 11, 12):
            for arm, lr, value in (("relu", 0.1 * rank, 0.90), ("selu", 0.3 * rank, 0.80)):
                rows.append({"experiment": "x-confirm", "trial_id": f"{arm}{rank}{seed}", "family": "f",
                             "status": "terminated", "activation": arm, "lr": lr, "seed": seed,
                             "repeat": seed - 10, "confirm_rank": rank, "confirm_arm": f"activation={arm}",
                             "confirms": f"s-{arm}{rank}", "epochs": 3, "epochs_completed": 3,
                             "last_test_accuracy": value + 0.01 * seed + 0.001 * rank})
    return pd.DataFrame(rows)


def test_arms_pair_by_seed_though_their_settings_differ():
    table = paired_comparisons(confirmation_trials(), "last_test_accuracy")
    assert table.attrs["by"] == "confirm_arm"
    [row] = table.to_dict("records")
    # K = 2 configurations per arm, N = 3 seeds: 3 differences (each arm's mean over its two), not 6 "pairs"
    assert (row["arm_a"], row["arm_b"], row["n"], row["seeds"]) == ("activation=relu", "activation=selu", 3, 3)
    assert row["mean_difference"] == pytest.approx(0.10)
    assert set(row["matched_on"]) == {"family", "seed"} and (row["failures_a"], row["failures_b"]) == (0, 0)


def test_a_failed_confirmation_trial_is_part_of_its_arms_result():
    trials = confirmation_trials()
    diverged = (trials["trial_id"] == "selu111")
    trials.loc[diverged, ["status", "epochs_completed", "last_test_accuracy"]] = ["diverged", 1, float("nan")]
    trials.loc[trials["trial_id"] == "relu112", "status"] = "running"  # not ended: left out, not a failure
    [row] = paired_comparisons(trials, "last_test_accuracy").to_dict("records")
    assert (row["failures_a"], row["failures_b"], row["n"]) == (0, 1, 3) and row["cut_short"] == 2
    assert "failed seeds (diverged, errored or cut short" in row["sentence"]


def test_a_resumed_confirmation_with_more_seeds_is_refused_and_says_why(tmp_path):
    import json

    from sweeps.engine.errors import UsageError
    from sweeps.engine.stages import confirmation

    trial = tmp_path / "run-confirm" / "train_0"
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"confirm_margin": 0.01, "confirm_seeds": 10, "confirm_batch": 2}))

    class Planned:
        name, margin, confirm_repeats, confirm_batch = "run", 0.01, 20, 2
        experiment_dir = str(tmp_path / "run")

    with pytest.raises(UsageError) as refused:
        confirmation._check_resumed_plan(Planned())
    message = str(refused.value)
    assert "--confirm-repeats 10 (asked: 20)" in message and "planned for 10 seeds" in message
    assert "void its error rates" in message and "\n" not in message


@pytest.mark.parametrize("argv, message", [
    (["--confirm-repeats", "5"], "give --confirm K too"),
    (["--confirm-batch", "2"], "--confirm-batch belongs to the confirmation stage: give --confirm K too"),
    (["--margin", "0.02"], "--margin belongs to the confirmation stage"),
    (["--confirm", "1", "--margin", "0"], "--margin: must be a positive number"),
    (["--confirm", "1", "--margin", "one"], "--margin: must be a positive number"),
    (["--confirm", "1", "--confirm-batch", "0"], "--confirm-batch: must be auto or an integer >= 1 (seeds per look)"),
    (["--confirm", "0"], "positive integer"),
    (["--confirm", "1", "--confirm-repeats", "1001"], "at most 1000"),
    (["--confirm", "1", "--seed", str(2**32 - 3)], "would pass 2**32"),
])
def test_bad_confirmation_flags_are_one_line_exit_2(argv, message, tmp_path, capsys):
    code = main(selu_mnist.SWEEP, ["--storage-path", str(tmp_path), "--smoke", *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and message in err and "\n" not in err


def test_an_existing_confirmation_is_refused_before_the_search_runs(tmp_path, capsys):
    (tmp_path / "p-confirm").mkdir()
    code = main(selu_mnist.SWEEP, ["--storage-path", str(tmp_path), "--smoke", "--name", "p", "--confirm", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == (f"error: experiment 'p-confirm' already exists under {tmp_path}: "
                                 "pass --resume, or another --name")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["p-confirm"]  # kept; no search started


def test_a_usage_error_never_removes_an_experiment_that_was_there(tmp_path, capsys):
    interrupted = tmp_path / "mine"
    (interrupted / "some_trial").mkdir(parents=True)
    code = main(selu_mnist.SWEEP, ["--storage-path", str(tmp_path), "--smoke", "--name", "mine"])
    assert code == 2 and "pass --resume" in capsys.readouterr().err
    assert (interrupted / "some_trial").is_dir()  # the user forgot --resume: their trials stay


# ---------------------------------------------------------------------------- real Ray

# Every seed its own trial (--pack off): these tests follow one trial's checkpoints, folder and rows per
# seed; packed confirmations: tests/engine/test_packing.py and test_looks.py (killed at a look, resumed).
FLAGS = ["--smoke", "--dataset", "synthetic-mnist", "--set", "units=[16,24]", "--max-epochs", "2",
         "--grace-period", "1", "--verbose", "0", "--cpus-per-trial", "1", "--pack", "off"]


def sweep(repo_root: str, storage: Path, *argv: str, **kwargs) -> subprocess.CompletedProcess:
    script = Path(repo_root) / "sweeps" / "antirectifier_mnist.py"
    return subprocess.run([sys.executable, str(script), *FLAGS, "--storage-path", str(storage), *argv],
                          capture_output=True, text=True, timeout=600, check=False, **kwargs)


@pytest.mark.slow
def test_the_protocol_confirms_k_by_n_per_arm(repo_root, tmp_path):
    """The search, then its confirmation, one trial per (configuration, seed) (`--pack off`: the
    packed confirmation, killed and resumed with lost checkpoints, is test_looks.py's, which also
    confirms a finished search alone)."""
    storage = tmp_path / "results"
    protocol = sweep(repo_root, storage, "--name", "p", "--confirm", "2", "--confirm-repeats", "2")
    assert protocol.returncode == 0, protocol.stdout[-3000:] + protocol.stderr[-3000:]
    assert "] p: " in protocol.stdout and "] p-confirm: " in protocol.stdout
    assert "verdict (last_test_accuracy" in protocol.stdout

    search, confirmation = read_tables(storage / "p").trials, read_tables(storage / "p-confirm").trials
    assert len(search) == 4  # 2 arms x 2 widths, 1 seed
    # ASHA kept one width per arm past epoch 1 (top 1 of 2), so one configuration reached each arm's
    # highest rung: the confirmation takes it, says so, and does not rank the others.
    assert "only 1 configuration(s) reached its highest rung (asked for 2)" in protocol.stdout
    assert confirmation.groupby("confirm_arm").size().to_dict() == {"activation=antirectifier": 2,
                                                                     "activation=relu": 2}  # K x N each
    finished = (confirmation["status"] == "terminated") & (confirmation["epochs_completed"] == 2)
    assert finished.all(), confirmation[["trial_id", "status", "epochs_completed", "error"]].to_string()
    assert set(confirmation["seed"]) == {1, 2} and not set(confirmation["seed"]) & set(search["seed"])
    by_id = search.set_index("trial_id")
    for row in confirmation.itertuples():  # each confirms a search trial of its own arm, with its settings
        assert by_id.loc[row.confirms, "activation"] == row.activation
        assert by_id.loc[row.confirms, "units"] == row.units
    comparisons = paired_comparisons(confirmation, "last_test_accuracy")
    assert comparisons["n"].tolist() == [2]
    # trial folders say which arm, rank and seed (Tune's names showed its placeholders); no "best trial":
    # after a confirmation the verdict is the result
    folders = {path.name for path in (storage / "p-confirm").iterdir() if path.is_dir()}
    assert folders == {f"train_{row.trial_id}_{row.confirm_arm}_rank{row.confirm_rank}_seed{row.seed}"
                       for row in confirmation.itertuples()}, folders
    assert "best trial" not in protocol.stdout.split("] p-confirm: ")[1]


def test_the_dry_run_says_what_the_confirmation_will_run(tmp_path, capsys):
    code = main(antirectifier_mnist.SWEEP, ["--storage-path", str(tmp_path), "--smoke", "--dry-run", "--name", "d",
                                            "--confirm", "2", "--confirm-repeats", "5", "--confirm-batch", "2",
                                            "--margin", "0.02"])
    out = capsys.readouterr().out
    assert code == 0 and "each arm's top 2 configuration(s)" in out and f"{tmp_path}/d-confirm" in out
    assert "new seeds in looks at 2, 4, 5 seed(s) per configuration (batch 2, at most 5), margin ±0.02" in out
    # 2 arms (the activations) x 2 configurations x 5 seeds, 3 epochs each (the smoke budget)
    assert "worst case: 5 seed(s) per configuration = 20 trial(s), 60 trial-epochs" in out
    assert "best case: every comparison decided at the first look, 2 seed(s) = 8 trial(s)" in out
    assert "a close call on arms as noisy as the plan allows uses most of it" in out
    spread = sequential.spread_for_power((2, 4, 5), 0.02)  # the looks' power, at the margin asked
    assert (f"power: 80% to call a difference of one margin (±0.02) while the sd of a per-seed difference (each "
            f"arm's mean over its configurations) is at most {spread:.2g}") in out
    assert "a difference near the margin runs to the worst case" in out
    assert not any(tmp_path.iterdir())
    main(antirectifier_mnist.SWEEP, ["--storage-path", str(tmp_path), "--smoke", "--dry-run", "--confirm", "1"])
    auto = capsys.readouterr().out  # --confirm-batch auto: sized for this machine's slots (tests/engine/test_look_size.py)
    assert re.search(r"seed\(s\) per configuration \(batch \d+ \[auto: [^]]+\], at most 10\), margin ±0\.01", auto)


def test_the_dry_run_of_a_confirmation_only_states_its_worst_case(tmp_path, capsys):
    """`--confirm` with --name of a finished search: its configurations are known, the trials shown
    are the worst case (every seed), and the looks say what may be left out."""
    from support.fake_experiment import finished_antirectifier_search

    finished_antirectifier_search(tmp_path, "s", relu_gain=0.1)
    code = main(antirectifier_mnist.SWEEP, ["--storage-path", str(tmp_path), "--smoke", "--dry-run", "--name", "s",
                                            "--confirm", "1", "--confirm-repeats", "6", "--confirm-batch", "3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "trials: 12 = 1 sample(s) x 12 grid combination(s)" in out  # 2 configurations x 6 seeds: every seed
    assert "confirmation s-confirm: 2 configuration(s), new seeds in looks at 3, 6 seed(s) per configuration" in out
    assert "worst case: 6 seed(s) per configuration = 12 trial(s)" in out
    assert not (tmp_path / "s-confirm").exists()


def test_one_seed_per_configuration_is_said_to_give_no_verdict(tmp_path, capsys):
    """--confirm-repeats 1 re-runs the chosen configurations once (allowed: the tables are still worth
    having), but a paired test needs two seeds: the dry run says so instead of a power line."""
    code = main(antirectifier_mnist.SWEEP, ["--storage-path", str(tmp_path), "--smoke", "--dry-run", "--confirm", "1",
                                            "--confirm-repeats", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "no verdict: one new seed per configuration gives each comparison one difference" in out
    assert "power: 80%" not in out and "(batch 1 [auto: at most 1 seed(s), one look], at most 1)" in out
