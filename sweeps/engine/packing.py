"""`--pack auto|N|off`: how many seeds of one configuration one trial trains, stage by stage (issue 30).

A pack trial (`trainables.pack_trial`) trains seeds of one configuration as one program, each member
bit for bit its lone trial. The engine packs where one configuration runs several seeds at once:

- the confirmation: a look's new seeds of a configuration (`sweeps.engine.looks`), which reads each
  member's own result, so the verdict is the lone trials';
- the search's `--repeats`: a sampled configuration's seeds (`space.build.pack_seeds`), where ASHA
  and FIFO then see one trial and decide on its members' mean (not under `--search optuna`, which
  repeats each suggestion per seed through Tune's `Repeater`).

`resolve` decides a stage's packs once the GPU share and the trial slots are known (the runner:
after Ray started, `tune_run`; the dry run: from the machine or cluster it would use).

The auto rule (`auto_members`), from BENCHMARKS.md "Fused trials" (2 CPU cores, one core a trial):
a pack of 8 MLP members runs 1.9x the members per second of 8 separate trials, of 8 record-1 ResNets
1.26x, and 16 members add little (2.16x, 1.38x). A pack is one process on one trial's CPUs, though,
so it also takes away parallel trials: 8 lone trials on 2 slots run 2 at a time, one pack of 8 on one
slot leaves the other idle, which loses more (2x) than the pack gains (1.26-1.9x). So auto packs as
many members as keep every slot busy that lone trials would fill, at most CPU_MEMBERS (8) and never
more than the seeds a configuration gets at once; on a GPU also no more than fit in GPU_MEMORY_PART
of the trial's share of the device's memory at BYTES_PER_PARAMETER per model parameter (a rough
guard, counted on the largest confirmed model; the search's models vary with its samples, so auto
does not pack a search on a GPU). Packs train on the tensorflow backend only. A resumed stage keeps
the packs it started with (Tune restores it with the trainable and the search space it began with).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from analysis.store import storage
from sweeps.engine import look_size
from sweeps.engine.errors import DEFAULT_CONFIRM_BATCH, UsageError
from sweeps.engine.locations import is_dir
from sweeps.engine.plan import Plan, trials_per_arm
from sweeps.engine.space.build import pack_seeds
from sweeps.engine.space.keys import grid_size, grid_values
from sweeps.engine.stages.confirmation import arm_count, look_plan, with_looks
from trainables.devices import keras_backend
from trainables.recovery import PACK_KEY

CPU_MEMBERS = 8  # the largest pack measured worth its size (1.9x at 8 MLP members, 2.16x at 16)
# Members per second of a pack of S over S separate trials on one CPU core (BENCHMARKS.md "Fused trials", the
# antirectifier MLP, 2026-12-07), between them linear: what a confirmation look costs (sweeps.engine.look_size).
CPU_SPEEDUP = ((1, 1.0), (2, 1.31), (4, 1.51), (8, 1.92), (16, 2.16))
BYTES_PER_PARAMETER = 16  # float32 weights, their gradients and two optimizer slots (Adam's m and v)
GPU_MEMORY_PART = 0.25  # of a trial's GPU memory for the members' parameters; the rest: activations, runtime


@dataclass(frozen=True)
class Shape:
    """What the rule needs of a stage: the seeds one configuration gets at once, how many
    configurations run them side by side, and the flag that says so."""

    seeds: int
    groups: int
    source: str  # e.g. "--confirm-batch 2"
    confirmation: bool = False
    blocked: str = ""  # why this stage never packs, if it cannot


def auto_members(seeds: int, groups: int, slots: int, gpu_fit: int | None = None) -> int:
    """The most members per pack that still fill every trial slot lone trials would (see the module
    docstring), at most CPU_MEMBERS and `seeds`, and `gpu_fit` on a GPU; then evened out over the packs."""
    busy = min(max(slots, 1), groups * seeds)  # the slots lone trials would keep busy
    best = 1
    for members in range(2, min(CPU_MEMBERS, seeds) + 1):
        if groups * math.ceil(seeds / members) < busy:
            break
        best = members
    best = best if gpu_fit is None else max(1, min(best, gpu_fit))
    return math.ceil(seeds / math.ceil(seeds / best))  # the same packs, evened out: 10 seeds by 8 -> 5 + 5


def pack_cost(members: int) -> float:
    """A pack's wall time on one CPU core in lone trials of one seed (1 for a lone trial)."""
    sizes, speedups = zip(*CPU_SPEEDUP)
    return members / float(np.interp(members, sizes, speedups))


