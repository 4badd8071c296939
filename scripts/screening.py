"""Snakemake adapter for the screening stage (logic: livingreview.screening.stage)."""

from livingreview.adapter import logged
from livingreview.screening.stage import ScreeningSettings, run, write

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "screening"):
    settings = ScreeningSettings.from_params(dict(snakemake.params.items()))
    result = run(settings, dict(snakemake.input.items()))
    write(result, dict(snakemake.output.items()))
