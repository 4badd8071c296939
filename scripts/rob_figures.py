"""Snakemake adapter: RoB 2 summary and traffic-light figures from results/strata/rob.csv."""

import logging
from pathlib import Path

import pandas as pd

from livingreview.report import draw_rob_figures

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO)
try:
    studies = pd.read_csv(snakemake.input[0], dtype=str, keep_default_na=False)
    out = Path(snakemake.output[0])
    out.mkdir(parents=True, exist_ok=True)
    made = draw_rob_figures(studies, out)
    logging.info("RoB figures: %s", ", ".join(p.name for v in made.values() for p in v))
except Exception:
    logging.exception("RoB figures failed")
    raise