def look_wall(seeds: int, members: int, groups: int, slots: int) -> float:
    """A confirmation look adding `seeds` to each of `groups` configurations in packs of at most `members`,
    in lone trials: rounds of trials over the slots, each as long as its largest pack."""
    packs = groups * math.ceil(seeds / members)
    return math.ceil(packs / max(slots, 1)) * pack_cost(min(seeds, members))


def gpu_fit(memory_bytes: float, share: float, parameters: int) -> int:
    """Members whose parameters fit in GPU_MEMORY_PART of a trial's share of one device's memory."""
    return math.floor(memory_bytes * min(share, 1.0) * GPU_MEMORY_PART / max(parameters * BYTES_PER_PARAMETER, 1))


def shape_of(plan: Plan) -> Shape:
    """A stage's shape: a confirmation's first look, or the search's --repeats."""
    if plan.confirmed:
        return confirmation_shape(plan, len(plan.confirmed))
    seeds = len(grid_values(plan.param_space, "seed"))
    blocked = ("--search optuna repeats each suggestion's seeds through Tune's Repeater"
               if plan.tools.search == "optuna" else "")
    return Shape(seeds, plan.num_samples * grid_size(plan.param_space, without=("seed",)), f"--repeats {seeds}",
                 blocked=blocked)


def confirmation_shape(plan: Plan, configurations: int | None = None) -> Shape:
    """The confirmation's first look: `configurations` (of a search plan: every arm's --confirm K)."""
    looks = look_plan(plan)
    asked = "looks of " if plan.batch_reason else "--confirm-batch "  # a reason: auto decided it
    source = (f"{asked}{plan.confirm_batch}" if looks.batch < looks.max_seeds
              else f"--confirm-repeats {looks.max_seeds}")
    return Shape(looks.looks[0], configurations or arm_count(plan) * (plan.confirm or 1), source, confirmation=True)


def choose(asked: str | int, shape: Shape, slots: int, gpus: float, *, memory: float | None = None,
           parameters: int | None = None, backend: str = "tensorflow") -> tuple[int, str]:
    """(members per pack, why); on a GPU `parameters` None: not counted yet (a dry run)."""
    if asked in ("off", 1):
        return 1, f"--pack {asked}"
    if shape.seeds <= 1:
        return 1, f"one seed per configuration at a time ({shape.source})"
    if backend != "tensorflow":
        return 1, f"auto: the {backend} backend trains no packs"
    if shape.blocked:
        return 1, shape.blocked
    if isinstance(asked, int):
        capped = f", capped by {shape.source}" if asked > shape.seeds else ""
        return min(asked, shape.seeds), f"--pack {asked}{capped}"
    where = f"auto: {'GPU' if gpus > 0 else 'CPU'}, {shape.source}, {max(slots, 1)} trial slot(s)"
    if gpus <= 0:
        return auto_members(shape.seeds, shape.groups, slots), where
    if not shape.confirmation:
        return 1, f"{where}: the search's model sizes vary with its samples (--pack N packs them)"
    if memory is None:
        return 1, f"{where}: GPU memory unknown on this driver (--pack N packs)"
    if parameters is None:
        members = auto_members(shape.seeds, shape.groups, slots)
        return members, f"{where}; fewer if the models' parameters do not fit its GPU memory (counted at the start)"
    fit = gpu_fit(memory, gpus, parameters)
    members = auto_members(shape.seeds, shape.groups, slots, fit)
    return members, f"{where}, {fit} model(s) of {parameters:,} parameters fit"


def resolve(plan: Plan, slots: int, gpus: float, *, memory: float | None = None,
            count: Callable[[Sequence[Any]], int] | None = None) -> Plan:
    """The stage's plan with its looks and packs decided; a search's space packed (and its arms' trial
    counts). `count` (configs -> the largest model's parameters) only runs where the GPU rule needs it."""
    plan = _looks_decided(plan, slots, gpus)
    shape = shape_of(plan)
    parameters = None
    if count is not None and gpus > 0 and plan.pack == "auto" and shape.confirmation and memory is not None:
        parameters = count([candidate.config for candidate in plan.confirmed])
    members, reason = choose(plan.pack, shape, slots, gpus, memory=memory, parameters=parameters,
                             backend=keras_backend())
    members, reason = _as_recorded(plan, members, reason)
    plan = dataclasses.replace(plan, members=members, pack_reason=reason)
    if plan.confirmed or members <= 1:
        return plan
    space = pack_seeds(plan.param_space, members)
    arms = trials_per_arm(space, plan.stratify, plan.num_samples) if plan.stratify else None
    return dataclasses.replace(plan, param_space=space, trials_per_arm=arms)


