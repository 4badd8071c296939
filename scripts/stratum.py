"""Snakemake adapter: one stratum's data.csv -> pooled.json, loo.csv, influence.csv,
forest plot, and (rule stratum_funnel, k >= min_k_funnel) egger.json + funnel plot.

The model is chosen in the package (analysis.stratum_model): univariate for one
effect per trial, multilevel (params.dependence) for several."""

from livingreview.adapter import logged
from livingreview.analysis.stratum import StratumSettings, run, write

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive
stratum = snakemake.wildcards.stratum

with logged(snakemake.log[0], "stratum") as log:
    settings = StratumSettings.from_params(dict(snakemake.params.items()), name=stratum)
    result = run(settings, dict(snakemake.input.items()))
    pooled = result.analysis.pooled
    for message in pooled["warnings"]:
        log.warning("%s: %s", stratum, message)
    write(result, dict(snakemake.output.items()))
    log.info("k=%s reported=%s", pooled["k"], pooled["reported"])
