"""analysis.store.packs: a pack trial (trainables.pack_trial) exports as its members, each the row and the
epochs of the lone trial it stands for; hand-made Tune files (tests/support/fake_experiment.py), on a local
disk and on object storage, and one real Tune pack (slow)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from support import REPO_ROOT
from support.fake_experiment import FakeTrial, fake_pack, write_fake_experiment

from analysis.report import build_report
from analysis.store import storage
from analysis.store.export import TRIALS_FILE, export_experiment, read_metadata, read_tables
from analysis.store.packs import PACK_KEY, PACK_REPORTED
from analysis.store.schema import PACK_FIELDS, setting_columns, varying_settings

# Three members of one configuration: one diverges in epoch 2 of 3, one has an own key besides its seed.
MEMBERS = (
    FakeTrial("relu", 3, [0.5, 0.6, 0.7], epochs=3),
    FakeTrial("relu", 4, [0.55, 0.65], status="diverged", repeat=1, epochs=3),
    FakeTrial("relu", 5, [0.4, 0.8, 0.6], repeat=2, epochs=3, extra_config={"confirm_look": 2}),
)
# What only a trial's place in the experiment, or its share of the pack's clock, tells apart.
PLACE = ["experiment", "trial_id", "trial_dir", "wall_seconds", "accelerator_seconds", "best_checkpoint",
         "best_checkpoint_epoch"]
CLOCK = ["experiment", "trial_id", "time_total_s", "time_this_iter_s"]


def _export(storage_dir: Path, name: str, trials: list[FakeTrial]) -> tuple[Path, object]:
    experiment = write_fake_experiment(storage_dir, name, trials)
    export_experiment(experiment)
    return experiment, read_tables(experiment)


def _raw_rows(experiment: Path) -> list[dict]:
    """The pack's result.json as Tune wrote it."""
    (trial_dir,) = [path for path in experiment.iterdir() if path.name.startswith("train_")]
    return [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()]


def test_each_member_is_the_row_and_epochs_of_its_lone_trial(tmp_path: Path) -> None:
    packed_dir, packed = _export(tmp_path, "packed", [fake_pack(MEMBERS)])
    _, lone = _export(tmp_path, "lone", list(MEMBERS))
    trials = packed.trials
    assert set(trials.columns) == set(lone.trials.columns) | set(PACK_FIELDS)
    assert list(packed.epochs.columns) == list(lone.epochs.columns)  # no member_<i>/ keys, no pack_size
    pack_id = trials["pack_trial_id"].iloc[0]
    assert list(trials["trial_id"]) == [f"{pack_id}_m{index}" for index in range(3)]
    assert list(trials["pack_member"]) == [0, 1, 2] and (trials["pack_trial_id"] == pack_id).all()
    assert list(trials["seed"]) == [3, 4, 5] and list(trials["repeat"]) == [0, 1, 2]
    assert list(trials["status"]) == ["terminated", "diverged", "terminated"]
    assert list(trials["epochs_completed"]) == [3, 2, 3]
    pd.testing.assert_frame_equal(trials.drop(columns=[*PLACE, *PACK_FIELDS]), lone.trials.drop(columns=PLACE),
                                  check_like=True)
    pd.testing.assert_frame_equal(packed.epochs.drop(columns=CLOCK), lone.epochs.drop(columns=CLOCK))
    raw = _raw_rows(packed_dir)
    for index, trial_id in enumerate(trials["trial_id"]):
        reported = [row for row in raw if row[f"member_{index}/epoch"] == row["epoch"]]
        own = packed.epochs[packed.epochs["trial_id"] == trial_id]
        assert list(own["epoch"]) == [row["epoch"] for row in reported]
        for key in ("val_accuracy", "accuracy", "lr", "diverged"):
            assert list(own[key]) == [row[f"member_{index}/{key}"] for row in reported], key


def test_members_share_the_packs_clock_so_their_costs_add_up_to_its(tmp_path: Path) -> None:
    experiment, tables = _export(tmp_path, "packed", [fake_pack(MEMBERS)])
    pack_seconds = max(row["time_total_s"] for row in _raw_rows(experiment))
    trials, epochs = tables.trials, tables.epochs
    assert trials["wall_seconds"].sum() == pytest.approx(pack_seconds)
    assert trials["wall_seconds"].tolist() == pytest.approx([2 / 3 + 2 / 3 + 1, 2 / 3 + 2 / 3, 2 / 3 + 2 / 3 + 1])
    assert (trials["accelerator_seconds"] == trials["wall_seconds"] * 0.5).all()  # x gpus_per_trial
    assert epochs.groupby("epoch")["time_this_iter_s"].sum().tolist() == pytest.approx([2.0, 2.0, 2.0])


