"""A whole experiment on object storage, through the real command line, against a loopback S3 server.

The protocol (a budget-fair ASHA search, then `--confirm`) runs with `--storage-path s3://...`,
fake keys in the environment and the endpoint only in the URI (`?endpoint_override=...`, which a
restore must keep: ray-project/ray#34489; the usage-error tests below set it in the environment,
as a MinIO user does; tests/support/s3.py).
The server stores aws-chunked uploads verbatim while the sweeps run, as servers that predate
trailing checksums do. Its driver is SIGKILLed mid-search with its Ray and trial workers, as a
crashed machine would leave it; `--resume` then finishes both stages. Every later test reads what
that left:

- every body the driver and the trial workers wrote is plain (no aws-chunked framing);
- the tables on S3 are complete, every (trial, epoch) once; the scheduler's per-arm state went
  to S3 and came back on resume;
- `python -m analysis.report URI --json` equals the report of the same experiment copied to a
  local folder and exported there; `analysis.load_best_model` loads from the URI;
- no secret from the environment in anything written: S3 objects (inside Parquet tables and
  zipped Keras models too), the local staging and temp folders (Ray's and Python's, pointed at a
  private folder for the run), the console.

The fast tests check the usage errors on object storage: a URI with a secret is refused before
Ray starts, a missing bucket or a name clash is one line.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from support import REPO_ROOT
from support.cluster import kill_process_groups

pytest.importorskip("moto.server", reason="the object-storage tests need moto's server: pip install 'moto[server]'")

from analysis.store import storage  # noqa: E402
from support.s3 import FAKE_KEY_ID, FAKE_SECRET, patched_environ, s3_server  # noqa: E402

SESSION_TOKEN = "actsweep-session-token-never-shown-0123456789"  # a third secret the environment holds
SECRETS = (FAKE_SECRET, SESSION_TOKEN)
SCRIPT = REPO_ROOT / "sweeps" / "antirectifier_mnist.py"
EPOCHS = 12  # a promoted trial runs for seconds after its rung was decided: time to see it and kill
# 2 arms (activation) x 2 widths: budget-fair ASHA keeps 1 of 2 per arm at epoch 1; the confirmation
# re-runs each arm's best once (K=1, N=1) to the full budget.
NAME = "s3-protocol"
PROTOCOL = ["--smoke", "--dataset", "synthetic-mnist", "--set", "units=[16,24]", "--max-epochs", str(EPOCHS),
            "--grace-period", "1", "--name", NAME, "--confirm", "1", "--confirm-repeats", "1"]


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server, patched_environ({"AWS_SESSION_TOKEN": SESSION_TOKEN}):
        yield server


# ------------------------------------------------------------------------------------- usage errors


@pytest.fixture()
def main(s3):
    """The sweep's entry point in this process (its usage errors happen before Ray starts)."""
    import ray

    from sweeps import antirectifier_mnist
    from sweeps.engine.runner import main as run_main

    def call(*argv: str) -> int:
        code = run_main(antirectifier_mnist.SWEEP, ["--smoke", *argv])
        assert not ray.is_initialized()
        return code

    return call


def test_a_uri_with_a_secret_is_refused_in_one_line_before_anything_starts(tmp_path):
    """The dry run used to print this URI as given; a real run is refused the same way (next test)."""
    command = [sys.executable, str(SCRIPT), "--smoke", "--storage-path", "s3://AKIAX:topsecret@bucket/x", "--dry-run"]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.splitlines() == [
        "error: --storage-path s3://***@bucket/x embeds credentials (user info (KEY:SECRET@)); give them "
        "through the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; "
        "GOOGLE_APPLICATION_CREDENTIALS) or the filesystem's own configuration, never in the path"]
    assert "topsecret" not in completed.stdout + completed.stderr and completed.stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("uri", ["s3://AKIAX:topsecret@bucket/x", "s3://bucket/x?secret_key=topsecret",
                                 "s3://bucket/x?session_token=topsecret", "gs://bucket/x?access_token=topsecret",
                                 "s3://topsecret@bucket/x",
                                 "abfss://container:topsecret@account.dfs.core.windows.net/x",
                                 "abfss://container@account.dfs.core.windows.net/x?account_key=topsecret",
                                 "wasbs://container@account.blob.core.windows.net/x?sig=topsecret"])
