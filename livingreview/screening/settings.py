"""``config["screening"]``, parsed once at the stage's door."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import LivingReviewError


@dataclass(frozen=True)
class Settings:
    """``config["screening"]``, parsed once at the stage's door."""

    allow_single_reviewer: bool = False
    exclusion_reasons: tuple[str, ...] = ()
    xlsx_sheet: str | None = None  # the worksheet to read in .xlsx sheets (None: the active one)
    retracted: str = "exclude"  # a retracted record: "exclude" at full text, or only "flag"
    prioritise: Mapping[str, Any] = field(default_factory=dict)  # livingreview.screening.prioritise

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | Settings) -> Settings:
        if isinstance(cfg, Settings):
            return cfg
        if "stages" in cfg:  # a key of older configurations, read by nothing
            raise LivingReviewError(
                "screening.stages is no longer a setting: delete it from the configuration. "
                "Screening always has two stages, title/abstract then full text "
                "(<inputs.root>/screening/title_abstract/ and full_text/)."
            )
        return cls(
            allow_single_reviewer=bool(cfg.get("allow_single_reviewer", False)),
            exclusion_reasons=tuple(cfg.get("exclusion_reasons") or ()),
            xlsx_sheet=cfg.get("xlsx_sheet"),
            retracted=str(cfg.get("retracted", "exclude")),
            prioritise=dict(cfg.get("prioritise") or {}),
        )
