"""Screening decisions made in other tools: Rayyan, Covidence and ASReview LAB exports.

A team that screens in another tool drops that tool's export into a stage
folder in place of its own sheet (``screening/<stage>/<reviewer>[-anything].csv``);
the reviewer is named by the file, as for our own sheets. Which tool wrote
the file is read from its content (:func:`detect_tool`), never guessed from its
name alone:

* Rayyan (``articles.csv`` of "Export", or its RIS): the ``notes`` field holds
  ``RAYYAN-INCLUSION: {"Alice"=>"Included", "Bob"=>"Excluded"}``, optionally
  ``| RAYYAN-LABELS: a,b | RAYYAN-EXCLUSION-REASONS: r1,r2 | USER-NOTES: {...}``.
  The file's reviewer's answer is taken from the map: Rayyan names are
  compared with the file's reviewer name without case, accents, spaces and
  punctuation ("Alice Smith" is ``alicesmith.csv``).
* Covidence ("Export references" as CSV, a ``Covidence #`` column): the
  file holds no decision, only the list it was exported from, which Covidence
  writes into the download's name (``review_<id>_<list>_csv_<time>.csv``):
  the file name must keep exactly one of the list words (:data:`COVIDENCE_LISTS`).
* ASReview LAB (CSV, XLSX or RIS): v2's ``asreview_label`` (1, 0 or empty),
  v1's ``included`` beside ``asreview_ranking``; in RIS the ``N1`` notes
  ``ASReview_relevant`` / ``ASReview_irrelevant`` / ``ASReview_not_seen``.

Rows are mapped to the record store by PMID, then DOI (normalised as the
store normalises them), then normalised title with publication year. A row
whose keys name different records, or whose first matching key names
several, is ambiguous and stops the run (file, row, column). A row that
matches no record is not dropped: it is listed in
``results/screening/unmatched.csv`` and by ``livingreview status``, and it
matches by itself once a later search brings the record into the store.
Each tool's rows are read by ``livingreview.screening.tool_readers``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import InputError
from ..search.pubmed_xml import normalise_doi
from ..search.records import normalise_title
from ..sheets import ROW

TOOLS = ("rayyan", "covidence", "asreview")
TOOL_LABELS = {"rayyan": "Rayyan", "covidence": "Covidence", "asreview": "ASReview LAB"}
#: Files of other tools the stage folders accept besides our own .csv/.xlsx sheets.
EXPORT_SUFFIXES = (".ris",)
UNMATCHED_COLUMNS = [
    "file",
    "row",
    "tool",
    "reviewer",
    "stage",
    "decision",
    "pmid",
    "doi",
    "title",
    "year",
]

#: Covidence's lists (the word in the export's file name) -> decision per stage.
#: ``select`` is "full text review" (passed title/abstract); ``included`` and
#: ``excluded`` are the full-text outcomes, so both passed title/abstract.
COVIDENCE_LISTS: dict[str, dict[str, str]] = {
    "irrelevant": {"title_abstract": "exclude"},
    "select": {"title_abstract": "include"},
    "included": {"title_abstract": "include", "full_text": "include"},
    "excluded": {"title_abstract": "include", "full_text": "exclude"},
    "screen": {},  # not screened yet
}
RAYYAN_DECISIONS = {"included": "include", "excluded": "exclude", "maybe": "maybe"}
ASREVIEW_LABELS = {"1": "include", "0": "exclude"}
#: ASReview's own names of the label column, in its order of preference (asreview.data).
ASREVIEW_LABEL_COLUMNS = (
    "asreview_label",
    "included",
    "label",
    "final_included",
    "label_included",
    "included_label",
    "included_final",
    "included_flag",
    "include",
)
ASREVIEW_RIS_NOTES = {
    "ASReview_relevant": "include",
    "ASReview_irrelevant": "exclude",
    "ASReview_not_seen": "",
}
# Key columns per tool (lower case, first present wins).
KEY_COLUMNS: dict[str, dict[str, tuple[str, ...]]] = {
    "rayyan": {
        "pmid": ("pubmed_id", "pmid"),
        "doi": ("doi",),
        "title": ("title", "primary_title"),
        "year": ("year", "publication_year"),
    },
    "covidence": {
        "pmid": ("accession number",),  # the PMID for records imported from PubMed
        "doi": ("doi",),
        "title": ("title",),
        "year": ("published year",),
    },
    "asreview": {
        "pmid": ("pmid", "pubmed_id", "pubmed id"),
        "doi": ("doi",),
        "title": ("title", "primary_title"),
        "year": ("year", "publication_year", "published year"),
    },
}
_RAYYAN_SECTION = re.compile(
    r"(RAYYAN-INCLUSION|RAYYAN-LABELS|RAYYAN-EXCLUSION-REASONS|USER-NOTES)\s*:\s*"
)
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_RAYYAN_PAIR = re.compile(_QUOTED + r"\s*=>\s*" + _QUOTED)
_RAYYAN_NOTES = re.compile(_QUOTED + r"\s*=>\s*\[((?:\s*" + _QUOTED + r"\s*,?)*)\]")
_COVIDENCE_REASON = re.compile(r"exclusion reason:\s*([^;]*)", re.IGNORECASE)
_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d|21\d\d)\b")


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ExportRow:
    """One decided row of a tool's export, before it is mapped to a record."""

    row: int  # spreadsheet row (header = 1), or the line of the RIS record's TY tag
    decision: str  # include | exclude | maybe
    reason: str  # a configured exclusion reason, or ''
    note: str
    keys: Mapping[str, str]  # pmid, doi, title, year (as in the file)
    columns: Mapping[str, str]  # key -> the file's column (for messages)


