"""Two nodes that share no disk: a local --storage-path is refused before any trial, object storage works.

The cluster is a head on 127.0.0.1 plus a worker node in a mount namespace of its own, with a
tmpfs over the storage folder and over its Ray temp dir (tests/support/private_node.py): to it,
the storage folder is another disk, as on a second machine. The sweep runs as a user runs it
(a subprocess joining by --address), against the loopback S3 server of tests/support/s3.py for
the object-storage half, its endpoint given only in the URI (`?endpoint_override=...`): no node
has it in its environment, so the trials on the other node reach the server only through the
filesystem Tune ships them (ray-project/ray#34489 lost it). One cluster and one S3 server for
the module.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from support.cluster import RayCluster, sweep_command
from support.private_node import private_mounts_unavailable, private_node

SCRIPT = "antirectifier_mnist.py"
# Two trials that each take a node's 2 CPUs: they start at once, one on each node.
TWO_TRIALS = ["--smoke", "--scheduler", "fifo", "--max-epochs", "2", "--cpus-per-trial", "2", "--set", "units=16",
              "--verbose", "0"]


@pytest.fixture(scope="module")
def two_disks(repo_root):
    """(cluster, private node, S3 server, the storage folder the private node cannot see)."""
    reason = private_mounts_unavailable()
    if reason:
        pytest.skip(f"two nodes without a shared disk need a private mount namespace: {reason}")
    pytest.importorskip("moto.server", reason="the S3 half needs moto's server: pip install 'moto[server]'")
    from support.s3 import s3_server

    base = Path(tempfile.mkdtemp(prefix="ss", dir="/tmp"))
    storage = base / "results"
    with s3_server(endpoint_in_environment=False) as s3, RayCluster() as cluster:  # its environment: the keys
        cluster.start_head(num_cpus=2)
        with private_node(cluster, storage, num_cpus=2) as node:
            yield cluster, node, s3, storage
    shutil.rmtree(base, ignore_errors=True)


def run(repo_root: str, cluster: RayCluster, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_command(repo_root, SCRIPT, *args, "--address", cluster.address),
                          capture_output=True, text=True, timeout=480, env=cluster.env)


@pytest.mark.slow
def test_a_local_storage_path_the_other_node_cannot_see_is_refused_before_any_trial(repo_root, two_disks):
    cluster, node, _, storage = two_disks
    completed = run(repo_root, cluster, *TWO_TRIALS, "--storage-path", str(storage), "--name", "local")
    assert completed.returncode == 2, completed.stdout[-3000:] + completed.stderr[-3000:]
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert errors == completed.stderr.strip().splitlines()[-1:] and "Traceback" not in completed.stderr
    (line,) = errors
    assert line.startswith(f"error: --storage-path {storage} is a local path, and 1 of the 2 nodes does not see")
    named = re.findall(r"node ([0-9a-f]{56})", line)
    assert named == [node.node_id], line  # the private node, and only it
    assert "shared file system" in line and "s3://" in line
    # Before any trial: the data was not even loaded, and nothing is left (no marker, no experiment).
    assert "loading" not in completed.stdout
    assert list(storage.iterdir()) == []


@pytest.mark.slow
def test_the_same_sweep_on_object_storage_runs_on_both_nodes_with_complete_tables(repo_root, two_disks):
    from analysis.store import storage as storage_module
    from analysis.store.export import read_tables

    cluster, node, s3, _ = two_disks
    uri = s3.query_uri("cluster")
    assert "AWS_ENDPOINT_URL" not in cluster.env and "AWS_ENDPOINT_URL_S3" not in cluster.env
    completed = run(repo_root, cluster, *TWO_TRIALS, "--storage-path", uri, "--name", "nodes")
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    tables = read_tables(storage_module.join(uri, "nodes"))
    trials = tables.trials
    assert len(trials) == 2 and set(trials["status"]) == {"terminated"}, trials[["trial_id", "status"]]
    assert trials["node_id"].nunique() == 2 and node.node_id in set(trials["node_id"]), list(trials["node_id"])
    counts = tables.epochs.groupby(["trial_id", "epoch"]).size()
    assert (counts == 1).all() and sorted(counts.index) == [(trial, epoch) for trial in sorted(trials["trial_id"])
                                                            for epoch in (1, 2)]
    assert set(tables.epochs["node_id"]) == set(trials["node_id"])
    # Each trial's folder and checkpoints are on S3, named without '=' or ',' (analysis.store.storage.trial_dirname).
    folders = {key.split("/")[2] for key in s3.keys("cluster/nodes/train_")}
    assert folders == set(trials["trial_dir"]) and not any("=" in name or "," in name for name in folders)
    assert all(path.startswith(f"s3://{s3.bucket}/cluster/nodes/train_") for path in trials["best_checkpoint"])


# ------------------------------------------------------------------ the check's decisions, without Ray


def test_one_node_or_object_storage_is_not_checked_and_nothing_is_written(tmp_path, monkeypatch):
    from sweeps.engine import shared_storage

    asked = []
    monkeypatch.setattr(shared_storage, "ask_nodes", lambda *args: asked.append(args) or {})
    monkeypatch.setattr(shared_storage, "alive_nodes", lambda: [shared_storage.Node("a" * 56, "10.0.0.1")])
    shared_storage.check_shared_storage(str(tmp_path))
    monkeypatch.setattr(shared_storage, "alive_nodes", lambda: pytest.fail("object storage needs no check"))
    shared_storage.check_shared_storage("s3://bucket/prefix")
    assert asked == [] and list(tmp_path.iterdir()) == []


def test_a_node_that_does_not_answer_is_named_and_the_marker_removed(tmp_path, monkeypatch):
    from sweeps.engine import shared_storage
    from sweeps.engine.errors import UsageError

    head, seeing, silent = (shared_storage.Node(letter * 56, f"10.0.0.{index}") for index, letter in
                            enumerate("abc", start=1))
    seen_markers = []

    def answers(nodes, path, token, timeout):
        seen_markers.append(shared_storage.sees_marker(path, token))  # the marker is there while asking
        return {head: True, seeing: True, silent: None}

    monkeypatch.setattr(shared_storage, "alive_nodes", lambda: [head, seeing, silent])
    monkeypatch.setattr(shared_storage, "ask_nodes", answers)
    with pytest.raises(UsageError) as raised:
        shared_storage.check_shared_storage(str(tmp_path), timeout=7)
    message = str(raised.value)
    assert "1 of the 3 nodes did not answer within 7 s: 10.0.0.3 (node " + "c" * 56 + ")" in message
    assert "a" * 56 not in message and "\n" not in message
    assert seen_markers == [True] and list(tmp_path.iterdir()) == []
