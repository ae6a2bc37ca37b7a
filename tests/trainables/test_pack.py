"""trainables.pack: a member of a pack is, bit for bit, the trial its seed trains alone; a member that
diverges stops alone; a pack resumes from its checkpoint where it would have been."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from support.lone_trials import FAMILIES, alone, config as _config, digest as _digest, family_data as _family_data
from support.lone_trials import rows_of as _rows, same as _same

from trainables import pack as pack_module, trainable
from trainables.data import ArrayDataset
from trainables.pack import Pack, check_members, member_directory
from trainables.trainable import DIVERGED

pytestmark = pytest.mark.slow  # trains real models, lone and packed: 70-95 s together on 2 vCPUs


def packed(configs: list[dict], data: ArrayDataset, *, poison=None) -> tuple[Pack, dict[int, list[dict]]]:
    trainable.release_previous_trial()
    pack = Pack.build(configs, data)
    if poison:
        poison(pack)
    rows: dict[int, list[dict]] = {index: [] for index in range(len(configs))}
    for epoch_index in range(pack.start_epoch, pack.epochs):
        for index, row in pack.run_epoch(epoch_index).items():
            rows[index].append(row)
    return pack, {index: _rows(member_rows) for index, member_rows in rows.items()}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_member_is_its_seed_trained_alone_bit_for_bit(family: str, monkeypatch) -> None:
    data = _family_data(family)
    seeds = (0, 1, 7)
    expected = {seed: alone(_config(family, seed), data, monkeypatch) for seed in seeds}
    pack, rows = packed([_config(family, seed) for seed in seeds], data)
    assert pack._train_step.shared, "one trace should serve members of one configuration"
    for index, seed in enumerate(seeds):
        digest, lone_rows = expected[seed]
        assert _digest(pack.model(index)) == digest, f"member {index} (seed {seed}) weights differ from its lone trial"
        assert _same(rows[index], lone_rows), (rows[index], lone_rows)
    assert len({digest for digest, _ in expected.values()}) == len(seeds)  # the seeds do make different trials


def test_members_that_differ_in_shape_train_side_by_side_and_still_equal_their_lone_trials(monkeypatch) -> None:
    data = _family_data("antirectifier_mlp")
    configs = [_config("antirectifier_mlp", 0, units=8), _config("antirectifier_mlp", 1, units=6)]
    expected = [alone(config, data, monkeypatch) for config in configs]
    pack, rows = packed(configs, data)
    assert not pack._train_step.shared
    for index, (digest, lone_rows) in enumerate(expected):
        assert _digest(pack.model(index)) == digest and _same(rows[index], lone_rows)


def test_members_in_programs_of_their_own_still_equal_their_lone_trials(monkeypatch) -> None:
    """A big step makes groups (pack.GROUP_OPS); here every member is its own group."""
    monkeypatch.setattr(pack_module, "GROUP_OPS", 1)
    data = _family_data("antirectifier_mlp")
    configs = [_config("antirectifier_mlp", seed) for seed in (0, 1)]
    expected = [alone(config, data, monkeypatch) for config in configs]
    pack, rows = packed(configs, data)
    assert pack._groups(pack.training()) == [(0,), (1,)] and pack._train_step.shared
    for index, (digest, lone_rows) in enumerate(expected):
        assert _digest(pack.model(index)) == digest and _same(rows[index], lone_rows)


def _nan_output_kernel(model) -> None:
    kernel = model.layers[-1].kernel
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))


def test_a_member_that_diverges_stops_alone_and_the_others_train_on(monkeypatch) -> None:
    """Member 1 gets a non-finite kernel (members share their config, so not a learning rate)."""
    family, seeds = "antirectifier_mlp", (0, 1, 2)
    data = _family_data(family)
    expected = {seed: alone(_config(family, seed), data, monkeypatch) for seed in (0, 2)}
    lone_diverged = alone(_config(family, 1), data, monkeypatch, poison=_nan_output_kernel)
    pack, rows = packed([_config(family, seed) for seed in seeds], data,
                        poison=lambda pack: _nan_output_kernel(pack.model(1)))
    diverged = rows[1]
    assert len(diverged) == 1 and diverged[0]["diverged"] and diverged[0]["stop_reason"] == DIVERGED
    assert math.isnan(diverged[0]["loss"]) and math.isnan(diverged[0]["val_accuracy"])
    assert _same(diverged, lone_diverged[1])  # the row its lone trial reports (TerminateOnNaN after step 1)
    assert _digest(pack.model(1)) == lone_diverged[0]  # frozen where the lone trial stopped
    assert pack.training() == (0, 2) and pack.members[1].diverged_at == 1
    for index, seed in ((0, 0), (2, 2)):
        assert _digest(pack.model(index)) == expected[seed][0] and _same(rows[index], expected[seed][1])


def test_a_pack_resumed_from_its_checkpoint_ends_where_an_uninterrupted_one_does(tmp_path: Path, monkeypatch) -> None:
    family = "antirectifier_mlp"
    data = _family_data(family)
    configs = [_config(family, seed) for seed in (0, 1)]
    whole, whole_rows = packed(configs, data)
    trainable.release_previous_trial()
    first = Pack.build(configs, data)
    first.run_epoch(0)
    first.save(tmp_path, 1)
    trainable.release_previous_trial()
    resumed = Pack.restore(tmp_path, configs, data)
    assert resumed.start_epoch == 1
    rows = resumed.run_epoch(1)
    for index in range(len(configs)):
        assert _digest(resumed.model(index)) == _digest(whole.model(index))
        assert _same(_rows([rows[index]]), whole_rows[index][1:])
    # each member's files are a lone trial's checkpoint: load_checkpoint (and so load_best_model) reads them
    model, epoch = trainable.load_checkpoint(member_directory(tmp_path, 0), trainable.parse_config(configs[0]))
    assert epoch == 1 and model.count_params() == resumed.model(0).count_params()


def test_members_must_share_what_one_loop_needs() -> None:
    settings = [trainable.parse_config(_config("antirectifier_mlp", seed, batch_size=size))
                for seed, size in ((0, 16), (1, 32))]
    with pytest.raises(ValueError, match="^pack members must share 'batch_size': member 0 has 16, member 1 has 32$"):
        check_members(settings)
    check_members(settings[:1])
