"""Snakemake adapter for the screening stage (logic: livingreview.screening)."""

import logging
from pathlib import Path

from livingreview.screening import run

snakemake = snakemake  # noqa: F821  (injected by Snakemake's script: directive)

logging.basicConfig(
    filename=snakemake.log[0],
    filemode="w",
    level=logging.INFO,
    format="%(levelname)s %(name)s: %(message)s",
)
try:
    run(
        snakemake.input.records,
        snakemake.input.summary,
        snakemake.params.root,
        snakemake.params.screening,
        Path(snakemake.output.decisions).parent,
        sheets=snakemake.input.sheets,
        schema_dir=Path(snakemake.input.schemas[0]).parent,
    )
except Exception:
    logging.exception("screening failed")
    raise
