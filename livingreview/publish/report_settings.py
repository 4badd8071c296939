"""What the report renders of the configuration, parsed once at the door of the stage.

The report rule gets only these keys as params (``REPORT_CONFIG`` in
``workflow/rules/common.smk``), so a changed label or confidence level reruns
the report, and a changed e-mail address does not. The bundle re-renders the
report's page from the published configuration through the same object, so
the two cannot read a key differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..analysis.stratum import AnalysisSettings
from ..stratifier import Stratifier

__all__ = ["DEFAULT_TITLE", "ReportSettings"]

DEFAULT_TITLE = "Living systematic review"


def _section(config: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    node: Any = config
    for key in path:
        node = (node or {}).get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else {}


@dataclass(frozen=True)
class ReportSettings:
    """Title, search window, labels and the analysis settings the captions state.

    Examples
    --------
    >>> s = ReportSettings.from_config({"analysis": {"level": 0.9, "min_k": 2}})
    >>> s.ci_label, s.analysis.min_k, s.title
    ('90% CI', 2, 'Living systematic review')
    """

    title: str = DEFAULT_TITLE
    start_date: str | None = None
    domain_labels: Mapping[str, str] = field(default_factory=dict)
    stratifier: Stratifier = field(default_factory=lambda: Stratifier.from_config(None))
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)

    @property
    def platform_labels(self) -> Mapping[str, str]:
        """The stratifier's value labels (the demo's platforms)."""
        return self.stratifier.values

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | ReportSettings) -> ReportSettings:
        """From the report's params or a whole (published) configuration; extra keys are ignored."""
        if isinstance(config, ReportSettings):
            return config
        extraction = _section(config, "extraction")
        analysis = _section(config, "analysis")
        keys = ("level", "min_k", "min_k_funnel")
        start = _section(config, "search").get("start_date")
        return cls(
            title=str(_section(config, "review").get("title") or DEFAULT_TITLE),
            start_date=None if start is None else str(start),
            domain_labels={
                str(d): str((spec or {}).get("label") or d)
                for d, spec in _section(extraction, "domains").items()
            },
            stratifier=Stratifier.from_config(extraction),
            analysis=AnalysisSettings.from_params({k: analysis[k] for k in keys if k in analysis}),
        )

    @property
    def ci_label(self) -> str:
        """``95% CI`` at the configured ``analysis.level``."""
        return f"{self.analysis.level * 100:g}% CI"

    @property
    def min_k_label(self) -> str:
        """``k < 3`` at the configured ``analysis.min_k``: why a stratum is not pooled."""
        return f"k < {self.analysis.min_k}"
