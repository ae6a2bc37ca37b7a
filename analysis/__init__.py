"""Analysis of sweep results: Parquet export, seed statistics, reports, plots.

export        python -m analysis.store.export <experiment-dir> ... [--out DIR]  -> trials/epochs.parquet
report        python -m analysis.report <tables-dir> [--at-epoch E] [--json] [--plots DIR] [--out FILE]
schema        the columns of both tables and the role of each (identity, setting, result)
tune_files    reads a Tune experiment directory (no Ray needed)
trial_summary a trial's status, cost, best and last values, best checkpoint
atomic        writes the tables all-or-nothing
tables        reads the tables back (read_tables)
budget        which trials reached the budget a comparison is made at
comparisons   leaderboard and paired comparisons
compute       compute accounting; reproduction: published numbers beside ours
stats         t-interval, paired t-test, Wilcoxon (SciPy) and verdict words
plots         matplotlib figures (Agg) over the tables
checkpoints   load_best_model(trial_row)
published     the seed experiments' published numbers

Submodules are not imported here so `import analysis.store.export` stays light for the sweep runner.
"""

from __future__ import annotations

from typing import Any


def load_best_model(trial_or_checkpoint: Any):
    """The compiled Keras model of a trials.parquet row's best checkpoint, or of a checkpoint
    directory given as a path or URI (analysis.checkpoints)."""
    from analysis.checkpoints import load_best_model as load

    return load(trial_or_checkpoint)
