"""trainables.pack_trial: one Tune trial reports each member's lone row and the members' mean, checkpoints
the pack so trainables.recovery takes it as whole, and continues every member from it (Tune faked)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.fs
import pytest
from support.lone_trials import alone, config as _config, family_data as _family_data, same as _same

from trainables import pack_trial, trainable
from trainables.correctness import decode
from trainables.recovery import is_whole

pytestmark = pytest.mark.slow  # trains real models, lone and packed: 70-95 s together on 2 vCPUs


SEEDS = (0, 5)


class FakeTune:
    """What train_pack asks of ray.tune: the checkpoint to restore, and where its reports go."""

    Checkpoint = pack_trial.tune.Checkpoint

    def __init__(self, keep: Path, restore: Path | None = None) -> None:
        self.keep, self.restore, self.results, self.checkpoints = keep, restore, [], []

    def get_checkpoint(self):
        return None if self.restore is None else self.Checkpoint.from_directory(str(self.restore))

    def report(self, metrics, checkpoint=None):
        self.results.append(dict(metrics))
        if checkpoint is not None:
            kept = self.keep / f"checkpoint_{len(self.results) - 1:06d}"
            shutil.copytree(checkpoint.path, kept)
            self.checkpoints.append(kept)


def _run(monkeypatch, fake: FakeTune, config: dict, data) -> list[dict]:
    monkeypatch.setattr(pack_trial, "tune", fake)
    monkeypatch.setattr(pack_trial, "placement", lambda: {"gpu_ids": "", "node_id": "test"})
    monkeypatch.setattr(pack_trial, "make_deterministic", lambda *args, **kwargs: None)  # irreversible in-process
    pack_trial.train_pack(config, data)
    return fake.results


def _pack_config() -> dict:
    config = _config("antirectifier_mlp", 0)
    del config["seed"]
    return {**config, pack_trial.PACK_KEY: [{"seed": seed, "repeat": number} for number, seed in enumerate(SEEDS)]}


def test_each_member_reports_its_lone_row_and_the_pack_their_mean(tmp_path: Path, monkeypatch) -> None:
    data = _family_data("antirectifier_mlp")
    lone = {seed: alone(_config("antirectifier_mlp", seed, repeat=number), data, monkeypatch)[1]
            for number, seed in enumerate(SEEDS)}
    fake = FakeTune(tmp_path)
    results = _run(monkeypatch, fake, _pack_config(), data)
    assert [result["epoch"] for result in results] == [1, 2] and len(fake.checkpoints) == 2
    for index, seed in enumerate(SEEDS):
        member_rows = [{key: result[f"member_{index}/{key}"] for key in lone[seed][0]} for result in results]
        assert _same(member_rows, lone[seed])
    for result in results:
        assert result["val_accuracy"] == pytest.approx(sum(result[f"member_{i}/val_accuracy"] for i in (0, 1)) / 2)
        assert result["pack_size"] == 2 and result["members_training"] == 2 and not result["diverged"]
    # each member's per-image test correctness, with the budget's last epoch only (trainables.correctness)
    assert not any(key.endswith("test_correct") for key in results[0])
    bits = [decode(results[-1][f"member_{index}/test_correct"]) for index in (0, 1)]
    for index, member_bits in enumerate(bits):
        assert member_bits.size == len(data.x_test)
        assert member_bits.mean() == pytest.approx(results[-1][f"member_{index}/test_accuracy"], abs=1e-6)


def test_a_restored_pack_continues_every_member_where_it_stopped(tmp_path: Path, monkeypatch) -> None:
    data = _family_data("antirectifier_mlp")
    (tmp_path / "whole").mkdir()
    whole = FakeTune(tmp_path / "whole")
    uninterrupted = _run(monkeypatch, whole, _pack_config(), data)
    first = whole.checkpoints[0]
    filesystem = pyarrow.fs.LocalFileSystem()
    assert is_whole(filesystem, str(first))
    half = shutil.copytree(first, tmp_path / "half")
    (half / "member_1" / "model.keras").unlink()  # as Tune leaves one it was deleting
    assert not is_whole(filesystem, str(half))
    trainable.release_previous_trial()
    (tmp_path / "again").mkdir()
    again = _run(monkeypatch, FakeTune(tmp_path / "again", restore=first), _pack_config(), data)
    assert [result["epoch"] for result in again] == [2]
    members = [key for key in again[0] if key.startswith("member_") and not key.endswith(("seconds", "per_second"))]
    assert members and all(again[0][key] == uninterrupted[1][key] for key in members)


def test_a_pack_config_names_its_members() -> None:
    with pytest.raises(ValueError, match="pack_members"):
        pack_trial.member_configs({"model": "antirectifier_mlp"})
    configs = pack_trial.member_configs({"lr": 0.1, pack_trial.PACK_KEY: [{"seed": 1}, {"seed": 2}]})
    assert configs == [{"lr": 0.1, "seed": 1}, {"lr": 0.1, "seed": 2}]
