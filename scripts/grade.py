"""Snakemake adapter: results/grade/grade.json and sof.csv (logic: livingreview.evidence.grade)."""

from pathlib import Path

from livingreview.adapter import logged
from livingreview.evidence.grade import GradeSettings, grade_review
from livingreview.io import write_csv, write_json

TEXT = ["domain", "outcome", "measure", "effect", "absolute", "certainty", "symbols", "footnotes"]
snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "grade") as log:
    settings = GradeSettings.from_params(
        snakemake.params.grade, min_k_funnel=snakemake.params.min_k_funnel
    )
    adjudication = snakemake.input.adjudication
    result = grade_review(
        Path(snakemake.input.strata[0]).parent,  # strata.json comes first
        settings,
        adjudication=adjudication[0] if adjudication else None,
        schema=snakemake.input.schema,
    )
    write_json(snakemake.output.ratings, result.ratings)
    write_csv(result.sof, snakemake.output.sof, text_columns=TEXT)
    for domain, r in result.ratings["outcomes"].items():
        log.info("%s: suggested %s, final %s", domain, r["suggested_certainty"], r["certainty"])
