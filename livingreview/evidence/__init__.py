"""Living evidence (``workflow/rules/evidence.smk``): GRADE certainty per outcome.

``grade`` (suggested ratings, the team's adjudication, summary of findings).
Cumulative meta-analysis is :mod:`livingreview.stats.cumulative`.
"""
