"""Confirmation looks sized by what they cost (`--confirm-batch auto`) against looks of 2.

    python benchmarks/look_size.py              # about 7 minutes on 2 cores (2 rounds)
    python benchmarks/look_size.py --rounds 1

The antirectifier worked example (docs/examples/run_examples.sh: four arms, 2 trial slots here, at
most 10 seeds, margin 0.01): its search runs once; the finished search folder is copied, and the
confirmation alone (`--confirm 1 --name <copy>`, what a user runs on a finished search) runs on each
copy, once with `--confirm-batch 2` (the default before auto) and once with auto, the order swapped
every round. Both with packs (`--pack auto`, each at its best: a look's seeds of a configuration in
one pack trial; without packs auto keeps looks of 2, so there is nothing to compare). Timed from the
command to its exit, the verdict printed; the verdicts' classes are compared pair by pair.

Last line, JSON: {"ratio": auto / batch-2 wall time (medians over rounds), "auto_s": [...],
"batch_2_s": [...], "auto_looks": [...], "same_classes": true|false}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without install

from analysis.store.tables import read_tables
from analysis.verdict.comparisons import paired_comparisons
from analysis.verdict.confirmation import confirmation_metric

SWEEP = [str(REPO_ROOT / "sweeps" / "antirectifier_mnist.py"), "--dataset", "digits", "--max-epochs", "30",
         "--set", "lr=[0.0003,0.001,0.003]", "--stratify", "activation,units", "--verbose", "0"]
CONFIRM = ["--confirm", "1", "--confirm-repeats", "10", "--margin", "0.01"]
CONTENDERS = {"batch_2": ["--confirm-batch", "2"], "auto": []}


def run(argv: list[str], storage: Path, name: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *SWEEP, *argv, "--storage-path", str(storage), "--name", name], check=False,
                          capture_output=True, text=True, cwd=REPO_ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{name}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started, done.stdout


def classes(experiment: Path) -> dict[tuple[str, str], str]:
    tables = read_tables(str(experiment))
    table = paired_comparisons(tables.trials, confirmation_metric(tables.trials), epochs=tables.epochs)
    return {(row.arm_a, row.arm_b): str(row.outcome) for row in table.itertuples()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="look-size-") as folder:
        storage = Path(folder)
        seconds, _ = run([], storage, "search")
        print(f"search: {seconds:.1f} s", flush=True)
        times: dict[str, list[float]] = {name: [] for name in CONTENDERS}
        verdicts: dict[str, dict] = {}
        looks = ""
        for index in range(args.rounds):
            order = list(CONTENDERS) if index % 2 == 0 else list(reversed(CONTENDERS))
            for contender in order:
                name = f"{contender}_{index}"
                shutil.copytree(storage / "search", storage / name)
                seconds, out = run([*CONFIRM, *CONTENDERS[contender]], storage, name)
                times[contender].append(seconds)
                verdicts[name] = classes(storage / f"{name}-confirm")
                line = next((line for line in out.splitlines() if "confirming" in line), "")
                if contender == "auto":
                    looks = line[line.find("looks at"):line.find(" seed(s) per")]
                print(f"round {index + 1}, {contender}: {seconds:.1f} s; {line.strip()[:160]}", flush=True)
        same = len({json.dumps(sorted(map(list, found.items()))) for found in verdicts.values()}) == 1
        ratio = statistics.median(times["auto"]) / statistics.median(times["batch_2"])
        print(f"auto / looks of 2: {ratio:.3f} (medians {statistics.median(times['auto']):.1f} s, "
              f"{statistics.median(times['batch_2']):.1f} s); the same classes in every run: {same}")
        print(json.dumps({"ratio": round(ratio, 3), "auto_s": [round(value, 1) for value in times["auto"]],
                          "batch_2_s": [round(value, 1) for value in times["batch_2"]],
                          "auto_looks": [int(value) for value in looks.removeprefix("looks at ").split(", ") if value],
                          "same_classes": same}))


if __name__ == "__main__":
    main()
