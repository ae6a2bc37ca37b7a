"""The one Tune function trainable every sweep runs.

    tune.with_parameters(train, data=dataset)   # arrays travel once, through the object store

Config flows one way: flat trial config -> `TrainConfig` -> builder arguments and activation
settings (`parse_config` checks every value before anything is built). Each
epoch reports one row (see `METRICS`); checkpoints hold the whole model (optimizer state
included) plus the epoch, so a restored trial continues at the right epoch and rate.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from trainables import correctness
from trainables.config import TrainConfig
from trainables.constraints import check_value
from trainables.determinism import make_deterministic, random_state, restore_random_state
from trainables.devices import configure_gpus
from trainables.recovery import MODEL_FILE, STATE_FILE, checkpoint_to_load
from trainables.schedules import step_decay

log = logging.getLogger(__name__)

METRICS = (
    "epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr",
    "test_loss", "test_accuracy",  # reported for curves, never used for a decision (see `validation`)
    "epoch_seconds", "images_per_second", "diverged", "stop_reason",
    "gpu_ids", "node_id",  # where the trial ran (see `placement`)
)
DIVERGED = "diverged: non-finite training loss"


def parse_config(flat: Mapping[str, Any]) -> TrainConfig:
    """The typed config of a flat trial config; any value a builder or activation would reject raises.

    Every error is one ValueError line naming the key and the value, raised before a model is
    built (the runner calls this for every sampled config before Ray starts).
    """
    from trainables.activations import activation_settings, resolve_activation
    from trainables.data.augment import AugmentConfig
    from trainables.models import builder_settings, check_arguments

    for key in ("model", "activation"):
        if key not in flat:
            raise ValueError(f"trial config lacks the {key!r} key")
    every_activation = activation_settings()
    config = TrainConfig.from_flat(
        flat, builder_settings(flat["model"]), activation_settings(flat["activation"]), every_activation
    )
    check_arguments(config.model, config.model_args)
    resolve_activation(config.activation, **config.activation_args)
    unused = (set(flat) & set(every_activation)) - set(config.model_args) - set(config.activation_args)
    for key in sorted(unused):
        check_value(key, flat[key], every_activation[key])  # another activation's setting: unused, still valid
    AugmentConfig.from_mapping(config.augmentation)  # its ranges (degrees, fractions)
    return config


def release_previous_trial() -> None:
    """Free what an earlier trial in this process left (Tune reuses trial processes).

    Keras' `clear_session` ends in a full garbage collection, which scans every object alive:
    in a trial process mostly TensorFlow's, Keras' and Ray's own, made at import and never
    garbage. The first call moves those out of the collector's reach (`gc.freeze`), so each
    later collection scans only what trials made: 0.31 s against 0.01-0.03 s per trial on
    digits (BENCHMARKS.md, trial start-up). Frozen objects are still freed by reference counting.
    """
    import gc

    import keras

    if not gc.get_freeze_count():
        gc.freeze()
    keras.backend.clear_session()


def seed_everything(seed: int) -> None:
    import keras

    keras.utils.set_random_seed(seed)  # seeds Python's random, NumPy and the backend


def build_model(config: TrainConfig, input_shape: tuple, num_classes: int):
    """The compiled model: builder output, augmentation in front when it runs on device."""
    import keras

    from trainables.activations import resolve_activation
    from trainables.models import get_model

    network = get_model(
        config.model,
        input_shape=tuple(input_shape),
        num_classes=num_classes,
        activation=resolve_activation(config.activation, **config.activation_args),
        **config.model_args,
    )
    augmentation = augmentation_for(config, "model")
    if augmentation is not None:
        inputs = keras.Input(shape=tuple(input_shape))
        network = keras.Model(inputs, network(augmentation(inputs)), name=f"{network.name}_augmented")
    compile_model(network, config, make_optimizer(config))
    return network


def augmentation_for(config: TrainConfig, placement: str):
    """The trial's augmentation layer if it runs at `placement` ("pipeline" or "model"), else None."""
    from trainables.data.augment import AugmentConfig, build_augmentation

    if config.augment_on != placement:
        return None
    return build_augmentation(AugmentConfig.from_mapping(config.augmentation), seed=config.seed)


def make_optimizer(config: TrainConfig):
    import keras

    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=config.lr, momentum=config.momentum, nesterov=config.nesterov)
    if config.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=config.lr)
    return keras.optimizers.Adam(learning_rate=config.lr)


