"""Snakemake adapter: results/cumulative/ (table and one figure per domain; livingreview.stats.cumulative)."""

from pathlib import Path

from livingreview.adapter import logged
from livingreview.analysis.stratum import CSV_FLOAT, AnalysisSettings
from livingreview.contract import CUMULATIVE_TABLE
from livingreview.io import read_json, write_csv
from livingreview.stats.cumulative import cumulative_review

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "cumulative") as log:
    settings = AnalysisSettings.from_params(dict(snakemake.params.items()))
    out = Path(snakemake.output[0]).parent
    strata = Path(snakemake.input.strata[0]).parent  # strata.json comes first
    table = cumulative_review(
        strata,
        Path(snakemake.input.studies),
        Path(snakemake.input.records),
        settings,
    )
    write_csv(table, out / CUMULATIVE_TABLE, text_columns=["domain", "measure", "added"],
              float_format=CSV_FLOAT)  # fmt: skip
    from livingreview.publish.plots import cumulative_plot

    index = read_json(strata / "strata.json")
    for domain, label in snakemake.params.labels.items():  # every configured domain
        k = (index.get(f"domain-{domain}") or {}).get("k", 0)
        rows = table[table["domain"] == domain]
        cumulative_plot(rows, out / domain, label=label, level=settings.level, k=k)
    log.info("cumulative meta-analyses: %s", sorted(set(table["domain"])))
