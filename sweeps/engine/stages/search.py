"""The search stage: the sweep's space under ASHA (budget-fair per arm) or FIFO, to its best trial.

Random search draws each nuisance configuration once per sample and shares it across the
sample's grid (seeds, activations), so repeats and activation comparisons are paired;
`--search optuna` gives every arm its own TPE (`sweeps.engine.arm_search`). With `--confirm K`
the confirmation stage follows once the search finished (`sweeps.engine.stages.confirmation`).
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.utils import date_str

from analysis.store import storage
from sweeps.engine.arm_search import optuna_search
from sweeps.engine.plan import Plan
from sweeps.engine.space.keys import Space
from sweeps.engine.stages import confirmation
from trainables.recovery import PACK_KEY


@dataclass(frozen=True)
class SearchStage:
    """The search's Tune experiment, `<name>` (`sweeps.engine.stages`)."""

    plan: Plan

    def tune_settings(self) -> tuple[Space, dict[str, Any]]:
        """(param_space, TuneConfig keyword arguments): the search by `--search`, the time budget."""
        plan = self.plan
        budget = {"time_budget_s": plan.tools.time_budget}
        if plan.tools.search == "optuna":
            space, settings = optuna_search(plan.param_space, plan.num_samples, plan.metric, plan.mode, plan.seed,
                                            plan.max_concurrent)
            return space, {**settings, **budget}
        # Random dimensions are drawn once per sample and shared by its grid (seeds, activations).
        # (Tune ignores max_concurrent_trials when given a generator: it goes here.)
        search_alg = BasicVariantGenerator(constant_grid_search=True, random_state=plan.seed,
                                           max_concurrent=plan.max_concurrent or 0)
        names = {"trial_dirname_creator": pack_dirname} if plan.members > 1 else {}
        return plan.param_space, {"search_alg": search_alg, "num_samples": plan.num_samples, **names, **budget}

    def announce(self) -> None:
        """The search says what it runs in the runner's common line (`sweeps.engine.tune_run`)."""

    def summarize(self, results: Any) -> None:
        """The best trial by the sweep's metric, and where it is."""
        plan = self.plan
        try:
            best = results.get_best_result(metric=plan.metric, mode=plan.mode, scope="all")
        except (RuntimeError, ValueError, KeyError):
            print("no trial reported the metric; nothing to rank")
            return
        value = best.metrics.get(plan.metric)
        config = {key: best.config[key] for key in sorted(best.config) if key not in ("data_dir", PACK_KEY)}
        where = storage.join(plan.experiment_dir, posixpath.basename(best.path))  # Tune's path lacks the scheme
        seeds = [member["seed"] for member in best.config.get(PACK_KEY) or []]
        mean = f" (the mean of its pack's seeds {', '.join(map(str, seeds))})" if seeds else ""
        print(f"best trial: {plan.metric}={value}{mean} at epoch {best.metrics.get('epoch')}  ({where})")
        print("  config: " + ", ".join(f"{key}={value}" for key, value in config.items()))

    def conclude(self) -> None:
        """The search's result is its tables and best trial, printed by `summarize`."""

    def following(self) -> confirmation.ConfirmationStage | None:
        """The confirmation, with `--confirm`: built from this search's tables, now written."""
        return confirmation.ConfirmationStage.after(self.plan) if self.plan.confirm is not None else None

    def dry_run_lines(self) -> list[str]:
        """The confirmation that follows, before the search has said which configurations."""
        return confirmation.describe(self.plan) if self.plan.confirm is not None else []


def pack_dirname(trial: Any) -> str:
    """A search pack's folder: Tune's own name (`Trial._generate_dirname`: trial, tag, cut at
    TUNE_MAX_LEN_IDENTIFIER, date) with the tag's `pack_members=...` item (every member's settings,
    which filled the characters Tune keeps and cut off the configuration) as `seeds<first>-<last>`,
    as the confirmation names its packs."""
    seeds = [member["seed"] for member in trial.config.get(PACK_KEY) or []]
    tag = re.sub(rf"\b{PACK_KEY}=[^,]*", f"seeds{seeds[0]}-{seeds[-1]}" if seeds else "", trial.experiment_tag)
    return f"{trial}_{tag}"[:int(os.environ.get("TUNE_MAX_LEN_IDENTIFIER", "130"))] + f"_{date_str()}"
