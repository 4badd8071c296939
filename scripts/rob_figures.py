"""Snakemake adapter: RoB 2 summary and traffic-light figures from results/strata/rob.csv."""

from pathlib import Path

import pandas as pd

from livingreview.adapter import logged
from livingreview.publish.report_figures import draw_rob_figures

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "rob_figures") as log:
    studies = pd.read_csv(snakemake.input[0], dtype=str, keep_default_na=False)
    out = Path(snakemake.output[0])
    out.mkdir(parents=True, exist_ok=True)
    made = draw_rob_figures(studies, out)
    log.info("RoB figures: %s", ", ".join(p.name for v in made.values() for p in v))
