"""Snakemake adapter: publish results/bundles/<version>/ when anything changed."""

import logging
from pathlib import Path

from livingreview.bundle import publish
from livingreview.io import write_json

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

logging.basicConfig(filename=snakemake.log[0], filemode="w", level=logging.INFO)
try:
    out = Path(snakemake.output[0])
    result = publish(
        Path(snakemake.input.effects).parents[1],
        out.parent,
        snakemake.params.config,
        inputs_root=snakemake.params.inputs_root,
        allow_removals=snakemake.params.allow_removals,
        # the pipeline's own checkout (for its git commit), wherever the project was moved
        repo=Path(snakemake.scriptdir).parent,
    )
    logging.info(result.message)
    print(f"livingreview bundle: {result.message}")
    write_json(
        out,
        {"changed": result.changed, "version": result.version, "message": result.message},
    )
except Exception:
    logging.exception("bundle failed")
    raise