def compile_model(model, config: TrainConfig, optimizer) -> None:
    import keras

    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )
    if not model.optimizer.built:  # (compile may have wrapped `optimizer` for loss scaling)
        # Made inside the first traced step, the optimizer's slots make TensorFlow trace the step
        # twice (a tf.function that creates variables is traced again without): ~0.3 s a trial.
        model.optimizer.build(model.trainable_variables)


def save_checkpoint(directory: Path, model, epoch: int, config: TrainConfig, flat: Mapping[str, Any]) -> None:
    model.save(directory / MODEL_FILE)  # includes the optimizer's slots (momentum)
    state = {"epoch": epoch, "lr": lr_for(config, epoch - 1), "config": dict(flat),
             "random_state": random_state(model)}  # .keras leaves it out (trainables.determinism)
    (directory / STATE_FILE).write_text(json.dumps(state, default=str))


def load_checkpoint(directory: Path, config: TrainConfig):
    """Model with its optimizer state, and the number of epochs already trained."""
    import keras

    import trainables.models  # noqa: F401  registers every custom layer (trainables.layers and the builders' own)

    model = keras.models.load_model(directory / MODEL_FILE)
    compile_model(model, config, model.optimizer)
    state = json.loads((directory / STATE_FILE).read_text())
    restore_random_state(model, state.get("random_state"))
    return model, int(state["epoch"])


def lr_for(config: TrainConfig, epoch_index: int) -> float:
    return step_decay(epoch_index, config.lr, config.lr_decay_factor, config.lr_decay_every)


def set_precision(config: TrainConfig, gpus: list) -> None:
    """Mixed precision only pays on GPUs; on a CPU it is slower, so it is ignored there."""
    import keras

    policy = "mixed_float16" if config.mixed_precision and gpus else "float32"
    keras.mixed_precision.set_global_policy(policy)


def placement() -> dict[str, str]:
    """Where this trial runs, for checking the scheduling afterwards: the GPU ids Ray gave it
    (comma-separated, "" when none; logical ids on a CPU-only cluster) and its node."""
    import ray

    return {
        "gpu_ids": ",".join(str(gpu_id) for gpu_id in ray.get_gpu_ids()),
        "node_id": ray.get_runtime_context().get_node_id(),
    }


def trial_data(settings: TrainConfig, data: Any):
    """The driver's arrays when they are the ones this trial asks for, else its own load."""
    from trainables.data import load_dataset
    from trainables.data.datasets import HOLDOUT_SEED

    holdout_seed = HOLDOUT_SEED if settings.validation_split == "fixed" else settings.seed
    if data is not None and getattr(data, "name", settings.dataset) == settings.dataset and (
        getattr(data, "validation", settings.validation) == settings.validation
    ) and getattr(data, "validation_fraction", None) in (None, settings.validation_fraction) and (
        getattr(data, "holdout_seed", None) in (None, holdout_seed)
    ):
        return data  # (a split of the dataset's own, e.g. beans', has no fraction or seed to match)
    return load_dataset(
        settings.dataset, settings.data_dir, image_size=settings.image_size,
        train_limit=settings.train_limit, val_limit=settings.val_limit, seed=settings.seed,
        validation=settings.validation, validation_fraction=settings.validation_fraction,
        validation_split=settings.validation_split,
    )


def start_model(settings: TrainConfig, data: Any):
    """The model and the epochs already trained: from Tune's checkpoint when restoring (or the
    newest whole one before it, when the run was interrupted as Tune deleted it: see recovery)."""
    from ray import tune

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        checkpoint = checkpoint_to_load(checkpoint)
    if checkpoint is None:
        return build_model(settings, data.input_shape, data.num_classes), 0
    with checkpoint.as_directory() as directory:
        model, start_epoch = load_checkpoint(Path(directory), settings)
    log.info("resumed at epoch %d", start_epoch)
    return model, start_epoch


@dataclass(frozen=True)
class Batches:
    """A trial's input pipelines; `test` is None when the test split is the validation split.
    `epoch` is the variable the training order is drawn for (set before each epoch)."""

    train: Any
    val: Any
    test: Any
    num_train: int
    epoch: Any = None


def correct_on_test(model, data: Any, settings: TrainConfig):
    """Per test image, whether the model gets it right (trainables.correctness): the test_accuracy images."""
    return correctness.per_image(model, data.x_test, data.y_test, max(settings.batch_size, 256))


