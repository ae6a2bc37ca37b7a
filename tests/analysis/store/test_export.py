"""analysis.store.export on hand-made Tune experiment directories (tests/support/fake_experiment.py)."""

from __future__ import annotations
from support import REPO_ROOT

import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analysis.store import atomic, export
from analysis.store.export import (
    EPOCHS_FILE,
    SCHEMA_VERSION,
    TRIALS_FILE,
    export_experiment,
    read_metadata,
    read_tables,
)
from support.fake_experiment import FakeTrial, standard_trials, write_fake_experiment



@pytest.fixture()
def experiment(tmp_path: Path) -> Path:
    return write_fake_experiment(tmp_path / "storage", "selu_sweep", standard_trials())


def _trials(path: Path) -> pa.Table:
    return pq.read_table(path / TRIALS_FILE)


def _by_activation_seed(table: pa.Table) -> dict[tuple[str, int], dict]:
    return {(row["activation"], row["seed"]): row for row in table.to_pylist()}


def test_trials_table_has_typed_columns_and_no_nested_config(experiment: Path) -> None:
    trials_path, _ = export_experiment([experiment], experiment)
    schema = pq.read_schema(trials_path)
    expected = {
        "experiment": pa.string(), "trial_id": pa.string(), "trial_dir": pa.string(), "family": pa.string(),
        "status": pa.string(), "seed": pa.int64(), "repeat": pa.int64(), "epochs_completed": pa.int64(),
        "wall_seconds": pa.float64(), "accelerator_seconds": pa.float64(), "stop_reason": pa.string(),
        "error": pa.string(), "activation": pa.string(), "epochs": pa.int64(), "lr": pa.float64(),
        "batch_norm": pa.bool_(), "gpus_per_trial": pa.float64(), "cpus_per_trial": pa.int64(),
        "best_val_accuracy": pa.float64(), "best_val_accuracy_epoch": pa.int64(), "last_val_accuracy": pa.float64(),
        "best_loss": pa.float64(), "best_loss_epoch": pa.int64(), "last_loss": pa.float64(),
        "best_accuracy": pa.float64(), "last_lr": pa.float64(), "last_images_per_second": pa.float64(),
    }
    for name, arrow_type in expected.items():
        assert schema.field(name).type == arrow_type, name
    assert not any(name.startswith("config") or "/" in name for name in schema.names)
    assert not any(pa.types.is_nested(field.type) for field in schema)
    # Tune's bookkeeping is not a metric, and lr/throughput have no "best".
    assert "best_lr" not in schema.names and "last_training_iteration" not in schema.names
    assert "last_time_total_s" not in schema.names and "best_images_per_second" not in schema.names


def test_one_row_per_trial_and_per_epoch(experiment: Path) -> None:
    trials_path, epochs_path = export_experiment([experiment], experiment)
    trials, epochs = pq.read_table(trials_path), pq.read_table(epochs_path)
    fakes = standard_trials()
    assert trials.num_rows == len(fakes)
    assert epochs.num_rows == sum(len(fake.val_accuracy) for fake in fakes)
    keys = list(zip(*(epochs.column(name).to_pylist() for name in ("experiment", "trial_id", "epoch"))))
    assert len(set(keys)) == len(keys) and keys == sorted(keys)
    assert epochs.schema.field("epoch").type == pa.int64()
    assert epochs.schema.field("diverged").type == pa.bool_()
    assert epochs.schema.field("stop_reason").type == pa.string()
    assert epochs.schema.field("val_accuracy").type == pa.float64()
    assert "config" not in epochs.schema.names and "done" not in epochs.schema.names
    relu_seed2 = [
        row for row in epochs.to_pylist() if row["trial_id"] == _by_activation_seed(trials)[("relu", 2)]["trial_id"]
    ]
    assert [row["val_accuracy"] for row in relu_seed2] == pytest.approx([0.706, 0.786, 0.806, 0.796])


