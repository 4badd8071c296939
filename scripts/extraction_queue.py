"""Snakemake adapter: extraction queues (logic: livingreview.extraction.queue)."""

from livingreview.adapter import logged
from livingreview.extraction.queue import QueueSettings, run, write

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "extraction_queue") as log:
    settings = QueueSettings.from_params(dict(snakemake.params.items()))
    result = run(settings, dict(snakemake.input.items()))
    write(result, dict(snakemake.output.items()))
    for name, n in sorted(result.counts.items()):
        log.info("queue %s: %d included trials to extract", name, n)
