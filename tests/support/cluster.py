"""A private Ray cluster of `ray start` nodes on this machine, for the cluster tests.

Ray supports several nodes on one host for testing. Each cluster here is isolated from
any other Ray instance on the machine (other test runs, a user's own cluster):

- its own temp dir (short: Unix socket paths are limited to ~107 characters), so its
  address file is not the machine's `/tmp/ray/ray_current_cluster` that a plain
  `ray.init()` would find and join;
- its own auth token (RAY_AUTH_TOKEN_PATH) rather than the shared ~/.ray/auth_token;
- every port chosen free, not Ray's fixed defaults (10001, 52365, 8265, ...);
- stopped by killing only the processes it started (`ray stop` would stop every
  Ray instance on the machine): each `ray start` runs in its own process group, and
  the workers its raylet forked are found through their parent.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_HEAD_PORTS = ("--port", "--ray-client-server-port", "--dashboard-port")
_NODE_PORTS = (
    "--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port",
)


def free_port() -> int:
    """A TCP port nothing listens on now (the OS picks it)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports nothing listens on now. Every probe stays bound until all are
    picked: one probe at a time, the OS may hand the port it just got back twice in a row (seen in
    a fresh network namespace: `ray start` refused metrics and runtime-env agents on one port)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc (no psutil in the environment)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _group_members(group: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == group:
                    members.append(int(entry.name))
            except ProcessLookupError:
                continue
    return members


def _descendants(roots: list[int]) -> set[int]:
    children, found, stack = _children(), set(), list(roots)
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(children.get(pid, []))
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its (re-)parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_process_groups(groups: list[int], timeout: float = 30) -> None:
    """SIGKILL these process groups and every process their members forked, as a crash would,
    and wait until all are gone. Ray's workers run in sessions of their own, so `killpg` alone
    leaves them running (and writing into the experiment) for seconds after their raylet died."""
    members = [pid for group in groups for pid in _group_members(group)]
    doomed = _descendants(members) - {os.getpid()}
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in doomed):
        time.sleep(0.2)


class RayCluster:
    """Nodes started with `ray start` under one private temp dir; `stop()` ends them all."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))
        token = self.root / "auth_token"
        token.write_text(uuid.uuid4().hex)
        self.env = {
            **os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(token),
        }
        self.env.pop("RAY_ADDRESS", None)
        self.address: str | None = None
        self.dashboard_url: str | None = None  # with start_head(dashboard=True)
        self._groups: list[int] = []  # one process group per `ray start`

    @property
    def token(self) -> str:
        """The cluster's auth token (what `ray get-auth-token` prints on its head)."""
        return (self.root / "auth_token").read_text().strip()

    def start_head(self, num_cpus: int, num_gpus: int = 0, dashboard: bool = False) -> str:
        """The head; with `dashboard`, Ray's dashboard on 127.0.0.1 at a free port (`dashboard_url`)."""
        ports = dict(zip(_HEAD_PORTS, free_ports(len(_HEAD_PORTS))))
        self.address = f"127.0.0.1:{ports['--port']}"
        role = ["--head", "--temp-dir", str(self.root)]
        role += ["--include-dashboard", "true", "--dashboard-host", "127.0.0.1"] if dashboard else \
            ["--include-dashboard", "false"]
        self._ray_start(role, ports, num_cpus, num_gpus)
        if dashboard:
            self.dashboard_url = f"http://127.0.0.1:{ports['--dashboard-port']}"
        return self.address

    def add_node(self, num_cpus: int, num_gpus: int = 0) -> None:
        assert self.address, "start_head first"
        self._ray_start(["--address", self.address], {}, num_cpus, num_gpus)

    def _ray_start(self, role: list[str], ports: dict[str, int], num_cpus: int, num_gpus: int) -> None:
        chosen = free_ports(len(ports) + len(_NODE_PORTS))  # distinct from each other and from the head's
        ports = {**ports, **dict(zip(_NODE_PORTS, (port for port in chosen if port not in ports.values())))}
        command = ["ray", "start", *role, "--node-ip-address", "127.0.0.1", "--num-cpus", str(num_cpus),
                   "--num-gpus", str(num_gpus), "--disable-usage-stats"]
        for flag, port in ports.items():
            command += [flag, str(port)]
        starter = subprocess.Popen(command, env=self.env, start_new_session=True, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._groups.append(starter.pid)  # the daemons it leaves behind keep this group
        output, _ = starter.communicate(timeout=180)
        if starter.returncode != 0:
            raise RuntimeError(f"`{' '.join(command)}` failed:\n{output[-3000:]}")

    def stop(self) -> None:
        """Kill this cluster's processes only: its daemons' groups and every process they forked."""
        kill_process_groups(self._groups)
        self._groups.clear()
        shutil.rmtree(self.root, ignore_errors=True)  # sessions, logs, sockets, the token

    def __enter__(self) -> "RayCluster":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def sweep_command(repo_root: str, script: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(repo_root) / "sweeps" / script), *args]


