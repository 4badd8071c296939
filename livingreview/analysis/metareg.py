"""The ``metareg`` rule's entry point: one domain's (or ``overall``) meta-regression.

The model is :func:`livingreview.analysis.stratum.meta_regression`; this
module gives it the shape every stage has (docs/contracts.md, "Stage entry points").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..io import write_json
from .stratum import AnalysisSettings, meta_regression, read_strata

__all__ = ["MetaregSettings", "run", "write"]


@dataclass(frozen=True)
class MetaregSettings:
    """The rule's params (:class:`AnalysisSettings`) and the job's name (its ``domain`` wildcard)."""

    analysis: AnalysisSettings
    name: str

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, name: str) -> MetaregSettings:
        return cls(AnalysisSettings.from_params(params), name)


def run(settings: MetaregSettings, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """``inputs``: ``data`` (the strata's data.csv files); returns ``<name>.json``'s content."""
    return meta_regression(read_strata(inputs["data"]), settings.analysis, name=settings.name)


def write(result: dict[str, Any], outputs: Mapping[str, str | Path]) -> None:
    """Write the rule's ``json`` output."""
    write_json(outputs["json"], result)
