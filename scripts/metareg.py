"""Snakemake adapter: meta-regression of one domain (or `overall`) -> results/metareg/<name>.json."""

import logging

import pandas as pd

from livingreview.analysis import meta_regression
from livingreview.io import write_json
from livingreview.strata import read_stratum

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive
p = snakemake.params

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO)
try:
    data = pd.concat([read_stratum(path) for path in snakemake.input.data], ignore_index=True)
    result = meta_regression(
        data,
        name=snakemake.wildcards.domain,
        moderators=p.moderators,
        method=p.method,
        test=p.test,
        level=p.level,
        min_k=p.min_k,
    )
    write_json(snakemake.output[0], result)
except Exception:
    logging.exception("meta-regression failed")
    raise
