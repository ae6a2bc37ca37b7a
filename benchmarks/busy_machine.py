"""What a local sweep gets on a machine other work keeps busy: wall time beside N CPU-bound processes.

    python benchmarks/busy_machine.py [--hogs 2] [--polite-limit 8] [--skip-polite] [--core-share-only]

Runs the same smoke sweep (`sweeps/antirectifier_mnist.py --smoke`: 4 trials of 3 epochs,
2 at a time on a 2-core machine, Ray's start included) three times, each a fresh driver and a
fresh local Ray instance:

1. on the machine as it is (run it on a quiet one: that is the baseline);
2. beside `--hogs` CPU-bound processes (`while True: pass`, at this script's own priority, as a
   colleague's job would run), with the runner's default: trial workers at the driver's priority;
3. the same, with `--polite` (Ray's worker niceness +15), stopped after `--polite-limit` times
   the baseline if it has not finished, and reported as at least that.

First, the mechanism alone: one Ray worker and one CPU-bound process pinned to the same core,
the worker's loop iterations in 5 s against 5 s with the core to itself, at Ray's niceness
(`--polite`) and at the driver's (the default): `core_share_*` in the JSON (0.5 is a fair share).
This part barely depends on other work on the machine; the sweeps do.

Where the hogs run matters. Linux' autogroup (`/proc/sys/kernel/sched_autogroup_enabled`,
on by default on most desktops and on the VM this was written on) shares the CPUs between
sessions first and applies niceness only inside a session. Ray's workers stay in the driver's
session, so Ray's +15 starves them beside work started from the same shell or batch script (or,
without autogroup, beside any work), while work in another terminal's session barely touches
them either way. `--hogs-session same` (the default) measures the first case, `own` the second.

The hogs are started before the sweep and killed by pid after it. Ends with one JSON line
{"ratio": busy / idle wall time, "polite_ratio": ..., ...}; the aim (issue 24) is a ratio of at
most 3 beside 2 hogs on 2 cores. A fair share of 2 cores among 2 hogs and 2 trials is half a core
each, so the training itself takes about twice as long; the driver and Ray's daemons take their
turn too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SWEEP = ["sweeps/antirectifier_mnist.py", "--smoke", "--scheduler", "fifo", "--verbose", "0"]


def autogroup() -> str:
    """Linux' per-session CPU grouping: "1" on, "0" off, "" where the kernel has none."""
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip()
    except OSError:
        return ""


def run_sweep(storage: Path, name: str, extra: list[str], limit: float | None,
              own_session: bool = False) -> tuple[float, bool, int]:
    """(wall seconds, finished, epochs reported) of one smoke sweep, stopped after `limit` seconds."""
    command = [sys.executable, *SWEEP, "--storage-path", str(storage), "--name", name, *extra]
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=own_session, env=env)
    try:
        _, errors = process.communicate(timeout=limit)
        finished = process.returncode == 0
        if not finished:
            print(errors[-3000:], file=sys.stderr)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, 15)  # the runner stops cleanly on SIGTERM (and kills its workers)
        process.communicate(timeout=120)
        finished = False
    seconds = time.perf_counter() - started
    epochs = sum(len(path.read_text().splitlines()) for path in (storage / name).glob("*/result.json"))
    return seconds, finished, epochs


CORE_SHARE = """
import json, os, subprocess, sys, time, ray
from sweeps.engine.ray_session import worker_environment
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
         runtime_env={"env_vars": worker_environment(local=True, polite=sys.argv[1] == "polite")})

@ray.remote
def spin(seconds):
    os.sched_setaffinity(0, {0})
    end, count = time.perf_counter() + seconds, 0
    while time.perf_counter() < end:
        count += 1
    return count

ray.get(spin.remote(0.1))  # the worker is up
hog = subprocess.Popen([sys.executable, "-c", "import os; os.sched_setaffinity(0, {0})\\nwhile True: pass"])
try:
    beside = ray.get(spin.remote(5))
finally:
    hog.kill(); hog.wait()
alone = ray.get(spin.remote(5))
print(json.dumps(beside / alone))
"""