def _looks_decided(plan: Plan, slots: int, gpus: float) -> Plan:
    """A confirmation's `--confirm-batch auto` (or a search's coming one), decided: sweeps.engine.look_size
    on this machine's slots and pack cost; a resumed confirmation keeps the batch it started with."""
    if plan.confirm_batch is not None or (not plan.confirmed and plan.confirm is None):
        return plan
    recorded = recorded_config(plan.experiment_dir) if plan.resume and plan.confirmed else None
    if recorded is not None and "confirm_batch" in recorded:
        batch, reason = int(float(recorded["confirm_batch"])), f"auto: as {plan.name!r} started"
    elif gpus > 0:
        batch, reason = DEFAULT_CONFIRM_BATCH, "auto: no pack cost measured on a GPU"
    else:
        groups = len(plan.confirmed) or arm_count(plan) * (plan.confirm or 1)

        def wall_for(first: int) -> Callable[[int], float]:
            shape = Shape(first, groups, f"looks of {first}", confirmation=True)
            members = choose(plan.pack, shape, slots, 0.0, backend=keras_backend())[0]
            return functools.partial(look_wall, members=members, groups=groups, slots=slots)

        size = look_size.choose(plan.confirm_repeats, plan.margin, wall_for)
        batch, reason = size.batch, size.reason(max(slots, 1))
    plan = dataclasses.replace(plan, confirm_batch=batch, batch_reason=reason)
    return with_looks(plan) if plan.confirmed else plan


def _as_recorded(plan: Plan, members: int, reason: str) -> tuple[int, str]:
    """A resumed stage keeps its packs: Tune checks the trainable and the space's keys it began with."""
    recorded = recorded_members(plan.experiment_dir) if plan.resume else None
    if recorded is None or recorded == members:
        return members, reason
    if plan.pack != "auto":
        raise UsageError(f"{plan.name!r} started with {_words(recorded)}; continue it with --pack "
                         f"{recorded if recorded > 1 else 'off'} (or auto)")
    return recorded, f"auto: as {plan.name!r} started"


def recorded_members(experiment_dir: str) -> int | None:
    """The members of an experiment's first trial (1: a lone trial); None before it has one."""
    config = recorded_config(experiment_dir)
    return None if config is None else len(config.get(PACK_KEY) or [None])


def recorded_config(experiment_dir: str) -> dict[str, Any] | None:
    """The config of an experiment's first trial (params.json); None before it has one."""
    if not is_dir(experiment_dir):
        return None
    trials = sorted(entry.name for entry in storage.list_dir(experiment_dir) if entry.is_dir)
    for trial in trials:
        try:
            return json.loads(storage.read_text(storage.join(experiment_dir, trial, "params.json")))
        except (OSError, ValueError):  # not a trial folder, or not written yet
            continue
    return None


def _words(members: int) -> str:
    return f"packs of up to {members} seeds" if members > 1 else "every seed its own trial"


def describe(plan: Plan, confirmation: bool | None = None) -> str:
    """One line: a resolved stage's packs and why, and who decides on what."""
    if plan.members <= 1:
        return "packs: none, every seed its own trial" + (f" ({plan.pack_reason})" if plan.pack_reason else "")
    if bool(plan.confirmed) if confirmation is None else confirmation:
        return (f"packs: up to {plan.members} seeds of a look per trial ({plan.pack_reason}); the looks read "
                "each seed's own result, so the verdict is the lone trials'")
    return (f"packs: up to {plan.members} seeds of a configuration per trial ({plan.pack_reason}); "
            f"{'ASHA' if plan.scheduler == 'asha' else 'FIFO'} decides on the members' mean")


def upcoming_confirmation(plan: Plan, slots: int, gpus: float, memory: float | None) -> str:
    """The packs of the confirmation a search plan's --confirm will run (its configurations still unknown)."""
    members, reason = choose(plan.pack, confirmation_shape(plan), slots, gpus, memory=memory, backend=keras_backend())
    return f"  confirmation {describe(dataclasses.replace(plan, members=members, pack_reason=reason), True)}"


def count_parameters(configs: Sequence[Any], data: Any) -> int:
    """The largest model among trial `configs`, built on the driver's CPU: the driver's TensorFlow
    is kept off its GPUs first (trials train in their own processes), so it takes none of their memory."""
    import keras
    import tensorflow as tf  # packs run on the tensorflow backend only: here it is present

    from trainables.trainable import build_model, parse_config, trial_data

    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:  # TensorFlow's devices were set up already; counting places nothing new
        pass
    counts = []
    for config in configs:
        settings = parse_config(config)
        arrays = trial_data(settings, data)
        counts.append(int(build_model(settings, arrays.input_shape, arrays.num_classes).count_params()))
        keras.backend.clear_session()
    return max(counts)
