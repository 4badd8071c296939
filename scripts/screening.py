"""Snakemake adapter for the screening stage (logic: livingreview.screening.stage)."""

from pathlib import Path

from livingreview.adapter import logged
from livingreview.screening.stage import run

snakemake = snakemake  # noqa: F821  (injected by Snakemake's script: directive)

with logged(snakemake.log[0], "screening"):
    run(
        snakemake.input.records,
        snakemake.input.summary,
        snakemake.params.root,
        snakemake.params.screening,
        Path(snakemake.output.decisions).parent,
        sheets=snakemake.input.sheets,
        schema_dir=Path(snakemake.input.schemas[0]).parent,
    )
