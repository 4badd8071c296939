"""Snakemake adapter: meta-regression of one domain (or `overall`) -> results/metareg/<name>.json."""

from livingreview.adapter import logged
from livingreview.analysis.metareg import MetaregSettings, run, write

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "metareg") as log:
    params = dict(snakemake.params.items())
    settings = MetaregSettings.from_params(params, name=snakemake.wildcards.domain)
    result = run(settings, dict(snakemake.input.items()))
    write(result, dict(snakemake.output.items()))
    if not result["reported"]:
        log.info("not reported: %s", result.get("reason"))
