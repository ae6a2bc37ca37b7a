"""What a sweep script declares: a `Sweep` (search space, fixed settings, records).

Declarations only: importing this module starts nothing and imports neither Ray nor
Keras, so a script's `--help` stays fast. Scripts take `tune` from here: Ray Tune's own
module, imported at first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

Space = dict[str, Any]


class _TuneOnFirstUse:
    """`ray.tune`, imported when a search space is built, not when a script is imported.

    Importing Ray Tune takes about 0.6 s, half of a `--help` (measured: 1.2 s with it, 0.3 s
    without). `grid_search`, which declarations call at import, is answered without it:
    Ray documents its result as the plain dict `{"grid_search": values}`.
    """

    @staticmethod
    def grid_search(values: Iterable[Any]) -> dict[str, list[Any]]:
        return {"grid_search": list(values)}

    def __getattr__(self, name: str) -> Any:
        from ray import tune as ray_tune

        return getattr(ray_tune, name)


tune = _TuneOnFirstUse()


@dataclass(frozen=True)
class Record:
    """A published tuning record: its exact settings and the epochs it planned."""

    settings: Callable[[int], Space]  # max_epochs -> settings (decay epochs scale with the budget)
    epochs: int


@dataclass(frozen=True)
class Sweep:
    """What one experiment family varies (the scientific and nuisance hyperparameters)."""

    family: str
    description: str
    dataset: str  # the real dataset
    fixed: Mapping[str, Any]  # settings every trial shares (model, optimizer, ...)
    space: Callable[[int], Space]  # max_epochs -> Tune search space (flat)
    max_epochs: int
    smoke_dataset: str
    smoke: Mapping[str, Any] = field(default_factory=dict)  # tiny-model overrides for --smoke
    records: Mapping[int, Record] = field(default_factory=dict)  # exact published settings
    num_samples: int = 8
    gpus_per_trial: float = 0.25  # default share when the cluster has GPUs
    metric: str = "val_accuracy"
    mode: str = "max"
    smoke_samples: int = 6
    smoke_epochs: int = 4
    # The scientific keys (playbook): the budget-fair scheduler's default arms are those of them
    # that take more than one value (--stratify; sweeps.engine.fair_asha).
    scientific: tuple[str, ...] = ("activation",)
    # The confirmation's margin (--margin): the smallest difference in the verdict metric (test
    # accuracy) that matters for this family's claim; within it two arms are "equivalent".
    margin: float = 0.01
