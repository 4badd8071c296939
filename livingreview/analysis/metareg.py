"""The ``metareg`` rule: one domain's (or ``overall``) mixed-effects meta-regression.

:func:`meta_regression` decides whether the model is estimable and fits it
(:func:`livingreview.stats.meta_regression`); ``run`` and ``write`` give the
rule the shape every stage has (docs/contracts.md, "Stage entry points").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import stats as meta  # the statistics engine, livingreview.stats
from ..io import write_json
from .moderators import design_matrix
from .strata import read_stratum
from .stratum import AnalysisSettings, round_sig, to_plain

__all__ = ["MetaregSettings", "meta_regression", "read_strata", "run", "write"]


def read_strata(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Several strata's ``data.csv`` as one table; an empty table when there are none."""
    frames = [read_stratum(path) for path in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def meta_regression(data: pd.DataFrame, settings: AnalysisSettings, *, name: str) -> dict[str, Any]:
    """Mixed-effects meta-regression of yi on the moderators (metafor ``rma(mods=)``).

    Rows missing a moderator are dropped (counted in ``k_dropped``). A text
    moderator is dummy coded against its reference level (``coding`` in the
    result, :mod:`livingreview.analysis.moderators`). It is reported when at least
    ``max(min_k, p + 2)`` effects remain, p = number of design columns, so that
    tau^2 and every coefficient are estimable, and every moderator varies;
    otherwise ``reported`` is false and ``reason`` says why (also when there
    are no effects at all, e.g. a review with no included study).
    """
    s = settings
    moderators = list(s.moderators)
    out: dict[str, Any] = {
        "name": name,
        "moderators": moderators,
        "k": 0,
        "k_dropped": 0,
        "method": s.method,
        "test": s.test,
        "level": s.level,
    }
    if data.empty:
        return round_sig({**out, "reported": False, "reason": "no effects in this review"})
    mods, complete, coding = design_matrix(data, moderators, dict(s.references))
    used = data[complete]
    k = int(len(used))
    out.update(k=k, k_dropped=int((~complete).sum()))
    if coding:
        out["coding"] = coding
    needed = max(s.min_k, mods.shape[1] + 2)
    if k < needed:
        reason = f"{k} effects with every moderator, fewer than {needed}"
        return round_sig({**out, "reported": False, "reason": reason})
    constant = [
        m
        for m in moderators
        if (len(coding[m]["levels"]) if m in coding else mods[m].nunique()) < 2
    ]
    if constant:
        reason = f"moderator {', '.join(constant)} does not vary"
        return round_sig({**out, "reported": False, "reason": reason})
    result = meta.meta_regression(
        used["yi"].to_numpy(float),
        used["vi"].to_numpy(float),
        mods.reset_index(drop=True),
        method=s.method,
        test=s.test,
        level=s.level,
    )
    plain = to_plain(result)
    return round_sig({**plain, **out, "reported": True})


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
