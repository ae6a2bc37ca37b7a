"""Statistics and the verdict, the middle floor of analysis: reads the tables (analysis.store), never
the presentation above it (analysis.report, analysis.plots).

stats (general small-sample statistics) < seeds (the unit: one value per seed and arm, failures
scored and counted) < evidence (the raw tests and intervals of one comparison) < decision (the
verdict model: Outcome, Verdict, decide) and power (seeds a comparison needs) < boundaries (alpha
spending) < sequential (the group-sequential verdicts) < looks (a confirmation's verdicts look by
look) < comparisons (paired comparisons over the tables; two_way their interval over seeds and
test images); leaderboard ranks the arms; words puts verdicts into sentences; variation says what
the seeds vary; budget and confirmation say which trials are compared and how they pair.
"""
