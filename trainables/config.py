"""The typed training config of one trial, and the types of every key a trial config may set.

A trial's config arrives from Tune as one flat dict (so that every key becomes its own
column in the result tables). The keys named by `TrainConfig`'s fields drive training; the
other keys are arguments of the chosen model builder or settings of the chosen activation
(each under its own name, e.g. `reduction` for APReLU); anything else is a typo that fails
loudly before a single step runs. Each field's annotation (trainables.constraints) states its
type and range; `TrainConfig.validate` checks every field against it.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Iterable, Mapping

from trainables.constraints import Above, AtLeast, AtMost, NonNegative, OneOf, Positive, check_value

OPTIMIZERS = ("sgd", "rmsprop", "adam")
AUGMENT_PLACEMENTS = ("pipeline", "model")
REQUIRED = ("model", "activation", "dataset", "epochs")


def default_augment_placement() -> str:
    """"pipeline" on the TensorFlow backend, "model" on the others (tf.data maps run TensorFlow only)."""
    import keras

    return "pipeline" if keras.config.backend() == "tensorflow" else "model"


def default_jit_compile() -> bool:
    """Off on TensorFlow (measured faster on CPU, BENCHMARKS.md); on elsewhere (JAX without jit runs op by op)."""
    import keras

    return keras.config.backend() != "tensorflow"


def default_steps_per_execution() -> int:
    """25 on JAX, where Keras' fit loop pays host work per call (record-1 epoch on an H200: 2.81 s
    against 3.99 s at 1, BENCHMARKS.md); 1 on TensorFlow, where it measured within noise on the CPU."""
    import keras

    return 1 if keras.config.backend() == "tensorflow" else 25


@dataclass(frozen=True)
class TrainConfig:
    model: str  # builder name in trainables.models
    activation: str  # activation name in trainables.activations: the scientific variable
    dataset: str  # trainables.data dataset name, real or generated
    epochs: Positive  # the trial's budget; the scheduler may stop it sooner
    seed: Annotated[int, AtLeast(0), AtMost(2**32 - 1)] = 0  # seeds Python, NumPy and the backend, and the shuffle
    optimizer: Annotated[str, OneOf(OPTIMIZERS)] = "sgd"  # sgd (with momentum/nesterov), rmsprop or adam
    lr: Annotated[float, Above(0.0)] = 0.1
    momentum: Annotated[float, AtLeast(0.0), AtMost(1.0)] = 0.9  # SGD only
    nesterov: bool = True  # SGD only
    lr_decay_factor: Annotated[float, Above(0.0)] = 0.1  # step decay: lr * factor every `lr_decay_every` epochs
    lr_decay_every: Annotated[int, AtLeast(0)] = 0  # 0 = constant learning rate
    batch_size: Positive = 100
    # Augmentation, named after Keras 2 ImageDataGenerator's arguments (docs/data.md); ranges
    # are AugmentConfig's (trainables.data.augment), checked by parse_config.
    rotation: float = 0.0  # degrees
    horizontal_flip: bool = False
    width_shift: float = 0.0  # fraction of the width
    height_shift: float = 0.0  # fraction of the height
    zoom: float = 0.0
    shear: float = 0.0  # degrees
    # tf.data on the CPU, or in the model (on the accelerator); by default tf.data on TensorFlow and the
    # model elsewhere, where tf.data cannot run Keras layers (see `default_augment_placement`).
    augment_on: Annotated[str, OneOf(AUGMENT_PLACEMENTS)] = field(default_factory=default_augment_placement)
    jit_compile: bool = field(default_factory=default_jit_compile)  # XLA; BENCHMARKS.md has the measured default
    mixed_precision: bool = False  # mixed_float16 (GPU only; ignored on CPU)
    # Train steps per call of the compiled step (Keras' steps_per_execution): epoch-level reports are unchanged.
    steps_per_execution: Positive = field(default_factory=default_steps_per_execution)
    checkpoint_every: Positive = 1  # epochs between checkpoints; the last epoch is always saved
    data_dir: str | None = None
    image_size: Positive | None = None  # beans only: side of the square input
    train_limit: Positive | None = None  # use only the first N training images (smoke runs, tests)
    val_limit: Positive | None = None  # at most N validation and N test images
    # "holdout": decide on a split held out of the training data (beans: its own), report
    # test_* only; "test": the seeds' protocol (validate on the test split), for reproductions.
    validation: Annotated[str, OneOf(("holdout", "test"))] = "holdout"
    validation_fraction: Annotated[float, Above(0.0), AtMost(0.5)] = 0.1  # of the training split
    # Which images the holdout takes: the same for every trial ("fixed"), or drawn with the trial's seed
    # ("per_seed", so seeds also vary the validation images: trainables.data.datasets).
    validation_split: Annotated[str, OneOf(("fixed", "per_seed"))] = "fixed"
    # Bookkeeping set by the runner; kept so results say what ran where.
    family: str = ""
    repeat: Annotated[int, AtLeast(0)] = 0
    gpus_per_trial: NonNegative = 0.0
    keras_backend: str = ""  # the Keras backend the trials ran on ("tensorflow", "jax")
    cpus_per_trial: Annotated[float, Above(0.0)] = 1.0
    record: Annotated[int, AtLeast(0)] = 0  # published tuning record this trial reproduces, 0 = none
    # A confirmation trial's (sweeps.engine.confirm): the search trial it re-runs with a new seed, that
    # trial's arm, and its configuration's rank in the arm (1 = best; 0 = a search trial).
    confirms: str = ""
    confirm_arm: str = ""
    confirm_rank: Annotated[int, AtLeast(0)] = 0
    # ...and the stage's look plan (analysis.verdict.looks): its margin, the most seeds a configuration may
    # run, the seeds added per look, and the 1-based look this trial's seed belongs to (0 = none).
    confirm_margin: NonNegative = 0.0
    confirm_seeds: Annotated[int, AtLeast(0)] = 0
    confirm_batch: Annotated[int, AtLeast(0)] = 0
    confirm_look: Annotated[int, AtLeast(0)] = 0
    model_args: dict[str, Any] = field(default_factory=dict)  # builder arguments
    activation_args: dict[str, Any] = field(default_factory=dict)  # settings of the chosen activation

    @classmethod
    def from_flat(
        cls,
        flat: Mapping[str, Any],
        builder_parameters: Iterable[str],
        activation_parameters: Iterable[str] = (),
        ignored: Iterable[str] = (),
    ) -> "TrainConfig":
        """Split a flat trial config into training fields, builder and activation arguments.

        A key may be both a builder argument and an activation setting (both get it); keys in
        `ignored` (settings of activations not chosen) are accepted and dropped.
        """
        own = set(field_types())
        known = {key: value for key, value in flat.items() if key in own}
        missing = sorted(name for name in REQUIRED if name not in known)
        if missing:
            raise ValueError(f"trial config lacks required key(s) {missing}")
        rest = {key: value for key, value in flat.items() if key not in own}
        model_args, activation_args, unknown = split_keys(rest, builder_parameters, activation_parameters, ignored)
        if unknown:
            raise ValueError(
                f"unknown config key(s) {unknown}: not a training setting, not an argument of model builder "
                f"{known['model']!r} (it takes {sorted(builder_parameters)}) and not a setting of activation "
                f"{known['activation']!r} (it takes {sorted(activation_parameters) or 'none'})"
            )
        config = cls(**known, model_args=model_args, activation_args=activation_args)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise a one-line ValueError naming the first field whose value its annotation rejects."""
        for name, annotation in typing.get_type_hints(type(self), include_extras=True).items():
            if name not in ("model_args", "activation_args"):
                check_value(name, getattr(self, name), annotation)
        augments = any(self.augmentation.values())
        if self.augment_on == "pipeline" and augments and default_augment_placement() != "pipeline":
            raise ValueError("augment_on='pipeline' runs the augmentation in tf.data, which needs the tensorflow "
                             "backend; on this backend use augment_on='model' (the default here)")

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


def split_keys(
    settings: Mapping[str, Any],
    builder_parameters: Iterable[str],
    activation_parameters: Iterable[str],
    ignored: Iterable[str] = (),
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(builder arguments, activation arguments, unknown keys) of flat `settings`.

    A key may be both a builder argument and a setting of the activation (aprelu_resnet's
    bn_momentum): both get it. Keys in `ignored` (settings of registered activations not
    chosen) are dropped, so one search space can grid over activations with different settings.
    """
    builder_parameters, activation_parameters = set(builder_parameters), set(activation_parameters)
    builder_arguments = {key: value for key, value in settings.items() if key in builder_parameters}
    activation_arguments = {key: value for key, value in settings.items() if key in activation_parameters}
    known = builder_parameters | activation_parameters | set(ignored)
    return builder_arguments, activation_arguments, sorted(key for key in settings if key not in known)


def field_types() -> dict[str, Any]:
    """TrainConfig's config keys -> their annotations (constraints included)."""
    hints = typing.get_type_hints(TrainConfig, include_extras=True)
    return {field.name: hints[field.name] for field in dataclasses.fields(TrainConfig)
            if field.name not in ("model_args", "activation_args")}
