"""Before any trial starts: does every node of the cluster see the local --storage-path?

Since Ray 2.7, Tune does not copy trial folders to the head: each trial writes its checkpoints
and results where `--storage-path` points *on the node it runs on*, and the driver reads them
back (to resume, to export) where it points on the driver's node. A path that is not one shared
file system on every node scatters the experiment over the nodes' disks, and the sweep learns it
deep in a trial, or never. Ray's own check (a marker the driver writes and then reads, in
`StorageContext`) runs on the driver only, so it cannot tell.

So when the sweep runs on more than one alive node with a local storage path, the driver writes
a marker file with a random token under the path and runs one tiny task on each alive node
(`NodeAffinitySchedulingStrategy`, no CPU, no retry) that reads it back. Any node that does not
see the token, or does not answer in `TIMEOUT_S`, stops the run with one line naming those
nodes and what to use instead. The marker is removed whatever happens; nothing else is written.
Object storage (`s3://`, `gs://`) is one place for every node by construction: not checked here
(the write probe before Ray starts, in `sweeps.engine.locations`, covers it).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from analysis.store import storage
from sweeps.engine.errors import UsageError

log = logging.getLogger(__name__)

MARKER_PREFIX = ".actsweep-shared-storage-"
# A node answers once a worker process started on it; on a loaded machine that took seconds.
TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Node:
    node_id: str  # hex, as in Ray's dashboard and the tables' node_id column
    address: str  # the node's IP

    def __str__(self) -> str:
        return f"{self.address} (node {self.node_id})"


def alive_nodes() -> list[Node]:
    """The cluster's alive nodes, from the connected driver."""
    return sorted((Node(node["NodeID"], node.get("NodeManagerAddress", "?")) for node in ray.nodes()
                   if node.get("Alive")), key=lambda node: (node.address, node.node_id))


def sees_marker(path: str, token: str) -> bool:
    """Run on a node: the marker is there and holds the driver's token (not a stale copy)."""
    try:
        with open(path, encoding="utf-8") as marker:
            return marker.read() == token
    except OSError:
        return False


def ask_nodes(nodes: list[Node], path: str, token: str, timeout: float = TIMEOUT_S) -> dict[Node, bool | None]:
    """Node -> whether it sees the marker; None when it did not answer in time (or its task failed)."""
    probe = ray.remote(num_cpus=0, max_retries=0)(sees_marker)
    refs = {node: probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
                                name="actsweep-shared-storage-check").remote(path, token)
            for node in nodes}
    ready, pending = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout)
    for ref in pending:
        ray.cancel(ref, force=True)
    answers: dict[Node, bool | None] = {}
    for node, ref in refs.items():
        if ref not in ready:
            answers[node] = None
            continue
        try:
            answers[node] = bool(ray.get(ref))
        except ray.exceptions.RayError as error:
            log.warning("the storage check on %s failed: %s", node, str(error).splitlines()[0])
            answers[node] = None
    return answers


def check_shared_storage(storage_path: str, timeout: float = TIMEOUT_S) -> None:
    """Raise UsageError (one line) when a node of a multi-node cluster does not see the local
    storage path as the driver does; nothing for object storage or a single node."""
    if storage.is_remote(storage_path):
        return
    nodes = alive_nodes()
    if len(nodes) < 2:
        return
    token = secrets.token_hex(16)
    marker = Path(storage_path) / f"{MARKER_PREFIX}{token}"
    marker.write_text(token, encoding="utf-8")  # the folder exists: preflight wrote a probe into it
    try:
        answers = ask_nodes(nodes, str(marker), token, timeout)
    finally:
        marker.unlink(missing_ok=True)
    blind = [node for node, sees in answers.items() if sees is False]
    silent = [node for node, sees in answers.items() if sees is None]
    if not blind and not silent:
        log.info("all %d nodes see %s", len(nodes), storage_path)
        return
    problems = []
    if blind:
        problems.append(f"{_count(blind, len(nodes))} {'does' if len(blind) == 1 else 'do'} not see what the "
                        f"driver writes there: {', '.join(map(str, blind))}")
    if silent:
        problems.append(f"{_count(silent, len(nodes))} did not answer within {timeout:g} s: "
                        f"{', '.join(map(str, silent))}")
    raise UsageError(
        f"--storage-path {storage_path} is a local path, and {'; '.join(problems)}; trials there would write "
        f"their results to their own disk. Use a shared file system mounted at {storage_path} on every node, "
        "or object storage: --storage-path s3://BUCKET/PREFIX with credentials in every node's environment "
        "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY; AWS_ENDPOINT_URL for an S3-compatible server; docs/clusters.md)")


def _count(nodes: list[Node], total: int) -> str:
    return f"{len(nodes)} of the {total} nodes"


__all__ = ["MARKER_PREFIX", "TIMEOUT_S", "Node", "alive_nodes", "ask_nodes", "check_shared_storage", "sees_marker"]
