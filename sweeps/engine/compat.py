"""Experiments saved by earlier versions name the engine's classes by modules that have since moved.

Tune pickles the scheduler, the searcher and the trial-folder namer with the experiment
(`tuner.pkl`, the searcher's state); resuming unpickles those names. Only that needs the old
names, so they exist only there: `old_module_names()` maps each old module name to the module
that now holds the same class or function, for the length of one resumed Tune run in the
driver, and removes the names after (pandas' `compat/pickle_compat.py` is the model: one table,
used while unpickling, never a global import hook).

Removal: in 0.3.0, once no experiment of 0.1.0 can still be interrupted (CHANGELOG.md).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager

REMOVED_IN = "0.3.0"

# old module -> the module that now defines the same names. 0.1.0 before the engine moved to
# sweeps/engine/ (tests/fixtures/pre_move_experiment), then 0.1.0 before 0.2.0's stages and store.
MOVED_MODULES = {
    "sweeps.fair_asha": "sweeps.engine.fair_asha",
    "sweeps.search": "sweeps.engine.arm_search",
    "sweeps.confirm": "sweeps.engine.stages.confirmation",
    "sweeps.engine.search": "sweeps.engine.arm_search",
    "sweeps.engine.confirm": "sweeps.engine.stages.confirmation",
}


@contextmanager
def old_module_names() -> Iterator[None]:
    """Old module names resolve to the moved modules while the block runs (a resumed Tune run)."""
    added = [old for old in MOVED_MODULES if old not in sys.modules]
    for old in added:
        sys.modules[old] = importlib.import_module(MOVED_MODULES[old])
    try:
        yield
    finally:
        for old in added:
            sys.modules.pop(old, None)
