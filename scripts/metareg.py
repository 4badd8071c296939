"""Snakemake adapter: meta-regression of one domain (or `overall`) -> results/metareg/<name>.json."""

from livingreview.adapter import logged
from livingreview.analysis.stratum import AnalysisSettings, meta_regression, read_strata
from livingreview.io import write_json

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "metareg") as log:
    settings = AnalysisSettings.from_params(dict(snakemake.params.items()))
    data = read_strata(snakemake.input.data)
    result = meta_regression(data, settings, name=snakemake.wildcards.domain)
    write_json(snakemake.output[0], result)
    if not result["reported"]:
        log.info("not reported: %s", result.get("reason"))
