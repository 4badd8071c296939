"""livingreview: keep a systematic review and meta-analysis alive.

The package holds all logic; the Snakemake workflow (``Snakefile``,
``workflow/``) and the thin adapters in ``scripts/`` only wire it together.
"""

__version__ = "0.1.0"
