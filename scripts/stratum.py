"""Snakemake adapter: one stratum's data.csv -> pooled.json, loo.csv, influence.csv,
forest plot, and (rule stratum_funnel, k >= min_k_funnel) egger.json + funnel plot.

The model is chosen in the package (analysis.stratum_model): univariate for one
effect per trial, multilevel (params.dependence) for several."""

from pathlib import Path

from livingreview.adapter import logged
from livingreview.analysis.strata import read_stratum
from livingreview.analysis.stratum import (
    CSV_FLOAT,
    AnalysisSettings,
    StratumSpec,
    analyse_stratum,
    egger,
)
from livingreview.io import write_csv, write_json
from livingreview.publish.plots import forest_plot, funnel_plot

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive
out = snakemake.output
stratum = snakemake.wildcards.stratum

with logged(snakemake.log[0], "stratum") as log:
    params = dict(snakemake.params.items())
    settings = AnalysisSettings.from_params(params)
    data = read_stratum(snakemake.input.data)
    res = analyse_stratum(data, StratumSpec.from_params(stratum, params), settings)
    pooled = res.pooled
    for message in pooled["warnings"]:
        log.warning("%s: %s", stratum, message)
    write_json(out.pooled, pooled)
    write_csv(res.loo, out.loo, text_columns=["omitted"], float_format=CSV_FLOAT)
    write_csv(res.influence, out.influence, text_columns=["study"], float_format=CSV_FLOAT)
    forest_plot(data, pooled, Path(out.forest).with_suffix(""), formats=("svg", "png"))
    if "egger" in out.keys():
        result = egger(data, settings, stratum=stratum, result=res.fit)
        write_json(out.egger, result)
        funnel_plot(data, pooled, result, Path(out.funnel).with_suffix(""), formats=("svg", "png"))
    log.info("k=%s reported=%s", pooled["k"], pooled["reported"])
