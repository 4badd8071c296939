"""Analysis stage (``workflow/rules/analysis.smk``): strata and their models.

``strata`` (effects split into strata), ``stratum`` (one stratum's pooling,
leave-one-out, influence, Egger, meta-regression), ``multilevel_stratum``
(several effects per trial), ``moderators`` (study-level columns as regressors);
``metareg``, ``design_check`` and ``cumulative`` are those rules' entry points.
The statistics themselves are in :mod:`livingreview.stats`.
"""
