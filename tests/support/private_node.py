"""A Ray worker node that shares no disk with the rest: two machines, on one.

`private_node(cluster, storage, ...)` joins a `support.cluster.RayCluster` (whose head runs on
127.0.0.1) with a node started in its own mount namespace (`unshare --mount --propagation
private`), where a fresh tmpfs is mounted over the storage folder and over the node's own Ray
temp dir. To that node (its raylet, and every trial worker it forks) the storage folder is an
empty disk of its own: a local `--storage-path` is really not shared, as between two machines,
while the network (the head on 127.0.0.1, an S3 server on loopback) is the same.

It composes with RayCluster instead of changing it: the node is started with `ray start` in a
process group of its own and stopped by killing that group and everything its members forked
(`support.cluster.kill_process_groups`). The namespace and its tmpfs mounts vanish with their
last process.

`without_project=True` makes it a node that cannot import the project, as a machine where only
Ray and the dependencies are installed: a tmpfs also covers every checkout the project's packages
are found in (this repository, and the folder an editable install maps them to), the node starts
from `/` with no PYTHONPATH, and before `ray start` the namespace checks that `import trainables`
fails there (the node does not start otherwise: a test on it would prove nothing).
`private_mounts_unavailable()` says why not, where unshare or mount is refused
(not root, a container without CAP_SYS_ADMIN): the caller skips with that reason.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from support.cluster import RayCluster, free_ports, kill_process_groups

_NODE_PORTS = (  # every port a worker node opens, chosen free (Ray's defaults are fixed numbers)
    "--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port",
)
_TIMEOUT_S = 180
_ATTEMPTS = 3
_GCS_DEADLINE = "Deadline Exceeded"  # ray start: "Failed to get node info: RPC error: Deadline Exceeded"
_PACKAGES = ("trainables", "sweeps", "analysis")


def project_checkouts() -> set[Path]:
    """The folders holding the project's packages for this process (cwd or PYTHONPATH) and for a
    process started from / without PYTHONPATH (an install, e.g. an editable one mapping elsewhere)."""
    from support import REPO_ROOT

    code = ("import importlib.util as u\n"
            f"for name in {_PACKAGES!r}:\n"
            "    spec = u.find_spec(name)\n"
            "    print(list(spec.submodule_search_locations)[0] if spec else '')")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/", env=env,
                           check=True).stdout.split()
    return {REPO_ROOT, *(Path(folder).parent for folder in found if folder)}


def private_mounts_unavailable() -> str | None:
    """None when this process may make a mount namespace with a tmpfs in it; else why not."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "needs util-linux's unshare and mount"
    probe = tempfile.mkdtemp(prefix="pn-probe", dir="/tmp")
    try:
        script = f"mount -t tmpfs -o size=1m actsweep-probe {shlex.quote(probe)} && touch {shlex.quote(probe)}/x"
        completed = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                   capture_output=True, text=True, timeout=30)
        if completed.returncode != 0:
            return (f"cannot make a private mount namespace with a tmpfs here (needs root or CAP_SYS_ADMIN): "
                    f"{(completed.stderr or completed.stdout).strip().splitlines()[-1:]}")
        if os.listdir(probe):
            return "a tmpfs mounted in a new mount namespace showed through to this one"
        return None
    finally:
        shutil.rmtree(probe, ignore_errors=True)


@dataclass(frozen=True)
class PrivateNode:
    node_id: str  # hex, as the tables' node_id column and Ray's dashboard show it
    temp_dir: Path  # the node's Ray temp dir (a tmpfs inside its namespace; empty from outside)


@contextmanager
def private_node(cluster: RayCluster, storage: Path | None, num_cpus: int, without_project: bool = False
                 ) -> Iterator[PrivateNode]:
    """A worker node of `cluster` that sees its own empty tmpfs at `storage` (None: the same disk as
    the head), and with `without_project` no checkout of the project; stopped on exit."""
    assert cluster.address, "start the head first"
    hidden = [storage] if storage is not None else []
    if without_project:
        hidden += sorted(project_checkouts())
    for folder in hidden:
        folder.mkdir(parents=True, exist_ok=True)
    env = dict(cluster.env)
    if without_project:
        env.pop("PYTHONPATH", None)
    temp_dir = Path(tempfile.mkdtemp(prefix="pn", dir="/tmp"))  # short: Unix socket paths
    control = Path(tempfile.mkdtemp(prefix="pn-control", dir="/tmp"))  # outside the tmpfs: readable here
    start = ["ray", "start", "--address", cluster.address, "--node-ip-address", "127.0.0.1",
             "--num-cpus", str(num_cpus), "--num-gpus", "0", "--disable-usage-stats", "--temp-dir", str(temp_dir)]
    for flag, port in zip(_NODE_PORTS, free_ports(len(_NODE_PORTS))):
        start += [flag, str(port)]
    # Inside the namespace: the mounts, the node, and its node id (from its raylet's log) where the
    # caller can read it. `ray start` returns once the node is up; its daemons keep the namespace.
    cannot_import = (f"! {shlex.quote(sys.executable)} -c 'import trainables' 2>/dev/null"
                     " || { echo 'the project is still importable on the node'; exit 3; }")
    script = "\n".join([
        "set -e",
        *(f"mount -t tmpfs -o size=64m actsweep-private-folder {shlex.quote(str(folder))}" for folder in hidden),
        f"mount -t tmpfs -o size=2g actsweep-private-ray {shlex.quote(str(temp_dir))}",
        "cd /",
        *([cannot_import] if without_project else []),
        shlex.join(start),
        f"grep -ho 'Setting node ID node_id=[0-9a-f]*' {shlex.quote(str(temp_dir))}/session_latest/logs/raylet.out"
        f" | head -n 1 | cut -d= -f2 > {shlex.quote(str(control / 'node_id'))}",
    ])
    starters: list[int] = []
    try:
        for attempt in range(1, _ATTEMPTS + 1):
            starter = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                       env=env, start_new_session=True, text=True, cwd="/",
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            starters.append(starter.pid)
            output, _ = starter.communicate(timeout=_TIMEOUT_S)
            node_id = (control / "node_id").read_text().strip() if (control / "node_id").exists() else ""
            if starter.returncode == 0 and node_id:
                break
            if _GCS_DEADLINE not in output or attempt == _ATTEMPTS:
                raise RuntimeError(f"the private node did not start (exit {starter.returncode}):\n{output[-3000:]}")
            # `ray start` waits a fixed 30 s for the head's GCS to list the node, which a CPU-bound
            # machine can miss: that node is stopped (its namespace and tmpfs go with it) and started anew.
            kill_process_groups([starter.pid])
        yield PrivateNode(node_id=node_id, temp_dir=temp_dir)
    finally:
        kill_process_groups(starters)  # its daemons kept the group; their workers are found by parent
        shutil.rmtree(control, ignore_errors=True)
        shutil.rmtree(temp_dir, ignore_errors=True)  # empty here: what the node wrote lived in its tmpfs
