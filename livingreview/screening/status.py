"""``livingreview status``: the screening workload, computed live from the sheets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import LivingReviewError
from ..io import read_json
from .columns import UNSCREENED
from .files import STAGE_LABELS, STAGES, sheet_paths
from .merging import ScreeningResult, merge
from .store import read_records


@dataclass(frozen=True)
class ScreeningStatus:
    """What ``livingreview status`` prints: work waiting for each person."""

    waiting: dict[str, dict[str, int]]  # reviewer -> stage -> records in their queue
    conflicts: dict[str, int]  # stage -> conflicts awaiting adjudication
    unscreened: dict[str, int]  # stage -> records nobody has screened
    included: int  # records included at full text
    records: int
    latest_search: str | None
    notices: list[str] = field(default_factory=list)  # the retraction and correction watch
    ranking: dict[str, Any] = field(default_factory=dict)  # prioritise.json (queue order)
    unmatched: int = 0  # rows of tool exports that match no record (unmatched.csv)


def status(
    config: Mapping[str, Any],
    *,
    workdir: str | Path = ".",
    records_csv: str | Path | None = None,
    summary_json: str | Path | None = None,
) -> ScreeningStatus:
    """Current screening workload, computed live from the sheets (no workflow run needed).

    Reads ``results/records/records.csv`` (built by the search stage) and the
    sheets under ``config["inputs"]["root"]/screening``; raises the same
    InputError as the workflow when a sheet is wrong.
    """
    workdir = Path(workdir)
    records_csv = Path(records_csv or workdir / "results" / "records" / "records.csv")
    summary_json = Path(summary_json or workdir / "results" / "records" / "summary.json")
    if not records_csv.is_file():
        raise LivingReviewError(
            f"{records_csv} not found: run the workflow (livingreview update) first"
        )
    records = read_records(records_csv)
    summary = read_json(summary_json) if summary_json.is_file() else {}
    root = workdir / config["inputs"]["root"]
    result = merge(
        records, sheet_paths(root), root / "screening", config.get("screening", {}), summary
    )
    return status_of(result)


def status_of(result: ScreeningResult) -> ScreeningStatus:
    waiting = {
        r: {s: int((q["stage"] == s).sum()) for s in STAGES}
        for r, q in sorted(result.queues.items())
    }
    p = result.prisma
    return ScreeningStatus(
        waiting=waiting,
        conflicts=dict(p["conflicts"]),
        unscreened=dict(p["unscreened"]),
        included=int(p["included_records"]),
        records=int(p["records"]),
        latest_search=p.get("latest_search"),
        notices=[
            f"record {w.record_id} ({w.status} at full text): {w.notice}"
            + (f" (PMID {w.notice_pmid})" if w.notice_pmid else "")
            for w in (result.watch if result.watch is not None else pd.DataFrame()).itertuples()
        ],
        ranking=dict(result.ranking or {}),
        unmatched=len(result.unmatched) if result.unmatched is not None else 0,
    )


def format_status(st: ScreeningStatus, outdir: str | Path | None = None) -> str:
    """Plain-text table for ``livingreview status``; with ``outdir``, where the files are.

    ``outdir`` is the screening results folder (``results/screening``): the
    queues and conflicts there are written by ``livingreview update``.
    """
    head = f"Screening: {st.records} records"
    if st.latest_search:
        head += f" (latest search {st.latest_search})"
    head += f", {st.included} included at full text"
    lines = [head, ""]
    labels = [STAGE_LABELS[s] for s in STAGES]
    width = max([8, *(len(r) for r in st.waiting)])
    lines.append(f"{'reviewer':<{width}}  " + "  ".join(f"{label:>14}" for label in labels))
    for reviewer, counts in st.waiting.items():
        lines.append(f"{reviewer:<{width}}  " + "  ".join(f"{counts[s]:>14}" for s in STAGES))
    if not st.waiting:
        lines.append("(no reviewer files yet)")
    lines.append("")
    lines.append(
        "Conflicts awaiting adjudication: "
        + ", ".join(f"{STAGE_LABELS[s]} {st.conflicts.get(s, 0)}" for s in STAGES)
    )
    lines.append(
        "Not screened by anyone: "
        + ", ".join(f"{STAGE_LABELS[s]} {st.unscreened.get(s, 0)}" for s in STAGES)
    )
    if st.ranking.get("prioritised"):
        likely = st.ranking.get("likely_relevant") or {}
        shown = ", ".join(
            f"{who} {sum(int(n) for n in (v.values() if isinstance(v, dict) else [v]))}"
            for who, v in sorted(likely.items())
        )
        lines += ["", f"Queues ordered by predicted relevance; likely relevant: {shown or 'none'}"]
    elif st.ranking:
        lines += ["", f"Queues in their usual order: {st.ranking.get('reason', '')}"]
    if st.unmatched:
        lines += [
            "",
            f"Rows of tool exports (Rayyan, Covidence, ASReview) that match no record: "
            f"{st.unmatched}"
            + (f" (listed in {Path(outdir) / 'unmatched.csv'})" if outdir else ""),
        ]
    if st.notices:
        lines += ["", "Retraction and correction watch (PubMed):"]
        lines += [f"  {n}" for n in st.notices]
    if outdir is not None:
        queue = Path(outdir) / "queue"
        lines += [
            "",
            "Files (as of the last livingreview update):",
            f"  queues:      {queue}/<reviewer>.csv (fill in decision, reason, note, date; "
            "copy into the screening folder)",
            f"  unscreened:  {queue}/{UNSCREENED}.csv",
            f"  conflicts:   {Path(outdir) / 'conflicts.csv'}",
            f"  extraction:  {Path(outdir).parent / 'extraction' / 'queue'}/<extractor>.csv and"
            " _unextracted.csv (included trials not yet extracted; study_id, record_id and"
            " citation filled in)",
        ]
    return "\n".join(lines) + "\n"
