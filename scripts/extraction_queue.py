"""Snakemake adapter: extraction queues (logic: livingreview.extraction.queue)."""

from livingreview.adapter import logged
from livingreview.extraction.queue import queue_columns, write_queues
from livingreview.sheets import load_schema

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "extraction_queue") as log:
    columns = queue_columns(load_schema(snakemake.input.schema), snakemake.params.extraction)
    counts = write_queues(
        snakemake.input.decisions,
        snakemake.input.records,
        snakemake.input.studies,
        columns,
        snakemake.output.queue,
    )
    for name, n in sorted(counts.items()):
        log.info("queue %s: %d included trials to extract", name, n)
