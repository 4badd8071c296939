"""Merging the decisions into each record's status per stage, with conflicts and the watch.

Rules:

* Status per record and stage. All reviewers agree -> ``included`` /
  ``excluded`` (rule ``agreement``). At title/abstract ``maybe`` counts as
  include (the record goes on to full text). At full text ``maybe`` is not a
  final answer: any ``maybe`` (include vs maybe, maybe vs maybe) is a
  ``conflict`` that needs adjudication. Reviewers disagree -> ``conflict``.
  One reviewer -> ``awaiting`` a second one, unless
  ``screening.allow_single_reviewer`` is true (rule ``single-reviewer``).
  Nobody -> ``unscreened``. A row in ``adjudication.csv`` is the final word
  for any record at least one reviewer screened at that stage (rule
  ``adjudication``): it resolves conflicts and also records the outcome of a
  discussion.
* Full text is screened only for records included at title/abstract; a
  full-text decision on any other record is an input error (fix the sheet or
  the title/abstract decisions first).
* Exclusion reason: the reason all excluding reviewers gave, or the
  adjudicator's. When reviewers excluded for different reasons and nobody
  adjudicated, the alphabetically first reviewer's reason is used and the
  ``note`` column says so (add an adjudication row to choose another).
* Rows of a sheet with neither a decision nor a reason are skipped: a queue
  file can be filled in part and dropped in as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..contract import record_sort_key
from ..errors import InputError, raise_collected
from ..search.records import alias_map
from .agreement import _agree_value, agreement
from .columns import CONFLICT_COLUMNS, DECISION_COLUMNS, WATCH_COLUMNS
from .files import STAGES
from .imports import RecordIndex, unmatched_table
from .prisma import prisma_counts
from .queues import _prioritised, _queue, _sheet_reviewers
from .reading import Decision, _column, read_decisions
from .settings import Settings
from .store import new_record_flags

log = logging.getLogger(__name__)


STATUSES = ("included", "excluded", "conflict", "awaiting", "unscreened")


@dataclass
class ScreeningResult:
    """Everything the stage computes; ``write_outputs`` turns it into files."""

    decisions: pd.DataFrame
    conflicts: pd.DataFrame
    agreement: dict[str, Any]
    queues: dict[str, pd.DataFrame]
    prisma: dict[str, Any]
    reviewers: list[str] = field(default_factory=list)
    unscreened: pd.DataFrame | None = None  # records nobody has screened (queue/_unscreened.csv)
    watch: pd.DataFrame | None = None  # notices on records included at any stage (watch.csv)
    ranking: dict[str, Any] | None = None  # prioritise.json: how the queues were ordered
    unmatched: pd.DataFrame | None = None  # tool exports' rows that match no record (unmatched.csv)


def _final_reason(excluders: list[Decision]) -> tuple[str, str]:
    """(reason, note) for an exclusion agreed by several reviewers."""
    given = sorted((d for d in excluders if d.reason), key=lambda d: d.reviewer)
    distinct = sorted({d.reason for d in given})
    if not given:
        return "", ""
    if len(distinct) == 1:
        return distinct[0], ""
    shown = "; ".join(f"{d.reviewer}={d.reason}" for d in given)
    return (
        given[0].reason,
        f"reasons differ ({shown}): {given[0].reviewer}'s reason used; an adjudication row can choose another",
    )


def decide(
    stage: str,
    answers: list[Decision],
    adjudication: Decision | None,
    allow_single_reviewer: bool,
) -> tuple[str, str, str, str]:
    """(status, rule, reason, note) of one record at one stage; see the module docstring."""
    if adjudication is not None and answers:
        status = "excluded" if adjudication.decision == "exclude" else "included"
        reason = adjudication.reason if status == "excluded" else ""
        return status, "adjudication", reason, ""
    if not answers:
        return "unscreened", "none", "", ""
    values = {_agree_value(d.decision, stage) for d in answers}
    if stage == "full_text" and "maybe" in values:
        return "conflict", "none", "", "maybe at full text is not final: needs adjudication"
    if len(values) > 1:
        return "conflict", "none", "", ""
    if len(answers) == 1 and not allow_single_reviewer:
        return "awaiting", "none", "", ""
    rule = "agreement" if len(answers) > 1 else "single-reviewer"
    if values == {"exclude"}:
        reason, note = _final_reason(answers)
        return "excluded", rule, reason, note
    return "included", rule, "", ""


def merge(
    records: pd.DataFrame,
    sheets: Iterable[str | Path],
    screening_dir: str | Path,
    screening_config: Mapping[str, Any] | Settings,
    summary: Mapping[str, Any] | None = None,
    schema_dir: str | Path | None = None,
) -> ScreeningResult:
    """Turn the record store and all decision sheets into the screening state.

    Raises InputError/InputErrors (every problem at once, each naming file,
    row and column) when any sheet is wrong; nothing is written then.
    """
    summary = summary or {}
    settings = Settings.from_config(screening_config)
    reasons, single = list(settings.exclusion_reasons), settings.allow_single_reviewer
    record_ids = set(records["record_id"])
    sheets = list(sheets)
    unmatched: list[dict[str, Any]] = []
    rows, adjudications, errors = read_decisions(
        sheets,
        screening_dir,
        record_ids,
        reasons,
        schema_dir,
        alias_map(records),
        settings.xlsx_sheet,
        index=RecordIndex.from_records(records),
        unmatched=unmatched,
    )
    raise_collected(errors)
    log.info(
        "read %d sheet(s): %d decisions, %d adjudications",
        len(sheets),
        len(rows),
        len(adjudications),
    )

    by_stage: dict[str, dict[str, list[Decision]]] = {s: {} for s in STAGES}
    for d in rows:
        by_stage[d.stage].setdefault(d.record_id, []).append(d)
    adj = {(a.stage, a.record_id): a for a in adjudications}

    order = sorted(record_ids, key=record_sort_key)
    withdrawn = _retracted_ids(records) if settings.retracted == "exclude" else set()
    out: list[dict[str, Any]] = []
    status: dict[str, dict[str, str]] = {s: {} for s in STAGES}
    for stage in STAGES:
        if stage == "title_abstract":
            eligible = order
        else:
            eligible = [r for r in order if status["title_abstract"][r] == "included"]
            allowed = set(eligible)
            for rid, answers in sorted(by_stage[stage].items()):
                if rid not in allowed:
                    for d in answers:
                        errors.append(
                            _not_included_error(screening_dir, d, status["title_abstract"][rid])
                        )
        for (a_stage, rid), a in sorted(adj.items()):
            if a_stage != stage:
                continue
            if stage == "full_text" and status["title_abstract"][rid] != "included":
                errors.append(_not_included_error(screening_dir, a, status["title_abstract"][rid]))
            elif not by_stage[stage].get(rid):
                errors.append(
                    InputError(
                        Path(screening_dir) / a.source.rsplit(":", 1)[0],
                        f"a record that at least one reviewer screened at {stage} (nothing to adjudicate)",
                        row=int(a.source.rsplit(":", 1)[1]),
                        column="record_id",
                        got=rid,
                    )
                )
        for rid in eligible:
            answers = sorted(by_stage[stage].get(rid, []), key=lambda d: d.reviewer)
            a = adj.get((stage, rid))
            st, rule, reason, note = decide(stage, answers, a, single)
            if stage == "full_text" and st == "included" and rid in withdrawn:
                # the retraction watch: PubMed marks it retracted (livingreview.search.watch)
                st, rule, reason = "excluded", RETRACTION_RULE, RETRACTED_REASON
                note = "PubMed marks this record retracted; the reviewers included it"
            status[stage][rid] = st
            out.append(
                {
                    "record_id": rid,
                    "stage": stage,
                    "decisions": "; ".join(f"{d.reviewer}={d.decision}" for d in answers),
                    "n_reviewers": len(answers),
                    "adjudication": f"{a.reviewer}={a.decision}" if a is not None else "",
                    "status": st,
                    "rule": rule,
                    "reason": reason,
                    "reasons": "; ".join(f"{d.reviewer}={d.reason}" for d in answers if d.reason),
                    "note": note,
                    "sources": "; ".join(
                        [f"{d.reviewer}={d.source}" for d in answers]
                        + ([f"{a.reviewer}={a.source}"] if a is not None else [])
                    ),
                    "_notes": "; ".join(f"{d.reviewer}: {d.note}" for d in answers if d.note),
                }
            )
    raise_collected(errors)

    table = pd.DataFrame(out, columns=[*DECISION_COLUMNS, "_notes"])
    # A reviewer with a header-only sheet has no rows yet, and still gets a queue.
    reviewers = sorted({d.reviewer for d in rows} | set(_sheet_reviewers(sheets)))
    new, latest = new_record_flags(records, summary)
    decisions = table[DECISION_COLUMNS].reset_index(drop=True)
    queues, unscreened, ranking = _prioritised(
        {r: _queue(r, table, records, new) for r in reviewers},
        _queue(None, table, records, new),
        records,
        decisions,
        settings,
    )
    return ScreeningResult(
        decisions=decisions,
        conflicts=_conflicts(table, records),
        agreement=agreement(rows),
        queues=queues,
        unscreened=unscreened,
        ranking=ranking,
        prisma=prisma_counts(decisions, records, summary, new, latest),
        reviewers=reviewers,
        watch=watch_table(records, decisions),
        unmatched=_unmatched(unmatched, screening_dir),
    )


def _unmatched(rows: list[dict[str, Any]], screening_dir: str | Path) -> pd.DataFrame:
    """Unmatched export rows with files relative to the screening folder (as in ``sources``)."""
    base = Path(screening_dir).resolve()
    for r in rows:
        try:
            r["file"] = Path(r["file"]).resolve().relative_to(base).as_posix()
        except ValueError:
            r["file"] = Path(r["file"]).name
    return unmatched_table(rows)


RETRACTION_RULE = "retraction-watch"
RETRACTED_REASON = "retracted publication"


def watch_table(records: pd.DataFrame, decisions: pd.DataFrame) -> pd.DataFrame:
    """Notices (retraction, erratum, expression of concern, update) on every record that
    reached full text, with its latest stage's status: what the extractors must check."""
    from ..search.watch import notices

    found = notices(records.reset_index(drop=True))
    if not len(found):
        return pd.DataFrame(columns=WATCH_COLUMNS)
    latest = decisions[decisions["stage"] == "full_text"].set_index("record_id")
    found = found[found["record_id"].isin(latest.index)]
    rows = [
        {
            "record_id": n.record_id,
            "title": records.loc[n.record_id, "title"],
            "stage": "full_text",
            "status": latest.loc[n.record_id, "status"],
            "rule": latest.loc[n.record_id, "rule"],
            "notice": n.notice,
            "notice_pmid": n.notice_pmid,
        }  # fmt: skip
        for n in found.itertuples(index=False)
    ]
    return pd.DataFrame(rows, columns=WATCH_COLUMNS)


def _retracted_ids(records: pd.DataFrame) -> set[str]:
    from ..search.watch import retracted

    types = _column(records, "publication_types")
    corrections = _column(records, "corrections")
    return {
        rid
        for rid, t, c in zip(records["record_id"], types, corrections, strict=True)
        if retracted(t, c)
    }


def _not_included_error(screening_dir: str | Path, d: Decision, ta_status: str) -> InputError:
    file, row = d.source.rsplit(":", 1)
    return InputError(
        Path(screening_dir) / file,
        "a record included at title/abstract before it is screened at full text "
        f"(its title/abstract status is {ta_status})",
        row=int(row),
        column="record_id",
        got=d.record_id,
    )


def _conflicts(table: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    rows = table[table["status"] == "conflict"]
    out = pd.DataFrame(
        {
            "record_id": rows["record_id"],
            "stage": rows["stage"],
            "decisions": rows["decisions"],
            "reasons": rows["reasons"],
            "notes": rows["_notes"],
            "year": records["year"].loc[rows["record_id"]].tolist(),
            "title": records["title"].loc[rows["record_id"]].tolist(),
        },
        columns=CONFLICT_COLUMNS,
    )
    return out.reset_index(drop=True)
