"""What object storage costs a sweep: the same smoke sweep to a local folder and to S3 on 127.0.0.1.

    python benchmarks/object_storage.py                           # 4 trials x 6 epochs, 2 rounds
    python benchmarks/object_storage.py --max-epochs 2 --rounds 1 # quick check

The same command line (`sweeps/antirectifier_mnist.py --smoke`, FIFO, every trial to the budget,
a checkpoint every epoch) runs with `--storage-path` a local folder and with `s3://...` on a
loopback S3 server (moto's, as the tests use it: tests/support/s3.py), the sides alternating
round by round (local first in odd rounds, S3 first in even ones) so that a slow stretch of the
machine does not fall on one side only. Each run is a whole process, as a user runs it: wall
time from start to exit (Ray's start, the trials, the export of the tables).

The per-trial checkpoint upload is measured two ways: (1) `copied`: each kept checkpoint of the
local run copied to the server with pyarrow's `copy_files` (what Ray's
`persist_current_checkpoint` calls), the mean scaled by the checkpoints a trial writes (one per
epoch); (2) `added_to_epochs`: what storage adds to a trial's epochs as the runs saw it, the
median epoch time (epochs after the first) on S3 minus that on the local disk, times the epochs.
(2) holds more than the upload: a trial's next epoch also waits for Tune's driver, which after
every checkpoint (with `num_to_keep`, as the runner sets it) uploads its staging folder (Tune's
state and every trial's logs) and first waits for the previous upload to finish. So the script
also times (3) `state_upload_seconds`: one copy of that folder as the local run left it (the
experiment without checkpoints and tables), file by file as Tune's syncer copies it. moto keeps
objects in memory in this process, in Python: a real S3 or MinIO answers differently (network,
disks), so the figure says what the storage layer adds here, not what a cloud costs.

Ends with one JSON line: {"ratio": S3 wall time / local wall time (medians over rounds), ...}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without install
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the loopback S3 server the tests use (support.s3)

SCRIPT = REPO_ROOT / "sweeps" / "antirectifier_mnist.py"


def sweep_command(storage_path: str, name: str, max_epochs: int) -> list[str]:
    return [sys.executable, str(SCRIPT), "--smoke", "--scheduler", "fifo", "--max-epochs", str(max_epochs),
            "--verbose", "0", "--storage-path", storage_path, "--name", name]


def timed_run(command: list[str]) -> float:
    """Wall seconds of one sweep process; fails loudly when the sweep did."""
    began = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - began
    if completed.returncode != 0:
        raise SystemExit(f"the sweep failed ({' '.join(command)}):\n{(completed.stdout + completed.stderr)[-3000:]}")
    return seconds


def epoch_seconds(experiment: str) -> list[float]:
    """Every epoch's `time_this_iter_s` after the first of each trial (the first builds the model)."""
    from analysis.store.export import read_tables

    epochs = read_tables(experiment).epochs
    return [float(value) for value in epochs.loc[epochs["epoch"] > 1, "time_this_iter_s"]]


# How Ray 2.60 uploads to S3 (ray/train/_internal/storage.py, _pyarrow_fs_copy_files): one file at a
# time (pyarrow's threaded upload is unsafe, apache/arrow#32372), in 64 MiB chunks.
RAY_UPLOAD = {"use_threads": False, "chunk_size": 64 * 1024 * 1024}


def _upload(local: Path, filesystem: Any, path: str) -> float:
    import pyarrow.fs as pafs

    began = time.perf_counter()
    pafs.copy_files(str(local), path, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=filesystem,
                    **RAY_UPLOAD)
    return time.perf_counter() - began


def upload_seconds(local_experiment: Path, target_uri: str) -> list[float]:
    """Seconds to upload each kept checkpoint folder of a local experiment to `target_uri`, one by
    one, as Ray persists a checkpoint."""
    from analysis.store import storage

    filesystem, base = storage.resolve(target_uri)
    return [_upload(checkpoint, filesystem, f"{base}/{index}")
            for index, checkpoint in enumerate(sorted(local_experiment.glob("*/checkpoint_*")))]


