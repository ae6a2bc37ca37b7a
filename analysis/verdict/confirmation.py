"""Which search configurations a confirmation stage re-runs, and how its trials pair up.

After a search, each arm (a combination of the scientific keys' values) keeps its top K
nuisance configurations, ranked only among the arm's trials that reached the arm's highest
rung, by the sweep's metric *at that rung* (a trial's value at a later epoch would favour
whoever ran longer). The confirmation re-runs each with the same N new seeds to the full
budget; a confirmation trial's config says which search trial it confirms (`confirms`), its
arm (`confirm_arm`) and its configuration's rank in that arm (`confirm_rank`, 1 = best). Arms
pair up by seed: each arm's value on a seed is the mean over its configurations, so a
comparison has N differences, one per seed, whatever K (analysis.verdict.seeds says why).

Pure pandas over the exported tables, so the runner, the report and tests share it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analysis.store.arms import arm_label
from analysis.store.schema import CONFIRM_CONFIG

CONFIRM_KEYS = CONFIRM_CONFIG  # a confirmation trial's bookkeeping, never a setting being compared
# What pairs two arms' confirmation trials: the same family and seed (each arm averaged over its configurations).
PAIRED_ON = ("family", "seed")
# Keys that tell repeats of one configuration apart, or that the runner sets per trial.
_NOT_CONFIGURATION = frozenset({"seed", "repeat", *CONFIRM_KEYS})


@dataclass(frozen=True)
class Candidate:
    """One configuration an arm sends to confirmation."""

    arm: str
    rank: int  # 1 = the arm's best
    trial_id: str  # the search trial (of this configuration) with the best value at the rung
    rung_epoch: int  # the arm's highest rung: where the configurations were ranked
    value: float  # the metric at that rung, mean over the configuration's seeds that reached it
    config: dict[str, Any]  # the search trial's config, seed and repeat removed


def is_confirmation(trials: pd.DataFrame) -> bool:
    """Tables of a confirmation experiment (every trial has a configuration rank)."""
    return "confirm_rank" in trials.columns and trials["confirm_rank"].notna().any()


def configuration_key(config: Mapping[str, Any]) -> str:
    """The same text for two trials that differ only in their seed."""
    return json.dumps({key: value for key, value in config.items() if key not in _NOT_CONFIGURATION},
                      sort_keys=True, default=str)


def top_configurations(
    configs: Mapping[str, Mapping[str, Any]],
    epochs: pd.DataFrame,
    arm_keys: Sequence[str],
    metric: str,
    mode: str,
    k: int,
) -> dict[str, list[Candidate]]:
    """Per arm, its top k configurations (fewer when the arm has fewer that reached its rung).

    `configs` maps trial id -> config (params.json); `epochs` is the epochs table, whose
    `metric` column holds the per-epoch value the sweep ranked by (e.g. val_accuracy).
    """
    reached = epochs.groupby("trial_id")["epoch"].max().to_dict() if len(epochs) else {}
    by_arm: dict[str, list[str]] = {}
    for trial_id, config in configs.items():
        by_arm.setdefault(arm_label(config, arm_keys), []).append(trial_id)
    return {arm: _rank_arm(arm, trial_ids, configs, epochs, reached, metric, mode, k)
            for arm, trial_ids in sorted(by_arm.items())}


def _rank_arm(arm: str, trial_ids: list[str], configs: Mapping[str, Mapping[str, Any]], epochs: pd.DataFrame,
              reached: Mapping[str, int], metric: str, mode: str, k: int) -> list[Candidate]:
    """The arm's rung is the furthest epoch any of its trials reached; rank there."""
    rung = max((int(reached.get(trial_id, 0)) for trial_id in trial_ids), default=0)
    if rung == 0 or metric not in epochs.columns:
        return []
    at_rung = epochs[(epochs["epoch"] == rung) & epochs["trial_id"].isin(trial_ids)]
    values = {row.trial_id: float(getattr(row, metric)) for row in at_rung.itertuples(index=False)}
    groups: dict[str, list[str]] = {}
    for trial_id in sorted(trial_ids):
        value = values.get(trial_id, math.nan)
        if math.isfinite(value):
            groups.setdefault(configuration_key(configs[trial_id]), []).append(trial_id)
    sign = 1.0 if mode == "max" else -1.0
    scored = []
    for members in groups.values():
        mean = sum(values[trial_id] for trial_id in members) / len(members)
        best = max(members, key=lambda trial_id: (sign * values[trial_id], trial_id))
        scored.append((sign * mean, best, mean))
    scored.sort(key=lambda item: (-item[0], item[1]))  # ties: the lower trial id, so reruns agree
    return [
        Candidate(arm=arm, rank=rank, trial_id=best, rung_epoch=rung, value=mean,
                  config={key: value for key, value in configs[best].items() if key not in _NOT_CONFIGURATION})
        for rank, (_, best, mean) in enumerate(scored[:k], start=1)
    ]


def confirmation_metric(trials: pd.DataFrame) -> str:
    """The verdict's metric: test accuracy at the end of the fixed budget (never a decision metric)."""
    return "last_test_accuracy" if "last_test_accuracy" in trials.columns else "last_val_accuracy"


__all__ = ["CONFIRM_KEYS", "PAIRED_ON", "Candidate", "arm_label", "configuration_key", "confirmation_metric",
           "is_confirmation", "top_configurations"]
