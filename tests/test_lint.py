"""`snakemake --lint` is clean, less its advice to give every rule a conda environment.

The rules run Python from this package in the project's own environment (one
pinned `pyproject.toml`), so a conda environment per rule would duplicate it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = REPO / ".venv" / "bin" / "snakemake"
ACCEPTED = ("Specify a conda environment or container for each rule.",)


def test_snakemake_lint_is_clean() -> None:
    proc = subprocess.run(
        [str(SNAKEMAKE), "--lint"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    lints = re.findall(r"^    \* (.+?):?$", proc.stdout + proc.stderr, flags=re.M)
    assert lints, "snakemake --lint printed no lint at all: has its output format changed?"
    unexpected = [lint for lint in lints if lint.rstrip(":") not in ACCEPTED]
    assert unexpected == [], "\n".join(unexpected)
