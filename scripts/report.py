"""Snakemake adapter: results/report/ (figures, tables, index.html)."""

from pathlib import Path

from livingreview.adapter import logged
from livingreview.publish.bundle import latest
from livingreview.publish.report import build_report
from livingreview.publish.report_settings import ReportSettings

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "report") as log:
    results = Path(snakemake.input.effects).parents[1]
    bundles = Path(snakemake.params.bundles)
    previous = latest(bundles)
    index = build_report(
        results,
        Path(snakemake.output.index).parent,
        ReportSettings.from_config(snakemake.params.config),
        previous_bundle=bundles / previous if previous else None,
    )
    log.info("report written: %s", index)