def make_batches(settings: TrainConfig, data: Any, start_epoch: int) -> Batches:
    from trainables.data.pipeline import epoch_variable, eval_dataset, train_dataset

    eval_batch = max(settings.batch_size, 256)
    x_test = getattr(data, "x_test", None)
    epoch = epoch_variable(start_epoch)  # each epoch's order and draws follow (seed, epoch): resumes match
    return Batches(
        train=train_dataset(
            data.x_train, data.y_train, batch_size=settings.batch_size,
            augmentation=augmentation_for(settings, "pipeline"), seed=settings.seed, epoch=epoch,
        ),
        val=eval_dataset(data.x_val, data.y_val, batch_size=eval_batch),
        test=None if x_test is None or x_test is data.x_val else eval_dataset(x_test, data.y_test, batch_size=eval_batch),
        num_train=len(data.x_train),
        epoch=epoch,
    )


def run_epoch(model, batches: Batches, settings: TrainConfig, epoch_index: int) -> dict[str, Any]:
    """Train one epoch at the schedule's rate and evaluate; the row Tune gets (see METRICS)."""
    import keras

    lr = lr_for(settings, epoch_index)
    model.optimizer.learning_rate.assign(lr)
    if batches.epoch is not None:
        batches.epoch.assign(epoch_index)
    started = time.perf_counter()
    history = model.fit(
        batches.train, epochs=1, verbose=0, shuffle=False,  # the pipeline shuffles
        callbacks=[keras.callbacks.TerminateOnNaN()],
    )
    train_seconds = time.perf_counter() - started
    train_logs = {key: float(values[-1]) for key, values in history.history.items()}
    loss = train_logs.get("loss", math.nan)
    diverged = not math.isfinite(loss)
    if diverged:
        val_logs = test_logs = {"loss": math.nan, "accuracy": math.nan}
    else:
        val_logs = model.evaluate(batches.val, verbose=0, return_dict=True)
        test_logs = val_logs if batches.test is None else model.evaluate(batches.test, verbose=0, return_dict=True)
    return {
        "epoch": epoch_index + 1,
        "loss": loss,
        "accuracy": train_logs.get("accuracy", math.nan),
        "val_loss": float(val_logs["loss"]),
        "val_accuracy": float(val_logs["accuracy"]),
        "test_loss": float(test_logs["loss"]),
        "test_accuracy": float(test_logs["accuracy"]),
        "lr": lr,
        "epoch_seconds": time.perf_counter() - started,
        "images_per_second": batches.num_train / train_seconds if train_seconds > 0 else math.nan,
        "diverged": diverged,
        "stop_reason": DIVERGED if diverged else "",
        **placement(),
    }


def report(metrics: dict[str, Any], model, settings: TrainConfig, config: Mapping[str, Any]) -> None:
    """Report the epoch to Tune, with a checkpoint every `checkpoint_every` epochs and at the end."""
    from ray import tune

    epoch = metrics["epoch"]
    if metrics["diverged"] or (epoch % settings.checkpoint_every and epoch != settings.epochs):
        tune.report(metrics)
        return
    with tempfile.TemporaryDirectory(prefix="ckpt-") as directory:
        save_checkpoint(Path(directory), model, epoch, settings, config)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))


def train(config: Mapping[str, Any], data: Any = None) -> None:
    """Train one trial, reporting every epoch to Tune; see the module docstring."""
    gpus = configure_gpus()  # before any TensorFlow op of this process
    settings = parse_config(config)
    make_deterministic(settings.cpus_per_trial, ops=not settings.jit_compile)  # before any op: the pool starts then
    release_previous_trial()
    set_precision(settings, gpus)
    seed_everything(settings.seed)
    data = trial_data(settings, data)
    model, start_epoch = start_model(settings, data)
    batches = make_batches(settings, data, start_epoch)
    for epoch_index in range(start_epoch, settings.epochs):
        metrics = run_epoch(model, batches, settings, epoch_index)
        if metrics["epoch"] == settings.epochs and not metrics["diverged"]:
            metrics[correctness.KEY] = correctness.encode(correct_on_test(model, data, settings))
        report(metrics, model, settings, config)
        if metrics["diverged"]:
            log.warning("trial diverged at epoch %d (loss %s); ending it", metrics["epoch"], metrics["loss"])
            return


__all__ = ["train", "parse_config", "build_model", "METRICS", "DIVERGED"]
