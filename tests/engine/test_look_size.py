"""`--confirm-batch auto` (sweeps.engine.look_size): the chance a look is needed, what a look costs, the
size chosen for packs and for lone trials, and a resumed confirmation keeping the size it started with."""

from __future__ import annotations

import dataclasses
import functools
import json
import math

import numpy as np
import pytest
from scipy import stats

from analysis.verdict.boundaries import boundaries, still_open
from analysis.verdict.looks import LookPlan
from sweeps.engine import look_size, packing
from sweeps.engine.errors import DEFAULT_CONFIRM_BATCH
from tests.engine.test_packing import confirmation_plan


def test_the_chance_a_second_look_is_needed_is_the_first_looks_miss():
    """Two looks: a comparison is open at the second exactly when its z missed the first boundary,
    Z_1 ~ N(drift sqrt(1/2), 1) at the design point's drift (one look at the last has 80% power)."""
    drift = stats.norm.isf(0.025) + stats.norm.ppf(0.8)
    first = boundaries((5, 10), 0.025)[0]
    assert still_open((5, 10)) == pytest.approx([1.0, stats.norm.cdf(first - drift * math.sqrt(0.5))], abs=1e-7)
    many = still_open((2, 4, 6, 8, 10))
    assert many[0] == 1.0 and np.all(np.diff(many) <= 0) and 0.0 < many[-1] < 1.0
    assert list(still_open((10,))) == [1.0]


def test_a_packs_cost_follows_the_measured_speedups():
    assert packing.pack_cost(1) == 1.0
    assert packing.pack_cost(8) == pytest.approx(8 / 1.92)
    assert packing.pack_cost(6) == pytest.approx(6 / ((1.51 + 1.92) / 2))  # between measured sizes: linear
    # 4 configurations in packs of 8 on 2 slots: 2 rounds of a pack of 8; 2 seeds each: 2 rounds of packs of 2
    assert packing.look_wall(8, members=8, groups=4, slots=2) == pytest.approx(2 * 8 / 1.92)
    assert packing.look_wall(2, members=8, groups=4, slots=2) == pytest.approx(2 * 2 / 1.31)
    assert packing.look_wall(3, members=1, groups=2, slots=4) == 2  # 6 lone trials on 4 slots


def test_the_expected_wall_time_weighs_each_look_by_the_chance_it_is_needed():
    looks = LookPlan(max_seeds=10, batch=4, margin=0.01)  # looks at 4, 8, 10: adding 4, 4 and 2 seeds
    wall = {4: 3.0, 2: 1.0}
    expected = look_size.expected_wall(looks, wall.__getitem__)
    assert expected == pytest.approx(np.dot(looks.still_open(), [3.0, 3.0, 1.0]))
    assert look_size.expected_wall(LookPlan(10, 10, 0.01), lambda seeds: seeds) == 10.0  # one look: all of it


def walls(members_of, groups: int, slots: int):
    """wall_for as packing builds it, with members for a first look of `first` seeds."""
    return lambda first: functools.partial(packing.look_wall, members=members_of(first), groups=groups, slots=slots)


def test_lone_trials_on_busy_slots_keep_the_smallest_look():
    """Without packs a look's trials cost one each: a bigger look only spends seeds a settled comparison
    would not have needed."""
    chosen = look_size.choose(10, 0.01, walls(lambda first: 1, groups=4, slots=2))
    assert chosen.batch == 2 and chosen.expected == chosen.smallest


def test_lone_trials_fill_idle_slots():
    """One configuration on 8 slots: a look of 8 costs the wall time of a look of 2."""
    assert look_size.choose(10, 0.01, walls(lambda first: 1, groups=1, slots=8)).batch == 8


def test_packs_on_a_cpu_make_looks_bigger():
    """The antirectifier worked example's shape: 4 configurations, 2 slots, at most 10 seeds, packs as
    auto packs them: a pack of 8 costs 4.2 lone trials, 4 packs of 2 (a look of 2) 6.1 on 2 slots."""
    def members_of(first: int) -> int:
        return packing.auto_members(first, 4, 2)

    chosen = look_size.choose(10, 0.01, walls(members_of, groups=4, slots=2))
    assert chosen.batch == 8
    assert chosen.expected < chosen.smallest
    assert chosen.expected == pytest.approx(min(
        look_size.expected_wall(LookPlan(10, batch, 0.01), walls(members_of, 4, 2)(LookPlan(10, batch, 0.01).looks[0]))
        for batch in range(2, 11)))
    assert "against" in chosen.reason(2) and "BENCHMARKS.md" in chosen.reason(2)


def test_resolve_decides_auto_looks_where_they_are_measured(tmp_path):
    plan = confirmation_plan(tmp_path, "--confirm-repeats", "10", configurations=4)
    assert plan.confirm_batch is None  # auto, the default
    cpu = packing.resolve(plan, slots=2, gpus=0.0)
    assert (cpu.confirm_batch, cpu.members) == (8, 8) and cpu.batch_reason.startswith("auto: expected")
    assert cpu.param_space["confirm_batch"] == 8  # every trial carries its plan (analysis.verdict.looks)
    off = packing.resolve(dataclasses.replace(plan, pack="off"), slots=2, gpus=0.0)
    assert (off.confirm_batch, off.members) == (2, 1)
    gpu = packing.resolve(plan, slots=2, gpus=0.5)
    assert gpu.confirm_batch == DEFAULT_CONFIRM_BATCH and gpu.batch_reason == "auto: no pack cost measured on a GPU"
    asked = confirmation_plan(tmp_path, "--confirm-repeats", "10", "--confirm-batch", "3", configurations=4)
    assert packing.resolve(asked, slots=2, gpus=0.0).confirm_batch == 3  # asked for: kept


def test_a_resumed_auto_confirmation_keeps_its_looks(tmp_path):
    """The looks spend alpha as planned when the stage began: a resume on another machine must not
    re-size them (its slots, and so the rule's choice, may differ)."""
    plan = dataclasses.replace(confirmation_plan(tmp_path, "--confirm-repeats", "10", "--name", "r",
                                                 configurations=4), name="r-confirm", resume=True)
    trial = tmp_path / "r-confirm" / "train_0001"
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"confirm_batch": 2, "confirm_seeds": 10, "confirm_margin": 0.01}))
    resumed = packing.resolve(plan, slots=2, gpus=0.0)
    assert resumed.confirm_batch == 2 and resumed.batch_reason == "auto: as 'r-confirm' started"
