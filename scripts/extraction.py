"""Snakemake adapter for the extraction stage (logic: livingreview.extraction.stage)."""

from livingreview.adapter import logged
from livingreview.extraction.stage import ExtractionSettings, run, write

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "extraction"):
    settings = ExtractionSettings.from_params(dict(snakemake.params.items()))
    result = run(settings, dict(snakemake.input.items()))
    write(result, dict(snakemake.output.items()))