@dataclass
class ToolExport:
    """A tool's export read as our reviewer rows: what :mod:`livingreview.screening.merging` merges."""

    tool: str
    frame: pd.DataFrame  # record_id, decision, reason, note, _row
    unmatched: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RecordIndex:
    """The record store's keys: PMID, normalised DOI, (normalised title, year) -> record ids."""

    pmid: Mapping[str, frozenset[str]]
    doi: Mapping[str, frozenset[str]]
    title: Mapping[tuple[str, str], frozenset[str]]

    @classmethod
    def from_records(cls, records: pd.DataFrame) -> RecordIndex:
        pmid: dict[str, set[str]] = {}
        doi: dict[str, set[str]] = {}
        title: dict[tuple[str, str], set[str]] = {}
        columns = [records[c].fillna("").astype(str).tolist() for c in ("record_id", "pmid", "doi")]
        titles = records["title"].fillna("").astype(str).tolist()
        years = records["year"].fillna("").astype(str).tolist()
        for rid, p, d, t, y in zip(*columns, titles, years, strict=True):
            if p.strip():
                pmid.setdefault(p.strip(), set()).add(rid)
            if normalise_doi(d):
                doi.setdefault(normalise_doi(d), set()).add(rid)
            key = (normalise_title(t), _year(y))
            if all(key):
                title.setdefault(key, set()).add(rid)

        def freeze(d: dict[Any, set[str]]) -> dict[Any, frozenset[str]]:
            return {k: frozenset(v) for k, v in d.items()}

        return cls(freeze(pmid), freeze(doi), freeze(title))


# --------------------------------------------------------------------------- helpers


def _year(value: str) -> str:
    match = _YEAR.search(value or "")
    return match.group(1) if match else ""


def _lower_columns(frame: pd.DataFrame) -> dict[str, str]:
    """{lower-case name: column} of a sheet's data columns."""
    return {str(c).strip().lower(): c for c in frame.columns if not str(c).startswith("_")}


def _cells(frame: pd.DataFrame, column: str | None) -> list[str]:
    if column is None:
        return [""] * len(frame)
    return [str(v).strip() if v is not None else "" for v in frame[column].tolist()]


def person_key(name: str) -> str:
    """A name without case, accents, spaces and punctuation: how Rayyan names meet file names."""
    text = unicodedata.normalize("NFKD", name)
    return re.sub(
        r"[^a-z0-9]", "", "".join(c for c in text if not unicodedata.combining(c)).lower()
    )


def _match_reasons(text: str, reasons: Sequence[str]) -> tuple[list[str], str | None]:
    """The configured reasons a comma-separated list names, and the first part that is none.

    A configured reason may itself hold commas ("protocol, review or editorial"),
    so the longest run of parts that is a configured reason is taken first.
    """
    lookup = {r.strip().lower(): r for r in reasons}
    parts = text.split(",")
    found: list[str] = []
    i = 0
    while i < len(parts):
        if not parts[i].strip():
            i += 1
            continue
        for j in range(len(parts), i, -1):
            hit = lookup.get(",".join(parts[i:j]).strip().lower())
            if hit is not None:
                if hit not in found:
                    found.append(hit)
                i = j
                break
        else:
            return found, parts[i].strip()
    return found, None


