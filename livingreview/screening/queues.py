"""Each reviewer's queue: the records still waiting for them, ordered by predicted relevance."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..contract import record_sort_key
from ..sheets import SUPPORTED
from .columns import QUEUE_COLUMNS, QUEUE_FILL_IN, UNSCREENED
from .files import STAGES, reviewer_name
from .imports import EXPORT_SUFFIXES
from .settings import Settings


def _prioritised(
    queues: dict[str, pd.DataFrame],
    unscreened: pd.DataFrame,
    records: pd.DataFrame,
    decisions: pd.DataFrame,
    settings: Settings,
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame, dict[str, Any]]:
    """Every queue ordered by predicted relevance (livingreview.screening.prioritise), one model for all.

    Nothing is hidden: every record stays in its queue, with ``rank`` and
    ``relevance``. Off (``screening.prioritise.enabled: false``) or before
    enough decisions exist, the order is the current one and the summary says why.
    """
    from .prioritise import PrioritiseSettings, order_queues, ranking_summary

    cfg = PrioritiseSettings.from_params(settings.prioritise)
    if not cfg.enabled:  # the same columns, the usual order

        def plain(q: pd.DataFrame) -> pd.DataFrame:
            q = q.reset_index(drop=True)
            return q.assign(rank=q.groupby("stage", sort=False).cumcount() + 1, relevance=np.nan)

        off = {"prioritised": False, "reason": "screening.prioritise.enabled is false"}
        return {r: plain(q) for r, q in queues.items()}, plain(unscreened), off
    ranked = order_queues({**queues, UNSCREENED: unscreened}, records.reset_index(drop=True),
                          decisions, cfg)  # fmt: skip
    unscreened = ranked.pop(UNSCREENED)
    return ranked, unscreened, ranking_summary(ranked)


def _sheet_reviewers(sheets: Iterable[str | Path]) -> list[str]:
    """Reviewers named by the sheets in the stage folders (read_decisions checked the names)."""
    return [
        reviewer_name(p)
        for p in map(Path, sheets)
        if p.parent.name in STAGES and p.suffix.lower() in (*SUPPORTED, *EXPORT_SUFFIXES)
    ]


def _queue(
    reviewer: str | None, table: pd.DataFrame, records: pd.DataFrame, new: pd.Series
) -> pd.DataFrame:
    """Records still needing a reviewer at a stage that this reviewer has not screened.

    Only records whose status is unscreened or awaiting are queued: a record
    already decided by two others, or in conflict (adjudicator's job), waits
    for nobody else. Full text holds only records included at title/abstract
    (the table has full-text rows for those only). Newest first: latest
    ``first_seen``, then the highest record id (PMIDs grow with time).
    ``reviewer`` None: the records nobody has screened yet.
    """
    wanted = ["unscreened"] if reviewer is None else ["unscreened", "awaiting"]
    open_ = table[table["status"].isin(wanted)]
    mine = [
        reviewer not in {p.split("=")[0] for p in s.split("; ") if p} for s in open_["decisions"]
    ]
    pending = open_[np.array(mine, dtype=bool)]
    parts = []
    for stage in STAGES:
        ids = list(pending.loc[pending["stage"] == stage, "record_id"])
        ids.sort(key=record_sort_key, reverse=True)
        first_seen = dict(zip(ids, records["first_seen"].loc[ids].tolist(), strict=True))
        ids.sort(key=first_seen.__getitem__, reverse=True)
        part = records.loc[ids, [c for c in QUEUE_COLUMNS if c in records.columns]].copy()
        part["stage"] = stage
        part["new_since_last_search"] = ["yes" if n else "no" for n in new.loc[ids].tolist()]
        parts.append(part)
    queue = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    for col in QUEUE_FILL_IN:
        queue[col] = ""
    return queue.reindex(columns=QUEUE_COLUMNS, fill_value="").reset_index(drop=True)
