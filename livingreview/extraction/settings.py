"""``config["extraction"]``, parsed once at the stage's door: domains, window, columns."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..stratifier import Stratifier
from .columns import EFFECT_COLUMNS


@dataclass(frozen=True)
class Domain:
    slug: str
    type: str  # continuous | binary
    sign: int  # +1: positive = favourable; -1: negative = favourable
    tiers: tuple[tuple[str, ...], ...]

    @cached_property
    def outcomes(self) -> tuple[str, ...]:
        return tuple(name for tier in self.tiers for name in tier)

    @cached_property
    def by_lower_name(self) -> dict[str, str]:
        """Lower-cased outcome name -> configured name (sheets may differ in case)."""
        return {o.lower(): o for o in self.outcomes}

    @cached_property
    def _ranks(self) -> dict[str, tuple[int, int]]:
        """outcome -> (tier, configured order); selection asks for these per candidate."""
        tiers = [i for i, tier in enumerate(self.tiers) for _ in tier]
        ranks: dict[str, tuple[int, int]] = {}
        for pos, name in enumerate(self.outcomes):
            ranks.setdefault(name, (tiers[pos], pos))
        return ranks

    def tier(self, outcome: str) -> int:
        return self._ranks[outcome][0]

    def order(self, outcome: str) -> int:
        return self._ranks[outcome][1]

    def describe(self) -> str:
        return " > ".join("/".join(t) for t in self.tiers)


@dataclass(frozen=True)
class Settings:
    stratifier: Stratifier
    domains: dict[str, Domain]
    window: tuple[float, float]
    # extraction.study_columns: extra studies-sheet columns (name -> number, boolean, text)
    study_columns: dict[str, str] = field(default_factory=dict)

    @property
    def platforms(self) -> Mapping[str, str]:
        """The stratifier's values (slug -> label); the demo's platforms."""
        return self.stratifier.values

    @property
    def effect_columns(self) -> tuple[str, ...]:
        """effects.csv's columns: the stratifier's column in place of ``platform``, then
        the study columns after the demo's moderators."""
        cols = [self.stratifier.column if c == "platform" else c for c in EFFECT_COLUMNS]
        at = cols.index("source")
        extra = [c for c in self.study_columns if c not in cols]
        return (*cols[:at], *extra, *cols[at:])

    def studies_schema(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """The studies-sheet schema with the stratifier's column and the study columns.

        Declared study columns are required in every studies sheet's header, so a
        moderator missing from a sheet stops naming the sheet and the column.
        """
        out = copy.deepcopy(dict(schema))
        props = out["properties"]
        types = {"number": {"type": "number"}, "boolean": {"type": "boolean"}}
        if self.stratifier.column not in props:
            props[self.stratifier.column] = {
                "type": "string",
                "description": f"{self.stratifier.label}: a configured value or mixed",
            }
        for name, kind in self.study_columns.items():
            if name not in props:
                props[name] = types.get(kind, {"type": "string"})
            if name not in out.get("required", []):
                out["required"] = [*out.get("required", []), name]
        if props.get("note") is not None:  # free text last, as in the shipped schema
            props["note"] = props.pop("note")
        return out

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> Settings:
        """Build from ``config["extraction"]``."""
        domains = {}
        for slug, spec in cfg["domains"].items():
            sign = spec.get("favourable_sign", "positive")
            domains[slug] = Domain(
                slug=slug,
                type=spec.get("type", "continuous"),
                sign=-1 if sign == "negative" else 1,
                tiers=tuple(tuple(str(o) for o in tier) for tier in spec["priority"]),
            )
        window = cfg.get("timepoint_weeks", {}) or {}
        return cls(
            stratifier=Stratifier.from_config(cfg),
            domains=domains,
            window=(float(window.get("min", 0)), float(window.get("max", math.inf))),
            study_columns={str(k): str(v) for k, v in (cfg.get("study_columns") or {}).items()},
        )