def _one_reason(
    path: Path,
    row: int,
    column: str,
    text: str,
    reasons: Sequence[str],
    who: str,
) -> str:
    """The one configured exclusion reason ``text`` names ('' for none); InputError otherwise."""
    if not text.strip():
        return ""
    found, unknown = _match_reasons(text, reasons)
    if unknown is not None:
        raise InputError(
            path,
            "exclusion reasons among the configured ones (screening.exclusion_reasons): "
            + "; ".join(reasons),
            row=row,
            column=column,
            got=unknown,
        )
    if len(found) > 1:
        raise InputError(
            path,
            f"one exclusion reason per record ({who}); a reviewer's reason cannot be told "
            "apart: keep one in the file, or record the outcome in adjudication.csv",
            row=row,
            column=column,
            got=text,
        )
    return found[0] if found else ""


# --------------------------------------------------------------------------- detection


def detect_tool(frame: pd.DataFrame) -> str | None:
    """Which tool wrote a sheet, from its columns and cells; None when it is none of them."""
    cols = _lower_columns(frame)
    if "covidence #" in cols:
        return "covidence"
    if any(c.startswith("asreview_") for c in cols):
        return "asreview"
    if "notes" in cols and any("RAYYAN-" in v for v in _cells(frame, cols["notes"])):
        return "rayyan"
    if "key" in cols:
        keys = [k for k in _cells(frame, cols["key"]) if k]
        if keys and all(k.lower().startswith("rayyan-") for k in keys):
            return "rayyan"
    return None


def _not_recognised(path: Path, got: object) -> InputError:
    return InputError(
        path,
        "a reviewer sheet with columns record_id and decision (docs/contracts.md), or an "
        "export of Rayyan (RAYYAN-INCLUSION in its notes), Covidence (a 'Covidence #' "
        "column) or ASReview LAB (an asreview_label or asreview_ranking column)",
        row=1,
        got=got,
    )


# --------------------------------------------------------------------------- mapping


def match_record(path: Path, row: ExportRow, index: RecordIndex) -> str | None:
    """The record id an export row names, None when it names none; InputError when ambiguous.

    Keys in order: PMID, DOI, (title, year). The first key that matches must
    match one record, and every later key that matches must match that record too.
    """
    pmid = row.keys.get("pmid", "")
    if pmid and not pmid.isdigit():
        raise InputError(
            path, "a PubMed ID (digits only)", row=row.row, column=row.columns.get("pmid"), got=pmid
        )
    doi = normalise_doi(row.keys.get("doi", ""))
    title = (normalise_title(row.keys.get("title", "")), _year(row.keys.get("year", "")))
    found: list[tuple[str, str, frozenset[str]]] = []
    if pmid and pmid in index.pmid:
        found.append(("PMID", row.columns.get("pmid", "pmid"), index.pmid[pmid]))
    if doi and doi in index.doi:
        found.append(("DOI", row.columns.get("doi", "doi"), index.doi[doi]))
    if all(title) and title in index.title:
        found.append(("title and year", row.columns.get("title", "title"), index.title[title]))
    if not found:
        return None
    how, column, ids = found[0]
    if len(ids) > 1:
        raise InputError(
            path,
            f"a row naming one record; its {how} matches records {', '.join(sorted(ids))} of "
            "the store (add a PMID or DOI to the row)",
            row=row.row,
            column=column,
        )
    (chosen,) = ids
    for later_how, later_column, later_ids in found[1:]:
        if chosen not in later_ids:
            raise InputError(
                path,
                f"keys that name one record; its {how} names record {chosen}, its {later_how} "
                f"names {', '.join(sorted(later_ids))}",
                row=row.row,
                column=later_column,
            )
    return chosen


def _mapped(
    path: Path,
    tool: str,
    rows: list[ExportRow],
    stage: str,
    reviewer: str,
    index: RecordIndex,
) -> ToolExport:
    matched: list[dict[str, Any]] = []
    unmatched: list[dict[str, Any]] = []
    for r in rows:
        record_id = match_record(path, r, index)
        if record_id is None:
            unmatched.append(
                {
                    "file": path.as_posix(),
                    "row": r.row,
                    "tool": tool,
                    "reviewer": reviewer,
                    "stage": stage,
                    "decision": r.decision,
                    **{k: r.keys.get(k, "") for k in ("pmid", "doi", "title", "year")},
                }
            )
            continue
        matched.append(
            {
                "record_id": record_id,
                "decision": r.decision,
                "reason": r.reason,
                "note": r.note,
                ROW: r.row,
            }
        )
    frame = pd.DataFrame(matched, columns=["record_id", "decision", "reason", "note", ROW])
    return ToolExport(tool, frame, unmatched)


def unmatched_table(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """``results/screening/unmatched.csv``: every decided export row that matches no record."""
    frame = pd.DataFrame(list(rows), columns=UNMATCHED_COLUMNS)
    return frame.sort_values(["file", "row"], kind="stable").reset_index(drop=True)