def test_every_way_of_embedding_a_secret_is_refused(main, uri, capsys):
    assert main("--storage-path", uri) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: --storage-path ") and captured.err.count("\n") == 1
    assert "topsecret" not in captured.out + captured.err


def test_an_azure_container_in_user_info_is_no_secret():
    """abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/... is how Azure names a place; only a ':' there
    (a password) is refused. In S3 and GCS URIs any user info is a key, refused above."""
    uri = "abfss://runs@lab.dfs.core.windows.net/actsweep"
    assert storage.normalize(uri) == uri and storage.redact(uri) == uri
    assert storage.join(uri, "exp") == f"{uri}/exp" and storage.parent(f"{uri}/exp") == uri
    location = storage.locate(f"{uri}/exp")  # pyarrow's Azure filesystem; nothing is reached yet
    assert location.path == "runs/actsweep/exp" and type(location.filesystem).__name__ == "AzureFileSystem"
    assert storage.redact("abfss://runs:pw@lab.dfs.core.windows.net/x") == "abfss://***@lab.dfs.core.windows.net/x"


def test_a_missing_bucket_is_one_line_and_creates_nothing(main, s3, capsys):
    assert main("--storage-path", "s3://no-such-bucket/actsweep", "--name", "x") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --storage-path s3://no-such-bucket/actsweep is not usable: ") and err.count("\n") == 1
    assert "bucket does not exist" in err and FAKE_SECRET not in err
    assert [bucket["Name"] for bucket in s3.client().list_buckets()["Buckets"]] == [s3.bucket]


@pytest.mark.slow  # pyarrow's S3 client retries for about 6 s before it gives up
def test_an_endpoint_where_nothing_answers_is_one_line(main, capsys):
    from support.cluster import free_port

    with patched_environ({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}):
        assert main("--storage-path", "s3://bucket/actsweep", "--name", "x") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach s3://bucket/actsweep/x: ") and err.count("\n") == 1, err
    assert "Could not connect" in err


def test_an_existing_experiment_on_s3_is_refused_and_kept(main, s3, capsys):
    s3.client().put_object(Bucket=s3.bucket, Key="taken/x/tuner.pkl", Body=b"x")
    assert main("--storage-path", s3.uri("taken"), "--name", "x") == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: experiment 'x' already exists under {s3.uri('taken')}: pass --resume, or another --name"]
    assert main("--storage-path", s3.uri("taken"), "--name", "y", "--resume") == 2
    assert "nothing to resume: no experiment 'y'" in capsys.readouterr().err
    assert s3.keys("taken/") == ["taken/x/tuner.pkl"]


def test_a_dry_run_does_not_reach_object_storage(main, capsys):
    # Nothing answers at this endpoint: a dry run that tried would fail, or wait.
    with patched_environ({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}):
        assert main("--storage-path", "s3://bucket/actsweep", "--name", "d", "--dry-run", "--confirm", "1") == 0
    out = capsys.readouterr().out
    assert "would create s3://bucket/actsweep/d" in out and "s3://bucket/actsweep/d-confirm" in out
    assert "not read by a dry run" in out


# ------------------------------------------------- a server that predates trailing checksums

def _roundtrip(uri: str, body: bytes) -> bytes:
    location = storage.locate(uri)
    location.write_bytes_atomically(body)
    return location.read_bytes()


def test_a_server_that_predates_trailing_checksums_gets_plain_bodies_when_an_endpoint_is_given(s3):
    """The SDK's default (trailing CRC64, aws-chunked) stores the framing on such a server; the
    setting the store applies for an endpoint stores the body itself (analysis.store.storage)."""
    body = b'{"a": 1}'
    with s3.without_trailing_checksums():
        with patched_environ({storage.CHECKSUM_VARIABLE: "when_supported"}):  # the SDK's default, spelled out
            framed = _roundtrip(s3.uri("quirk", "sdk-default.json"), body)
        assert framed.startswith(b"8\r\n" + body + b"\r\n0\r\nx-amz-checksum-crc64nvme:"), framed
        assert "aws-chunked framing" in storage.round_trip_problem(body, framed)
        with patched_environ({storage.CHECKSUM_VARIABLE: None}):
            assert _roundtrip(s3.uri("quirk", "endpoint.json"), body) == body
            assert os.environ[storage.CHECKSUM_VARIABLE] == "when_required"
            assert storage.s3_settings(s3.uri("x")) == {storage.CHECKSUM_VARIABLE: "when_required"}
            assert storage.s3_settings(s3.query_uri("x")) == {storage.CHECKSUM_VARIABLE: "when_required"}
    with patched_environ({storage.CHECKSUM_VARIABLE: None, "AWS_ENDPOINT_URL": None}):
        assert storage.s3_settings("s3://bucket/x") == {}  # AWS itself: the SDK's default, checksums and all
        assert storage.s3_settings("/data/results") == {}
        assert storage.CHECKSUM_VARIABLE not in os.environ


