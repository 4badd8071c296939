"""Each tool's export file read into rows: Rayyan, Covidence and ASReview LAB (CSV, XLSX, RIS).

:func:`read_export_file` reads a stage folder's file as text cells and
:func:`tool_export` turns a detected tool's rows into the file reviewer's
decisions (the formats and how rows map to records: ``livingreview.screening.imports``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..errors import InputError
from ..sheets import ROW, read_sheet
from .imports import (
    _COVIDENCE_REASON,
    _QUOTED,
    _RAYYAN_NOTES,
    _RAYYAN_PAIR,
    _RAYYAN_SECTION,
    ASREVIEW_LABEL_COLUMNS,
    ASREVIEW_LABELS,
    ASREVIEW_RIS_NOTES,
    COVIDENCE_LISTS,
    KEY_COLUMNS,
    RAYYAN_DECISIONS,
    TOOL_LABELS,
    ExportRow,
    RecordIndex,
    ToolExport,
    _cells,
    _lower_columns,
    _mapped,
    _not_recognised,
    _one_reason,
    detect_tool,
    person_key,
)


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
