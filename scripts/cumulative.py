"""Snakemake adapter: results/cumulative/ (table and one figure per domain; livingreview.stats.cumulative)."""

from livingreview.adapter import logged
from livingreview.analysis.cumulative import CumulativeSettings, run, write

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "cumulative") as log:
    settings = CumulativeSettings.from_params(dict(snakemake.params.items()))
    result = run(settings, dict(snakemake.input.items()))
    write(result, dict(snakemake.output.items()))
    log.info("cumulative meta-analyses: %s", sorted(set(result.table["domain"])))
