"""benchmarks/fused_trials.py --quick: both workloads run, packs of 1 and 2 against separate trials,
and every member compared with its lone trial matches it bit for bit."""

from __future__ import annotations
from support import REPO_ROOT

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("sklearn")  # the MLP workload trains on scikit-learn's digits


@pytest.mark.slow  # two processes that import TensorFlow and trace an APReLU ResNet: 40-90 s on 2 vCPUs
def test_quick_mode_runs_and_members_equal_their_lone_trials():
    result = subprocess.run([sys.executable, str(REPO_ROOT / "benchmarks" / "fused_trials.py"), "--quick"],
                            capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["gpu_speedup_8"] is None and summary["cpu_speedup_8"] is None  # no S = 8 in the quick mode
    assert summary["max_metric_difference"] == 0.0
    for workload in ("mlp", "resnet"):
        measured = summary["workloads"][workload]
        assert measured["identical_weights"] == "2/2"  # seed 0 in the packs of 1 and 2
        assert set(measured["speedup"]) == {"1", "2"} and all(value > 0 for value in measured["speedup"].values())
    arithmetic = summary["workloads"]["mlp"]["arithmetic_8"]
    assert arithmetic["side_by_side_ms"] > 0 and arithmetic["stacked_ms"] > 0
