"""Snakemake adapter: design check, OLS of ln(n) on follow-up weeks with HC3 errors."""

import pandas as pd

from livingreview.adapter import logged
from livingreview.analysis.stratum import design_check
from livingreview.io import write_json

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "design_check"):
    studies = pd.read_csv(snakemake.input.studies, dtype={"study_id": str})
    write_json(snakemake.output[0], design_check(studies, level=snakemake.params.level))
