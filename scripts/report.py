"""Snakemake adapter: results/report/ (figures, tables, index.html)."""

from pathlib import Path

from livingreview.adapter import logged
from livingreview.publish.bundle import latest
from livingreview.publish.report import run, write
from livingreview.publish.report_settings import ReportSettings

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "report") as log:
    settings = ReportSettings.from_config(snakemake.params.config)
    bundles = Path(snakemake.params.bundles)
    previous = latest(bundles)  # "changes since the last version" compares with it
    inputs = {**dict(snakemake.input.items()), "previous": bundles / previous if previous else None}
    result = run(settings, inputs)
    write(result, dict(snakemake.output.items()))
    log.info("report written: %s", snakemake.output.index)
