"""Snakemake adapter: de-duplicated record store from snapshots and exports."""

from livingreview.adapter import logged
from livingreview.search.records import RecordsSettings, run, write

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "records") as log:
    settings = RecordsSettings.from_params(dict(snakemake.params.items()))
    result = run(settings, dict(snakemake.input.items()))
    write(result, dict(snakemake.output.items()))
    log.info(
        "%d unique records, %d duplicates removed",
        result.summary["unique"],
        result.summary["duplicates_removed"],
    )
