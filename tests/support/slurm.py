"""A private, one-node Slurm for the recipe test: Debian's slurm-wlm and munge, in namespaces of its own.

`run_in_private_slurm(work, job)` writes a private configuration under `work` (a munge key and
socket, slurm.conf and gres.conf, state and spool folders, logs) and runs one bash script, `job`,
inside new PID, mount, network and UTS namespaces (`unshare`), after starting munged, slurmctld
and slurmd there. Inside:

- the network is a fresh loopback, with 10.77.0.1 on it and a default route through it, so a
  node's "address towards the outside" (what Ray picks, and the recipe's head address) is not
  127.0.0.1; nothing outside the namespace can reach the daemons or Ray, nor they it;
- the host name is `actsweep-node1`, the one node of partition `test`: 16 CPUs and 2 GPUs
  declared (`SlurmdParameters=config_overrides`; the GPUs are logical, `gres.conf` without
  device files), so `--cpus-per-task=16 --gpus-per-task=2` are granted on a 2-core machine;
- the PID namespace is what makes `ray symmetric-run` safe here: it refuses to start beside any
  Ray on the node and ends with a plain `ray stop`, which stops every Ray process it can see;
  in here it sees only the job's.

When `job` returns, the script stops the daemons by their pids; the namespace's first process
then exits, and the kernel ends every process left in the namespace: nothing of this Slurm or of
the job's Ray survives (`namespace_processes` lets the test check). Why one node: `ray
symmetric-run` decides which node is the head by comparing the head address with the node's
network interfaces, so two nodes in one network namespace would both start a head; two network
namespaces joined by a veth pair would tell them apart, but Debian's slurmd without
`--enable-multiple-slurmd` and a second UTS, PID and network namespace per node is a test of
namespaces more than of the recipe. One node runs every line of the recipe the same way.

`private_slurm_unavailable()` says why not, where the tools or namespaces are missing: the
caller skips with that reason (.ci/run installs slurm-wlm and munge where apt-get can).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

TOOLS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "unshare", "ip")
NODE = "actsweep-node1"
NODE_ADDRESS = "10.77.0.1"  # on the namespace's loopback, with the default route through it


def private_slurm_unavailable() -> str | None:
    """None when a private Slurm can run here; else why not."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)} (Debian: apt-get install slurm-wlm munge iproute2; .ci/run does)"
    probe = subprocess.run(["unshare", "--pid", "--mount", "--net", "--uts", "--fork", "--mount-proc", "sh", "-c",
                            f"ip link set lo up && ip addr add {NODE_ADDRESS}/24 dev lo && hostname {NODE}"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return ("cannot make private PID, mount, network and UTS namespaces here (needs root or CAP_SYS_ADMIN): "
                f"{(probe.stderr or probe.stdout).strip().splitlines()[-1:]}")
    return None


def _config(work: Path) -> str:
    return "\n".join([
        "ClusterName=actsweep-test",
        "SlurmctldHost=localhost(127.0.0.1)",
        "SlurmctldPort=6817",  # free by construction: the namespace has its own network
        "SlurmdPort=6818",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={work}/munge/munge.socket",
        f"StateSaveLocation={work}/state",
        f"SlurmdSpoolDir={work}/spool",
        f"SlurmctldPidFile={work}/slurmctld.pid",
        f"SlurmdPidFile={work}/slurmd.pid",
        f"SlurmctldLogFile={work}/log/slurmctld.log",
        f"SlurmdLogFile={work}/log/slurmd.log",
        "ProctrackType=proctrack/linuxproc",  # no cgroups needed
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "GresTypes=gpu",
        "MpiDefault=none",
        "ReturnToService=2",
        "SlurmdParameters=config_overrides",  # 16 CPUs and 2 GPUs declared on a smaller machine
        "SchedulerType=sched/builtin",
        f"NodeName={NODE} NodeAddr=127.0.0.1 CPUs=16 Gres=gpu:2 State=UNKNOWN",
        f"PartitionName=test Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
        "",
    ])


def write_config(work: Path) -> dict[str, str]:
    """The private configuration under `work`; returns the environment its clients need."""
    for folder in ("munge", "state", "spool", "log", "dev"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    (work / "munge").chmod(0o755)  # munged wants its socket's folder reachable by every user
    key = work / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    (work / "slurm.conf").write_text(_config(work))
    for index in range(2):  # stand-ins for /dev/nvidia0 and 1: slurmd counts the files it is given
        (work / "dev" / f"gpu{index}").touch()
    (work / "gres.conf").write_text(f"NodeName={NODE} Name=gpu File={work}/dev/gpu[0-1]\n")
    return {"SLURM_CONF": str(work / "slurm.conf")}


def _namespace_script(work: Path, job: str) -> str:
    munge = work / "munge"
    quoted = shlex.quote
    return "\n".join([
        "set -eu",
        f"hostname {NODE}",
        "ip link set lo up",
        f"ip addr add {NODE_ADDRESS}/24 dev lo",
        f"ip route add default via {NODE_ADDRESS}",
        "readlink /proc/self/ns/pid > " + quoted(str(work / "pid_namespace")),
        f"munged --foreground --force --key-file {quoted(str(munge / 'munge.key'))} "
        f"--socket {quoted(str(munge / 'munge.socket'))} --pid-file {quoted(str(munge / 'munged.pid'))} "
        f"--log-file {quoted(str(work / 'log' / 'munged.log'))} --seed-file {quoted(str(munge / 'seed'))} "
        f">> {quoted(str(work / 'log' / 'munged.out'))} 2>&1 &",
        "munged_pid=$!",
        f"for _ in $(seq 300); do munge -n -S {quoted(str(munge / 'munge.socket'))} >/dev/null 2>&1 && break; "
        "sleep 0.1; done",
        f"slurmctld -D -i >> {quoted(str(work / 'log' / 'slurmctld.out'))} 2>&1 & slurmctld_pid=$!",
        f"slurmd -D >> {quoted(str(work / 'log' / 'slurmd.out'))} 2>&1 & slurmd_pid=$!",
        # The node is up when sinfo says so (bounded: 120 s), not after a guessed sleep.
        "for _ in $(seq 1200); do sinfo -h -o %T 2>/dev/null | grep -qx idle && break; sleep 0.1; done",
        "sinfo -h -o %T | grep -qx idle || { echo 'the private Slurm node never became idle'; exit 4; }",
        "status=0",
        f"bash -c {quoted(job)} || status=$?",
        "kill $slurmd_pid $slurmctld_pid $munged_pid 2>/dev/null || true",
        "wait $slurmd_pid $slurmctld_pid $munged_pid 2>/dev/null || true",
        "exit $status",
    ])


def run_in_private_slurm(work: Path, job: str, env: dict[str, str], cwd: Path, timeout: float
                         ) -> subprocess.CompletedProcess:
    """Run bash `job` beside a private one-node Slurm (module docstring); its output, after the
    namespace and everything in it ended."""
    script = _namespace_script(work, job)
    environment = {**env, **write_config(work)}
    starter = subprocess.Popen(["unshare", "--pid", "--mount", "--net", "--uts", "--fork", "--mount-proc",
                                "bash", "-c", script], env=environment, cwd=cwd, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        output, _ = starter.communicate(timeout=timeout)
    finally:
        if starter.poll() is None:  # timed out: unshare's child is the namespace's first process
            os.killpg(starter.pid, 9)
            starter.wait()
    return subprocess.CompletedProcess(starter.args, starter.returncode, output, "")


def namespace_processes(work: Path) -> list[int]:
    """Pids of processes still in the private Slurm's PID namespace (none once it ended)."""
    namespace = (work / "pid_namespace").read_text().strip()
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "pid") == namespace:
                    alive.append(int(entry.name))
            except OSError:
                continue
    return alive
