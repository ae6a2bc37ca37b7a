"""Each xdist worker in its own network namespace, so that two workers' local Ray instances stop
colliding on the dashboard agent's fixed HTTP port.

Every local Ray instance binds its dashboard agent to port 52365 (ray_constants.
DEFAULT_DASHBOARD_AGENT_LISTEN_PORT; `ray.init` has no argument for it, ray-project/ray#37229).
When the other worker's sweep holds the port, the agent retries with backoff for about 3 s
before it gives up on HTTP, and `ray.init` waits for it: measured on the 2-core VM, 6.9 s
instead of 3.9 s per start while another instance lives, and the suite starts Ray some sixty
times. In a namespace of its own a worker has its own ports; everything the tests start listens
on loopback or on the one address made here, and talks only to what the same worker started.

Only where it can be done without side effects: Linux, root (CI runs as root), the main thread
(unshare(2) moves the calling thread; the subprocesses and threads it starts afterwards follow
it), and iproute2's `ip`. Elsewhere the workers share the host's network, as before, and only
pay the wait. `ACTSWEEP_TEST_NETNS=0` turns it off.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import threading

CLONE_NEWNET = 0x40000000  # <sched.h>


def isolate(worker_id: str) -> str | None:
    """Moves this process into a fresh network namespace with loopback up and one address on it
    (10.213.<n>.1, the route's source, so Ray finds a node address as on a host). Returns why not
    where it was not done."""
    reason = _unavailable()
    if reason:
        return reason
    number = int(worker_id.removeprefix("gw")) if worker_id.removeprefix("gw").isdigit() else 0
    address = f"10.213.{number % 250}.1"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return f"unshare(CLONE_NEWNET) failed: {os.strerror(ctypes.get_errno())}"
    for command in (["ip", "link", "set", "lo", "up"], ["ip", "addr", "add", f"{address}/32", "dev", "lo"],
                    ["ip", "route", "add", "default", "dev", "lo", "src", address]):
        completed = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if completed.returncode != 0:  # a namespace half set up: fail loudly rather than test in it
            raise RuntimeError(f"{' '.join(command)} in the worker's network namespace: {completed.stderr.strip()}")
    return None


def _unavailable() -> str | None:
    if os.environ.get("ACTSWEEP_TEST_NETNS", "1") == "0":
        return "ACTSWEEP_TEST_NETNS=0"
    if not sys.platform.startswith("linux"):
        return "not Linux"
    if os.geteuid() != 0:
        return "not root"
    if threading.current_thread() is not threading.main_thread():
        return "not on the main thread"
    if shutil.which("ip") is None:
        return "no `ip` command"
    return None
