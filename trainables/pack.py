"""Several trials of one configuration trained as one program: a pack (issue 30).

    pack = Pack.build([dict(config, seed=seed) for seed in (0, 1, 2, 3)], data)
    for epoch_index in range(pack.start_epoch, pack.epochs):
        rows = pack.run_epoch(epoch_index)  # {member index: its METRICS row}, members still training
    pack.save(directory, epoch)  # member_<i>/ holds what a lone trial's checkpoint holds

A pack trains S members that differ in their seed (and bookkeeping: `OWN_KEYS`) in one process,
as one program per step, on TensorFlow:

- each member is the model its config builds alone: `seed_everything(seed)`, then
  `trainables.trainable.build_model`, member by member, so its initial weights, its dropout's and
  augmentation layers' seed generators, its optimizer, loss tracker and metrics are those of its
  lone trial; every builder and activation works, with no code of its own;
- one `tf.function` per step runs every member's own Keras `train_step` on its own batch; one
  pipeline draws each member's batches from its own (seed, epoch) order and augmentation
  (`pipeline.pack_train_dataset`); one member's step is traced once and run on every member's
  variables, inlined as `fit` inlines it (`trainables.pack_step`);
- each epoch's evaluation runs every member's `test_step` on the same validation and test batches.

So each member computes exactly the operations of its lone trial, on its own variables: its
weights and every epoch's metrics equal the lone trial's bit for bit (tests/trainables/
test_pack.py: antirectifier MLP, APReLU ResNet and SELU MLP with dropout and augmentation, 3
seeds each; benchmarks/fused_trials.py: every member compared, MLP and record-1 ResNet).

Why side by side, not vectorised (stacked weights under `tf.vectorized_map`; `jax.vmap` over
`stateless_call`), measured on this project's CPU (BENCHMARKS.md, "Fused trials"): a step of 8
MLPs of the digits workload's shapes costs the same stacked as side by side (12.6 against 11.8 ms
of CPU), so batching the arithmetic buys nothing here, and it would give up bit equality (other
kernels) and members that are plain Keras models (checkpoints, `load_best_model`). What a pack
saves is each trial's trace and each epoch's `fit`, `evaluate` and iterator set-up; what it cannot
save is the members' arithmetic (and each member's graph optimisation, see `GROUP_OPS`): 8 digits
MLP members ran 1.9-2.2x the members per second of separate trials (their later epochs alone bound it
at 3.5x: each member's own operations, repeated per member), record-1 ResNets 1.3-1.4x.
On a GPU, where a small net's step is launch latency rather than arithmetic, a vectorised step is
the candidate; it needs the JAX backend (no TensorFlow on the GPU machines lent here) and is not
built: packs run on the TensorFlow backend only, one step per call (`steps_per_execution` is 1
there by default).

Divergence is each member's own, as `keras.callbacks.TerminateOnNaN` makes it for a lone trial:
after the step in which a member's running training loss turns non-finite, that member is left
out of every later step (its weights and optimizer stop where a lone trial's would) and its row
for the epoch says it diverged; the others train on. Members must agree on `SHARED_KEYS` (one
loop, one process); members differing in more than `OWN_KEYS` still train together, each step
traced per member (slower to start, same numbers).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import keras
import tensorflow as tf

from trainables.config import TrainConfig
from trainables.data.pipeline import epoch_variable, eval_dataset, pack_train_dataset
from trainables.pack_step import Replicated, build_step_state, test_step, train_step
from trainables.recovery import MEMBER_DIRECTORY, PACK_FILE
from trainables.trainable import (
    DIVERGED,
    augmentation_for,
    build_model,
    load_checkpoint,
    lr_for,
    parse_config,
    save_checkpoint,
    seed_everything,
    trial_data,
)

log = logging.getLogger(__name__)

# What one loop in one process needs the members to share: the data's shape and size, the steps
# per epoch, the budget, the checkpoint rhythm, and process-wide settings (precision, XLA, threads).
SHARED_KEYS = (
    "dataset", "data_dir", "image_size", "train_limit", "val_limit", "validation", "validation_fraction",
    "validation_split", "batch_size", "epochs", "checkpoint_every", "jit_compile", "mixed_precision",
    "cpus_per_trial", "gpus_per_trial", "keras_backend",
)
# Members whose training steps hold at most this many operations in all share one program a step;
# more make groups, each its own program. TensorFlow optimises a program of S inlined copies in more
# than S times one copy's time (record-1 ResNet, 11,978 operations a step: 3.6 s alone, 4.7 and 5.1 s
# a copy in programs of 2 and 4), while a small step's copies gain from sharing one call (digits MLP,
# 476 operations: up to 21 members in one program).
GROUP_OPS = 10_000
# What members may hold on their own while one traced program serves them all (trainables.pack_step):
# the seed, whose effects live in variables (initial weights, seed generators) and in each member's
# pipeline, and bookkeeping that no step reads.
OWN_KEYS = ("seed", "family", "repeat", "record", "confirms", "confirm_arm", "confirm_rank", "confirm_margin",
            "confirm_seeds", "confirm_batch", "confirm_look")


def member_directory(directory: Path, index: int) -> Path:
    """Where member `index` of a pack checkpoint keeps its own (a lone trial's) checkpoint files."""
    return Path(directory) / MEMBER_DIRECTORY.format(index=index)


def check_members(settings: Sequence[TrainConfig]) -> None:
    """Raise a one-line ValueError when members disagree on a key they must share."""
    if not settings:
        raise ValueError("a pack needs at least one member config")
    first = settings[0]
    for index, other in enumerate(settings[1:], start=1):
        for key in SHARED_KEYS:
            if getattr(other, key) != getattr(first, key):
                raise ValueError(f"pack members must share {key!r}: member 0 has {getattr(first, key)!r}, "
                                 f"member {index} has {getattr(other, key)!r}")


def one_program(settings: Sequence[TrainConfig]) -> bool:
    """Whether the members' configs differ in `OWN_KEYS` only (so one trace of the step serves all)."""
    def rest(config: TrainConfig) -> TrainConfig:
        return dataclasses.replace(config, **{key: getattr(settings[0], key) for key in OWN_KEYS})

    return all(rest(other) == settings[0] for other in settings[1:])


@dataclass
class Member:
    """One trial in a pack: its config, its own compiled model and data, and whether it diverged."""

    settings: TrainConfig
    config: Mapping[str, Any]  # the flat trial config (saved with its checkpoints)
    model: Any  # keras.Model, None for a member restored after it had diverged
    data: Any  # its ArrayDataset (the driver's arrays, shared, unless its config asks for others)
    diverged_at: int = 0  # the 1-based epoch whose training loss turned non-finite; 0 = training

    @property
    def training(self) -> bool:
        return self.diverged_at == 0


class Pack:
    """S members trained by one program; see the module docstring."""

    def __init__(self, members: Sequence[Member], start_epoch: int = 0) -> None:
        if keras.config.backend() != "tensorflow":
            raise ValueError(f"packs run on the tensorflow Keras backend, got {keras.config.backend()!r}; "
                             "train the members as separate trials there")
        check_members([member.settings for member in members])
        self.members = list(members)
        self.start_epoch = int(start_epoch)
        self.settings = self.members[0].settings  # the shared keys
        self.epoch = epoch_variable(self.start_epoch)  # one epoch for every member's order and draws
        self._pipelines: dict[tuple, Any] = {}
        self._functions: dict[tuple, Any] = {}
        models = {index: self.members[index].model for index in self.training()}
        if models:
            batch_spec = self._train_pipeline(tuple(models)).element_spec[0]  # one member's (images, labels)
            for model in models.values():
                build_step_state(model, batch_spec)
            jit_compile = all(bool(model.jit_compile) for model in models.values())
            share = one_program([self.members[index].settings for index in models])
            self._batch_spec = batch_spec
            self._train_step = Replicated(train_step, models, batch_spec, jit_compile=jit_compile, share=share)
            self._test_step = Replicated(test_step, models, batch_spec, jit_compile=jit_compile, share=share)

    @classmethod
    def build(cls, configs: Sequence[Mapping[str, Any]], data: Any = None) -> "Pack":
        """Fresh members, each initialised as its seed initialises a lone trial."""
        members = []
        for config in configs:
            settings = parse_config(config)
            member_data = trial_data(settings, data)
            seed_everything(settings.seed)  # what `train` does before it builds, member by member
            model = build_model(settings, member_data.input_shape, member_data.num_classes)
            members.append(Member(settings, dict(config), model, member_data))
        return cls(members)

    @classmethod
    def restore(cls, directory: Path, configs: Sequence[Mapping[str, Any]], data: Any = None) -> "Pack":
        """The pack a checkpoint written by `save` holds: every member continues from its own files."""
        directory = Path(directory)
        state = json.loads((directory / PACK_FILE).read_text())
        if state["members"] != len(configs):
            raise ValueError(f"pack checkpoint {directory} holds {state['members']} members, "
                             f"got {len(configs)} configs")
        diverged = {int(index): epoch for index, epoch in state["diverged"].items()}
        members = []
        for index, config in enumerate(configs):
            settings = parse_config(config)
            model = None
            if index not in diverged:
                seed_everything(settings.seed)
                model, epoch = load_checkpoint(member_directory(directory, index), settings)
                if epoch != state["epoch"]:
                    raise ValueError(f"pack checkpoint {directory}: member {index} is at epoch {epoch}, "
                                     f"the pack at {state['epoch']}")
            members.append(Member(settings, dict(config), model, trial_data(settings, data), diverged.get(index, 0)))
        return cls(members, start_epoch=int(state["epoch"]))

    @property
    def epochs(self) -> int:
        return self.settings.epochs

    def __len__(self) -> int:
        return len(self.members)

    def model(self, index: int):
        """Member `index` as the plain compiled Keras model a lone trial would hold."""
        return self.members[index].model

    def training(self) -> tuple[int, ...]:
        return tuple(index for index, member in enumerate(self.members) if member.training)

    def _train_pipeline(self, indices: tuple[int, ...]):
        """One (images, labels) batch per member in `indices` per step, as each member's own pipeline gives it."""
        key = ("train", indices)
        if key not in self._pipelines:
            members = [self.members[index] for index in indices]
            self._pipelines[key] = pack_train_dataset(
                [(member.data.x_train, member.data.y_train, augmentation_for(member.settings, "pipeline"),
                  member.settings.seed) for member in members],
                batch_size=self.settings.batch_size, epoch=self.epoch,
            )
        return self._pipelines[key]

    def _eval_pipeline(self, indices: tuple[int, ...], split: str):
        """One batch of `split` per member in `indices` per step, each member's data read once when shared."""
        key = (split, indices)
        if key not in self._pipelines:
            distinct: list[Any] = []
            for index in indices:
                if not any(self.members[index].data is data for data in distinct):
                    distinct.append(self.members[index].data)
            place = [next(number for number, data in enumerate(distinct) if data is self.members[index].data)
                     for index in indices]
            if len({len(getattr(data, f"x_{split}")) for data in distinct}) > 1:
                raise ValueError(f"pack members' {split} splits differ in size; give the pack one dataset")
            batch_size = max(self.settings.batch_size, 256)  # as trainables.trainable.make_batches
            datasets = tuple(eval_dataset(getattr(data, f"x_{split}"), getattr(data, f"y_{split}"),
                                          batch_size=batch_size) for data in distinct)
            self._pipelines[key] = tf.data.Dataset.zip(datasets).map(
                lambda *batches: tuple(batches[number] for number in place))
        return self._pipelines[key]

    def _groups(self, indices: tuple[int, ...]) -> list[tuple[int, ...]]:
        """`indices` in the groups that share one program (see `GROUP_OPS`)."""
        operations = self._train_step.operations
        size = len(indices) if operations is None else max(1, GROUP_OPS // operations)
        return [indices[start:start + size] for start in range(0, len(indices), size)]

    def _function(self, kind: str, indices: tuple[int, ...]):
        """The pack's programs, one per set of members (a set changes only when a member diverges):
        "train" (a step of the members in `indices` on their batches: their running losses), "test"
        (an evaluation step), "begin" (set rates, reset metrics), "reset", "results" (the metrics)."""
        key = (kind, indices)
        if key in self._functions:
            return self._functions[key]
        models = [self.members[index].model for index in indices]
        signature = None
        if kind in ("train", "test"):
            replicated = self._train_step if kind == "train" else self._test_step
            signature = [tuple(self._batch_spec for _ in indices)]  # any batch size: one trace

            def function(batches):
                logs = [replicated.call(index, batch) for index, batch in zip(indices, batches)]
                return tf.stack([log["loss"] for log in logs])
        elif kind == "begin":
            def function(rates):
                for position, model in enumerate(models):
                    model.optimizer.learning_rate.assign(rates[position])
                    model.reset_metrics()
        elif kind == "reset":
            def function():
                for model in models:
                    model.reset_metrics()
        else:
            def function():
                return [model.get_metrics_result() for model in models]
        self._functions[key] = tf.function(function, input_signature=signature, autograph=False)  # as Keras traces
        return self._functions[key]

    def _results(self, indices: tuple[int, ...]) -> dict[int, dict[str, float]]:
        results = self._function("results", indices)()
        return {index: {name: float(value) for name, value in result.items()}
                for index, result in zip(indices, results)}

    def _evaluate(self, indices: tuple[int, ...], split: str) -> dict[int, dict[str, float]]:
        """Each member's loss and accuracy on `split`, as `model.evaluate(..., return_dict=True)` gives them."""
        self._function("reset", indices)()
        dataset = self._eval_pipeline(indices, split)
        groups = [(group, [indices.index(index) for index in group]) for group in self._groups(indices)]
        for batches in dataset:
            for group, positions in groups:
                self._function("test", group)(tuple(batches[position] for position in positions))
        return self._results(indices)

    def run_epoch(self, epoch_index: int) -> dict[int, dict[str, Any]]:
        """Train every member still training for one epoch and evaluate it: {index: its row}.

        The rows hold `trainables.trainable.METRICS` except where the trial ran (`gpu_ids`,
        `node_id`: the trainable adds them); `epoch_seconds` and `images_per_second` are the pack's
        wall time, in which each member trained its own images.
        """
        indices = self.training()
        if not indices:
            return {}
        started = time.perf_counter()
        rates = [lr_for(self.members[index].settings, epoch_index) for index in indices]
        self._function("begin", indices)(tf.constant(rates, tf.float32))
        self.epoch.assign(epoch_index)
        running = indices
        groups = self._groups(running)
        for batches in self._train_pipeline(indices):
            stopped = []
            for group in groups:
                losses = self._function("train", group)(tuple(batches[indices.index(index)] for index in group))
                stopped += [index for index, loss in zip(group, losses.numpy()) if not math.isfinite(loss)]
            if stopped:  # as TerminateOnNaN ends a lone trial's epoch after this step
                for index in stopped:
                    self.members[index].diverged_at = epoch_index + 1
                    log.warning("pack member %d diverged at epoch %d", index, epoch_index + 1)
                running = tuple(index for index in running if index not in stopped)
                if not running:
                    break
                groups = self._groups(running)
        train_logs = self._results(indices)
        train_seconds = time.perf_counter() - started
        finite = self.training()
        val_logs = test_logs = {}
        if finite:
            val_logs = self._evaluate(finite, "val")
            data = self.members[finite[0]].data
            separate_test = getattr(data, "x_test", None) is not None and data.x_test is not data.x_val
            test_logs = self._evaluate(finite, "test") if separate_test else val_logs
        seconds = time.perf_counter() - started
        nan = {"loss": math.nan, "accuracy": math.nan}
        rows = {}
        for index, rate in zip(indices, rates):
            member = self.members[index]
            val, test = val_logs.get(index, nan), test_logs.get(index, nan)
            rows[index] = {
                "epoch": epoch_index + 1,
                "loss": train_logs[index].get("loss", math.nan),
                "accuracy": train_logs[index].get("accuracy", math.nan),
                "val_loss": val["loss"],
                "val_accuracy": val["accuracy"],
                "test_loss": test["loss"],
                "test_accuracy": test["accuracy"],
                "lr": rate,
                "epoch_seconds": seconds,
                "images_per_second": len(member.data.x_train) / train_seconds if train_seconds > 0 else math.nan,
                "diverged": not member.training,
                "stop_reason": "" if member.training else DIVERGED,
            }
        return rows

    def save(self, directory: Path, epoch: int) -> None:
        """Each member still training as its lone trial's checkpoint (member_<i>/), and which diverged."""
        directory = Path(directory)
        for index, member in enumerate(self.members):
            if member.training:
                target = member_directory(directory, index)
                target.mkdir(parents=True, exist_ok=True)
                save_checkpoint(target, member.model, epoch, member.settings, member.config)
        diverged = {str(index): member.diverged_at for index, member in enumerate(self.members) if not member.training}
        (directory / PACK_FILE).write_text(json.dumps({"epoch": epoch, "members": len(self.members),
                                                       "diverged": diverged}))


__all__ = ["Pack", "Member", "SHARED_KEYS", "OWN_KEYS", "check_members", "member_directory", "one_program"]
