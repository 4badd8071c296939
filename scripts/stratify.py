"""Snakemake adapter: effects.csv -> results/strata/<stratum>/data.csv + strata.json."""

from livingreview.adapter import logged
from livingreview.analysis.strata import StratifySettings, run, write

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "stratify") as log:
    settings = StratifySettings.from_params(dict(snakemake.params.items()))
    result = run(settings, dict(snakemake.input.items()))
    rewritten = write(result, dict(snakemake.output.items()))
    log.info("strata rewritten (content changed): %s", ", ".join(rewritten.strata) or "none")
    removed = ", ".join(rewritten.removed_metareg) or "none"
    log.info("stale meta-regressions removed: %s", removed)
    if rewritten.rob_table:
        log.info("RoB table rewritten: %s", settings.rob_table)
