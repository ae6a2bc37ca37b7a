"""The experiment families, from the registry (`sweeps.families()`).

Tests parametrize over these, so a new `sweeps/<family>.py` is planned (and, when its smoke
sweep is cheap, run) without anyone editing a test.
"""

from __future__ import annotations

from pathlib import Path

from sweeps import families
from sweeps.engine.space.keys import grid_size
from sweeps.engine.sweep import Sweep
from support import REPO_ROOT

# Smoke sweeps at or under this many trial-epochs run for real in tests/engine/test_sweeps.py (~10 s
# of training on 2 cores); the costlier ones are planned only (aprelu_cifar's runs in conftest).
CHEAP_TRIAL_EPOCHS = 16


def family_names() -> list[str]:
    return sorted(families())


def script_of(family: str) -> Path:
    return REPO_ROOT / "sweeps" / f"{family}.py"


def smoke_trial_epochs(sweep: Sweep) -> int:
    """Trials x epochs of `--smoke`, from the declaration alone (no Keras, no Ray start)."""
    space = {**sweep.fixed, **sweep.space(sweep.smoke_epochs), **sweep.smoke}
    return sweep.smoke_samples * grid_size(space) * sweep.smoke_epochs


def cheap_scripts() -> list[Path]:
    """The scripts whose smoke sweep costs at most CHEAP_TRIAL_EPOCHS trial-epochs."""
    return [script_of(name) for name, sweep in sorted(families().items())
            if smoke_trial_epochs(sweep) <= CHEAP_TRIAL_EPOCHS]


