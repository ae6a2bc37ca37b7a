"""A pack's step as one program: one member's Keras step traced once and run on every member's variables.

Every member of a pack runs the same Keras `train_step` (or `test_step`) on its own variables.
Traced member by member, a pack of 8 digits MLPs spent its first epoch tracing (14 s on a loaded
VM against 1.4 s for a lone trial's first epoch). Instead `Replicated` traces the step of one
member (the template) as a concrete function and calls that function once per member inside the
pack's `tf.function`, passing the member's own variable handles where the template's were
captured: one trace, S call sites, each running exactly the ops a lone trial runs.

The substitution is by position in `member_state` (weights, seed generators, optimizer slots,
metrics: what the Keras JAX trainer carries as its state), which members built by one builder
share. The pack asks for it only when the members' configs differ in nothing but the seed (whose
effects live in those variables and in each member's pipeline, outside the step) and bookkeeping:
any other setting (a dropout rate, a momentum) may be a constant in the traced program. It is
then checked: every member's variables must match the template's in shape, and the template's
program must capture nothing but its variables. Otherwise each member's step is traced inline,
side by side (slower to start, same numbers).
TensorFlow backend only: it calls TensorFlow's `ConcreteFunction._call_flat`, whose second
argument is exactly the captured inputs to use (TensorFlow 2.16-2.21).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

import keras
import tensorflow as tf
from keras.src.backend import compute_output_spec  # what Keras' own pre-fit build uses (private)

log = logging.getLogger(__name__)

Step = Callable[[Any, Any], Any]  # (Keras model, batch) -> its step's outputs


def member_state(model) -> list[tf.Variable]:
    """The TensorFlow variables a Keras train or test step of `model` may touch, in a fixed order."""
    variables = model.trainable_variables + model.non_trainable_variables + model.metrics_variables
    if model.optimizer is not None:
        variables += model.optimizer.variables
    return [getattr(variable, "value", variable) for variable in variables]


def build_step_state(model, batch_spec) -> None:
    """Create the metrics' and loss trackers' variables before any trace, as `fit` does first.

    Keras' own pre-fit build (`_symbolic_build`, private) also runs the model symbolically to get
    its output's spec (record-1 ResNet: ~1 s of CPU a member); a functional model states it.
    """
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1:
        model._symbolic_build(data_batch=batch_spec)
        return
    images, labels = (keras.KerasTensor(spec.shape, keras.backend.standardize_dtype(spec.dtype)) for spec in batch_spec)
    predictions = keras.KerasTensor(outputs[0].shape, outputs[0].dtype)
    if model._compile_metrics is not None and not model._compile_metrics.built:
        compute_output_spec(model.compute_metrics, images, labels, predictions, sample_weight=None)
    if model._compile_loss is not None and not model._compile_loss.built:
        compute_output_spec(model._compute_loss, images, labels, predictions, sample_weight=None, training=False)


def _state_signature(model) -> list[tuple]:
    return [(variable.dtype, tuple(variable.shape)) for variable in member_state(model)]


class Replicated:
    """`step` of every model in `models` ({member index: model}), traced once when they allow it.

    `call(index, batch)` inside a `tf.function` adds member `index`'s step to that program.
    Each call is inlined into the calling program, as Keras' `fit` inlines its step: TensorFlow
    then optimises every copy (start-up grows with S: digits MLP, S = 8, 0.7 s more CPU time than
    one function called S times), and runs the copies without a call's overhead (the MLP pack's
    epochs took 15% less CPU time). Not inlined (`"_noinline"`), the step is optimised as a function
    of its own, and on the record-1 ResNet that rounds differently: a member's first-epoch loss
    moved in its 6th digit from its lone trial's after 5 steps (2.0785489 vs 2.0785499).
    """

    def __init__(self, step: Step, models: Mapping[int, Any], batch_spec, *, jit_compile: bool = False,
                 share: bool = True) -> None:
        self.step = step
        self.models = dict(models)
        self.jit_compile = jit_compile
        self.captures: dict[int, list] | None = None
        self.concrete = None
        self.operations: int | None = None  # in the shared program, once traced
        if share and len(self.models) >= 2:
            self._share(batch_spec)

    def _trace(self, model, batch_spec):
        function = tf.function(lambda batch: self.step(model, batch), jit_compile=self.jit_compile, autograph=False)
        return function.get_concrete_function(batch_spec)

    def _share(self, batch_spec) -> None:
        indices = sorted(self.models)
        template = self.models[indices[0]]
        signature = _state_signature(template)
        if any(_state_signature(self.models[index]) != signature for index in indices[1:]):
            log.info("pack members' variables differ in shape; tracing each member's step")
            return
        concrete = self._trace(template, batch_spec)
        positions = self._positions(template, concrete)
        if positions is None:
            log.warning("a pack member's step captures more than its variables; tracing each member's step")
            return
        self.concrete, self.operations = concrete, len(concrete.graph.get_operations())
        self.captures = {index: [member_state(self.models[index])[position].handle for position in positions]
                         for index in indices}

    @staticmethod
    def _positions(model, concrete) -> list[int] | None:
        """Each captured input's position in `member_state`; None if one is anything else (a constant
        tensor made outside the step could be the template's own, so it is not shared)."""
        by_handle = {id(variable.handle): position for position, variable in enumerate(member_state(model))}
        positions = [by_handle.get(id(captured)) for captured in concrete.captured_inputs]
        return None if None in positions else positions

    @property
    def shared(self) -> bool:
        """Whether one trace serves every member (else each member's step is traced inline)."""
        return self.captures is not None

    def call(self, index: int, batch):
        if self.captures is None:
            return self.step(self.models[index], batch)
        return self.concrete._call_flat(tf.nest.flatten(batch), self.captures[index])


def train_step(model, batch):
    """The member's own Keras train step (forward, loss, gradients, its optimizer, its metrics)."""
    return model.train_step(batch)


def test_step(model, batch):
    return model.test_step(batch)


__all__ = ["Replicated", "member_state", "build_step_state", "train_step", "test_step"]
