"""Screening stage: merge reviewers' decision files into the state of the review.

Reviewers never edit a shared master file: each drops their own sheets into
``<root>/screening/<stage>/<reviewer>[-anything].{csv,xlsx}`` and the third
reviewer writes ``<root>/screening/adjudication.csv``. Every run rebuilds,
from those files alone, each record's status per stage, the conflicts still
waiting for adjudication, inter-rater agreement, each reviewer's queue and the
PRISMA 2020 counts. Outputs are deterministic (sorted, no timestamps) so that
Snakemake's checksums let downstream jobs skip when nothing really changed.

Rules (the lead may copy them into docs/contracts.md and config/README.md):

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
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..contract import record_sort_key
from ..errors import InputError, LivingReviewError, raise_collected
from ..io import read_json, write_csv, write_json
from ..project import SCHEMA_DIR  # package data (importlib.resources), one copy
from ..search.records import alias_map
from ..sheets import (
    ROW,
    SUPPORTED,
    load_schema,
    person_name,
    read_sheet,
    sheet_files,
    validate_frame,
)
from .imports import (
    EXPORT_SUFFIXES,
    UNMATCHED_COLUMNS,
    RecordIndex,
    read_export_file,
    tool_export,
    unmatched_table,
)

log = logging.getLogger(__name__)

STAGES = ("title_abstract", "full_text")
STAGE_LABELS = {"title_abstract": "title/abstract", "full_text": "full text"}
DECISIONS = ("include", "exclude", "maybe")
STATUSES = ("included", "excluded", "conflict", "awaiting", "unscreened")
ADJUDICATION = "adjudication.csv"
KAPPA_ALPHA = 0.05  # statsmodels' default: 95% confidence interval

DECISION_COLUMNS = [
    "record_id",
    "stage",
    "decisions",
    "n_reviewers",
    "adjudication",
    "status",
    "rule",
    "reason",
    "reasons",
    "note",
    "sources",
]
CONFLICT_COLUMNS = ["record_id", "stage", "decisions", "reasons", "notes", "year", "title"]
QUEUE_COLUMNS = [
    "record_id",
    "stage",
    "decision",
    "reason",
    "note",
    "date",
    "new_since_last_search",
    "first_seen",
    "year",
    "title",
    "abstract",
    "journal",
    "authors",
    "doi",
    "rank",  # position in the order of predicted relevance (livingreview.screening.prioritise)
    "relevance",  # the model's log-odds of inclusion; empty when not ranked
]
QUEUE_FILL_IN = ("decision", "reason", "note", "date")
#: queue/<UNSCREENED>.csv: records nobody has screened yet (a name no reviewer can have).
UNSCREENED = "_unscreened"
TEXT_COLUMNS = ("title", "abstract", "journal", "authors", "note", "notes", "reasons", "reason")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Decision:
    """One reviewer's answer on one record at one stage, with where it came from."""

    reviewer: str
    record_id: str
    stage: str
    decision: str
    reason: str
    note: str
    source: str  # "<stage>/<file>:<row>", relative to the screening folder


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


# --------------------------------------------------------------------------- helpers


def reviewer_name(path: str | Path) -> str:
    """Reviewer name from a file name: the stem up to the first ``-`` or ``_``, lower-cased.

    Raises InputError naming the file when the name is not ``[a-z0-9]+``,
    so that names never carry path tricks or spaces into outputs.
    """
    return person_name(
        path,
        "a file name starting with the reviewer's name in lower-case letters and digits "
        "(e.g. alice.csv or alice-batch2.xlsx), then optionally '-' or '_' and anything",
    )


def sheet_paths(root: str | Path) -> list[Path]:
    """Every file the screening stage reads under ``<root>/screening`` (sorted).

    Used by the Snakemake rule as its input function, so adding a file reruns
    the stage. Names are not validated here (that happens in the job, with a
    clear message); see :func:`livingreview.sheets.sheet_files`.
    """
    base = Path(root) / "screening"
    paths = [p for stage in STAGES for p in sheet_files(base / stage)]
    adjudication = base / ADJUDICATION
    if adjudication.is_file():
        paths.append(adjudication)
    return paths


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