def test_a_members_best_checkpoint_is_its_own_folder_in_the_packs(tmp_path: Path) -> None:
    _, tables = _export(tmp_path, "packed", [fake_pack(MEMBERS, kept_checkpoints=(1, 2, 3))])
    rows = tables.trials.set_index("pack_member")
    # member 0 is best at epoch 3, member 2 at epoch 2; member 1 diverged in epoch 2, so only epoch 1 holds it
    assert rows["best_checkpoint_epoch"].tolist() == [3, 1, 2]
    for index, row in rows.iterrows():
        checkpoint = Path(row["best_checkpoint"])
        assert checkpoint.name == f"member_{index}"
        assert checkpoint.parent.name == f"checkpoint_{row['best_checkpoint_epoch'] - 1:06d}"
        assert checkpoint.parent.parent.name == row["trial_dir"]
        assert json.loads((checkpoint / "state.json").read_text())["config"]["seed"] == row["seed"]


@pytest.mark.parametrize("status, expected", [
    ("stopped_early", ["stopped_early", "diverged", "stopped_early"]),
    ("errored", ["errored", "diverged", "errored"]),
    ("running", ["running", "diverged", "running"]),
])
def test_members_end_as_their_pack_unless_they_diverged(tmp_path: Path, status: str, expected: list[str]) -> None:
    _, tables = _export(tmp_path, "packed", [fake_pack(MEMBERS, status=status, epochs=5)])
    assert tables.trials["status"].tolist() == expected
    if status == "errored":
        assert tables.trials["num_failures"].tolist() == [1, 1, 1]


def test_pack_columns_exist_only_beside_members_typed_and_never_as_settings(tmp_path: Path) -> None:
    lone_trial = FakeTrial("selu", 9, [0.5, 0.6, 0.7])
    experiment, tables = _export(tmp_path, "mixed", [fake_pack(MEMBERS), lone_trial])
    schema = pq.read_schema(experiment / TRIALS_FILE)
    assert schema.field("pack_trial_id").type == pa.string() and schema.field("pack_member").type == pa.int64()
    assert b"pack" in schema.field("pack_trial_id").metadata[b"description"]
    lone = tables.trials[tables.trials["seed"] == 9].iloc[0]
    assert pd.isna(lone["pack_trial_id"]) and pd.isna(lone["pack_member"])
    config_columns = read_metadata(experiment / TRIALS_FILE)["config_columns"]
    assert PACK_KEY not in tables.trials.columns and not set(PACK_FIELDS) & set(config_columns)
    bare = tables.trials.copy()
    bare.attrs.clear()  # without the metadata's column list, the roles come from the schema
    assert not set(PACK_FIELDS) & set(setting_columns(bare)) and "pack_trial_id" not in varying_settings(bare)
    _, alone = _export(tmp_path, "alone", [lone_trial])
    assert not set(PACK_FIELDS) & set(alone.trials.columns)  # tables of lone trials keep their columns


def test_members_of_a_pack_share_its_budget_fair_asha_record(tmp_path: Path) -> None:
    experiment = write_fake_experiment(tmp_path, "fair", [fake_pack(MEMBERS, status="running", epochs=5)])
    export_experiment(experiment)
    pack_id = read_tables(experiment).trials["pack_trial_id"].iloc[0]
    (experiment / "fair_asha.json").write_text(json.dumps(  # the scheduler saw one trial: the pack
        {"stratify": ["activation"], "rungs": [2], "max_t": 5, "reduction_factor": 3.0,
         "trials": {pack_id: {"values": {"0": 0.6}, "arm": "activation=relu"}},
         "decisions": {"activation=relu": {"0": ["someone_else"]}}}))
    export_experiment(experiment)
    trials = read_tables(experiment).trials
    assert trials["arm"].tolist() == ["activation=relu"] * 3 and trials["rung_epoch"].tolist() == [2, 2, 2]
    assert trials["status"].tolist() == ["stopped_early", "diverged", "stopped_early"]  # stopped at its rung


def test_the_report_on_packs_equals_the_report_on_their_lone_trials(tmp_path: Path) -> None:
    def members(activation: str, offset: float) -> list[FakeTrial]:
        return [FakeTrial(activation, seed, [0.6 + offset, 0.7 + offset + 0.01 * seed], repeat=seed)
                for seed in range(4)]

    relu, selu = members("relu", 0.0), members("selu", 0.02)
    _, packed = _export(tmp_path, "sweep", [fake_pack(relu, "relu"), fake_pack(selu, "selu")])
    _, lone = _export(tmp_path / "lone", "sweep", [*relu, *selu])
    packed_report, lone_report = build_report(packed), build_report(lone)
    assert packed_report.summary == lone_report.summary
    pd.testing.assert_frame_equal(packed_report.leaderboard, lone_report.leaderboard)
    pd.testing.assert_frame_equal(packed_report.comparisons, lone_report.comparisons)


