"""Snakemake adapter: publish results/bundles/<version>/ when anything changed."""

from pathlib import Path

from livingreview.adapter import logged
from livingreview.io import write_json
from livingreview.publish.bundle import publish

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "bundle") as log:
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
    log.info(result.message)
    print(f"livingreview bundle: {result.message}")
    write_json(
        out,
        {"changed": result.changed, "version": result.version, "message": result.message},
    )