def state_upload_seconds(local_experiment: Path, target_uri: str) -> float:
    """Seconds to upload what Tune's driver uploads after a checkpoint: its staging folder, i.e. the
    experiment's state and trial logs, without the checkpoints (the trials upload those) and tables."""
    import shutil

    from analysis.store import storage

    filesystem, base = storage.resolve(target_uri)
    with tempfile.TemporaryDirectory() as staging:
        shutil.copytree(local_experiment, Path(staging) / "state",
                        ignore=shutil.ignore_patterns("checkpoint_*", "*.parquet"))
        return _upload(Path(staging) / "state", filesystem, base)


def summary(local_walls: list[float], s3_walls: list[float], uploads: list[float], local_epochs: list[float],
            s3_epochs: list[float], trials: int, max_epochs: int, checkpoint_bytes: int,
            state_upload: float = float("nan")) -> dict[str, Any]:
    local_wall, s3_wall = statistics.median(local_walls), statistics.median(s3_walls)
    local_epoch, s3_epoch = statistics.median(local_epochs), statistics.median(s3_epochs)
    return {
        "benchmark": "object_storage",
        "ratio": s3_wall / local_wall,
        "wall_seconds": {"local": local_wall, "s3": s3_wall, "local_runs": local_walls, "s3_runs": s3_walls},
        "checkpoint_upload_seconds_per_trial": {
            "copied": statistics.mean(uploads) * max_epochs,  # one checkpoint per epoch
            "added_to_epochs": (s3_epoch - local_epoch) * max_epochs,
        },
        "seconds_per_checkpoint_upload": statistics.mean(uploads),
        "state_upload_seconds": state_upload,  # one upload of Tune's staging folder, after every checkpoint
        "checkpoint_bytes": checkpoint_bytes,
        "epoch_seconds_median": {"local": local_epoch, "s3": s3_epoch},
        "trials": trials, "epochs_per_trial": max_epochs, "rounds": len(local_walls),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=6, help="epochs per trial (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per side, alternating (default: %(default)s)")
    args = parser.parse_args(argv)

    from analysis.store import storage
    from analysis.store.export import read_tables
    from support.s3 import s3_server

    with tempfile.TemporaryDirectory(prefix="object-storage-bench-") as work, s3_server() as s3:
        local_walls, s3_walls, local_epochs, s3_epochs = [], [], [], []
        for round_index in range(args.rounds):
            sides = [("local", work), ("s3", s3.uri("bench"))]
            for side, base in sides if round_index % 2 == 0 else reversed(sides):
                name = f"{side}-{round_index}"
                seconds = timed_run(sweep_command(base, name, args.max_epochs))
                experiment = storage.join(base, name)
                (local_walls if side == "local" else s3_walls).append(seconds)
                (local_epochs if side == "local" else s3_epochs).extend(epoch_seconds(experiment))
                print(f"round {round_index + 1} {side}: {seconds:.1f} s", flush=True)
        first_local = Path(work) / "local-0"
        uploads = upload_seconds(first_local, s3.uri("uploads"))
        state_upload = state_upload_seconds(first_local, s3.uri("state"))
        checkpoint_bytes = sum(path.stat().st_size for path in first_local.glob("*/checkpoint_*/*") if path.is_file())
        trials = len(read_tables(str(first_local)).trials)
        kept = len(list(first_local.glob("*/checkpoint_*")))
        result = summary(local_walls, s3_walls, uploads, local_epochs, s3_epochs, trials, args.max_epochs,
                         checkpoint_bytes // max(kept, 1), state_upload)
    print(f"S3 on 127.0.0.1 / local disk: {result['ratio']:.2f}x wall time "
          f"({result['wall_seconds']['s3']:.1f} vs {result['wall_seconds']['local']:.1f} s, medians of {args.rounds}); "
          f"checkpoint upload {result['checkpoint_upload_seconds_per_trial']['copied']:.2f} s per trial "
          f"({result['seconds_per_checkpoint_upload'] * 1000:.0f} ms per checkpoint of "
          f"{result['checkpoint_bytes'] // 1024} KiB); S3 adds "
          f"{result['checkpoint_upload_seconds_per_trial']['added_to_epochs']:.2f} s to a trial's epochs; one upload "
          f"of Tune's state folder takes {state_upload:.2f} s")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