def test_statuses_best_last_and_costs(experiment: Path) -> None:
    export_experiment([experiment], experiment)
    rows = _by_activation_seed(_trials(experiment))
    assert rows[("relu", 0)]["status"] == "terminated"
    assert rows[("gelu", 0)]["status"] == "stopped_early"
    assert rows[("gelu", 1)]["status"] == "errored"
    assert rows[("elu", 0)]["status"] == "diverged"
    assert rows[("swish", 0)]["status"] == "running"

    relu = rows[("relu", 0)]
    assert relu["best_val_accuracy"] == pytest.approx(0.80) and relu["best_val_accuracy_epoch"] == 3
    assert relu["last_val_accuracy"] == pytest.approx(0.79)
    assert relu["best_loss"] == pytest.approx(0.25) and relu["best_loss_epoch"] == 4  # loss: min
    assert relu["epochs_completed"] == 4 and relu["wall_seconds"] == pytest.approx(8.0)
    assert relu["accelerator_seconds"] == pytest.approx(8.0 * 0.5)  # wall x gpus_per_trial
    assert relu["error"] is None and relu["stop_reason"] is None

    errored = rows[("gelu", 1)]
    assert errored["error"] == "RuntimeError: out of memory in epoch 2"  # last line, ANSI stripped
    diverged = rows[("elu", 0)]
    assert diverged["stop_reason"] == "diverged: non-finite loss"
    assert math.isnan(diverged["last_loss"]) and diverged["best_loss"] == pytest.approx(0.5)  # NaN never best
    assert rows[("gelu", 0)]["epochs_completed"] == 2 and rows[("gelu", 0)]["epochs"] == 4


def test_schema_version_and_descriptions_in_metadata(experiment: Path) -> None:
    trials_path, epochs_path = export_experiment([experiment], experiment)
    trials_meta, epochs_meta = read_metadata(trials_path), read_metadata(epochs_path)
    assert trials_meta["schema_version"] == epochs_meta["schema_version"] == SCHEMA_VERSION
    assert trials_meta["table"] == "trials" and epochs_meta["table"] == "epochs"
    assert {"activation", "seed", "lr", "epochs"} <= set(trials_meta["config_columns"])
    assert "best_val_accuracy" in trials_meta["metric_columns"]
    field = pq.read_schema(trials_path).field("accelerator_seconds")
    assert b"gpus_per_trial" in field.metadata[b"description"]


def test_export_twice_gives_identical_files(experiment: Path, tmp_path: Path) -> None:
    first = [path.read_bytes() for path in export_experiment([experiment], tmp_path / "one")]
    second = [path.read_bytes() for path in export_experiment([experiment], tmp_path / "one")]
    third = [path.read_bytes() for path in export_experiment([experiment], tmp_path / "two")]
    assert first == second == third


