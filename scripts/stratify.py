"""Snakemake adapter: effects.csv -> results/strata/<stratum>/data.csv + strata.json."""

from pathlib import Path

from livingreview.adapter import logged
from livingreview.analysis.strata import remove_stale_metareg, stratify, write_rob_table
from livingreview.stratifier import Stratifier

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "stratify") as log:
    changed = stratify(
        snakemake.input.effects,
        Path(snakemake.output.index).parent,
        snakemake.output.index,
        snakemake.params.domains,
        Stratifier.from_config({"stratifier": snakemake.params.stratifier}),
        min_k_funnel=snakemake.params.min_k_funnel,
        extra=snakemake.params.study_columns,
    )
    log.info("strata rewritten (content changed): %s", ", ".join(changed) or "none")
    removed = remove_stale_metareg(snakemake.params.metareg_dir, snakemake.output.index)
    log.info("stale meta-regressions removed: %s", ", ".join(removed) or "none")
    if write_rob_table(snakemake.input.studies, snakemake.params.rob_table):
        log.info("RoB table rewritten: %s", snakemake.params.rob_table)
