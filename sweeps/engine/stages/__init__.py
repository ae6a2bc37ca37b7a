"""The stages of a sweep, each one Tune experiment: the search, then (with `--confirm`) its confirmation.

A stage owns its plan (its experiment's name and settings), its Tune settings, what it
announces, its summary and conclusion, its dry-run lines, and which stage follows it; the
runner (`sweeps.engine.steps`) calls them in turn and knows none of them. `first_stage`
says where a command line starts: the confirmation alone when `--confirm` names a finished
search, else the search.
"""

from __future__ import annotations

from typing import Any, Protocol

from sweeps.engine.plan import Plan
from sweeps.engine.space.keys import Space
from sweeps.engine.stages.confirmation import ConfirmationStage, confirmation_only
from sweeps.engine.stages.search import SearchStage

__all__ = ["ConfirmationStage", "SearchStage", "Stage", "first_stage"]


class Stage(Protocol):
    plan: Plan

    def tune_settings(self) -> tuple[Space, dict[str, Any]]:
        """(param_space, TuneConfig keyword arguments)."""

    def announce(self) -> None:
        """Lines before its Tune experiment starts."""

    def summarize(self, results: Any) -> None:
        """Lines once `fit()` returned complete, before the tables are written."""

    def conclude(self) -> None:
        """Lines once its tables are written and no trial errored."""

    def following(self) -> Stage | None:
        """The stage after this one, built once this one finished."""

    def dry_run_lines(self) -> list[str]:
        """What `--dry-run` adds for this stage."""


def first_stage(plan: Plan) -> Stage:
    """The confirmation alone, for `--confirm` with the name of a finished search; else the search."""
    return ConfirmationStage.after(plan) if confirmation_only(plan) else SearchStage(plan)
