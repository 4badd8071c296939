"""Reading reviewers' sheets and adjudication.csv into decisions, checked row by row."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InputError, LivingReviewError
from ..project import SCHEMA_DIR  # package data (importlib.resources), one copy
from ..sheets import ROW, SUPPORTED, load_schema, read_sheet, validate_frame
from .files import ADJUDICATION, STAGES, reviewer_name
from .imports import EXPORT_SUFFIXES, RecordIndex
from .tool_readers import read_export_file, tool_export

log = logging.getLogger(__name__)


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
