"""Statistics and the verdict, the middle floor of analysis: reads the tables (analysis.store), never
the presentation above it (analysis.report, analysis.plots).

stats (general small-sample statistics) < decision (the verdict model: Outcome, Verdict, decide) and
power (seeds needed) < sequential (the group-sequential plan) < looks (a confirmation's verdicts look
by look) < comparisons (leaderboard and paired comparisons over the tables); words puts verdicts into
sentences; budget and confirmation say which trials are compared and how they pair.
"""
