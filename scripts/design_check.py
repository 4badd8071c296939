"""Snakemake adapter: design check, OLS of ln(n) on follow-up weeks with HC3 errors."""

from livingreview.adapter import logged
from livingreview.analysis.design_check import run, write
from livingreview.analysis.stratum import AnalysisSettings

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "design_check") as log:
    settings = AnalysisSettings.from_params(dict(snakemake.params.items()))
    result = run(settings, dict(snakemake.input.items()))
    write(result, dict(snakemake.output.items()))
    log.info("design check: n=%s reported=%s", result["n"], result["reported"])
