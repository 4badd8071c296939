"""Snakemake adapter: de-duplicated record store from snapshots and exports."""

import logging

from livingreview.records import build_records, write_records

sm = snakemake  # noqa: F821 (injected by Snakemake)
logging.basicConfig(
    filename=sm.log[0], level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
)
table, summary = build_records(sm.params.root, title_similarity=float(sm.params.title_similarity))
write_records(table, summary, sm.output.csv, sm.output.summary, sm.output.aliases)
logging.info(
    "%d unique records, %d duplicates removed", summary["unique"], summary["duplicates_removed"]
)
