"""The record store (``results/records/``) as the screening stage reads it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError


def read_records(path: str | Path) -> pd.DataFrame:
    """The record store (``results/records/records.csv``) as text, indexed by record_id."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    missing = [c for c in ("record_id", "title", "first_seen") if c not in frame.columns]
    if missing:
        raise InputError(
            path, "the record store's columns (docs/contracts.md)", row=1, column=missing[0]
        )
    for col in ("pmid", "doi", "abstract", "year", "journal", "authors", "sources"):
        if col not in frame.columns:
            frame[col] = ""
    frame["record_id"] = frame["record_id"].str.strip()
    dup = frame["record_id"].duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0]) + 2
        raise InputError(
            path,
            "each record_id once",
            row=row,
            column="record_id",
            got=frame["record_id"][dup].iloc[0],
        )
    return frame.set_index("record_id", drop=False)


def new_record_flags(
    records: pd.DataFrame, summary: Mapping[str, Any]
) -> tuple[pd.Series, str | None]:
    """Which records the latest search round brought in, from the review's own search history.

    A round is a PubMed snapshot (``summary["snapshots"]``, the dates the living
    review searched). The latest round's records are those first seen after the
    previous snapshot's date; an export counts in the round of its date. With
    one snapshot or none, every record belongs to the first round: the PRISMA
    flow of a new review, with no "previous version" boxes (an export dated
    before the first PubMed search once invented a previous version of one
    record). ``first_seen`` and the dates are ISO dates, so text comparison is
    date comparison. Returns the flags and the latest search date.
    """
    latest = summary.get("latest_search") or (records["first_seen"].max() if len(records) else None)
    rounds = sorted({str(s["until"]) for s in summary.get("snapshots") or [] if s.get("until")})
    if len(rounds) < 2:
        return pd.Series(True, index=records.index), (str(latest) if latest else None)
    return records["first_seen"] > rounds[-2], str(latest)
