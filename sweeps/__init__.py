"""The experiment families: one module per family in this package, each declaring a `SWEEP`.

    python sweeps/aprelu_cifar.py --num-samples 50     # run one family's sweep
    python -m sweeps                                   # list families, activations, model builders, datasets

`families()` is the registry every tool and test reads: it imports each module of this
package (the `engine` subpackage aside) and takes its `SWEEP`, so adding an experiment is
adding one file, named after its family. Importing this package starts nothing.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import pkgutil
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sweeps.engine.sweep import Sweep

__all__ = ["families", "get_family"]


def families() -> dict[str, Sweep]:
    """Family name -> its declaration, for every experiment module in this package.

    A module that declares no `Sweep`, or whose family differs from its file name (the resume
    command and the docs name a sweep's script by its family), is an error, not skipped.
    """
    from sweeps.engine.sweep import Sweep

    found: dict[str, Sweep] = {}
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        if module.ispkg or module.name.startswith("_"):
            continue
        sweep = getattr(importlib.import_module(f"{__name__}.{module.name}"), "SWEEP", None)
        if not isinstance(sweep, Sweep):
            raise TypeError(f"sweeps/{module.name}.py declares no SWEEP = Sweep(...)")
        if sweep.family != module.name:
            raise ValueError(f"sweeps/{module.name}.py declares family {sweep.family!r}; "
                             f"a family is named after its file ({module.name!r})")
        found[sweep.family] = sweep
    return found


def get_family(name: str) -> Sweep:
    known = families()
    if name not in known:
        raise ValueError(f"unknown sweep family {name!r}; known: {', '.join(known)}")
    return known[name]


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`sweeps.<module>` of the engine, from before it moved to `sweeps.engine.<module>`.

    Experiments saved by earlier versions name the engine's classes by their old module in
    `tuner.pkl` (the budget-fair scheduler, the per-arm Optuna searcher); resuming them
    unpickles those names. Each old name is the moved module itself, imported on first use.
    """

    MOVED = frozenset({"cli", "confirm", "console", "dry_run", "fair_asha", "integrations", "overrides", "plan",
                       "preflight", "runner", "search", "space_checks", "sweep", "trackers"})

    def __init__(self) -> None:
        self._specs: dict[str, importlib.machinery.ModuleSpec] = {}

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001, ANN201 (the finder protocol)
        package, _, name = fullname.rpartition(".")
        if package != __name__ or name not in self.MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):  # noqa: ANN001, ANN201
        module = importlib.import_module(f"{__name__}.engine.{spec.name.rpartition('.')[2]}")
        self._specs[module.__name__] = module.__spec__  # the import system overwrites it with the alias's
        return module

    def exec_module(self, module) -> None:  # noqa: ANN001 (the moved module is already executed)
        module.__spec__ = self._specs[module.__name__]


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())
