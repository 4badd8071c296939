"""Snakemake adapter: publish results/bundles/<version>/ when anything changed."""

from pathlib import Path

from livingreview.adapter import logged
from livingreview.publish.bundle import BundleSettings, run, write

snakemake = snakemake  # noqa: F821, PLW0127 - injected by Snakemake's script: directive

with logged(snakemake.log[0], "bundle") as log:
    repo = Path(snakemake.scriptdir).parent  # the pipeline's own checkout, for its git commit
    bundles = Path(snakemake.output.published).parent  # the versions sit beside the marker
    settings = BundleSettings.from_params(
        dict(snakemake.params.items()), bundles=bundles, repo=repo
    )
    result = run(settings, dict(snakemake.input.items()))
    write(result, dict(snakemake.output.items()))
    log.info(result.message)
    print(f"livingreview bundle: {result.message}")
