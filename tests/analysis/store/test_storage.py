"""analysis.store.storage, and the analysis side (export, read_tables, report, load_best_model) on object
storage: a loopback S3 server (tests/support/s3.py) holding the hand-made experiments of
tests/support/fake_experiment.py, compared with the same experiments on a local disk."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow.fs as pafs
import pytest

from analysis.checkpoints import checkpoint_of
from analysis.store import atomic, storage
from analysis.store.export import EPOCHS_FILE, TRIALS_FILE, ExportError, export_experiment, read_tables
from analysis.store.storage import StorageError
from support import REPO_ROOT
from support.fake_experiment import FakeTrial, standard_trials, write_fake_experiment
from support.s3 import FAKE_SECRET

SECRET = "wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY"
SECRET_URIS = [
    f"s3://AKIAIOSFODNN7EXAMPLE:{SECRET}@bucket/prefix",
    f"s3://{SECRET}@bucket/prefix",
    f"s3://bucket/prefix?secret_key={SECRET}",
    f"s3://bucket/prefix?endpoint_override=minio:9000&access_key={SECRET}",
    f"s3://bucket/prefix?scheme=http&session_token={SECRET}",
    f"gs://bucket/prefix?access_token={SECRET}",
    f"s3://bucket/prefix?{SECRET}",
]


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
                          env=env)


# --- paths and URIs ---------------------------------------------------------------------------


@pytest.mark.parametrize("path, remote", [
    ("s3://bucket/prefix", True), ("S3://bucket", True), ("gs://bucket/x", True),
    ("/tmp/results", False), ("results/selu", False), ("~/ray_results", False), ("file:///tmp/x", False),
    (Path("/tmp/s3:/x"), False), ("s3:/bucket", False),
])
def test_is_remote(path, remote: bool) -> None:
    assert storage.is_remote(path) is remote


def test_normalize_local_paths_are_absolute_and_uris_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert storage.normalize("results") == str(tmp_path / "results")
    assert storage.normalize("~/ray_results/") == str(tmp_path / "home" / "ray_results")
    assert storage.normalize("file:///tmp/a%20b") == "/tmp/a b"
    assert storage.normalize("S3://bucket/prefix/") == "s3://bucket/prefix"
    assert storage.normalize("s3://bucket/p?endpoint_override=minio:9000&scheme=http") == (
        "s3://bucket/p?endpoint_override=minio:9000&scheme=http")
    for bad in ("", "s3:///prefix", "s3://bucket/a/../b", "s3://bucket/a#b"):
        with pytest.raises(StorageError):
            storage.normalize(bad)


def test_join_name_and_parent_keep_the_query_and_tunes_folder_names() -> None:
    base = "s3://bucket/actsweep?endpoint_override=127.0.0.1:9000&scheme=http"
    trial = storage.join(base, "exp", "train_0a1b2_00000_0_activation=relu,bn_momentum=0.9000_2026-01-01_00-00-00")
    assert trial == ("s3://bucket/actsweep/exp/train_0a1b2_00000_0_activation=relu,bn_momentum=0.9000_2026-01-01_00-00-00"
                     "?endpoint_override=127.0.0.1:9000&scheme=http")
    assert storage.name(trial).endswith("bn_momentum=0.9000_2026-01-01_00-00-00")
    assert storage.parent(storage.parent(trial)) == base
    spaced = storage.join("s3://bucket/p", "a b%")
    assert spaced == "s3://bucket/p/a%20b%25" and storage.name(spaced) == "a b%"
    assert storage.join("/tmp/x", "exp/trial", "checkpoint_000001") == "/tmp/x/exp/trial/checkpoint_000001"
    assert storage.parent("/tmp/x/exp") == "/tmp/x" and storage.name("/tmp/x/exp") == "exp"
    with pytest.raises(StorageError):
        storage.join(base, "..", "other")
    with pytest.raises(StorageError):
        storage.parent("s3://bucket")


@pytest.mark.parametrize("uri", SECRET_URIS)
def test_a_uri_with_credentials_is_refused_in_one_line_without_the_secret(uri: str) -> None:
    for call in (storage.normalize, storage.check_no_secrets, storage.locate, storage.ray_storage,
                 lambda path: storage.join(path, "exp"), export_experiment, read_tables):
        with pytest.raises(StorageError) as caught:
            call(uri)
        message = str(caught.value)
        assert "\n" not in message and SECRET not in message and "embeds credentials" in message
    assert SECRET not in storage.redact(uri)


def test_redact_shows_pyarrows_options_and_hides_everything_else() -> None:
    assert storage.redact("s3://bucket/p?endpoint_override=minio:9000&scheme=http&region=eu-west-1") == (
        "s3://bucket/p?endpoint_override=minio:9000&scheme=http&region=eu-west-1")
    assert storage.redact(f"s3://KEY:{SECRET}@bucket/p?sk={SECRET}&scheme=http") == "s3://***@bucket/p?sk=***&scheme=http"
    assert storage.redact("/local/path") == "/local/path"


def test_the_clis_refuse_a_secret_uri_with_exit_2_and_one_line() -> None:
    uri = SECRET_URIS[0]
    for module in ("analysis.store.export", "analysis.report"):
        completed = _run("-m", module, uri)
        assert completed.returncode == 2, completed.stderr
        assert completed.stderr.startswith("error: ") and completed.stderr.count("\n") == 1
        assert SECRET not in completed.stderr + completed.stdout


def test_trial_dirname_has_neither_equals_nor_comma() -> None:
    trial = SimpleNamespace(trainable_name="train", trial_id="0a1b2_00003",
                            experiment_tag="3_activation=relu,bn_momentum=0.9000")
    assert storage.trial_dirname(trial) == "train_0a1b2_00003"


# --- local storage ----------------------------------------------------------------------------


def test_local_round_trip_and_atomic_replace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out" / "table.parquet"
    storage.write_bytes_atomically(target, b"first")
    assert storage.read_bytes(target) == b"first" and storage.is_file(target) and storage.is_dir(target.parent)
    assert [entry.name for entry in storage.list_dir(target.parent)] == ["table.parquet"]
    assert storage.ray_storage(tmp_path / "out") == (str(tmp_path / "out"), None)

    def crash(source, destination):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        storage.write_bytes_atomically(target, b"second")
    monkeypatch.undo()
    assert target.read_bytes() == b"first"
    assert [path.name for path in target.parent.iterdir()] == ["table.parquet"]  # no temp file left
    storage.delete_dir(target.parent)
    assert not storage.exists(target.parent)


# --- S3 ------------------------------------------------------------------------------------------


def test_s3_round_trip_with_tunes_folder_names(s3, tmp_path: Path) -> None:
    folder = s3.uri("prefix", "exp", "train_0a1b2_00000_0_activation=relu,bn_momentum=0.9000_2026-01-01_00-00-00")
    storage.write_bytes_atomically(storage.join(folder, "params.json"), b'{"lr": 0.1}')
    storage.write_bytes_atomically(storage.join(folder, "checkpoint_000001", "state.json"), b'{"epoch": 1}')
    assert s3.keys("prefix/") == [
        "prefix/exp/train_0a1b2_00000_0_activation=relu,bn_momentum=0.9000_2026-01-01_00-00-00/checkpoint_000001/state.json",
        "prefix/exp/train_0a1b2_00000_0_activation=relu,bn_momentum=0.9000_2026-01-01_00-00-00/params.json",
    ]
    assert storage.read_text(storage.join(folder, "params.json")) == '{"lr": 0.1}'
    assert storage.is_dir(folder) and storage.is_file(storage.join(folder, "params.json"))
    assert not storage.exists(storage.join(folder, "error.txt"))
    assert [(entry.name, entry.is_dir) for entry in storage.list_dir(folder)] == [
        ("checkpoint_000001", True), ("params.json", False)]
    local = storage.copy_to_local(storage.join(folder, "checkpoint_000001"), tmp_path / "download")
    assert local == tmp_path / "download" / "checkpoint_000001" and (local / "state.json").read_text() == '{"epoch": 1}'
    storage.delete_dir(s3.uri("prefix", "exp"))
    assert s3.keys("prefix/exp") == [] and not storage.exists(s3.uri("prefix", "exp"))


def test_the_endpoint_comes_from_the_uri_query_or_either_environment_variable(s3, monkeypatch) -> None:
    s3.client().put_object(Bucket=s3.bucket, Key="p/x.json", Body=b"1")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert storage.read_bytes(s3.query_uri("p", "x.json")) == b"1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3.endpoint)
    assert storage.read_bytes(s3.uri("p", "x.json")) == b"1"
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3")
    # The query wins over the environment: this one points where nothing would answer.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert storage.read_bytes(s3.query_uri("p", "x.json")) == b"1"


def test_ray_storage_gives_a_filesystem_that_carries_the_endpoint_but_no_secret(s3) -> None:
    for uri in (s3.uri("actsweep"), s3.query_uri("actsweep")):
        path, filesystem = storage.ray_storage(uri)
        assert path == f"{s3.bucket}/actsweep" and isinstance(filesystem, pafs.S3FileSystem)
        pickled = pickle.dumps(filesystem)  # what Ray hands the trial workers and keeps in tuner.pkl
        assert s3.host_port.encode() in pickled and FAKE_SECRET.encode() not in pickled
        with pickle.loads(pickled).open_output_stream(f"{path}/probe") as stream:
            stream.write(b"ok")
    assert s3.keys("actsweep/") == ["actsweep/probe"]


# --- the analysis side on S3 -------------------------------------------------------------------


def _fair_asha_record(experiment: Path) -> None:
    """A budget-fair ASHA record (analysis.store.arms) for the fake experiment's relu and selu trials."""
    export_experiment(experiment, experiment.parent / "ids")
    trials = read_tables(experiment.parent / "ids").trials
    shutil.rmtree(experiment.parent / "ids")
    compared = trials[trials["activation"].isin(["relu", "selu"])]
    record = {row.trial_id: {"values": {"0": 0.7}, "arm": f"activation={row.activation}"}
              for row in compared.itertuples()}
    decisions = {f"activation={name}": {"0": list(group["trial_id"])} for name, group in compared.groupby("activation")}
    (experiment / "fair_asha.json").write_text(json.dumps(
        {"stratify": ["activation"], "rungs": [2], "max_t": 4, "reduction_factor": 3.0,
         "trials": record, "decisions": decisions}))


