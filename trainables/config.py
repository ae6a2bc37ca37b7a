"""The typed training config of one trial.

A trial's config arrives from Tune as one flat dict (so that every key becomes its own
column in the result tables). The keys named by `TrainConfig`'s fields drive training;
every other key must be an argument of the chosen model builder, and anything else is a
typo that fails loudly before a single step runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

OPTIMIZERS = ("sgd", "rmsprop", "adam")
AUGMENT_PLACEMENTS = ("pipeline", "model")
# Keys the runner adds for bookkeeping; they describe the trial, they do not change it.
BOOKKEEPING_KEYS = ("family", "repeat", "gpus_per_trial", "cpus_per_trial", "record")


@dataclass(frozen=True)
class TrainConfig:
    model: str  # builder name in trainables.models
    activation: str  # activation name in trainables.activations: the scientific variable
    dataset: str  # trainables.data dataset name, real or generated
    epochs: int  # the trial's budget; the scheduler may stop it sooner
    seed: int = 0  # seeds Python, NumPy and the backend; also the data shuffle order
    optimizer: str = "sgd"  # sgd (with momentum/nesterov), rmsprop or adam
    lr: float = 0.1
    momentum: float = 0.9  # SGD only
    nesterov: bool = True  # SGD only
    lr_decay_factor: float = 0.1  # step decay: lr * factor every `lr_decay_every` epochs
    lr_decay_every: int = 0  # 0 = constant learning rate
    batch_size: int = 100
    # Augmentation, named after Keras 2 ImageDataGenerator's arguments (docs/data.md).
    rotation: float = 0.0  # degrees
    horizontal_flip: bool = False
    width_shift: float = 0.0  # fraction of the width
    height_shift: float = 0.0  # fraction of the height
    zoom: float = 0.0
    shear: float = 0.0  # degrees
    augment_on: str = "pipeline"  # "pipeline" (tf.data on the CPU) or "model" (on the accelerator)
    jit_compile: bool = False  # XLA; see BENCHMARKS.md for the measured default
    mixed_precision: bool = False  # mixed_float16 (GPU only; ignored on CPU)
    checkpoint_every: int = 1  # epochs between checkpoints; the last epoch is always saved
    data_dir: str | None = None
    image_size: int | None = None  # beans only: side of the square input
    train_limit: int | None = None  # use only the first N training images (smoke runs, tests)
    val_limit: int | None = None
    # Bookkeeping set by the runner; kept so results say what ran where.
    family: str = ""
    repeat: int = 0
    gpus_per_trial: float = 0.0
    cpus_per_trial: float = 1.0
    record: int = 0  # published tuning record this trial reproduces, 0 = none
    model_args: dict[str, Any] = field(default_factory=dict)  # builder arguments

    @classmethod
    def from_flat(cls, flat: Mapping[str, Any], builder_parameters: set[str]) -> "TrainConfig":
        """Split a flat trial config into training fields and builder arguments."""
        own = {f.name for f in dataclasses.fields(cls)} - {"model_args"}
        known = {key: value for key, value in flat.items() if key in own}
        rest = {key: value for key, value in flat.items() if key not in own}
        unknown = sorted(set(rest) - set(builder_parameters))
        missing = sorted(name for name in ("model", "activation", "dataset", "epochs") if name not in known)
        if missing:
            raise ValueError(f"trial config lacks required key(s) {missing}")
        if unknown:
            raise ValueError(
                f"unknown config key(s) {unknown}: not a training setting and not an argument of "
                f"model builder {known['model']!r} (it takes {sorted(builder_parameters)})"
            )
        config = cls(**known, model_args=dict(rest))
        config.validate()
        return config

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not one of {OPTIMIZERS}")
        if self.augment_on not in AUGMENT_PLACEMENTS:
            raise ValueError(f"augment_on {self.augment_on!r} is not one of {AUGMENT_PLACEMENTS}")
        for name in ("epochs", "batch_size", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")

    @property
    def augmentation(self) -> dict[str, Any]:
        return {
            "rotation": self.rotation,
            "horizontal_flip": self.horizontal_flip,
            "width_shift": self.width_shift,
            "height_shift": self.height_shift,
            "zoom": self.zoom,
            "shear": self.shear,
        }

    def data_key(self) -> tuple:
        """What identifies the arrays a trial trains on: trials sharing it share one copy."""
        return (self.dataset, self.data_dir, self.image_size, self.train_limit, self.val_limit)