def test_a_sweep_told_to_send_trailing_checksums_to_such_a_server_stops_in_one_true_line(main, s3, capsys):
    with s3.without_trailing_checksums(), patched_environ({storage.CHECKSUM_VARIABLE: "when_supported"}):
        assert main("--storage-path", s3.uri("quirk-refused"), "--name", "x") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: --storage-path {s3.uri('quirk-refused')} is not usable: "
                                                   "the server stored the upload's aws-chunked framing"), err
    assert "AWS_REQUEST_CHECKSUM_CALCULATION=when_required" in err and "'when_supported'" in err
    assert "another driver" not in err
    assert s3.keys("quirk-refused") == ["quirk-refused/"]  # the probe deleted, no experiment (docs/clusters.md)


def test_trackers_keep_local_files_local_when_the_experiments_are_on_object_storage(monkeypatch):
    from sweeps.engine import locations
    from sweeps.engine.trackers import mlflow_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert mlflow_uri(None, "s3://bucket/actsweep") == f"sqlite:///{locations.LOCAL_FALLBACK}/mlflow.db"
    assert mlflow_uri(None, "/data/results") == "sqlite:////data/results/mlflow.db"
    assert locations.trial_dirname_creator("s3://bucket/x", None) is storage.trial_dirname
    chosen = object()
    assert locations.trial_dirname_creator("/data/results", chosen) is chosen  # Tune's (or Optuna's) names on disks


# ------------------------------------------------------------------- the protocol, killed and resumed


def _decided_and_checkpointed(experiment: str) -> bool:
    """A rung was decided and a trial it stopped has ended (fair_asha.json on S3 says so), and Tune's
    saved state names a checkpoint of a trial still running: the moment to kill, so that the resume
    has both finished and unfinished trials."""
    from trainables.recovery import recorded_checkpoints

    try:
        state = json.loads(storage.read_text(storage.join(experiment, "fair_asha.json")))
        if not any(state["decisions"].values()) or not any(record["ended"] for record in state["trials"].values()):
            return False
        return bool(recorded_checkpoints(*storage.ray_storage(experiment)))
    except (OSError, ValueError, KeyError):  # not written yet, or being replaced
        return False


@pytest.fixture(scope="module")
def protocol(s3):
    """The protocol on S3: killed mid-search, resumed. Returns what the tests read. The server stores
    aws-chunked uploads verbatim while the sweeps run (a server that predates trailing checksums):
    the setting the store applies for an endpoint reaches the driver and every trial worker."""
    work = Path(tempfile.mkdtemp(prefix="os", dir="/tmp"))  # short: Ray's socket paths live under it
    (work / "t").mkdir()
    env = {**os.environ, "RAY_TMPDIR": str(work / "r"), "TMPDIR": str(work / "t")}  # everything local, here
    for variable in ("RAY_ADDRESS", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        env.pop(variable, None)
    uri = s3.query_uri("actsweep")  # the endpoint only here: a restore must keep it (ray-project/ray#34489)
    search, confirmation = storage.join(uri, NAME), storage.join(uri, f"{NAME}-confirm")
    command = [sys.executable, str(SCRIPT), *PROTOCOL, "--storage-path", uri]
    try:
        with s3.without_trailing_checksums(), open(work / "killed.log", "w") as log:
            driver = subprocess.Popen(command, start_new_session=True, stdout=log, stderr=subprocess.STDOUT, env=env,
                                      cwd=work)
            try:
                deadline = time.monotonic() + 400
                while time.monotonic() < deadline and driver.poll() is None and not _decided_and_checkpointed(search):
                    time.sleep(0.5)  # each look reads Tune's state from S3: CPU the sweep needs
                running = driver.poll() is None
            finally:
                kill_process_groups([driver.pid])  # the driver, its Ray, the trial workers
                driver.wait()
        assert running, "the search ended before a rung was decided and a promoted trial checkpointed:\n" + (
            (work / "killed.log").read_text()[-3000:])
        before = json.loads(storage.read_text(storage.join(search, "fair_asha.json")))
        killed_keys = s3.keys("actsweep/")
        with s3.without_trailing_checksums():
            resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600, env=env,
                                     cwd=work)
        assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
        yield {"uri": uri, "search": search, "confirmation": confirmation, "work": work, "before": before,
               "killed_keys": killed_keys, "resumed": resumed.stdout,
               "console": (work / "killed.log").read_text() + resumed.stdout + resumed.stderr}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _told(protocol: dict, search) -> str:
    """What a failure of the protocol needs to be understood: each trial's row, the scheduler's record
    at the kill and after the resume, and the end of both runs' console."""
    after = storage.read_text(storage.join(protocol["search"], "fair_asha.json"))
    rows = search.trials[["trial_id", "arm", "status", "epochs_completed", "trial_dir"]].to_string()
    return (f"{rows}\nscheduler at the kill: {json.dumps(protocol['before'])}\nafter the resume: {after}\n"
            f"console: {protocol['console'][-6000:]}")


