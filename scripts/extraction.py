"""Snakemake adapter for the extraction stage (logic: livingreview.extraction.stage)."""

from pathlib import Path

from livingreview.adapter import logged
from livingreview.extraction.stage import run, write_outputs

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "extraction"):
    result = run(
        study_files=snakemake.input.studies,
        outcome_files=snakemake.input.outcomes,
        decisions=snakemake.input.decisions,
        config=snakemake.params.extraction,
        schema_dir=Path(snakemake.input.schemas[0]).parent,
        resolutions=snakemake.input.resolutions[0] if snakemake.input.resolutions else None,
        root=snakemake.params.root,
        aliases=snakemake.input.aliases,
    )
    write_outputs(result, *snakemake.output)
