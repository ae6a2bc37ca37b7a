"""The sweep scripts, found by glob: every `sweeps/*.py` that declares a module-level SWEEP.

Tests parametrize over this list, so a new sweep script is planned (and, when its smoke
sweep is cheap, run) without anyone editing a test.
"""

from __future__ import annotations
from support import REPO_ROOT

import importlib
import math
import re
from pathlib import Path

from sweeps.engine.sweep import Sweep

ROOT = REPO_ROOT
# Smoke sweeps at or under this many trial-epochs run for real in test_sweeps.py (~10 s of
# training on 2 cores); the costlier ones are planned only (aprelu_cifar's runs in conftest).
CHEAP_TRIAL_EPOCHS = 16


def sweep_scripts() -> list[Path]:
    declares = re.compile(r"^SWEEP\s*[:=]", re.MULTILINE)
    return sorted(path for path in (ROOT / "sweeps").glob("*.py") if declares.search(path.read_text()))


def load_sweep(script: Path) -> Sweep:
    return importlib.import_module(f"sweeps.{script.stem}").SWEEP


def smoke_trial_epochs(sweep: Sweep) -> int:
    """Trials x epochs of `--smoke`, from the declaration alone (no Keras, no Ray start)."""
    space = {**sweep.fixed, **sweep.space(sweep.smoke_epochs), **sweep.smoke}
    grid = math.prod(len(value["grid_search"]) for value in space.values()
                     if isinstance(value, dict) and "grid_search" in value)
    return sweep.smoke_samples * grid * sweep.smoke_epochs


def cheap_scripts() -> list[Path]:
    return [script for script in sweep_scripts() if smoke_trial_epochs(load_sweep(script)) <= CHEAP_TRIAL_EPOCHS]
