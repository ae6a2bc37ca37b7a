"""benchmarks/gpu_suite.py: its CPU dry run on JAX with TensorFlow and Ray unimportable (as on
the lent GPU machine), and the one table made from the parts of several calls."""

from __future__ import annotations
from support import REPO_ROOT

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = REPO_ROOT
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_suite  # noqa: E402

BLOCKER = '''import sys
for name in ("tensorflow", "ray", "tf_keras"):
    sys.modules[name] = None  # import fails: the lent machine has neither
'''


@pytest.mark.slow
def test_dry_run_runs_every_benchmark_without_tensorflow_or_ray(tmp_path):
    pytest.importorskip("jax")
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": str(blocker), "KERAS_BACKEND": "jax"}
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_suite.py"), "--dry-run", "--out", str(out)],
                            capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    run = json.loads((out / "gpu_suite.json").read_text())
    assert set(run["results"]) == {benchmark.name for benchmark in gpu_suite.BENCHMARKS}
    assert all("error" not in figures for figures in run["results"].values())
    table = (out / "gpu_suite.md").read_text()
    assert table.count("\n| ") == 1 + len(gpu_suite.BENCHMARKS)  # header and one row each
    assert "DRY RUN" in table and "failed" not in table
    assert {path.name for path in out.glob("*.log")} == {f"{Path(b.script).stem}.log" for b in gpu_suite.BENCHMARKS}


def fake_run(names: list[str]) -> dict:
    figures = {
        "APReLU train step": {"ratio": 1.1, "vs_seed_graph": 1.5, "best_ms_per_step": {"aprelu": 11.0, "relu": 10.0}},
        "Record-1 epoch and precision": {"ratio": 12.0, "epoch_seconds_50k": 1.58,
                                         "epoch_seconds_50k_by_precision": {"float32": 1.58, "mixed_float16": 1.2}},
        "On-device augmentation": {"ratio": 40.0, "baseline": "scipy_per_image", "device": "cuda:0",
                                   "images_per_second": {"project": 400000.0}},
        "Trial packing": {"error": "timed out after 500 s"},
    }
    return {"device": "gpu: H100", "dry_run": False,
            "results": {name: {**figures[name], "seconds": 60.0} for name in names}}


def test_parts_of_several_calls_make_one_table(tmp_path, capsys):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps(fake_run(["APReLU train step", "On-device augmentation"])))
    second.write_text(json.dumps(fake_run(["Record-1 epoch and precision", "Trial packing"])))
    assert gpu_suite.main(["--merge", str(first), str(second)]) == 1  # one benchmark failed
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split(" | ")[0] for row in rows] == [f"| {b.name}" for b in gpu_suite.BENCHMARKS]  # suite order
    assert "**1.10x** ReLU's step (11.0 vs 10.0 ms" in table
    assert "**1.58 s** per 50k-image epoch" in table and "mixed_float16 1.20 s" in table
    assert "failed: timed out after 500 s" in table and "DRY RUN" not in table