def _schema(name: str, schema_dir: str | Path | None) -> dict[str, Any]:
    return load_schema(Path(schema_dir or SCHEMA_DIR) / f"{name}.schema.yaml")


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    for col in frame.columns:
        if str(col).strip().lower() == name:
            return frame[col].fillna("").astype(str).str.strip()
    return pd.Series("", index=frame.index)


def _read_filled(
    path: Path, schema: dict[str, Any], sheet: str | None = None, frame: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Read a sheet (unless given), drop rows with neither decision nor reason, validate the rest."""
    frame = read_sheet(path, sheet=sheet) if frame is None else frame
    keep = (_column(frame, "decision") != "") | (_column(frame, "reason") != "")
    return validate_frame(frame[keep].reset_index(drop=True), schema, path)


def _text(value: Any) -> str:
    return (
        ""
        if value is None or (isinstance(value, float) and np.isnan(value))
        else str(value).strip()
    )


def _text_columns(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, list[str]]:
    """Each named column as :func:`_text` values ('' for a missing column).

    Whole columns at once: converting a large sheet row by row to dicts costs
    more than everything else the stage does with it.
    """
    empty = [""] * len(frame)
    return {
        n: [_text(v) for v in frame[n].tolist()] if n in frame.columns else empty for n in names
    }


# --------------------------------------------------------------------------- reading sheets


def _match_reason(value: str, reasons: Sequence[str]) -> str | None:
    lookup = {r.lower(): r for r in reasons}
    return lookup.get(value.strip().lower())


def read_decisions(
    paths: Iterable[str | Path],
    screening_dir: str | Path,
    record_ids: set[str],
    exclusion_reasons: Sequence[str],
    schema_dir: str | Path | None = None,
    aliases: Mapping[str, str] | None = None,
    xlsx_sheet: str | None = None,
    index: RecordIndex | None = None,
    unmatched: list[dict[str, Any]] | None = None,
) -> tuple[list[Decision], list[Decision], list[InputError]]:
    """Read reviewer sheets and adjudication.csv; return (reviewer rows, adjudication rows, errors).

    Checks everything that can be checked row by row: file names, schema,
    unknown record ids, reasons, and the same person answering the same
    record twice in different ways (same answer twice is fine: a late file
    may repeat rows). A reviewer's file may be another tool's export
    (livingreview.screening.imports): its rows are mapped to records through
    ``index`` (the record store's keys), and the rows that match no record
    are appended to ``unmatched``.
    """
    screening_dir = Path(screening_dir)
    sheet_schema = _schema("screening", schema_dir)
    adj_schema = _schema("adjudication", schema_dir)
    rows: list[Decision] = []
    adjudications: list[Decision] = []
    errors: list[InputError] = []
    seen: dict[tuple[str, str, str], Decision] = {}

    def rel(path: Path) -> str:
        try:
            return path.resolve().relative_to(screening_dir.resolve()).as_posix()
        except ValueError:
            return path.name

    for path in sorted(Path(p) for p in paths):
        if path.name == ADJUDICATION and path.parent.resolve() == screening_dir.resolve():
            kind, stage, schema = "adjudication", None, adj_schema
        else:
            kind, stage, schema = "reviewer", path.parent.name, sheet_schema
            if stage not in STAGES:
                errors.append(
                    InputError(path, f"a sheet inside one of the folders {', '.join(STAGES)}")
                )
                continue
            if path.suffix.lower() not in (*SUPPORTED, *EXPORT_SUFFIXES):
                errors.append(
                    InputError(
                        path,
                        "a .csv or .xlsx sheet (or a tool's .ris export, docs/contracts.md)",
                        got=path.name,
                    )
                )
                continue
            try:
                name = reviewer_name(path)
            except InputError as exc:
                errors.append(exc)
                continue
        try:
            if kind == "adjudication":
                frame = _read_filled(path, schema, xlsx_sheet)
            else:
                frame = _reviewer_frame(
                    path, schema, xlsx_sheet, stage, name, exclusion_reasons, index, unmatched
                )
        except InputError as exc:
            errors.append(exc)
            continue
        except LivingReviewError as exc:  # InputErrors: keep every one
            errors.extend(getattr(exc, "errors", []))
            continue
        shown = rel(path)
        text = _text_columns(
            frame, ("record_id", "decision", "reason", "stage", "adjudicator", "note")
        )
        for i, row in enumerate(int(r) for r in frame[ROW].tolist()):
            record_id, decision, reason = (
                (aliases or {}).get(text["record_id"][i], text["record_id"][i]),  # earlier ids
                text["decision"][i],
                text["reason"][i],
            )
            if kind == "adjudication":
                stage = text["stage"][i]
                name = text["adjudicator"][i]
            elif text["stage"][i] and text["stage"][i] != stage:
                errors.append(
                    InputError(
                        path,
                        f"{stage} (this sheet is in the {stage}/ folder; move "
                        f"{text['stage'][i]} rows to a sheet in that folder)",
                        row=row,
                        column="stage",
                        got=text["stage"][i],
                    )
                )
                continue
            if record_id not in record_ids:
                errors.append(
                    InputError(
                        path,
                        "a record_id of results/records/records.csv (the PMID, or the store's id for records without one)",
                        row=row,
                        column="record_id",
                        got=record_id,
                    )
                )
                continue
            if kind == "adjudication" and stage == "full_text" and decision == "maybe":
                errors.append(
                    InputError(
                        path,
                        "include or exclude (an adjudication at full text is final)",
                        row=row,
                        column="decision",
                        got=decision,
                    )
                )
                continue
            if reason:
                if decision != "exclude":
                    errors.append(
                        InputError(
                            path,
                            "no reason unless the decision is exclude (put remarks in 'note')",
                            row=row,
                            column="reason",
                            got=reason,
                        )
                    )
                    continue
                matched = _match_reason(reason, exclusion_reasons)
                if matched is None:
                    errors.append(
                        InputError(
                            path,
                            "one of the configured exclusion reasons (screening.exclusion_reasons): "
                            + "; ".join(exclusion_reasons),
                            row=row,
                            column="reason",
                            got=reason,
                        )
                    )
                    continue
                reason = matched
            elif decision == "exclude" and stage == "full_text":
                errors.append(
                    InputError(
                        path,
                        "an exclusion reason for a full-text exclusion (one of: "
                        + "; ".join(exclusion_reasons)
                        + ")",
                        row=row,
                        column="reason",
                    )
                )
                continue
            item = Decision(
                name, record_id, stage, decision, reason, text["note"][i], f"{shown}:{row}"
            )
            key = (kind if kind == "adjudication" else name, stage, record_id)
            earlier = seen.get(key)
            if earlier is not None:
                if (earlier.decision, earlier.reason) != (decision, reason):
                    column = "decision" if earlier.decision != decision else "reason"
                    before = earlier.decision + (f" ({earlier.reason})" if earlier.reason else "")
                    who = "the adjudication" if kind == "adjudication" else f"{name}'s"
                    errors.append(
                        InputError(
                            path,
                            f"the same answer as {who} earlier row {earlier.source} ({before}) "
                            f"for record {record_id} at {stage}: one answer per person and record",
                            row=row,
                            column=column,
                            got=decision + (f" ({reason})" if reason else ""),
                        )
                    )
                continue
            seen[key] = item
            (adjudications if kind == "adjudication" else rows).append(item)
    return rows, adjudications, errors


def _reviewer_frame(
    path: Path,
    schema: dict[str, Any],
    sheet: str | None,
    stage: str,
    reviewer: str,
    exclusion_reasons: Sequence[str],
    index: RecordIndex | None,
    unmatched: list[dict[str, Any]] | None,
) -> pd.DataFrame:
    """A reviewer's rows: our own sheet validated, or a tool's export mapped to record ids."""
    raw = read_export_file(path, sheet)
    export = tool_export(
        path,
        raw,
        stage=stage,
        reviewer=reviewer,
        exclusion_reasons=exclusion_reasons,
        index=index if index is not None else RecordIndex({}, {}, {}),
    )
    if export is None:
        return _read_filled(path, schema, sheet, raw)
    log.info("%s: %s export, %d rows mapped, %d unmatched", path, export.tool,
             len(export.frame), len(export.unmatched))  # fmt: skip
    if unmatched is not None:
        unmatched.extend(export.unmatched)
    return export.frame


# --------------------------------------------------------------------------- merging


def _agree_value(decision: str, stage: str) -> str:
    """At title/abstract a maybe sends the record on, i.e. it counts as include."""
    return "include" if stage == "title_abstract" and decision == "maybe" else decision


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


RETRACTION_RULE = "retraction-watch"
RETRACTED_REASON = "retracted publication"


WATCH_COLUMNS = ["record_id", "title", "stage", "status", "rule", "notice", "notice_pmid"]


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


# --------------------------------------------------------------------------- agreement


def kappa(a: Sequence[str], b: Sequence[str], categories: Sequence[str]) -> dict[str, Any]:
    """Cohen's kappa of two raters' paired answers, with its 95% confidence interval.

    kappa = (p_o - p_e) / (1 - p_e), p_o the observed and p_e the chance
    agreement from the margins (Cohen 1960). Computed by
    ``statsmodels.stats.inter_rater.cohens_kappa``; its CI is kappa +/- 1.96 SE
    with the large-sample variance of Fleiss, Cohen & Everitt (1969), clipped
    to kappa's range [-1, 1] (the normal approximation can cross 1). When
    p_e = 1 (both raters gave one and the same answer throughout) kappa is
    undefined and reported as null; percent agreement is always given.
    """
    from statsmodels.stats.inter_rater import cohens_kappa

    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)), dtype=int)
    for x, y in zip(a, b, strict=True):
        table[index[x], index[y]] += 1
    n = int(table.sum())
    result: dict[str, Any] = {
        "n": n,
        "agreed": int(np.trace(table)),
        "percent_agreement": float(np.trace(table) / n) if n else None,
        "categories": list(categories),
        "table": table.tolist(),
        "kappa": None,
        "se": None,
        "ci_low": None,
        "ci_high": None,
    }
    expected = (table.sum(1) * table.sum(0)).sum() / n**2 if n else 1.0
    if n < 2 or expected >= 1.0:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = cohens_kappa(table, return_results=True)  # 95% CI (alpha = 0.05)
    result.update(
        kappa=float(res.kappa),
        se=float(res.std_kappa),
        ci_low=max(-1.0, float(res.kappa_low)),
        ci_high=min(1.0, float(res.kappa_upp)),
    )
    return result


def agreement(rows: Sequence[Decision]) -> dict[str, Any]:
    """Kappa per stage and reviewer pair over the records both screened.

    At title/abstract answers are compared as they act (maybe = include, two
    categories); at full text as given (include, exclude, maybe).
    """
    stages: dict[str, Any] = {}
    for stage in STAGES:
        answers: dict[str, dict[str, str]] = {}
        for d in rows:
            if d.stage == stage:
                answers.setdefault(d.reviewer, {})[d.record_id] = _agree_value(d.decision, stage)
        cats = ("include", "exclude") if stage == "title_abstract" else DECISIONS
        pairs = {}
        for r1, r2 in combinations(sorted(answers), 2):
            both = sorted(set(answers[r1]) & set(answers[r2]), key=record_sort_key)
            if not both:
                continue
            entry = kappa([answers[r1][x] for x in both], [answers[r2][x] for x in both], cats)
            pairs[f"{r1}-{r2}"] = {"reviewers": [r1, r2], **entry}
        stages[stage] = pairs
    note = {}
    if not any(stages.values()):
        note = {"note": "no record screened by two reviewers yet" if rows else "no decisions yet"}
    return {
        "method": "Cohen's kappa (statsmodels.stats.inter_rater.cohens_kappa); "
        "CI = kappa +/- z * SE, large-sample SE of Fleiss, Cohen & Everitt (1969), clipped to [-1, 1]; "
        "over records both reviewers screened; title/abstract: maybe counted as include",
        "level": 1 - KAPPA_ALPHA,
        "stages": stages,
        **note,
    }


# --------------------------------------------------------------------------- PRISMA


def _flow(decisions: pd.DataFrame, ids: set[str] | None = None) -> dict[str, Any]:
    """Counts of one flow (whole review, or only the records of the latest search)."""
    d = decisions if ids is None else decisions[decisions["record_id"].isin(ids)]
    ta = d[d["stage"] == "title_abstract"]["status"].value_counts()
    ft_rows = d[d["stage"] == "full_text"]
    ft = ft_rows["status"].value_counts()
    reasons = ft_rows.loc[ft_rows["status"] == "excluded", "reason"].replace("", "reason not given")
    by_reason = {str(k): int(v) for k, v in reasons.value_counts().sort_index().items()}

    def n(counts: pd.Series, key: str) -> int:
        return int(counts.get(key, 0))

    return {
        "records": int((d["stage"] == "title_abstract").sum()),
        "screened": n(ta, "included") + n(ta, "excluded"),
        "excluded_title_abstract": n(ta, "excluded"),
        "fulltext_assessed": n(ft, "included") + n(ft, "excluded"),
        "fulltext_excluded": by_reason,
        "fulltext_excluded_total": n(ft, "excluded"),
        "included_records": n(ft, "included"),
        "awaiting": {"title_abstract": n(ta, "awaiting"), "full_text": n(ft, "awaiting")},
        "unscreened": {"title_abstract": n(ta, "unscreened"), "full_text": n(ft, "unscreened")},
        "conflicts": {"title_abstract": n(ta, "conflict"), "full_text": n(ft, "conflict")},
    }


def prisma_counts(
    decisions: pd.DataFrame,
    records: pd.DataFrame,
    summary: Mapping[str, Any],
    new: pd.Series,
    latest_search: str | None,
    studies: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """PRISMA 2020 counts (docs/contracts.md ``prisma.json``) plus the latest search's flow.

    ``screened`` counts records with a final title/abstract decision, so the
    boxes add up: records = screened + awaiting + unscreened + conflicts at
    title/abstract, and likewise at full text. Identification counts come
    from the search stage's summary. ``included_studies`` equals
    ``included_records`` unless ``studies`` maps record ids to study ids
    (further reports of an included trial are excluded as "duplicate report"
    under the default protocol). ``previous_included`` are included records
    first found before the latest search, ``new_included`` those it found;
    ``new_search`` is the flow restricted to the latest search's records, for
    the PRISMA 2020 diagram of an updated review, where identified counts new
    records per source and duplicates are those returned by several sources.
    """
    flow = _flow(decisions)
    included = set(
        decisions.loc[
            (decisions["stage"] == "full_text") & (decisions["status"] == "included"), "record_id"
        ]
    )
    new_ids = set(records.index[new.to_numpy()])
    new_flow = _flow(decisions, new_ids)
    sources: dict[str, int] = {}
    new_sorted = sorted(new_ids)
    for text in records["sources"].loc[new_sorted].tolist():
        for s in filter(None, (x.strip() for x in text.split(";"))):
            sources[s] = sources.get(s, 0) + 1
    new_flow["identified"] = dict(sorted(sources.items()))
    new_flow["identified_total"] = sum(sources.values()) if sources else len(new_ids)
    new_flow["duplicates_removed"] = new_flow["identified_total"] - len(new_ids)

    def n_studies(ids: set[str]) -> int:
        return len({studies.get(r, r) for r in ids}) if studies else len(ids)

    identified = {str(k): int(v) for k, v in (summary.get("identified") or {}).items()}
    previous = included - new_ids
    counts: dict[str, Any] = {
        "identified": dict(sorted(identified.items())),
        "identified_total": int(summary.get("identified_total", sum(identified.values()))),
        "duplicates_removed": int(summary.get("duplicates_removed", 0)),
        **flow,
        "included_studies": n_studies(included),
        "previous_included": n_studies(previous),
        "new_included": n_studies(included & new_ids),
        "previous_included_records": len(previous),
        "latest_search": latest_search,
        "update": bool(len(records)) and len(new_ids) < len(records),
        "new_search": new_flow,
    }
    return counts


# --------------------------------------------------------------------------- files


def write_outputs(result: ScreeningResult, outdir: str | Path, *, figures: bool = True) -> None:
    """Write every output of the stage under ``outdir`` (results/screening)."""
    outdir = Path(outdir)
    write_csv(
        result.decisions, outdir / "decisions.csv", text_columns=("reason", "reasons", "note")
    )
    write_csv(
        result.conflicts, outdir / "conflicts.csv", text_columns=("reasons", "notes", "title")
    )
    write_json(outdir / "agreement.json", result.agreement)
    queue_dir = outdir / "queue"
    queue_dir.mkdir(parents=True, exist_ok=True)
    queues = dict(result.queues)
    if result.unscreened is not None:
        queues[UNSCREENED] = result.unscreened
    for name in {p.stem for p in queue_dir.glob("*.csv")} - set(queues):
        (queue_dir / f"{name}.csv").unlink()  # a reviewer whose files were all removed
    for reviewer, queue in queues.items():
        write_csv(queue, queue_dir / f"{reviewer}.csv", text_columns=TEXT_COLUMNS)
    write_json(outdir / "prisma.json", result.prisma)
    watch = result.watch if result.watch is not None else pd.DataFrame(columns=WATCH_COLUMNS)
    write_csv(watch, outdir / "watch.csv", text_columns=("title", "notice"))
    write_json(outdir / "prioritise.json", result.ranking or {"prioritised": False})
    unmatched = (
        result.unmatched
        if result.unmatched is not None
        else pd.DataFrame(columns=UNMATCHED_COLUMNS)
    )
    write_csv(unmatched, outdir / "unmatched.csv", text_columns=("file", "doi", "title"))
    if figures:
        from ..publish.prisma import write_prisma

        write_prisma(result.prisma, outdir / "prisma.svg")


def run(
    records_csv: str | Path,
    summary_json: str | Path | None,
    root: str | Path,
    screening_config: Mapping[str, Any],
    outdir: str | Path,
    *,
    sheets: Iterable[str | Path] | None = None,
    schema_dir: str | Path | None = None,
) -> ScreeningResult:
    """The whole stage: read the store and the sheets under ``<root>/screening``, write outputs."""
    records = read_records(records_csv)
    summary = read_json(summary_json) if summary_json and Path(summary_json).is_file() else {}
    screening_dir = Path(root) / "screening"
    paths = sheet_paths(root) if sheets is None else [Path(p) for p in sheets]
    result = merge(records, paths, screening_dir, screening_config, summary, schema_dir)
    write_outputs(result, outdir)
    p = result.prisma
    log.info(
        "%d records: %d screened, %d full texts assessed, %d included; conflicts %s",
        p["records"],
        p["screened"],
        p["fulltext_assessed"],
        p["included_records"],
        p["conflicts"],
    )
    return result


def included_records(decisions_csv: str | Path) -> set[str]:
    """Record ids included at full text, for the extraction stage."""
    frame = pd.read_csv(decisions_csv, dtype=str, keep_default_na=False)
    keep = (frame["stage"] == "full_text") & (frame["status"] == "included")
    return set(frame.loc[keep, "record_id"])


# --------------------------------------------------------------------------- status


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
