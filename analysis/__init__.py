"""Analysis of sweep results: Parquet export, seed statistics, reports, plots.

export   python -m analysis.export <experiment-dir> ... [--out DIR]  -> trials/epochs.parquet
report   python -m analysis.report <tables-dir> [--plots DIR]      -> Markdown on stdout
stats    mean/t-interval, paired t-test, Wilcoxon signed-rank (numpy + scipy distributions)
plots    matplotlib figures (Agg) over the tables
published the seed experiments' published numbers

Submodules are not imported here so `import analysis.export` stays light for the sweep runner.
"""
