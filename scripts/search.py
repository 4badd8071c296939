"""Snakemake adapter: fetch today's PubMed snapshot into the store (live mode only)."""

from livingreview.adapter import logged
from livingreview.search.stage import SearchSettings, run, write

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "search") as log:
    settings = SearchSettings.from_params(dict(snakemake.params.items()))
    result = run(settings, dict(snakemake.input.items()))
    write(result, dict(snakemake.output.items()))
    log.info("snapshot %s", result.snapshot.name)