def test_a_pack_config_that_lists_no_members_is_one_trial(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broken = FakeTrial("relu", 0, [0.5, 0.6], extra_config={PACK_KEY: "seeds 1-4"})
    with caplog.at_level(logging.WARNING, logger="analysis.store.packs"):
        _, tables = _export(tmp_path, "broken", [broken])
    assert len(tables.trials) == 1 and "pack_trial_id" not in tables.trials.columns
    assert PACK_KEY in caplog.text


def test_members_on_object_storage_point_at_their_remote_folders(s3, tmp_path: Path) -> None:
    local = write_fake_experiment(tmp_path, "packed", [fake_pack(MEMBERS, kept_checkpoints=(1, 2, 3))])
    uri = s3.upload_tree(local, "actsweep")
    export_experiment(uri)
    export_experiment(local)
    remote, here = read_tables(uri).trials, read_tables(local).trials
    expected = [storage.join(uri, *Path(path).relative_to(local).parts) for path in here["best_checkpoint"]]
    assert remote["best_checkpoint"].tolist() == expected
    assert all(storage.is_dir(path) for path in expected)


# ------------------------------------------------------------------------------------------- a real pack

PACK_SWEEP = """
import sys, ray
from ray import tune
from support.lone_trials import config, family_data
from trainables.pack_trial import PACK_KEY, train_pack

shared = config("antirectifier_mlp", 0)
del shared["seed"]
space = {**shared, PACK_KEY: [{"seed": seed, "repeat": number} for number, seed in enumerate((3, 4, 5))]}
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
tune.Tuner(
    tune.with_parameters(train_pack, data=family_data("antirectifier_mlp")), param_space=space,
    tune_config=tune.TuneConfig(metric="val_accuracy", mode="max"),
    run_config=tune.RunConfig(name="packed", storage_path=sys.argv[1], verbose=0),
).fit()
ray.shutdown()
"""


@pytest.mark.slow
def test_a_real_tune_pack_exports_its_members_and_their_models(tmp_path: Path) -> None:
    import keras
    import numpy as np
    from support.lone_trials import family_data

    import analysis
    from trainables import pack_trial

    # Ray's workers import this checkout's packages, whatever an installed copy says.
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), str(REPO_ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    completed = subprocess.run([sys.executable, "-c", PACK_SWEEP, str(tmp_path)], capture_output=True, text=True,
                               cwd=REPO_ROOT, timeout=600, env={**os.environ, "PYTHONPATH": path})
    assert completed.returncode == 0, completed.stderr[-3000:]
    experiment = tmp_path / "packed"
    export_experiment(experiment)
    tables = read_tables(experiment)
    trials, epochs = tables.trials, tables.epochs
    raw = _raw_rows(experiment)
    assert PACK_KEY == pack_trial.PACK_KEY and set(PACK_REPORTED) <= set(raw[0])
    assert not [column for column in epochs.columns if column.startswith("member_") or column in PACK_REPORTED]
    assert trials["seed"].tolist() == [3, 4, 5] and trials["repeat"].tolist() == [0, 1, 2]
    assert trials["status"].tolist() == ["terminated"] * 3 and trials["epochs_completed"].tolist() == [2] * 3
    x_val = family_data("antirectifier_mlp").x_val
    predictions = []
    for index, row in trials.iterrows():
        member = row["pack_member"]
        own = epochs[epochs["trial_id"] == row["trial_id"]]
        for key in ("val_accuracy", "loss", "test_accuracy"):
            assert own[key].tolist() == [result[f"member_{member}/{key}"] for result in raw], key
        assert row["last_val_accuracy"] == raw[-1][f"member_{member}/val_accuracy"]
        assert row["best_val_accuracy"] == max(result[f"member_{member}/val_accuracy"] for result in raw)
        epoch = row["best_checkpoint_epoch"]
        assert epoch == row["best_val_accuracy_epoch"]
        saved = experiment / row["trial_dir"] / f"checkpoint_{epoch - 1:06d}" / f"member_{member}"
        assert Path(row["best_checkpoint"]) == saved
        loaded = analysis.load_best_model(row).predict(x_val, verbose=0)
        np.testing.assert_array_equal(loaded, keras.saving.load_model(saved / "model.keras").predict(x_val, verbose=0))
        predictions.append(loaded)
    assert not np.array_equal(predictions[0], predictions[1])  # each row loads its own member
