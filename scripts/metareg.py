"""Snakemake adapter: meta-regression of one domain (or `overall`) -> results/metareg/<name>.json."""

import logging

from livingreview.analysis import AnalysisSettings, meta_regression, read_strata
from livingreview.io import write_json

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO)
try:
    settings = AnalysisSettings.from_params(dict(snakemake.params.items()))
    data = read_strata(snakemake.input.data)
    result = meta_regression(data, settings, name=snakemake.wildcards.domain)
    write_json(snakemake.output[0], result)
    if not result["reported"]:
        logging.info("not reported: %s", result.get("reason"))
except Exception:
    logging.exception("meta-regression failed")
    raise
