"""Which checkpoint a resumed trial continues from when the one Tune recorded was deleted (the
whole path, killed and resumed through Ray, is in tests/engine/test_confirm.py)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from ray import tune

from trainables.recovery import MODEL_FILE, STATE_FILE, checkpoint_to_load, recreate_lost_checkpoints


def checkpoint_dir(trial: Path, index: int, *files: str) -> Path:
    directory = trial / f"checkpoint_{index:06d}"
    directory.mkdir(parents=True)
    for name in files:
        (directory / name).write_text("{}")
    return directory


WHOLE = (MODEL_FILE, STATE_FILE)


def test_a_whole_recorded_checkpoint_is_the_one_loaded(tmp_path):
    recorded = tune.Checkpoint.from_directory(str(checkpoint_dir(tmp_path, 3, *WHOLE)))
    checkpoint_dir(tmp_path, 2, *WHOLE)
    assert checkpoint_to_load(recorded) is recorded


@pytest.mark.parametrize("left", [(), (STATE_FILE,), (MODEL_FILE,)])  # recreated empty, or half-deleted
def test_a_lost_checkpoint_falls_back_to_the_newest_whole_older_one(tmp_path, caplog, left):
    checkpoint_dir(tmp_path, 0, *WHOLE)
    checkpoint_dir(tmp_path, 1, *WHOLE)  # the newest older whole one
    checkpoint_dir(tmp_path, 2, STATE_FILE)  # older still, but not whole
    recorded = checkpoint_dir(tmp_path, 3, *left)
    checkpoint_dir(tmp_path, 4, *WHOLE)  # newer: written by a worker its driver never heard from
    (tmp_path / "checkpoint_notes").mkdir()
    with caplog.at_level(logging.WARNING, logger="trainables.recovery"):
        chosen = checkpoint_to_load(tune.Checkpoint.from_directory(str(recorded)))
    assert Path(chosen.path) == tmp_path / "checkpoint_000001"
    assert "continuing from" in caplog.text and "checkpoint_000001" in caplog.text


def test_with_no_whole_older_checkpoint_the_trial_starts_over(tmp_path, caplog):
    checkpoint_dir(tmp_path, 0, MODEL_FILE)
    recorded = checkpoint_dir(tmp_path, 1)
    checkpoint_dir(tmp_path, 2, *WHOLE)
    with caplog.at_level(logging.WARNING, logger="trainables.recovery"):
        assert checkpoint_to_load(tune.Checkpoint.from_directory(str(recorded))) is None
    assert "from scratch" in caplog.text


def test_an_experiment_without_a_saved_state_has_no_lost_checkpoint(tmp_path):
    (tmp_path / "tuner.pkl").write_bytes(b"")  # Tune writes its state only at the first snapshot
    assert recreate_lost_checkpoints(str(tmp_path)) == []
