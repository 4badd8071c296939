"""Snakemake adapter: results/grade/grade.json and sof.csv (logic: livingreview.evidence.grade)."""

from livingreview.adapter import logged
from livingreview.evidence.grade import GradeSettings, run, write

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "grade") as log:
    params = snakemake.params
    settings = GradeSettings.from_params(params.grade, min_k_funnel=params.min_k_funnel)
    result = run(settings, dict(snakemake.input.items()))
    write(result, dict(snakemake.output.items()))
    for domain, r in result.ratings["outcomes"].items():
        log.info("%s: suggested %s, final %s", domain, r["suggested_certainty"], r["certainty"])