@dataclass
class Driver:
    """A sweep driver started by a test: its process (a session of its own, so its pid is its
    process group) and its output in files (a pipe nobody reads could block a chatty driver)."""

    process: subprocess.Popen
    out_path: Path
    err_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait(self, timeout: float = 600) -> int:
        return self.process.wait(timeout=timeout)

    def end(self) -> None:
        """After a test: a driver still running is killed with its Ray and trial workers, by pid."""
        if self.process.poll() is None:
            kill_process_groups([self.process.pid])
            self.process.wait()


def start_sweep(repo_root: str, script: str, *args: str, logs: Path, env: dict[str, str] | None = None) -> Driver:
    """Start a sweep script as a user would, its stdout and stderr going to files under `logs`."""
    logs.mkdir(parents=True, exist_ok=True)
    number = len(list(logs.glob("*.out")))
    out_path, err_path = logs / f"driver{number}.out", logs / f"driver{number}.err"
    with open(out_path, "w") as out, open(err_path, "w") as err:
        process = subprocess.Popen(sweep_command(repo_root, script, *args), start_new_session=True, text=True,
                                   stdout=out, stderr=err, env=env)
    return Driver(process, out_path, err_path)


def wait_until(condition, driver: Driver | None = None, timeout: float = 300, what: str = "") -> None:
    """Poll `condition` until it holds; fail at once if `driver` ended first (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if driver is not None and driver.process.poll() is not None:
            raise AssertionError(f"the sweep ended (exit {driver.process.returncode}) before {what}:\n"
                                 f"{driver.stdout()[-2000:]}\n{driver.stderr()[-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@contextlib.contextmanager
def frozen(pid: int):
    """SIGSTOP a process (a trial worker) for the block, SIGCONT after: whatever it was doing, it
    is still doing when the block ends, so a test needs no timing to act mid-trial."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield pid
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def first_worker_pid(experiment: Path) -> int | None:
    """The pid of the worker that reported the first result row of the experiment, once there is one."""
    for trial in trial_dirs(experiment):
        rows = result_rows(trial)
        if rows:
            return int(rows[0]["pid"])
    return None


def run_sweep(repo_root: str, script: str, *args: str, env: dict[str, str] | None = None,
              timeout: int = 480) -> str:
    """Run a sweep script as a user would; its output, after checking it exited 0."""
    result = subprocess.run(sweep_command(repo_root, script, *args), capture_output=True, text=True,
                            timeout=timeout, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    return output


def result_rows(trial_dir: Path) -> list[dict]:
    """What Tune wrote for one trial, one dict per report (none before the first; a last line
    Tune is still writing is left out)."""
    path = trial_dir / "result.json"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def trial_dirs(experiment: Path) -> list[Path]:
    return sorted(path.parent for path in experiment.glob("*/params.json"))


def tune_trial_states(experiment: Path) -> dict[str, dict]:
    """Trial id -> Tune's own record of it (status, num_failures), from its experiment state."""
    states = sorted(experiment.glob("experiment_state-*.json"))
    state = json.loads(states[-1].read_text())
    trials = (json.loads(trial_json) for trial_json, _ in state["trial_data"])
    return {trial["trial_id"]: trial for trial in trials}
