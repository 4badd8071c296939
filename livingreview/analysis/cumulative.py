"""The ``cumulative`` rule's entry point: each domain's meta-analysis as the years added trials.

The statistics are :func:`livingreview.stats.cumulative.cumulative_review`;
this module gives them the shape every stage has (docs/contracts.md, "Stage
entry points") and draws one figure per configured domain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from ..io import read_json, write_csv
from .stratum import CSV_FLOAT, AnalysisSettings

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["CumulativeResult", "CumulativeSettings", "run", "write"]


@dataclass(frozen=True)
class CumulativeSettings:
    """The rule's params: the analysis settings and every configured domain's label."""

    analysis: AnalysisSettings
    labels: Mapping[str, str]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> CumulativeSettings:
        return cls(AnalysisSettings.from_params(params), dict(params["labels"]))


class CumulativeResult(NamedTuple):
    """The table (one row per domain and year) and strata.json (each domain's k)."""

    settings: CumulativeSettings
    table: pd.DataFrame
    index: dict[str, Any]


def run(settings: CumulativeSettings, inputs: Mapping[str, Any]) -> CumulativeResult:
    """``inputs``: ``strata`` (``strata.json`` first), ``studies`` (studies.csv), ``records``."""
    from ..stats.cumulative import cumulative_review

    strata = Path(inputs["strata"][0]).parent
    table = cumulative_review(
        strata, Path(inputs["studies"]), Path(inputs["records"]), settings.analysis
    )
    return CumulativeResult(settings, table, read_json(strata / "strata.json"))


def write(result: CumulativeResult, outputs: Mapping[str, Any]) -> None:
    """Write the ``table`` output and, beside it, each configured domain's figure."""
    from ..publish.plots import cumulative_plot  # matplotlib: only when drawing

    table, settings = result.table, result.settings
    out = Path(outputs["table"])
    write_csv(table, out, text_columns=["domain", "measure", "added"], float_format=CSV_FLOAT)
    for domain, label in settings.labels.items():  # every configured domain
        k = (result.index.get(f"domain-{domain}") or {}).get("k", 0)
        rows = table[table["domain"] == domain]
        cumulative_plot(rows, out.parent / domain, label=label, level=settings.analysis.level, k=k)
