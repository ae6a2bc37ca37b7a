"""Every GPU benchmark in one go, for the GPU machine this project is lent now and then.

The lent machine has a GPU and JAX but neither TensorFlow nor Ray (BENCHMARKS.md, "GPU
figures in one go", has the steps: which wheels to carry and how). This runs, on Keras's
JAX backend and within `--budget` seconds (9 minutes: one call there; 5 on an H200) in all:

- aprelu_step.py: APReLU's train step against ReLU's (the fair ratio), timed through `fit`;
- record1_epoch.py --precision float32 mixed_float16 mixed_bfloat16: record 1's epoch at the
  JAX default of 25 steps per execution;
- input_pipeline.py --on device: the fused augmentation on the GPU against the per-image baseline;
- trial_packing.py --processes 1 2 4 8: aggregate images/s of trials sharing the GPU.

Each benchmark runs as its own process (a crash or a timeout costs only its row), its last
JSON line is kept, and one Markdown table for BENCHMARKS.md is printed at the end (also
written to `--out`, with the raw JSON beside it). `--dry-run` runs every benchmark at tiny
sizes on whatever device there is (a CPU in the test suite). Where one command may not run
that long, the suite runs in parts (`--only`), and `--merge` makes one table of the parts'
JSON files.

    python benchmarks/gpu_suite.py --out "$OUT"                          # all, one command
    python benchmarks/gpu_suite.py --only trial_packing --budget 300 --out "$OUT"
    python benchmarks/gpu_suite.py --merge part1/gpu_suite.json part2/gpu_suite.json
    python benchmarks/gpu_suite.py --dry-run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
BUDGET_SECONDS = 9 * 60  # the lent machine runs one command for at most 10 minutes


@dataclass(frozen=True)
class Benchmark:
    name: str
    script: str
    arguments: tuple[str, ...]  # the real measurement
    dry_arguments: tuple[str, ...]  # tiny sizes: seconds on a CPU
    goal: str
    figure: Callable[[dict], str]  # the table's result cell, from the benchmark's JSON line


def aprelu_figure(result: dict) -> str:
    best = result["best_ms_per_step"]
    return (f"**{result['ratio']:.2f}x** ReLU's step ({best['aprelu']:.1f} vs {best['relu']:.1f} ms, "
            f"each at its fastest setting); seed graph {result['vs_seed_graph']:.2f}x APReLU")


def record1_figure(result: dict) -> str:
    by_precision = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result["epoch_seconds_50k_by_precision"].items())
    return f"**{result['epoch_seconds_50k']:.2f} s** per 50k-image epoch ({result['ratio']:.1f}x the seed's 19 s); {by_precision}"


def pipeline_figure(result: dict) -> str:
    project = result["images_per_second"]["project"]
    return f"**{result['ratio']:.1f}x** {result['baseline']} ({project:,.0f} images/s on {result['device']})"


def packing_figure(result: dict) -> str:
    speeds = ", ".join(f"{count}: {speed:,.0f}" for count, speed in result["images_per_s"].items())
    ratio = result["ratio"]
    return (f"**{ratio:.2f}x** with 4 trials vs 1; " if ratio is not None else "") + f"images/s by trials: {speeds}"


BENCHMARKS = (
    Benchmark("APReLU train step", "aprelu_step.py", ("--steps", "100", "--repeats", "5"),
              ("--steps", "1", "--repeats", "1", "--warmup", "1", "--batch-size", "4"), "<= 1.3x", aprelu_figure),
    Benchmark("Record-1 epoch and precision", "record1_epoch.py",
              ("--epochs", "3", "--precision", "float32", "mixed_float16", "mixed_bfloat16",
               "--steps-per-execution", "25"),
              ("--images", "64", "--epochs", "2", "--batch-size", "32", "--precision", "float32", "mixed_bfloat16",
               "--steps-per-execution", "2"),
              "< 2 s per epoch", record1_figure),
    Benchmark("On-device augmentation", "input_pipeline.py",
              ("--on", "device", "--images", "50000", "--baseline", "scipy_per_image"),
              ("--on", "device", "--images", "64", "--repeats", "1", "--baseline", "scipy_per_image"),
              ">= 20x", pipeline_figure),
    Benchmark("Trial packing", "trial_packing.py", ("--processes", "1", "2", "4", "8"),
              ("--processes", "2", "--steps", "2", "--warmup", "1", "--batch-size", "4", "--timeout", "600"),
              ">= 3x with 4", packing_figure),
)


def child_environment() -> dict[str, str]:
    """KERAS_BACKEND=jax unless set; the checkout importable without installing it."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax"), "PYTHONPATH": path,
            "TF_CPP_MIN_LOG_LEVEL": "2"}


