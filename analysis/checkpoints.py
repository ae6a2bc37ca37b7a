"""Load a trial's best checkpoint (the `best_checkpoint` column of trials.parquet) as a Keras model.

The checkpoint may be a local directory or a URI (s3://bucket/prefix/exp/trial/checkpoint_000003):
a remote one is copied to a temporary directory, loaded, and the copy removed (Keras reads the
whole model into memory). A pack's member (analysis.store.packs) is a trial like any other: its
`best_checkpoint` is its own `member_<i>/` folder inside the pack's checkpoint, a lone trial's files.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.store import storage
from trainables.recovery import MEMBER_DIRECTORY, PACK_FILE
from trainables.trainable import STATE_FILE, load_checkpoint, parse_config


def best_checkpoint_dir(trial_row: Mapping[str, Any] | pd.Series) -> Path | str:
    """The checkpoint directory of a trials row (a Path, or a URI); ValueError when none was kept or it is gone."""
    path = trial_row.get("best_checkpoint")
    trial = trial_row.get("trial_id", "?")
    if path is None or pd.isna(path):
        raise ValueError(f"trial {trial} has no kept checkpoint (best_checkpoint is null)")
    return _existing(str(path), f"trial {trial}'s checkpoint")


def _existing(path: str, what: str) -> Path | str:
    directory: Path | str = str(path) if storage.is_remote(path) else Path(path)
    if not storage.is_dir(directory):
        raise ValueError(f"{what} {storage.redact(directory)} no longer exists (moved or deleted?)")
    return directory


def checkpoint_of(trial_or_checkpoint: Mapping[str, Any] | pd.Series | str | os.PathLike) -> Path | str:
    """A trials row's best checkpoint, or a checkpoint directory (path or URI) given directly."""
    if isinstance(trial_or_checkpoint, (str, os.PathLike)):
        return _existing(os.fspath(trial_or_checkpoint), "checkpoint")
    return best_checkpoint_dir(trial_or_checkpoint)


def _load_local(directory: Path):
    if not (directory / STATE_FILE).is_file() and (directory / PACK_FILE).is_file():
        member = MEMBER_DIRECTORY.format(index="<i>")
        raise ValueError(f"{directory} is a pack's checkpoint, one model per member: load {directory / member}, "
                         "or pass the member's trials row")
    state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    model, _ = load_checkpoint(directory, parse_config(state["config"]))
    return model


def load_best_model(trial_or_checkpoint: Mapping[str, Any] | pd.Series | str | os.PathLike):
    """The compiled Keras model (optimizer state included) of a trials row's best checkpoint, or of
    a checkpoint directory given as a path or URI.

    Imports Keras and the project's layers only when called. The checkpoint carries the trial's
    flat config, so the model is compiled exactly as it was trained.
    """
    directory = checkpoint_of(trial_or_checkpoint)
    if isinstance(directory, Path):
        return _load_local(directory)
    with tempfile.TemporaryDirectory(prefix="actsweep-checkpoint-") as local:
        return _load_local(storage.copy_to_local(directory, local))
