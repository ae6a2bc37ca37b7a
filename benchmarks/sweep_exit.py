"""What ending a sweep script's process costs, with and without the interpreter's teardown.

    python benchmarks/sweep_exit.py                  # 5 rounds of a dry run and of a 1-epoch sweep
    python benchmarks/sweep_exit.py --rounds 2 --no-sweep

A sweep script ends with `exit_fast(main(SWEEP))` (sweeps.engine.runner): main's exit code, then
`os._exit`, past Python's teardown of the TensorFlow, Keras and Ray modules the driver loaded.
The baseline is the same `main` ended the ordinary way, `raise SystemExit(main(SWEEP))`, in the same
command, the same rounds, alternating which goes first. Two commands, each the same on both sides:
`--smoke --dry-run` (Keras imported, the plan resolved, no Ray: also what a one-line error after the
import pays) and a 1-epoch smoke sweep on a local Ray (started and shut down by `main` either way).

Each side's time is the whole command as a user waits for it (process start to exit), the median
over the rounds. Last line, JSON: {"dry_run_ratio": fast / ordinary, "sweep_ratio": ... | null,
"dry_run_saved_s", "sweep_saved_s", "rounds"}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPT = REPO_ROOT / "sweeps" / "antirectifier_mnist.py"
ORDINARY = """import sys
sys.path.insert(0, {root!r})
from sweeps.antirectifier_mnist import SWEEP
from sweeps.engine import main
raise SystemExit(main(SWEEP, sys.argv[1:]))
"""
DRY_RUN = ["--smoke", "--dry-run"]
SWEEP = ["--smoke", "--dataset", "synthetic-mnist", "--max-epochs", "1", "--set", "units=16", "--scheduler", "fifo",
         "--verbose", "0"]


def _timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"error: {' '.join(command[:3])} ... exited {result.returncode}:\n{result.stderr[-3000:]}")
    return seconds


def measure(flags: list[str], rounds: int, storage: Path | None) -> dict[str, float]:
    """Median seconds of the command ended fast and ended the ordinary way, alternating the order."""
    times: dict[str, list[float]] = {"fast": [], "ordinary": []}
    ordinary = ORDINARY.format(root=str(REPO_ROOT))
    for index in range(rounds):
        order = ("fast", "ordinary") if index % 2 == 0 else ("ordinary", "fast")
        for side in order:
            extra = [] if storage is None else ["--storage-path", str(storage), "--name", f"{side}-{index}"]
            command = ([sys.executable, str(SCRIPT)] if side == "fast" else [sys.executable, "-c", ordinary])
            times[side].append(_timed([*command, *flags, *extra], REPO_ROOT))
        print(f"round {index + 1}/{rounds}: fast {times['fast'][-1]:.2f} s, ordinary {times['ordinary'][-1]:.2f} s",
              flush=True)
    return {side: statistics.median(values) for side, values in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sweep", action=argparse.BooleanOptionalAction, default=True,
                        help="also time a 1-epoch smoke sweep on a local Ray (default: on)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    print("dry run (Keras imported, no Ray):", flush=True)
    dry = measure(DRY_RUN, args.rounds, None)
    sweep = None
    if args.sweep:
        print("1-epoch smoke sweep (local Ray):", flush=True)
        with tempfile.TemporaryDirectory() as storage:
            sweep = measure(SWEEP, args.rounds, Path(storage))
    summary = {
        "dry_run_ratio": round(dry["fast"] / dry["ordinary"], 3),
        "sweep_ratio": None if sweep is None else round(sweep["fast"] / sweep["ordinary"], 3),
        "dry_run_saved_s": round(dry["ordinary"] - dry["fast"], 2),
        "sweep_saved_s": None if sweep is None else round(sweep["ordinary"] - sweep["fast"], 2),
        "rounds": args.rounds, "medians_s": {"dry_run": dry, "sweep": sweep},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
