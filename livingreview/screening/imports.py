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
from ..sheets import ROW, read_sheet

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


# --------------------------------------------------------------------------- reading


def read_export_file(path: str | Path, sheet: str | None = None) -> pd.DataFrame:
    """A stage folder's file as text cells with ``_row``: sheets via :func:`read_sheet`, RIS via rispy.

    RIS entries become rows whose ``_row`` is the line of their ``TY`` tag, with
    the list fields (notes, authors) joined by ``" | "``.
    """
    path = Path(path)
    if path.suffix.lower() != ".ris":
        return read_sheet(path, sheet=sheet)
    import rispy

    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            path, "UTF-8 text (export the RIS file as UTF-8)", got=f"byte {exc.start}"
        ) from None
    try:
        entries = rispy.loads(text, skip_unknown_tags=True)
    except Exception as exc:  # rispy raises several types for a broken file
        raise InputError(path, f"a readable RIS file ({exc})") from None
    lines = [n for n, line in enumerate(text.splitlines(), start=1) if line.startswith("TY  -")]
    if len(lines) != len(entries):
        raise InputError(path, "one TY line per RIS record", got=f"{len(lines)} TY lines")
    rows = []
    for entry in entries:
        rows.append(
            {
                str(k): " | ".join(map(str, v)) if isinstance(v, list) else str(v)
                for k, v in entry.items()
            }
        )
    frame = pd.DataFrame(rows, dtype=object).fillna("")
    frame[ROW] = lines
    return frame


def tool_export(
    path: str | Path,
    frame: pd.DataFrame,
    *,
    stage: str,
    reviewer: str,
    exclusion_reasons: Sequence[str],
    index: RecordIndex,
) -> ToolExport | None:
    """Read a stage folder's file as a tool's export; None when it is our own sheet.

    Raises InputError (file, row, column) for what cannot be read without
    guessing; returns the decided rows mapped to record ids, and the rows that
    match no record.
    """
    path = Path(path)
    ris = path.suffix.lower() == ".ris"
    tool = detect_ris_tool(frame) if ris else detect_tool(frame)
    cols = _lower_columns(frame)
    if tool is None:
        if not ris and ({"record_id", "decision"} & set(cols)):
            return None  # our own sheet: the schema checks it
        got = "a RIS file without Rayyan or ASReview notes (N1)" if ris else ", ".join(cols)
        raise _not_recognised(path, got or "no columns")
    filled = [i for i, v in enumerate(_cells(frame, cols.get("decision"))) if v]
    if filled:
        raise InputError(
            path,
            f"one place for each decision: this {TOOL_LABELS[tool]} export also has our "
            "decision column filled (empty it, or use our own sheet)",
            row=int(frame[ROW].tolist()[filled[0]]),
            column=cols["decision"],
        )
    reader = {"rayyan": _rayyan_rows, "covidence": _covidence_rows, "asreview": _asreview_rows}
    rows = reader[tool](path, frame, cols, stage, reviewer, list(exclusion_reasons))
    return _mapped(path, tool, rows, stage, reviewer, index)


def _keys(
    frame: pd.DataFrame, cols: Mapping[str, str], tool: str
) -> dict[str, tuple[str | None, list[str]]]:
    """{key: (file's column, cells)} for pmid, doi, title, year."""
    out = {}
    for key, names in KEY_COLUMNS[tool].items():
        column = next((cols[n] for n in names if n in cols), None)
        out[key] = (column, _cells(frame, column))
    return out


def _row_keys(
    keys: Mapping[str, tuple[str | None, list[str]]], i: int
) -> tuple[dict[str, str], dict[str, str]]:
    return (
        {k: cells[i] for k, (_, cells) in keys.items()},
        {k: str(column) for k, (column, _) in keys.items() if column is not None},
    )