@pytest.mark.slow
def test_resume_after_a_killed_driver_finishes_the_search_and_the_confirmation(protocol, s3):
    from analysis.store.export import read_tables

    assert f"actsweep/{NAME}/fair_asha.json" in protocol["killed_keys"]  # no confirmation yet: mid-search
    assert not any(key.startswith(f"actsweep/{NAME}-confirm/") for key in protocol["killed_keys"])
    assert f"] {NAME}: " in protocol["resumed"] and f"] {NAME}-confirm: " in protocol["resumed"]
    assert "verdict (last_test_accuracy" in protocol["resumed"]
    assert f"report: python -m analysis.report {shlex.quote(protocol['confirmation'])}" in protocol["resumed"]

    search = read_tables(protocol["search"])
    by_arm = search.trials.groupby("arm")["status"].apply(sorted).to_dict()
    assert by_arm == {"activation=antirectifier": ["stopped_early", "terminated"],
                      "activation=relu": ["stopped_early", "terminated"]}, _told(protocol, search)  # 1 of 2 per arm
    finished = search.trials[search.trials["status"] == "terminated"]
    assert (finished["epochs_completed"] == EPOCHS).all()
    confirmation = read_tables(protocol["confirmation"])
    assert confirmation.trials.groupby("confirm_arm").size().to_dict() == {
        "activation=antirectifier": 1, "activation=relu": 1}
    assert (confirmation.trials["status"] == "terminated").all()
    assert (confirmation.trials["epochs_completed"] == EPOCHS).all()
    for tables in (search, confirmation):  # every (trial, epoch) exactly once, none missing
        counts = tables.epochs.groupby(["trial_id", "epoch"]).size()
        assert (counts == 1).all(), counts[counts > 1]
        reached = tables.trials.set_index("trial_id")["epochs_completed"]
        for trial_id, group in tables.epochs.groupby("trial_id"):
            assert sorted(group["epoch"]) == list(range(1, reached[trial_id] + 1)), trial_id
        prefix = storage.name(protocol["search"] if tables is search else protocol["confirmation"])
        folders = {key.split("/")[2] for key in s3.keys(f"actsweep/{prefix}/train_")}
        assert folders == set(tables.trials["trial_dir"])  # trials.parquet lists every trial on S3


@pytest.mark.slow
def test_every_body_the_sweeps_wrote_is_plain_on_a_server_that_keeps_aws_chunked_framing(protocol, s3):
    """The driver (its lease, Tune's state, the tables) and every trial worker (checkpoints, results)
    wrote plain bodies: the checksum setting reached the trials through their runtime env."""
    client = s3.client()
    results = [key for key in s3.keys("actsweep/") if key.endswith("/result.json")]
    assert results
    for key in results:  # written by the trial workers
        lines = client.get_object(Bucket=s3.bucket, Key=key)["Body"].read().decode().splitlines()
        assert lines and all(json.loads(line)["epoch"] >= 1 for line in lines), key  # JSON lines, no framing
    state = json.loads(storage.read_text(storage.join(protocol["search"], "fair_asha.json")))
    assert state["trials"]
    assert not any(key.endswith("driver.lease.json") for key in s3.keys("actsweep/")), "the lease was released"