def test_crash_during_write_keeps_old_files_and_leaves_no_temp_files(
    experiment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = export_experiment([experiment], experiment)
    before = [path.read_bytes() for path in paths]
    write_fake_experiment(experiment.parent, experiment.name, [*standard_trials(), FakeTrial("relu", 9, [0.5])])

    calls = []

    def crash_on_second_table(table, handle):
        calls.append(table.num_rows)
        handle.write(b"PAR1 partial")
        if len(calls) == 2:
            raise OSError("disk full")

    monkeypatch.setattr(atomic, "_write_parquet", crash_on_second_table)
    with pytest.raises(OSError, match="disk full"):
        export_experiment([experiment], experiment)
    assert [path.read_bytes() for path in paths] == before  # neither table replaced
    assert not [path.name for path in experiment.iterdir() if path.name.endswith(".tmp")]

    monkeypatch.undo()
    export_experiment([experiment], experiment)
    assert _trials(experiment).num_rows == len(standard_trials()) + 1


def test_merges_several_experiments(tmp_path: Path) -> None:
    first = write_fake_experiment(tmp_path, "sweep_a", standard_trials(seeds=(0, 1)))
    second = write_fake_experiment(
        tmp_path, "sweep_b", [FakeTrial("relu", 5, [0.5, 0.6], family="antirectifier_mnist", extra_config={"units": 256})]
    )
    trials_path, epochs_path = export_experiment([second, first], tmp_path / "merged")
    trials = pq.read_table(trials_path)
    assert trials.num_rows == len(standard_trials(seeds=(0, 1))) + 1
    experiments = trials.column("experiment").to_pylist()
    assert experiments == sorted(experiments) and set(experiments) == {"sweep_a", "sweep_b"}
    units = dict(zip(trials.column("experiment").to_pylist(), trials.column("units").to_pylist()))
    assert trials.schema.field("units").type == pa.int64() and units["sweep_b"] == 256 and units["sweep_a"] is None
    assert pq.read_table(epochs_path).num_rows == sum(len(t.val_accuracy) for t in standard_trials(seeds=(0, 1))) + 2


def test_interrupted_sweep_without_experiment_state(tmp_path: Path) -> None:
    experiment = write_fake_experiment(tmp_path, "interrupted", standard_trials(), with_state=False)
    export_experiment([experiment], experiment)
    rows = _by_activation_seed(_trials(experiment))
    statuses = {key: row["status"] for key, row in rows.items()}
    assert statuses[("relu", 0)] == "terminated"  # Tune's done flag on the last row
    assert statuses[("gelu", 0)] == "stopped_early"
    assert statuses[("gelu", 1)] == "errored"
    assert statuses[("elu", 0)] == "diverged"
    assert statuses[("swish", 0)] == "running"


def test_pending_and_still_running_trials_from_experiment_state(tmp_path: Path) -> None:
    trials = [FakeTrial("relu", 0, [0.5, 0.6], epochs=5, status="running"), FakeTrial("selu", 0, [], epochs=5, status="pending")]
    experiment = write_fake_experiment(tmp_path, "live", trials)
    # A sweep that is still writing: the last result line is torn.
    result_file = next(experiment.glob("train_*relu*")) / "result.json"
    result_file.write_text(result_file.read_text() + '{"epoch": 3, "val_acc')
    export_experiment([experiment], experiment)
    rows = _by_activation_seed(_trials(experiment))
    assert rows[("relu", 0)]["status"] == "running" and rows[("relu", 0)]["epochs_completed"] == 2
    pending = rows[("selu", 0)]  # empty directory: config comes from experiment_state
    assert pending["status"] == "running" and pending["epochs_completed"] == 0 and pending["wall_seconds"] is None


def test_stale_state_is_overruled_by_done_flag_and_restored_epochs_deduplicate(tmp_path: Path) -> None:
    experiment = write_fake_experiment(tmp_path, "stale", [FakeTrial("relu", 0, [0.5, 0.6, 0.7])])
    state_file = next(experiment.glob("experiment_state-*.json"))
    state_file.write_text(state_file.read_text().replace("TERMINATED", "RUNNING"))
    result_file = next(experiment.glob("train_*")) / "result.json"
    rows = [json.loads(line) for line in result_file.read_text().splitlines()]
    # Restored from the epoch-1 checkpoint: epochs 2 and 3 are reported again, the later report wins.
    first_attempt = [{**row, "done": False} for row in rows]
    replayed = [{**rows[1], "val_accuracy": 0.65}, rows[2]]
    result_file.write_text("".join(json.dumps(row) + "\n" for row in [*first_attempt, *replayed]))
    export_experiment([experiment], experiment)
    tables = read_tables(experiment)
    assert list(tables.trials["status"]) == ["terminated"]
    assert list(tables.epochs["epoch"]) == [1, 2, 3]
    assert list(tables.epochs["val_accuracy"]) == pytest.approx([0.5, 0.65, 0.7])


def test_read_tables_keeps_integer_columns_with_nulls(tmp_path: Path) -> None:
    experiment = write_fake_experiment(tmp_path, "sweep", standard_trials(seeds=(0,)))
    export_experiment(experiment)  # out_dir defaults to the experiment directory
    tables = read_tables(experiment)
    assert str(tables.trials["best_val_accuracy_epoch"].dtype) == "Int64"
    assert str(tables.trials["seed"].dtype) == "Int64"
    assert "activation" in tables.config_columns and tables.schema_version == SCHEMA_VERSION


def test_cli_missing_directory_exits_2_with_one_line(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "analysis.store.export", str(tmp_path / "nope")],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=60,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().count("\n") == 0 and "nope" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_cli_empty_directory_exits_2_and_writes_tables_otherwise(
    tmp_path: Path, experiment: Path, capsys: pytest.CaptureFixture
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert export.main([str(empty)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and error.count("\n") == 1 and "empty" in error
    assert export.main([str(experiment), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / TRIALS_FILE).is_file() and (tmp_path / "out" / EPOCHS_FILE).is_file()
    assert export.main([str(experiment), str(experiment.parent / "other")]) == 2  # merge needs --out too


def test_retried_trial_that_finished_follows_tunes_final_state(tmp_path: Path) -> None:
    """A worker crash Tune retried from a checkpoint: finished, failures counted, epochs once."""
    fakes = [FakeTrial("relu", 0, [0.5, 0.6, 0.7], failures=2), FakeTrial("gelu", 0, [0.6], status="errored", epochs=3)]
    for with_state in (True, False):
        experiment = write_fake_experiment(tmp_path / str(with_state), "retried", fakes, with_state=with_state)
        export_experiment(experiment)
        tables = read_tables(experiment)
        rows = tables.trials.set_index("activation")
        assert rows.loc["relu", "status"] == "terminated" and rows.loc["relu", "num_failures"] == 2
        assert rows.loc["relu", "error"] == "RuntimeError: out of memory in epoch 2"  # the failure stays visible
        assert rows.loc["gelu", "status"] == "errored" and rows.loc["gelu", "num_failures"] == 1
        relu_epochs = tables.epochs[tables.epochs["trial_id"] == rows.loc["relu", "trial_id"]]
        assert list(relu_epochs["epoch"]) == [1, 2, 3]  # re-reported epochs kept once, the last report
        assert list(relu_epochs["val_accuracy"]) == pytest.approx([0.5, 0.6, 0.7])


def test_gpu_ids_and_node_id_columns(tmp_path: Path) -> None:
    fakes = [
        FakeTrial("relu", 0, [0.5, 0.6], gpu_ids="1,3", node_id="ab12"),
        FakeTrial("relu", 1, [0.5, 0.6], gpu_ids="", node_id="cd34"),
        FakeTrial("relu", 2, [0.5, 0.6]),
    ]
    experiment = write_fake_experiment(tmp_path, "placed", fakes)
    trials_path, epochs_path = export_experiment(experiment)
    table = pq.read_table(trials_path)
    assert table.schema.field("gpu_ids").type == pa.string() == table.schema.field("node_id").type
    placed = {row["seed"]: (row["gpu_ids"], row["node_id"]) for row in table.to_pylist()}
    assert placed == {0: ("1,3", "ab12"), 1: (None, "cd34"), 2: (None, None)}
    epochs = pq.read_table(epochs_path).to_pylist()
    assert {row["gpu_ids"] for row in epochs} == {"1,3", None}


def test_absent_strings_are_null_not_empty(experiment: Path) -> None:
    _, epochs_path = export_experiment(experiment)
    reasons = pq.read_table(epochs_path).column("stop_reason").to_pylist()
    assert "" not in reasons and None in reasons and "diverged: non-finite loss" in reasons


def test_best_checkpoint_is_the_kept_one_with_the_best_sweep_metric(tmp_path: Path) -> None:
    fakes = [
        FakeTrial("relu", 0, [0.5, 0.8, 0.7, 0.75], kept_checkpoints=(2, 4)),
        FakeTrial("relu", 1, [0.5, 0.8, 0.7, 0.75], kept_checkpoints=(1, 4)),  # best epoch's deleted
        FakeTrial("relu", 2, [0.5, 0.8, 0.7, 0.75]),
    ]
    experiment = write_fake_experiment(tmp_path, "kept", fakes)
    export_experiment(experiment)
    rows = read_tables(experiment).trials.set_index("seed")
    assert rows.loc[0, "best_checkpoint_epoch"] == 2 == rows.loc[0, "best_val_accuracy_epoch"]
    assert Path(rows.loc[0, "best_checkpoint"]).is_dir() and rows.loc[0, "best_checkpoint"].endswith("checkpoint_000001")
    assert rows.loc[1, "best_checkpoint_epoch"] == 4  # the better of the two kept
    assert pd.isna(rows.loc[2, "best_checkpoint"]) and pd.isna(rows.loc[2, "best_checkpoint_epoch"])
    by_loss = write_fake_experiment(tmp_path / "loss", "kept", fakes[:1], metric="val_loss")
    export_experiment(by_loss)
    assert read_tables(by_loss).trials["best_checkpoint_epoch"].tolist() == [4]  # val_loss is lowest last


def test_nested_config_becomes_one_typed_column_per_leaf(tmp_path: Path) -> None:
    nested = {"optimizer_settings": {"lr": 0.01, "name": "sgd", "betas": {"beta_1": 0.9}}, "width": 3}
    experiment = write_fake_experiment(tmp_path, "other_tune_code", [FakeTrial("relu", 0, [0.5], extra_config=nested)])
    trials_path, _ = export_experiment(experiment)
    schema = pq.read_schema(trials_path)
    assert schema.field("optimizer_settings/lr").type == pa.float64()
    assert schema.field("optimizer_settings/name").type == pa.string()
    assert schema.field("optimizer_settings/betas/beta_1").type == pa.float64()
    assert "optimizer_settings" not in schema.names
    assert "optimizer_settings/lr" in read_metadata(trials_path)["config_columns"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664)])
def test_tables_are_created_with_the_users_umask(experiment: Path, tmp_path: Path, umask: int, mode: int) -> None:
    previous = os.umask(umask)
    try:
        paths = export_experiment([experiment], tmp_path / "out")
    finally:
        os.umask(previous)
    assert [stat.S_IMODE(path.stat().st_mode) for path in paths] == [mode, mode]


def test_trials_stopped_by_the_time_budget_have_their_own_status(tmp_path: Path) -> None:
    fakes = [
        FakeTrial("relu", 0, [0.5, 0.6], status="time_budget", epochs=4),
        FakeTrial("relu", 1, [0.5, 0.6], status="stopped_early", epochs=4),
        FakeTrial("relu", 2, [0.5, 0.6, 0.7, 0.8], status="time_budget"),  # had just finished
    ]
    experiment = write_fake_experiment(tmp_path, "budgeted", fakes)
    export_experiment(experiment)
    statuses = read_tables(experiment).trials.set_index("seed")["status"].to_dict()
    assert statuses == {0: "time_budget", 1: "stopped_early", 2: "terminated"}
    assert "time_budget" in read_metadata(experiment / TRIALS_FILE)["statuses"]


# The standard fake experiment exported in place, as pyarrow 26.0.1 writes it: the export must not
# change a byte of local tables (a refactor of how files are read or written is caught here).
KNOWN_GOOD_SHA256 = {  # trials: the metadata's status list gained "interrupted" (issue 24), the rows are the same
    TRIALS_FILE: "17a0aa6e29d1a04e3de94121992a07b82e8ebc863e4cf10d8c7693fdd121493c",
    EPOCHS_FILE: "09c3dd8303450c8e6fc21ad6e048a40230828a99042e80604e672615dee0123a",
}


@pytest.mark.skipif(pa.__version__ != "26.0.1", reason="Parquet files name the pyarrow version that wrote them")
def test_local_export_is_byte_identical_to_the_known_good_tables(tmp_path: Path) -> None:
    import hashlib

    experiment = write_fake_experiment(tmp_path / "snap" / "fake", "standard", standard_trials())
    paths = export_experiment(experiment)
    assert {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths} == KNOWN_GOOD_SHA256
    assert sorted(path.name for path in experiment.iterdir() if path.suffix == ".parquet") == sorted(KNOWN_GOOD_SHA256)


def test_unfinished_trials_are_running_only_while_a_driver_holds_the_experiment(tmp_path: Path) -> None:
    """Issue 24: an export never says `running` once the sweep's driver has ended (it deletes its
    lease, DRIVER_LEASE_FILE); such a trial is `interrupted` (`--resume` continues it), or `errored`
    when Tune recorded an error for it and its saved state still read RUNNING."""
    from analysis.store.schema import DRIVER_LEASE_FILE

    fakes = [FakeTrial("relu", 0, [0.5, 0.6], epochs=5, status="running"),
             FakeTrial("selu", 0, [], epochs=5, status="pending"), FakeTrial("relu", 1, [0.5, 0.6, 0.7])]
    experiment = write_fake_experiment(tmp_path, "live", fakes)
    assert (experiment / DRIVER_LEASE_FILE).is_file()  # (the fake of a live sweep has its driver's lease)
    export_experiment(experiment)
    assert read_tables(experiment).trials["status"].tolist() == ["running", "running", "terminated"]

    (experiment / DRIVER_LEASE_FILE).unlink()  # the driver ended: SIGTERM, Ctrl-C, a crash after which it was taken
    running_dir = sorted(path for path in experiment.iterdir() if path.name.startswith("train_"))[0]
    export_experiment(experiment)
    assert read_tables(experiment).trials["status"].tolist() == ["interrupted", "interrupted", "terminated"]
    (running_dir / "error.txt").write_text("Failure # 1\nThe actor is dead because its worker process has died.\n")
    export_experiment(experiment)
    assert read_tables(experiment).trials["status"].tolist() == ["errored", "interrupted", "terminated"]