def _rayyan_rows(
    path: Path,
    frame: pd.DataFrame,
    cols: Mapping[str, str],
    stage: str,
    reviewer: str,
    reasons: list[str],
) -> list[ExportRow]:
    """The file's reviewer's answers from the RAYYAN-INCLUSION maps of the notes column."""
    notes_col = cols.get("notes") or cols.get("note")
    if notes_col is None:
        raise InputError(path, "a notes column (Rayyan writes decisions into it)", row=1)
    notes = _cells(frame, notes_col)
    numbers = [int(r) for r in frame[ROW].tolist()]
    keys = _keys(frame, cols, "rayyan")
    parsed: list[tuple[int, dict[str, str], dict[str, str]]] = []
    names: dict[str, set[str]] = {}
    for i, text in enumerate(notes):
        sections = _rayyan_sections(text)
        inclusion = sections.get("RAYYAN-INCLUSION", "")
        pairs = _RAYYAN_PAIR.findall(inclusion)
        if inclusion.strip(" {}") and len(pairs) != inclusion.count("=>"):
            raise InputError(
                path,
                'a RAYYAN-INCLUSION map like {"Name"=>"Included", "Other"=>"Excluded"}',
                row=numbers[i],
                column=notes_col,
                got=inclusion,
            )
        answers: dict[str, str] = {}
        for name, value in pairs:
            if name in answers and answers[name] != value:
                raise InputError(
                    path,
                    f"one answer per reviewer in RAYYAN-INCLUSION ({name} answers twice)",
                    row=numbers[i],
                    column=notes_col,
                    got=inclusion,
                )
            answers[name] = value
            names.setdefault(person_key(name), set()).add(name)
        parsed.append((i, answers, sections))
    own = names.get(reviewer, set())
    if len(own) > 1:
        raise InputError(
            path,
            f"one Rayyan reviewer named {reviewer} (names are compared without case, spaces "
            f"and punctuation); this file has: {', '.join(sorted(own))}",
            row=1,
            column=notes_col,
        )
    if not own:
        shown = ", ".join(sorted(n for group in names.values() for n in group)) or "none"
        raise InputError(
            path,
            f"decisions of reviewer {reviewer} (the file name) in Rayyan's RAYYAN-INCLUSION maps; "
            "Rayyan names are compared without case, accents, spaces and punctuation (the "
            f"decisions of 'Alice Smith' go in alicesmith.csv); names in this file: {shown}",
            row=1,
            column=notes_col,
        )
    (rayyan_name,) = own
    out = []
    for i, answers, sections in parsed:
        value = answers.get(rayyan_name)
        if value is None:
            continue  # this reviewer has not screened the record
        decision = RAYYAN_DECISIONS.get(value.strip().lower())
        if decision is None:
            raise InputError(
                path,
                f"Included, Excluded or Maybe as {rayyan_name}'s answer",
                row=numbers[i],
                column=notes_col,
                got=value,
            )
        reason = ""
        if decision == "exclude":
            excluders = sorted(n for n, v in answers.items() if v.strip().lower() == "excluded")
            reason = _one_reason(
                path,
                numbers[i],
                notes_col,
                sections.get("RAYYAN-EXCLUSION-REASONS", ""),
                reasons,
                "Rayyan lists the reasons of all excluding reviewers together: "
                + ", ".join(excluders),
            )
        note_parts = _rayyan_user_notes(sections.get("USER-NOTES", ""), rayyan_name)
        labels = sections.get("RAYYAN-LABELS", "").strip()
        if labels:
            note_parts.append(f"Rayyan labels: {labels}")
        row_keys, columns = _row_keys(keys, i)
        out.append(
            ExportRow(numbers[i], decision, reason, "; ".join(note_parts), row_keys, columns)
        )
    return out


def _rayyan_sections(text: str) -> dict[str, str]:
    """``KEY: value`` sections of a Rayyan notes cell (separated by ``|``)."""
    hits = list(_RAYYAN_SECTION.finditer(text))
    out = {}
    for n, hit in enumerate(hits):
        stop = hits[n + 1].start() if n + 1 < len(hits) else len(text)
        out[hit.group(1)] = text[hit.end() : stop].strip().rstrip("|").strip()
    return out


def _rayyan_user_notes(text: str, name: str) -> list[str]:
    for who, body, _ in _RAYYAN_NOTES.findall(text):
        if who == name:
            return [n.replace('\\"', '"').strip() for n in re.findall(_QUOTED, body) if n.strip()]
    return []


def covidence_list(path: Path) -> str:
    """The Covidence list a file was exported from: the one list word in its name."""
    words = re.split(r"[-_.\s]+", path.stem.lower())[1:]  # the first word names the reviewer
    found = sorted({w for w in words if w in COVIDENCE_LISTS})
    if len(found) != 1:
        raise InputError(
            path,
            "a file name that keeps Covidence's list name, exactly one of "
            + ", ".join(COVIDENCE_LISTS)
            + " (e.g. alice-review_123456_irrelevant_csv_20260101.csv): a Covidence export "
            "holds no decision, only the list it was exported from",
            got=path.name,
        )
    return found[0]