def core_share(polite: bool) -> float:
    """A Ray worker's share of a core it shares with one CPU-bound process (module docstring)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", CORE_SHARE, "polite" if polite else "default"], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True, timeout=300, check=True)
    return float(result.stdout.split()[-1])


def start_hogs(count: int, own_session: bool) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=own_session)
            for _ in range(count)]


def stop_hogs(hogs: list[subprocess.Popen]) -> None:
    for hog in hogs:
        hog.kill()
        hog.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hogs", type=int, default=2, help="CPU-bound processes beside the sweep (default: 2)")
    parser.add_argument("--polite-limit", type=float, default=8.0,
                        help="stop the --polite run after this many times the idle wall time (default: 8)")
    parser.add_argument("--skip-polite", action="store_true", help="do not run the --polite sweep")
    parser.add_argument("--core-share-only", action="store_true",
                        help="measure only a worker's share of a core (the first part; about 25 s)")
    parser.add_argument("--hogs-session", choices=("same", "own"), default="same",
                        help="same: the hogs run in the sweep's session, as jobs started from one shell or batch "
                             "script do, and as every process does where autogroup is off; own: each in a session "
                             "of its own, like work started from another terminal (default: same)")
    args = parser.parse_args()
    load_at_start = os.getloadavg()[0]  # other work already on the machine makes "idle" not idle

    shares = {"default": core_share(polite=False), "polite": core_share(polite=True)}
    print(f"a worker's share of a core beside one CPU-bound process: {shares['default']:.3f} at the driver's "
          f"priority, {shares['polite']:.3f} at Ray's +15 (--polite)", flush=True)
    if args.core_share_only:
        print(json.dumps({"ratio": round(shares["polite"] / shares["default"], 3),
                          "core_share_default": round(shares["default"], 3),
                          "core_share_polite": round(shares["polite"], 3), "autogroup": autogroup()}))
        return

    with tempfile.TemporaryDirectory(prefix="busy-machine-") as folder:
        storage = Path(folder)
        idle, idle_done, idle_epochs = run_sweep(storage, "idle", [], None)
        print(f"idle: {idle:.1f} s ({idle_epochs} epochs)", flush=True)
        if not idle_done:
            raise SystemExit("the idle sweep failed")
        hogs = start_hogs(args.hogs, own_session=args.hogs_session == "own")
        try:
            busy, busy_done, busy_epochs = run_sweep(storage, "busy", [], 20 * idle)
            print(f"beside {args.hogs} CPU-bound processes: {busy:.1f} s ({busy_epochs} epochs)", flush=True)
            polite = polite_done = polite_epochs = None
            if not args.skip_polite:
                polite, polite_done, polite_epochs = run_sweep(storage, "polite", ["--polite"],
                                                               args.polite_limit * idle)
                state = "finished" if polite_done else "stopped unfinished"
                print(f"same, --polite: {polite:.1f} s, {state} ({polite_epochs} of {idle_epochs} epochs)", flush=True)
        finally:
            stop_hogs(hogs)
    print(json.dumps({
        "ratio": round(busy / idle, 3) if busy_done else None,
        "polite_ratio": None if polite is None else round(polite / idle, 3),
        "polite_finished": polite_done,
        "polite_epochs": polite_epochs,
        "idle_s": round(idle, 1), "busy_s": round(busy, 1), "epochs": idle_epochs, "busy_epochs": busy_epochs,
        "core_share_default": round(shares["default"], 3), "core_share_polite": round(shares["polite"], 3),
        "hogs": args.hogs, "hogs_session": args.hogs_session, "autogroup": autogroup(), "cpus": os.cpu_count(), "load_at_start": round(load_at_start, 2),
    }))


if __name__ == "__main__":
    main()
