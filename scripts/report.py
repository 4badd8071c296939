"""Snakemake adapter: results/report/ (figures, tables, index.html)."""

import logging
from pathlib import Path

from livingreview.bundle import latest
from livingreview.report import build_report
from livingreview.report_settings import ReportSettings

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO)
try:
    results = Path(snakemake.input.effects).parents[1]
    bundles = Path(snakemake.params.bundles)
    previous = latest(bundles)
    index = build_report(
        results,
        Path(snakemake.output.index).parent,
        ReportSettings.from_config(snakemake.params.config),
        previous_bundle=bundles / previous if previous else None,
    )
    logging.info("report written: %s", index)
except Exception:
    logging.exception("report failed")
    raise