def _experiment_with_checkpoints(root: Path) -> Path:
    trials = [*standard_trials(), FakeTrial("relu", 7, [0.5, 0.8, 0.7, 0.75], kept_checkpoints=(2, 4))]
    experiment = write_fake_experiment(root, "selu_sweep", trials)
    _fair_asha_record(experiment)
    return experiment


def test_export_read_tables_and_report_on_s3_equal_a_local_copy(s3, tmp_path: Path) -> None:
    local = _experiment_with_checkpoints(tmp_path / "local")
    uri = s3.upload_tree(local, "actsweep")
    completed = _run("-m", "analysis.store.export", uri)
    assert completed.returncode == 0, completed.stderr
    assert FAKE_SECRET not in completed.stdout + completed.stderr
    assert completed.stdout.split() == [storage.join(uri, TRIALS_FILE), storage.join(uri, EPOCHS_FILE)]
    assert {f"actsweep/selu_sweep/{TRIALS_FILE}", f"actsweep/selu_sweep/{EPOCHS_FILE}"} <= set(s3.keys("actsweep/"))
    export_experiment(local)

    remote_tables, local_tables = read_tables(uri), read_tables(local)
    assert {"arm", "rung", "rung_epoch"} <= set(remote_tables.trials.columns)
    remote_checkpoints = remote_tables.trials.pop("best_checkpoint").dropna().tolist()
    local_checkpoints = local_tables.trials.pop("best_checkpoint").dropna().tolist()
    pd.testing.assert_frame_equal(remote_tables.trials, local_tables.trials)
    pd.testing.assert_frame_equal(remote_tables.epochs, local_tables.epochs)
    assert storage.read_bytes(storage.join(uri, EPOCHS_FILE)) == (local / EPOCHS_FILE).read_bytes()
    # The same checkpoint, named on its storage.
    assert [Path(path).relative_to(local).as_posix() for path in local_checkpoints] == [
        checkpoint.removeprefix(f"{uri}/") for checkpoint in remote_checkpoints]
    assert remote_checkpoints[0].startswith(f"s3://{s3.bucket}/actsweep/selu_sweep/train_")

    remote_report = _run("-m", "analysis.report", uri, "--json")
    local_report = _run("-m", "analysis.report", str(local), "--json")
    assert remote_report.returncode == 0 == local_report.returncode, remote_report.stderr + local_report.stderr
    assert json.loads(remote_report.stdout) == json.loads(local_report.stdout)


