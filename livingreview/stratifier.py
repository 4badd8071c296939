"""The stratifier: the study-level column a review splits its domains by, parsed once.

The demo splits by messaging platform; a review of exercise for depression
splits by exercise type, a drug review by drug class. ``extraction.stratifier``
names the studies-sheet ``column``, its ``label`` (what the report, figures
and tables print) and its ``values`` (slug -> label). The column also names
the strata (``domain-<d>_<column>-<value>``, ``<column>-<value>``) and the
column of ``effects.csv`` and each stratum's ``data.csv``, so the demo
(column ``platform``) keeps its folder and file names.

Snakemake imports this module while it builds the DAG: no pandas, no numpy.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["MIXED", "Stratifier", "old_keys_message"]

# A study of several groups (e.g. two platforms): kept out of the stratifier's strata.
MIXED = "mixed"
COLUMN_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def old_keys_message(config: Mapping[str, Any]) -> str | None:
    """What to write instead of the keys of configurations before issue 15, or None."""
    extraction = config.get("extraction") if isinstance(config, Mapping) else None
    analysis = config.get("analysis") if isinstance(config, Mapping) else None
    parts = []
    if isinstance(extraction, Mapping) and "platforms" in extraction:
        parts.append(
            "extraction.platforms is now extraction.stratifier: write\n"
            "  stratifier:\n    column: platform\n    label: Platform\n"
            "    values: {...the platforms as before: slug: label...}"
        )
    if isinstance(analysis, Mapping) and "platform_overview" in analysis:
        parts.append(
            "analysis.platform_overview is now extraction.stratifier.overview "
            "(true or false); delete it from analysis."
        )
    return "\n".join(parts) or None


def _plural(label: str) -> str:
    low = label[:1].lower() + label[1:]
    return f"{low}es" if low.endswith(("s", "x", "ch", "sh")) else f"{low}s"


@functools.cache
def schema_defaults() -> dict[str, Any]:
    """The ``default:`` of each ``extraction.stratifier`` key in the config schema (one copy)."""
    from .project import SCHEMA_DIR

    with open(SCHEMA_DIR / "config.schema.yaml", encoding="utf-8") as fh:
        schema = yaml.safe_load(fh)
    keys = schema["properties"]["extraction"]["properties"]["stratifier"]["properties"]
    return {key: spec["default"] for key, spec in keys.items() if "default" in spec}


@dataclass(frozen=True)
class Stratifier:
    """``extraction.stratifier``: column, label, values and whether to pool the overview.

    Examples
    --------
    >>> s = Stratifier.from_config({"stratifier": {"column": "exercise_type",
    ...     "label": "Exercise type", "values": {"aerobic": "Aerobic"}}})
    >>> s.column, s.all_label, s.value_label("aerobic"), s.value_label("yoga")
    ('exercise_type', 'All exercise types', 'Aerobic', 'yoga')
    """

    column: str
    label: str
    values: Mapping[str, str] = field(default_factory=dict)
    overview: bool = False  # as the schema's default (see from_config)

    def __post_init__(self) -> None:
        if not COLUMN_RE.match(self.column) or self.column == "domain":
            raise ValueError(
                "extraction.stratifier.column must be lower-case letters, digits and '_' "
                f"(not 'domain'); got {self.column!r}"
            )

    @classmethod
    def from_config(cls, extraction: Mapping[str, Any] | None) -> Stratifier:
        """From the ``extraction`` section (missing keys: the schema's defaults)."""
        message = old_keys_message({"extraction": extraction or {}})
        if message:
            raise ValueError(message)
        spec = {**schema_defaults(), **((extraction or {}).get("stratifier") or {})}
        column = str(spec["column"])
        return cls(
            column=column,
            # the schema requires a label; a partial configuration (a test, a report
            # re-rendered from the keys it needs) gets the column's name
            label=str(spec.get("label") or column.replace("_", " ").capitalize()),
            values={str(k): str(v) for k, v in (spec.get("values") or {}).items()},
            overview=bool(spec["overview"]),
        )

    @property
    def all_label(self) -> str:
        """The row of every study in tables: ``All platforms``, ``All exercise types``."""
        return f"All {_plural(self.label)}"

    @property
    def overview_title(self) -> str:
        """The overview figure's heading: ``Platform overview``."""
        return f"{self.label} overview"

    def value_label(self, value: str) -> str:
        """The display label of a value (the value itself when it has none)."""
        return self.values.get(value, value)

    def as_params(self) -> dict[str, Any]:
        """The plain mapping a rule passes as params (and :meth:`from_config` reads back)."""
        return {
            "column": self.column,
            "label": self.label,
            "values": dict(self.values),
            "overview": self.overview,
        }