@pytest.mark.slow
def test_the_budget_fair_state_went_to_s3_and_came_back_on_resume(protocol):
    """What the killed run had recorded (fair_asha.json on S3 at the kill) is still there after the
    resume: a scheduler that started afresh would have no rung value for the trials it had stopped
    before the kill (they never report again), nor their decisions."""
    before = protocol["before"]
    after = json.loads(storage.read_text(storage.join(protocol["search"], "fair_asha.json")))
    stopped_before = [trial_id for trial_id, record in before["trials"].items() if record["ended"]]
    assert stopped_before, "no trial had ended at the kill"
    for trial_id, record in before["trials"].items():
        assert after["trials"][trial_id]["values"].items() >= record["values"].items(), trial_id
    for arm, rungs in before["decisions"].items():
        assert after["decisions"][arm].items() >= rungs.items(), arm


@pytest.mark.slow
def test_the_report_from_the_uri_equals_the_report_of_a_local_copy(protocol, tmp_path):
    from analysis.store.export import export_experiment

    for experiment in (protocol["search"], protocol["confirmation"]):
        local = storage.copy_to_local(experiment, tmp_path)
        export_experiment(local)  # exported again, from the local copy
        reports = [subprocess.run([sys.executable, "-m", "analysis.report", str(source), "--json"], capture_output=True,
                                  text=True, timeout=300, cwd=REPO_ROOT) for source in (experiment, local)]
        assert [report.returncode for report in reports] == [0, 0], reports[0].stderr + reports[1].stderr
        remote_report, local_report = (json.loads(report.stdout) for report in reports)
        assert remote_report == local_report and remote_report["trials"]


@pytest.mark.slow
def test_load_best_model_loads_from_the_uri(protocol, tmp_path):
    import numpy as np

    import analysis
    from analysis.store.export import export_experiment, read_tables

    trials = read_tables(protocol["search"]).trials
    best = trials[trials["status"] == "terminated"].nlargest(1, "best_val_accuracy").iloc[0]
    trial_dir, checkpoint = storage.parent(best["best_checkpoint"]), best["best_checkpoint"]
    assert storage.parent(trial_dir) == protocol["search"] and checkpoint.startswith("s3://")
    local = storage.copy_to_local(protocol["search"], tmp_path)
    export_experiment(local)
    local_best = read_tables(local).trials.set_index("trial_id").loc[best["trial_id"]]
    assert Path(local_best["best_checkpoint"]).relative_to(local).as_posix() == (
        f"{storage.name(trial_dir)}/{storage.name(checkpoint)}")
    inputs = np.linspace(0, 1, 2 * 28 * 28, dtype="float32").reshape(2, 28, 28, 1)
    remote_model, local_model = analysis.load_best_model(best), analysis.load_best_model(local_best)
    np.testing.assert_allclose(remote_model.predict(inputs, verbose=0), local_model.predict(inputs, verbose=0))


def _texts(name: str, data: bytes) -> list[tuple[str, bytes]]:
    """The bytes to search in one file: itself, a zip's members (a Keras model), a Parquet table's values."""
    found = [(name, data)]
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                found += [(f"{name}:{member}", archive.read(member)) for member in archive.namelist()]
        except zipfile.BadZipFile:  # a model the killed run was writing: its bytes, as they are
            pass
    if data[:4] == b"PAR1":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        found.append((f"{name}:values", json.dumps(table.to_pylist(), default=str).encode()))
        found.append((f"{name}:schema", str(table.schema.metadata).encode() + ",".join(table.column_names).encode()))
    return found


@pytest.mark.slow
def test_no_secret_from_the_environment_in_anything_written(protocol, s3):
    client = s3.client()
    objects = {key: client.get_object(Bucket=s3.bucket, Key=key)["Body"].read() for key in s3.keys()}
    local = {str(path): path.read_bytes() for path in protocol["work"].rglob("*")
             if path.is_file() and not path.is_symlink()}
    assert any(key.endswith("/params.json") for key in objects) and any(key.endswith(".parquet") for key in objects)
    assert any("/artifacts/" in path for path in local)  # Tune's local staging folders were searched
    searched = [text for name, data in {**objects, **local}.items() for text in _texts(name, data)]
    searched.append(("console", protocol["console"].encode()))
    for secret in SECRETS:
        assert not [name for name, data in searched if secret.encode() in data], secret
    assert FAKE_KEY_ID.encode() not in b"".join(data for name, data in searched if name.endswith("params.json"))
    assert not (Path.home() / "ray_results" / NAME).exists()  # nothing staged in the default folder either
