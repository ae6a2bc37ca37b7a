"""A pack's step as one program: one member's Keras step traced once and run on every member's variables.

Every member of a pack runs the same Keras `train_step` (or `test_step`) on its own variables.
Tracing that step once per member costs what a lone trial's start costs (digits MLP: ~0.3 s to
trace, ~0.7 s for TensorFlow to optimise the graph, per member), so a pack of 8 would spend its
first epoch tracing. Instead `Replicated` traces the step of one member (the template) as a
concrete function and calls that function once per member inside the pack's `tf.function`,
passing the member's own variable handles where the template's were captured: one trace, one
graph optimisation, S call sites, each running exactly the ops a lone trial runs.

The substitution is by position in `member_state` (weights, seed generators, optimizer slots,
metrics: what the Keras JAX trainer carries as its state), which members built by one builder
share. It is checked, not assumed: a second member's step is traced too and must capture the
same variables at the same positions and build the same operations; otherwise (or with one
member) each member's step is traced inline, side by side (slower to start, same numbers).
TensorFlow backend only: it calls TensorFlow's `ConcreteFunction._call_flat`, whose second
argument is exactly the captured inputs to use (TensorFlow 2.16-2.21).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

import numpy as np
import tensorflow as tf

log = logging.getLogger(__name__)

Step = Callable[[Any, Any], Any]  # (Keras model, batch) -> its step's outputs


def member_state(model) -> list[tf.Variable]:
    """The TensorFlow variables a Keras train or test step of `model` may touch, in a fixed order."""
    variables = model.trainable_variables + model.non_trainable_variables + model.metrics_variables
    if model.optimizer is not None:
        variables += model.optimizer.variables
    return [getattr(variable, "value", variable) for variable in variables]


def build_step_state(model, batch_spec) -> None:
    """Create the metrics' and loss trackers' variables before any trace, as `fit` does first."""
    model._symbolic_build(data_batch=batch_spec)  # Keras' own pre-fit build (private in Keras 3.15)


def _state_signature(model) -> list[tuple]:
    return [(variable.dtype, tuple(variable.shape)) for variable in member_state(model)]


def _same_value(first, second) -> bool:
    """Whether two captured constants hold the same value (a member-specific one cannot be shared)."""
    return first is second or (first.dtype == second.dtype and first.shape == second.shape
                               and bool(np.array_equal(first.numpy(), second.numpy())))


class Replicated:
    """`step` of every model in `models` ({member index: model}), traced once when they allow it.

    `call(index, batch)` inside a `tf.function` adds member `index`'s step to that program.
    """

    def __init__(self, step: Step, models: Mapping[int, Any], batch_spec, *, jit_compile: bool = False) -> None:
        self.step = step
        self.models = dict(models)
        self.jit_compile = jit_compile
        self.captures: dict[int, list] | None = None
        self.concrete = None
        if len(self.models) >= 2:
            self._share(batch_spec)

    def _trace(self, model, batch_spec):
        function = tf.function(lambda batch: self.step(model, batch), jit_compile=self.jit_compile, autograph=False)
        return function.get_concrete_function(batch_spec)

    def _share(self, batch_spec) -> None:
        indices = sorted(self.models)
        template, check = self.models[indices[0]], self.models[indices[1]]
        signature = _state_signature(template)
        if any(_state_signature(self.models[index]) != signature for index in indices[1:]):
            log.info("pack members' variables differ in shape; tracing each member's step")
            return
        concrete, checked = self._trace(template, batch_spec), self._trace(check, batch_spec)
        positions = self._positions(template, concrete)
        same_program = [op.type for op in concrete.graph.get_operations()] == \
            [op.type for op in checked.graph.get_operations()]
        captured = concrete.captured_inputs
        same_constants = positions is not None and all(
            position is not None or _same_value(mine, theirs)
            for position, mine, theirs in zip(positions, captured, checked.captured_inputs))
        if not (same_program and same_constants and self._positions(check, checked) == positions):
            log.warning("a pack member's step does not map onto the template's; tracing each member's step")
            return
        captures = {}
        for index in indices:
            state = member_state(self.models[index])
            captures[index] = [captured[number] if position is None else state[position].handle
                               for number, position in enumerate(positions)]
        self.concrete, self.captures = concrete, captures

    @staticmethod
    def _positions(model, concrete) -> list[int | None] | None:
        """For each captured input: its variable's position in `member_state`, None for a constant;
        None overall if a captured resource is not one of the model's (state the swap would miss)."""
        by_handle = {id(variable.handle): position for position, variable in enumerate(member_state(model))}
        positions = []
        for captured in concrete.captured_inputs:
            position = by_handle.get(id(captured))
            if position is None and captured.dtype == tf.resource:
                return None
            positions.append(position)
        return positions

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
