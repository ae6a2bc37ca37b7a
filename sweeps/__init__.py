"""The experiment families: one module per family in this package, each declaring a `SWEEP`.

    python sweeps/aprelu_cifar.py --num-samples 50     # run one family's sweep
    python -m sweeps                                   # list families, activations, model builders, datasets

`families()` is the registry every tool and test reads: it imports each module of this
package (the `engine` subpackage aside) and takes its `SWEEP`, so adding an experiment is
adding one file, named after its family. Importing this package starts nothing.
"""

from __future__ import annotations

import importlib
import pkgutil

from sweeps.engine.sweep import Sweep

__all__ = ["families", "get_family"]


def families() -> dict[str, Sweep]:
    """Family name -> its declaration, for every experiment module in this package.

    A module that declares no `Sweep`, or whose family differs from its file name (the resume
    command and the docs name a sweep's script by its family), is an error, not skipped.
    """
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
