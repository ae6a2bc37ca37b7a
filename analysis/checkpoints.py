"""Load a trial's best checkpoint (the `best_checkpoint` column of trials.parquet) as a Keras model."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def best_checkpoint_dir(trial_row: Mapping[str, Any] | pd.Series) -> Path:
    """The checkpoint directory of a trials row; ValueError when none was kept or it is gone."""
    path = trial_row.get("best_checkpoint")
    trial = trial_row.get("trial_id", "?")
    if path is None or pd.isna(path):
        raise ValueError(f"trial {trial} has no kept checkpoint (best_checkpoint is null)")
    directory = Path(str(path))
    if not directory.is_dir():
        raise ValueError(f"trial {trial}'s checkpoint {directory} no longer exists (moved or deleted?)")
    return directory


def load_best_model(trial_row: Mapping[str, Any] | pd.Series):
    """The compiled Keras model (optimizer state included) saved at the trial's best epoch.

    Imports Keras and the project's layers only when called. The checkpoint carries the trial's
    flat config, so the model is compiled exactly as it was trained.
    """
    from trainables.trainable import STATE_FILE, load_checkpoint, parse_config

    directory = best_checkpoint_dir(trial_row)
    state = json.loads((directory / STATE_FILE).read_text(encoding="utf-8"))
    model, _ = load_checkpoint(directory, parse_config(state["config"]))
    return model
