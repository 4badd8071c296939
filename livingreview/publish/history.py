"""Version history: each outcome domain's pooled estimate across every published version.

A living review's readers see how the evidence moved from update to update.
Each version being published gets ``history/history.csv`` (one row per
version and domain: k, estimate, CI, PI, certainty) and a figure, built from
the published bundles (which are immutable) plus the version itself. They
depend on the history, so they are per-version files, as ``CHANGES.md`` is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..formatting import finite
from ..io import read_json

__all__ = ["HISTORY_COLUMNS", "HISTORY_FILES", "version_history"]

HISTORY_DIR = "history"
HISTORY_FILES = (
    f"{HISTORY_DIR}/history.csv",
    f"{HISTORY_DIR}/history.svg",
    f"{HISTORY_DIR}/history.png",
)
HISTORY_COLUMNS = ["version", "date", "domain", "label", "measure", "favourable_sign", "k",
                   "reported", "estimate", "ci_low", "ci_high", "pi_low", "pi_high", "certainty"]  # fmt: skip


def _rows(folder: Path, version: str, date: str) -> list[dict[str, Any]]:
    """One row per outcome domain of a version folder (a bundle or the staging folder)."""
    index_path = folder / "strata" / "strata.json"
    if not index_path.is_file():
        return []
    grade_path = folder / "grade" / "grade.json"
    ratings = (read_json(grade_path) if grade_path.is_file() else {}).get("outcomes") or {}
    rows = []
    for name, info in sorted(read_json(index_path).items()):
        pooled_path = folder / "strata" / name / "pooled.json"
        if info.get("kind") != "domain" or not pooled_path.is_file():
            continue
        p = {**info, **read_json(pooled_path)}
        domain = str(p["domain"])
        reported = bool(p.get("reported"))
        rows.append(
            {
                "version": version,
                "date": date,
                "domain": domain,
                "label": p.get("label") or domain,
                "measure": p.get("measure"),
                "favourable_sign": p.get("favourable_sign"),
                "k": int(p.get("k") or 0),
                "reported": reported,
                **{
                    f: finite(p.get(f)) if reported else None
                    for f in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high")
                },
                "certainty": (ratings.get(domain) or {}).get("certainty"),
            }  # fmt: skip
        )
    return rows


def version_history(
    bundles: Path, versions: list[str], stage: Path, version: str, date: str
) -> pd.DataFrame:
    """The history of ``versions`` (published, oldest first) followed by the one in ``stage``."""
    rows: list[dict[str, Any]] = []
    for name in versions:
        manifest = bundles / name / "manifest.json"
        day = read_json(manifest).get("date") if manifest.is_file() else None
        rows += _rows(bundles / name, name, str(day or name[:10]))
    rows += _rows(stage, version, date)
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)
