"""Analysis of sweep results, in three floors; each imports only the floors below it.

store/      the on-disk format, importing nothing above it (Optuna's `storages/` is the model)
  export        python -m analysis.store.export <experiment-dir> ... [--out DIR]  -> trials/epochs.parquet
  uri, storage  paths and URIs as text; the filesystems behind them (local or object storage)
  tune_files    reads a Tune experiment directory (no Ray needed)
  trial_summary a trial's status, cost, best and last values, best checkpoint
  packs         a pack trial (several seeds trained as one Tune trial) read as its members
  arms          arm labels and rungs of budget-fair ASHA (fair_asha.json)
  schema        the columns of both tables and the role of each (identity, setting, result)
  atomic        writes the tables all-or-nothing; tables: reads them back (read_tables)
verdict/    statistics and the verdict, reading the tables
  stats         t-interval, paired t-test, Wilcoxon, Benjamini-Hochberg (SciPy)
  seeds         the unit: one value per seed and arm (K configurations averaged), failures scored
  evidence      the tests of one comparison (SciPy, statsmodels) and the intervals that match them
  decision      the verdict with a margin: Outcome, Verdict, decide, decide_all
  power         power, and the seeds a comparison needs
  boundaries    alpha spending and group-sequential boundaries
  sequential    the group-sequential verdicts (decide_at_look, repeated intervals)
  looks         a confirmation's verdicts look by look (LookPlan, look_verdicts)
  confirmation  which configurations a confirmation re-runs, and how its trials pair
  budget        which trials reached the budget a comparison is made at
  comparisons   paired comparisons; two_way: their interval over seeds and test images
  leaderboard   one row per activation and setting at a budget
  words         the verdict in sentences; variation: what the seeds vary
presentation (here)
  report        python -m analysis.report <tables-dir> [--at-epoch E] [--json] [--plots DIR] [--out FILE]
  plots         matplotlib figures (Agg) over the tables
  compute       compute accounting; reproduction: published numbers beside ours; published: those numbers
  checkpoints   load_best_model(trial_row)
  results.ipynb the notebook
cli_parser      the argument parser and number types of every command line (analysis and the engine)

Submodules are not imported here, so `import analysis.cli_parser` stays light for the engine's command line.
"""

from __future__ import annotations

from typing import Any


def load_best_model(trial_or_checkpoint: Any):
    """The compiled Keras model of a trials.parquet row's best checkpoint, or of a checkpoint
    directory given as a path or URI (analysis.checkpoints)."""
    # A measured start-up cost: analysis.checkpoints takes 0.5 s (pandas, pyarrow); every `import analysis.x`
    # runs this __init__, and the engine's command line imports analysis.cli_parser (4 ms) before it parses.
    from analysis.checkpoints import load_best_model as load

    return load(trial_or_checkpoint)
