"""analysis.checkpoints: what load_best_model says when handed a pack's checkpoint instead of a trial's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import analysis


def test_a_packs_checkpoint_points_at_its_members_folders(tmp_path: Path) -> None:
    checkpoint = tmp_path / "checkpoint_000001"
    (checkpoint / "member_0").mkdir(parents=True)
    (checkpoint / "pack.json").write_text(json.dumps({"epoch": 2, "members": 1, "diverged": {}}))
    with pytest.raises(ValueError, match=r"pack's checkpoint, one model per member: load .*member_<i>"):
        analysis.load_best_model(checkpoint)
