"""Snakemake adapter: de-duplicated record store from snapshots and exports."""

from livingreview.adapter import logged
from livingreview.search.records import build_records, write_records

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0], "records") as log:
    table, summary = build_records(
        sm.params.root, title_similarity=float(sm.params.title_similarity)
    )
    write_records(table, summary, sm.output.csv, sm.output.summary, sm.output.aliases)
    log.info(
        "%d unique records, %d duplicates removed", summary["unique"], summary["duplicates_removed"]
    )
