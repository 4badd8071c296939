"""The ``design_check`` rule's entry point: does follow-up length go with trial size?

The model (OLS of ln(n) on follow-up weeks, HC3 errors) is
:func:`livingreview.analysis.stratum.design_check`; this module gives it the
shape every stage has (docs/contracts.md, "Stage entry points").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..io import write_json
from .stratum import AnalysisSettings
from .stratum import design_check as _design_check

__all__ = ["run", "write"]


def run(settings: AnalysisSettings, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """``inputs``: ``studies`` (the study-level table); returns design_check.json's content."""
    import pandas as pd

    studies = pd.read_csv(inputs["studies"], dtype={"study_id": str})
    return _design_check(studies, level=settings.level)


def write(result: dict[str, Any], outputs: Mapping[str, str | Path]) -> None:
    """Write the rule's ``json`` output."""
    write_json(outputs["json"], result)
