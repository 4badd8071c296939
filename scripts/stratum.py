"""Snakemake adapter: one stratum's data.csv -> pooled.json, loo.csv, influence.csv,
forest plot, and (rule stratum_funnel, k >= min_k_funnel) egger.json + funnel plot."""

import logging
from pathlib import Path

from livingreview.analysis import CSV_FLOAT, analyse_stratum, egger
from livingreview.io import write_csv, write_json
from livingreview.plots import forest_plot, funnel_plot
from livingreview.strata import read_stratum

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive
p = snakemake.params
out = snakemake.output
stratum = snakemake.wildcards.stratum

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO)
try:
    data = read_stratum(snakemake.input.data)
    common = dict(method=p.method, test=p.test, level=p.level)
    pooled, loo, influence = analyse_stratum(
        data,
        stratum=stratum,
        measure=p.measure,
        label=p.label,
        favourable_sign=p.favourable_sign,
        min_k=p.min_k,
        influence_exclude=p.influence_exclude,
        leave_one_out=p.leave_one_out,
        **common,
    )
    write_json(out.pooled, pooled)
    write_csv(loo, out.loo, text_columns=["omitted"], float_format=CSV_FLOAT)
    write_csv(influence, out.influence, text_columns=["study"], float_format=CSV_FLOAT)
    forest_plot(data, pooled, Path(out.forest).with_suffix(""), formats=("svg", "png"))
    if "egger" in out.keys():
        result = egger(data, stratum=stratum, min_k_funnel=p.min_k_funnel, **common)
        write_json(out.egger, result)
        funnel_plot(data, pooled, result, Path(out.funnel).with_suffix(""), formats=("svg", "png"))
    logging.info("k=%s reported=%s", pooled["k"], pooled["reported"])
except Exception:
    logging.exception("stratum analysis failed")
    raise
