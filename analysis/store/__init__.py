"""The on-disk format, the bottom floor of analysis: how experiments and their tables lie on storage.

Reading Tune's files (tune_files, trial_summary, arms; packs: a pack trial as its members), the
table schema, writing and reading the Parquet tables (export, atomic, tables), and the paths and
filesystems they live on (uri, storage).
Nothing here imports analysis.verdict or the presentation modules above it.
"""
