"""Analysis of sweep results: Parquet export, seed statistics, reports, plots.

export       python -m analysis.export <experiment-dir> ... [--out DIR]  -> trials/epochs.parquet
report       python -m analysis.report <tables-dir> [--plots DIR]      -> Markdown on stdout
schema       the columns of both tables and the role of each (identity, setting, result)
tune_files   reads a Tune experiment directory (no Ray needed)
trial_summary  a trial's status, cost, best and last values
atomic       writes the tables all-or-nothing
tables       reads the tables back (read_tables)
stats        mean/t-interval, paired t-test, Wilcoxon signed-rank
plots        matplotlib figures (Agg) over the tables
published    the seed experiments' published numbers

Submodules are not imported here so `import analysis.export` stays light for the sweep runner.
"""