def _covidence_rows(
    path: Path,
    frame: pd.DataFrame,
    cols: Mapping[str, str],
    stage: str,
    reviewer: str,
    reasons: list[str],
) -> list[ExportRow]:
    """Every row of a Covidence list export, with the list's decision at this stage."""
    listed = covidence_list(path)
    decision = COVIDENCE_LISTS[listed].get(stage)
    if decision is None:
        where = list(COVIDENCE_LISTS[listed])
        raise InputError(
            path,
            f"a Covidence list with a decision at {stage}; the {listed} list "
            + (
                f"belongs in {' or '.join(f'{s}/' for s in where)}"
                if where
                else "holds records nobody has screened yet"
            ),
            got=path.name,
        )
    numbers = [int(r) for r in frame[ROW].tolist()]
    keys = _keys(frame, cols, "covidence")
    notes_col, tags_col = cols.get("notes"), cols.get("tags")
    notes, tags = _cells(frame, notes_col), _cells(frame, tags_col)
    out = []
    for i, row in enumerate(numbers):
        given = [m.strip() for m in _COVIDENCE_REASON.findall(notes[i]) if m.strip()]
        rest = _COVIDENCE_REASON.sub("", notes[i]).strip(" ;")
        reason = ""
        if decision == "exclude" and stage == "full_text" and given:
            reason = _one_reason(
                path, row, str(notes_col), ", ".join(given), reasons, "Covidence's notes"
            )
        note = "; ".join(p for p in (rest, f"Covidence tags: {tags[i]}" if tags[i] else "") if p)
        row_keys, columns = _row_keys(keys, i)
        pmid = row_keys["pmid"]
        if pmid and not pmid.isdigit():
            row_keys["pmid"] = ""  # an accession number of another database
        out.append(ExportRow(row, decision, reason, note, row_keys, columns))
    return out


def _asreview_rows(
    path: Path,
    frame: pd.DataFrame,
    cols: Mapping[str, str],
    stage: str,
    reviewer: str,
    reasons: list[str],
) -> list[ExportRow]:
    """The labelled rows of an ASReview LAB export (unlabelled rows are skipped)."""
    numbers = [int(r) for r in frame[ROW].tolist()]
    keys = _keys(frame, cols, "asreview")
    notes = _cells(frame, cols.get("asreview_note"))
    if path.suffix.lower() == ".ris":
        labels = _asreview_ris_labels(path, frame, cols, numbers)
        notes = [_asreview_ris_note(t) for t in _cells(frame, cols.get("notes"))]
    else:
        label_col = next((cols[c] for c in ASREVIEW_LABEL_COLUMNS if c in cols), None)
        if label_col is None:
            raise InputError(
                path,
                "an ASReview LAB label column (asreview_label, or included in exports of v1)",
                row=1,
            )
        labels = []
        for i, value in enumerate(_cells(frame, label_col)):
            if value and value not in ASREVIEW_LABELS:
                raise InputError(
                    path,
                    "1 (relevant), 0 (irrelevant) or empty (not seen)",
                    row=numbers[i],
                    column=label_col,
                    got=value,
                )
            labels.append(ASREVIEW_LABELS.get(value, ""))
    out = []
    for i, decision in enumerate(labels):
        if not decision:
            continue
        row_keys, columns = _row_keys(keys, i)
        out.append(ExportRow(numbers[i], decision, "", notes[i], row_keys, columns))
    return out


def _asreview_ris_labels(
    path: Path, frame: pd.DataFrame, cols: Mapping[str, str], numbers: list[int]
) -> list[str]:
    """ASReview's label of each RIS record, from the markers it writes into ``N1``."""
    notes = _cells(frame, cols.get("notes"))
    labels = []
    for i, text in enumerate(notes):
        found = {d for marker, d in ASREVIEW_RIS_NOTES.items() if marker in text}
        if len(found) > 1:
            raise InputError(
                path,
                "one ASReview label per record (ASReview_relevant, ASReview_irrelevant or "
                "ASReview_not_seen)",
                row=numbers[i],
                column="N1",
                got=text,
            )
        labels.append(next(iter(found), ""))
    return labels


def _asreview_ris_note(text: str) -> str:
    """The reviewer's note ASReview's RIS writer stores as ``asreview_note: <JSON>`` in N1."""
    import json

    for part in text.split(" | "):
        if part.startswith("asreview_note:"):
            raw = part.split(":", 1)[1].strip()
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
            return str(value).strip() if value is not None else ""
    return ""


def detect_ris_tool(frame: pd.DataFrame) -> str | None:
    """The tool of a RIS export, from the markers it writes into the notes (N1)."""
    notes = _cells(frame, "notes") if "notes" in frame.columns else []
    if any("RAYYAN-" in t for t in notes):
        return "rayyan"
    if any(marker in t for t in notes for marker in ASREVIEW_RIS_NOTES):
        return "asreview"
    return None


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