def last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def run_one(benchmark: Benchmark, dry_run: bool, timeout: float, log_dir: Path | None) -> dict:
    """The benchmark's JSON result, with `seconds`; or {"error": one line} when it failed or ran out of time."""
    arguments = benchmark.dry_arguments if dry_run else benchmark.arguments
    command = [sys.executable, str(ROOT / "benchmarks" / benchmark.script), *arguments]
    print(f"$ {' '.join(command[1:])}  (at most {timeout:.0f} s)", flush=True)
    began = time.perf_counter()
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=child_environment())
        output, failed = completed.stdout, completed.returncode != 0
        error_text = completed.stderr
    except subprocess.TimeoutExpired as expired:
        output, failed = expired.stdout or "", True
        output = output.decode() if isinstance(output, bytes) else output
        error_text = f"timed out after {timeout:.0f} s"
    seconds = time.perf_counter() - began
    if log_dir is not None:
        (log_dir / f"{Path(benchmark.script).stem}.log").write_text(output + "\n--- stderr ---\n" + error_text)
    result = None if failed else last_json_line(output)
    if result is None:
        lines = error_text.strip().splitlines() or ["no JSON line"]
        return {"error": lines[-1][:200], "seconds": seconds}
    return {**result, "seconds": seconds}


def device_description() -> str:
    """The accelerator, as JAX sees it (in a child process: this one never initialises JAX)."""
    code = "import jax; d = jax.devices()[0]; print(f'{d.platform}: {getattr(d, \"device_kind\", d)} (JAX {jax.__version__})')"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                               env=child_environment())
    return completed.stdout.strip() or f"unknown ({completed.stderr.strip().splitlines()[-1:]})"


def markdown_table(results: dict[str, dict], device: str, dry_run: bool) -> str:
    """One table for BENCHMARKS.md: a row per benchmark that ran (in the suite's order)."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    lines = [
        f"GPU suite, {date}, {device}, Keras backend {child_environment()['KERAS_BACKEND']}"
        + (" (DRY RUN: tiny sizes, not figures)" if dry_run else ""),
        "",
        "| Benchmark | Command | Result | Goal | Seconds |",
        "|---|---|---|---|---|",
    ]
    for benchmark in BENCHMARKS:
        if benchmark.name not in results:
            continue
        result = results[benchmark.name]
        arguments = benchmark.dry_arguments if dry_run else benchmark.arguments
        cell = f"failed: {result['error']}" if "error" in result else benchmark.figure(result)
        command = f"`python benchmarks/{benchmark.script} {' '.join(arguments)}`"
        lines.append(f"| {benchmark.name} | {command} | {cell} | {benchmark.goal} | {result['seconds']:.0f} |")
    return "\n".join(lines)


def run_suite(chosen: list[Benchmark], args: argparse.Namespace) -> dict:
    """{"device", "dry_run", "results"}: each chosen benchmark's JSON, within `args.budget` seconds."""
    deadline = time.monotonic() + args.budget
    device = device_description()
    print(f"device: {device} on {platform.node()}", flush=True)
    results = {}
    for position, benchmark in enumerate(chosen):
        # Each benchmark may use its fair part of what is left, so one hang cannot eat the rest.
        left = deadline - time.monotonic()
        timeout = max(left / (len(chosen) - position), 1.0)
        results[benchmark.name] = run_one(benchmark, args.dry_run, timeout, args.out)
        print(json.dumps({benchmark.name: results[benchmark.name]}), flush=True)
    return {"device": device, "dry_run": args.dry_run, "results": results}


def merged(paths: list[Path]) -> dict:
    """The runs of several calls (the lent machine runs one command for at most 10 minutes) as one."""
    runs = [json.loads(path.read_text()) for path in paths]
    results = {name: result for run in runs for name, result in run["results"].items()}
    return {"device": runs[0]["device"], "dry_run": any(run["dry_run"] for run in runs), "results": results}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    stems = [Path(benchmark.script).stem for benchmark in BENCHMARKS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on any device: checks the suite runs")
    parser.add_argument("--budget", type=float, default=BUDGET_SECONDS, help="seconds for the benchmarks run")
    parser.add_argument("--only", nargs="+", choices=stems, default=stems, help="run only these benchmarks")
    parser.add_argument("--out", type=Path, default=None, help="folder for gpu_suite.md, gpu_suite.json and the logs")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="run nothing: one table from the gpu_suite.json files of earlier calls")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.merge:
        run = merged(args.merge)
    else:
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
        run = run_suite([benchmark for benchmark in BENCHMARKS if Path(benchmark.script).stem in args.only], args)
    table = markdown_table(run["results"], run["device"], run["dry_run"])
    if args.out is not None:
        (args.out / "gpu_suite.md").write_text(table + "\n")
        (args.out / "gpu_suite.json").write_text(json.dumps(run, indent=1))
    print(table)
    return 0 if not any("error" in result for result in run["results"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