def test_tables_by_a_query_uri_and_best_checkpoint_downloads(s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = _experiment_with_checkpoints(tmp_path / "local")
    s3.upload_tree(local, "q")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    uri = s3.query_uri("q", "selu_sweep")
    export_experiment(uri)
    trials = read_tables(uri).trials
    best = trials.dropna(subset=["best_checkpoint"]).iloc[0]
    assert best["best_checkpoint"].endswith(f"/checkpoint_000001?endpoint_override={s3.host_port}&scheme=http")
    checkpoint = checkpoint_of(best)
    assert checkpoint == best["best_checkpoint"]
    downloaded = storage.copy_to_local(checkpoint, tmp_path / "download")
    assert json.loads((downloaded / "state.json").read_text()) == {"epoch": 2}


def test_missing_tables_on_s3_is_one_line_naming_the_uri(s3) -> None:
    with pytest.raises(ExportError, match=r"s3://actsweep-test/nowhere/trials.parquet' not found"):
        read_tables(s3.uri("nowhere"))
    with pytest.raises(ExportError, match="does not exist"):
        export_experiment(s3.uri("nowhere"))
    completed = _run("-m", "analysis.report", s3.uri("nowhere"), "--json")
    assert completed.returncode == 2 and completed.stderr.count("\n") == 1


def test_an_export_to_s3_that_crashes_while_serialising_changes_nothing(s3, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    local = write_fake_experiment(tmp_path, "sweep", standard_trials())
    uri = s3.upload_tree(local, "a")
    export_experiment(uri)
    before = {key: s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read() for key in s3.keys("a/")}
    extra_trial = next(write_fake_experiment(tmp_path, "more", [FakeTrial("relu", 9, [0.5])]).glob("train_*"))
    s3.upload_tree(extra_trial, "a/sweep")  # one more trial: the next export differs
    calls = []

    def crash_on_second_table(table, handle):
        calls.append(table.num_rows)
        handle.write(b"PAR1 partial")
        if len(calls) == 2:
            raise OSError("out of memory")

    monkeypatch.setattr(atomic, "_write_parquet", crash_on_second_table)
    with pytest.raises(OSError, match="out of memory"):
        export_experiment(uri)
    after = {key: s3.client().get_object(Bucket=s3.bucket, Key=key)["Body"].read() for key in before}
    assert after == before  # neither table replaced
    added = {key for key in s3.keys("a/") if key not in before}
    assert added == set(s3.keys(f"a/sweep/{extra_trial.name}/"))  # nothing written but the extra trial


def test_an_export_to_s3_writes_epochs_first_and_trials_last(s3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two objects cannot be replaced together: trials.parquet, the mark of a complete export, goes last."""
    uri = s3.upload_tree(write_fake_experiment(tmp_path, "sweep", standard_trials()), "b")
    written = []
    upload = storage.Location.write_bytes_atomically

    def record(location, data):
        written.append(location.name)
        if location.name == TRIALS_FILE:
            raise StorageError("cannot write: connection reset")
        upload(location, data)

    monkeypatch.setattr(storage.Location, "write_bytes_atomically", record)
    with pytest.raises(StorageError):
        export_experiment(uri)
    assert written == [EPOCHS_FILE, TRIALS_FILE]
    keys = s3.keys("b/sweep/")
    assert f"b/sweep/{EPOCHS_FILE}" in keys and f"b/sweep/{TRIALS_FILE}" not in keys
    with pytest.raises(ExportError, match="not found"):
        read_tables(uri)  # without trials.parquet the export reads as not done


def test_load_best_model_from_a_uri_equals_the_local_checkpoint(s3, tmp_path: Path) -> None:
    import numpy as np

    import analysis

    fixture = REPO_ROOT / "tests" / "fixtures" / "pre_move_experiment"
    if not fixture.is_dir():
        pytest.skip("needs tests/fixtures/pre_move_experiment (a real Ray 2.60 experiment)")
    local = tmp_path / "pre-move"
    shutil.copytree(fixture, local)
    uri = s3.upload_tree(local, "models")
    export_experiment(uri)
    export_experiment(local)
    remote_row = read_tables(uri).trials.nlargest(1, "best_val_accuracy").iloc[0]
    local_row = read_tables(local).trials.nlargest(1, "best_val_accuracy").iloc[0]
    assert remote_row["best_checkpoint"].startswith("s3://") and remote_row["trial_id"] == local_row["trial_id"]
    inputs = np.linspace(0, 1, 2 * 64, dtype="float32").reshape(2, 8, 8, 1)
    remote_model, local_model = analysis.load_best_model(remote_row), analysis.load_best_model(local_row)
    np.testing.assert_allclose(remote_model.predict(inputs, verbose=0), local_model.predict(inputs, verbose=0))
    by_uri = analysis.load_best_model(remote_row["best_checkpoint"])  # the checkpoint's URI itself
    np.testing.assert_allclose(by_uri.predict(inputs, verbose=0), local_model.predict(inputs, verbose=0))
