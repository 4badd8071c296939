"""One reader per database export format -> :class:`~livingreview.search.export_records.SourceRecord`.

Each reader reads every record of a file or stops with a
:class:`~livingreview.search.export_records.RecordError`; :data:`READERS` maps the
format names of :func:`livingreview.search.exports.detect_format` to them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rispy
from Bio import Medline
from lxml import etree
from rispy.parser import WokParser

from ..errors import InputError
from .export_records import (
    _COCHRANE_HEAD,
    RecordError,
    SourceRecord,
    _chunks,
    _doi,
    _first,
    _head,
    _require_title,
    _split_list,
    _text,
    _year,
)
from .pubmed_xml import normalise_doi

#: CSV export columns (matched case-insensitively, first alias present wins).
CSV_COLUMNS: dict[str, tuple[str, ...]] = {
    "title": ("title", "article title", "ti", "document title"),
    "abstract": ("abstract", "ab"),
    "doi": ("doi", "di"),
    "year": ("year", "publication year", "py", "pubyear"),
    "journal": ("source title", "journal", "source", "journal/book", "so", "publication title"),
    "authors": ("authors", "author", "au", "author full names"),
    "pmid": ("pmid", "pubmed id", "pubmed_id", "accession number"),
    "publication_types": ("document type", "publication type", "dt", "pt"),
    "mesh_terms": ("mesh terms", "mesh", "mh"),
    "language": ("language", "language of original document", "la"),
}
#: ``authors`` cells are split on ";" (Scopus uses ", " between names with
#: "Last F." style; Web of Science and Covidence use ";").


# --------------------------------------------------------------------------- RIS


def read_ris(path: Path, source: str, *, text: str | None = None, **kw: Any) -> list[SourceRecord]:
    """RIS via rispy, one ``TY``...``ER`` block at a time (so a bad record is named).

    PMID only from a digits-only ``AN`` of a PubMed/MEDLINE database (Ovid
    MEDLINE: ``DB  - Ovid MEDLINE(R)``). DOI from ``DO``, else EBSCOhost's
    ``L3``, else a DOI-shaped ``M3``/``N1``/``UR`` value.
    """
    text = _text(path, text).lstrip("\ufeff")
    out = []
    blocks = _chunks(
        path,
        text,
        start=lambda s: s.lstrip("\ufeff").startswith("TY  -"),
        end=lambda s: s.startswith("ER  -"),
        what="'TY  - '",
    )
    for n, line, lines in blocks:
        lines[0] = lines[0].lstrip("\ufeff")
        try:
            entries = rispy.loads("\n".join(lines))
        except (ValueError, KeyError) as exc:
            raise RecordError(path, n, f"RIS tag lines ({exc})", line=line) from None
        if len(entries) != 1:
            raise RecordError(path, n, "one RIS record between 'TY  - ' and 'ER  - '", line=line)
        out.append(_ris_record(path, n, line, entries[0], source, kw))
    return out


def _ris_record(
    path: Path, n: int, line: int, e: dict[str, Any], source: str, kw: dict[str, Any]
) -> SourceRecord:
    unknown = e.get("unknown_tag") or {}
    db = _first(e, "name_of_database", "database_provider").lower()
    an = _first(e, "accession_number")
    pmid = an if an.isdigit() and ("pubmed" in db or "medline" in db) else ""
    title = _first(e, "title", "primary_title", "translated_title")
    _require_title(path, n, line, title, "TI or T1")
    return SourceRecord(
        source=source,
        pmid=pmid,
        doi=_doi(e.get("doi"))
        or _doi(unknown.get("L3"), e.get("type_of_work"), e.get("notes"), e.get("urls")),
        title=title,
        abstract=_first(e, "abstract", "notes_abstract"),
        year=_year(_first(e, "year", "publication_year", "date")),
        journal=_first(
            e, "secondary_title", "journal_name", "alternate_title3", "alternate_title1"
        ),
        authors=tuple(e.get("authors") or e.get("first_authors") or ()),
        publication_types=_split_list(e.get("type_of_reference")),
        mesh_terms=(),
        language=_first(e, "language"),
        **kw,
    )


# --------------------------------------------------------------------------- MEDLINE


_MEDLINE_TAG = re.compile(r"^[A-Z][A-Z0-9]{1,3} {0,3}- ?")


def read_medline(
    path: Path, source: str, *, text: str | None = None, **kw: Any
) -> list[SourceRecord]:
    """PubMed ``.nbib`` / MEDLINE tagged text via ``Bio.Medline`` (records split by blank lines)."""
    text = _text(path, text).lstrip("\ufeff")
    out = []
    n, first, lines = 0, 0, []
    blocks: list[tuple[int, int, list[str]]] = []
    for num, line in enumerate([*text.split("\n"), ""], start=1):
        if line.strip():
            if not lines:
                n, first = n + 1, num
            if not (_MEDLINE_TAG.match(line) or line.startswith("      ")):
                raise RecordError(path, n, "MEDLINE lines ('TAG - value' or an indented "
                                  "continuation)", line=num, got=line[:60])  # fmt: skip
            lines.append(line)
        elif lines:
            blocks.append((n, first, lines))
            lines = []
    for n, line, block in blocks:
        try:
            entries = list(Medline.parse(io.StringIO("\n".join(block) + "\n")))
        except ValueError as exc:
            raise RecordError(path, n, f"a MEDLINE record ({exc})", line=line) from None
        e = entries[0]
        if not (e.get("PMID") or e.get("TI")):
            raise RecordError(path, n, "a PMID- or TI  - line", line=line, field="TI")
        mesh = tuple(m.split("/")[0].lstrip("*").strip() for m in e.get("MH", []) if m.strip())
        out.append(
            SourceRecord(
                source=source,
                pmid=str(e.get("PMID", "")).strip(),
                doi=_medline_doi(e),
                title=" ".join(str(e.get("TI", "")).split()),
                abstract=" ".join(str(e.get("AB", "")).split()),
                year=_year(e.get("DP")),
                journal=str(e.get("JT") or e.get("TA") or "").strip(),
                authors=tuple(e.get("AU") or e.get("FAU") or e.get("CN") or ()),
                publication_types=tuple(e.get("PT", [])),
                mesh_terms=mesh,
                language="; ".join(e.get("LA", [])),
                **kw,
            )
        )
    return out


def _medline_doi(rec: dict[str, Any]) -> str:
    for tag in ("AID", "LID"):
        vals = rec.get(tag) or []
        for v in [vals] if isinstance(vals, str) else vals:
            if v.endswith("[doi]"):
                return normalise_doi(v[: -len("[doi]")])
    return ""


# --------------------------------------------------------------------------- Web of Science


def read_wos(path: Path, source: str, *, text: str | None = None, **kw: Any) -> list[SourceRecord]:
    """Web of Science tagged text ("Other file formats" > plain text) via rispy's WokParser."""
    text = _text(path, text).lstrip("\ufeff")
    out = []
    # FN/VR open the file, EF closes it; records run from PT to ER.
    body = "\n".join(
        "" if re.match(r"^(FN|VR|EF)(\s|$)", s) else s for s in text.split("\n")
    )  # fmt: skip
    blocks = _chunks(
        path, body, start=lambda s: s.startswith("PT "), end=lambda s: s.rstrip() == "ER",
        what="'PT '",
    )  # fmt: skip
    for n, line, lines in blocks:
        for num, s in enumerate(lines, start=line):
            if not re.match(r"^([A-Z][A-Z0-9] |   |ER\s*$)", s):
                raise RecordError(path, n, "Web of Science lines ('TG value' or an indented "
                                  "continuation)", line=num, got=s[:60])  # fmt: skip
        e = rispy.loads("\n".join(lines), implementation=WokParser, skip_unknown_tags=True)[0]
        out.append(_wos_record(path, n, line, e, source, kw))
    return out


def _wos_record(
    path: Path, n: int, line: int, e: dict[str, Any], source: str, kw: dict[str, Any]
) -> SourceRecord:
    title = _first(e, "document_title")
    _require_title(path, n, line, title, "TI")
    pmid = _first(e, "pubmed_id")
    if pmid and not pmid.isdigit():
        raise RecordError(path, n, "a PubMed ID (digits only)", line=line, field="PM", got=pmid)
    authors = e.get("authors") or []
    return SourceRecord(
        source=source,
        pmid=pmid,
        doi=_doi(e.get("doi")),
        title=title,
        abstract=_first(e, "abstract"),
        year=_year(_first(e, "publication_year", "early_access_year", "early_access_date")),
        journal=_first(e, "publication_name"),
        authors=tuple(authors if isinstance(authors, list) else [authors]),
        publication_types=_split_list(_first(e, "document_type")),
        mesh_terms=(),
        language=_first(e, "language"),
        **kw,
    )


#: Web of Science tab-delimited columns (the field tags) read into each field.
WOS_TAB_COLUMNS = {
    "title": "TI",
    "abstract": "AB",
    "doi": "DI",
    "year": "PY",
    "journal": "SO",
    "authors": "AU",
    "pmid": "PM",
    "publication_types": "DT",
    "language": "LA",
}


def read_wos_tab(
    path: Path, source: str, *, text: str | None = None, **kw: Any
) -> list[SourceRecord]:
    """Web of Science tab-delimited ("Tab delimited file"): a header of field tags, one row each."""
    text = _text(path, text).lstrip("\ufeff")
    lines = text.split("\n")
    header = [h.strip() for h in lines[0].split("\t")]
    col = {h: i for i, h in enumerate(header) if h}
    out = []
    n = 0
    for row, s in enumerate(lines[1:], start=2):
        if not s.strip():
            continue
        n += 1
        cells = s.split("\t")
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            raise RecordError(path, n, f"{len(header)} tab-separated fields as in the header",
                              line=row, got=len(cells))  # fmt: skip

        def get(tag: str, cells: list[str] = cells) -> str:
            i = col.get(tag)
            return " ".join(cells[i].split()) if i is not None and i < len(cells) else ""

        title = get("TI")
        _require_title(path, n, row, title, "TI")
        pmid = get("PM")
        if pmid and not pmid.isdigit():
            raise RecordError(path, n, "a PubMed ID (digits only)", line=row, field="PM", got=pmid)
        out.append(
            SourceRecord(
                source=source,
                pmid=pmid,
                doi=_doi(get("DI")),
                title=title,
                abstract=get("AB"),
                year=_year(get("PY") or get("EY") or get("EA")),
                journal=get("SO"),
                authors=_split_list(get("AU")),
                publication_types=_split_list(get("DT")),
                mesh_terms=(),
                language=get("LA"),
                **kw,
            )
        )
    return out


# --------------------------------------------------------------------------- Cochrane


_COCHRANE_FIELD = re.compile(r"^([A-Z]{2,3}):\s?(.*)$")


def read_cochrane(
    path: Path, source: str, *, text: str | None = None, **kw: Any
) -> list[SourceRecord]:
    """The Cochrane Library's plain-text export (CENTRAL): ``Record #k of N`` blocks of ``XX: ``."""
    text = _text(path, text).lstrip("\ufeff")
    out: list[SourceRecord] = []
    blocks: list[tuple[int, int, dict[str, list[str]]]] = []
    total = None
    current: dict[str, list[str]] | None = None
    last = ""
    for num, s in enumerate(text.split("\n"), start=1):
        head = _COCHRANE_HEAD.match(s.strip())
        if head:
            k, of = int(head.group(1)), int(head.group(2))
            if k != len(blocks) + 1 or (total is not None and of != total):
                raise RecordError(path, len(blocks) + 1, f"'Record #{len(blocks) + 1} of "
                                  f"{total or of}'", line=num, got=s.strip())  # fmt: skip
            total, current, last = of, {}, ""
            blocks.append((k, num, current))
            continue
        if not s.strip():
            continue
        if current is None:
            raise RecordError(path, 1, "'Record #1 of N' first", line=num, got=s[:60])
        m = _COCHRANE_FIELD.match(s)
        if m:
            last = m.group(1)
            current.setdefault(last, []).append(m.group(2).strip())
        elif last:  # a wrapped value
            current[last][-1] = f"{current[last][-1]} {s.strip()}"
        else:
            raise RecordError(path, len(blocks), "'XX: value' lines", line=num, got=s[:60])
    if total is not None and len(blocks) != total:
        raise InputError(
            path, f"{total} records, as its 'Record #1 of {total}' says (found {len(blocks)}: "
            "was the export cut short?)",
        )  # fmt: skip
    for n, line, f in blocks:

        def one(tag: str, f: dict[str, list[str]] = f) -> str:
            return " ".join(" ".join(f.get(tag, [])).split())

        title = one("TI")
        _require_title(path, n, line, title, "TI")
        pm = re.search(r"PUBMED\s+(\d+)", one("PM"), re.I)
        out.append(
            SourceRecord(
                source=source,
                pmid=pm.group(1) if pm else "",
                doi=_doi(f.get("DOI", [])),
                title=title,
                abstract=one("AB"),
                year=_year(one("YR")),
                journal=one("SO"),
                authors=tuple(a for v in f.get("AU", []) for a in _split_list(v)),
                publication_types=_split_list(one("PT")),
                mesh_terms=(),
                language=one("LA"),
                **kw,
            )
        )
    return out


# --------------------------------------------------------------------------- EndNote XML


def read_endnote_xml(
    path: Path, source: str, *, raw: bytes | None = None, text: str | None = None, **kw: Any
) -> list[SourceRecord]:
    """EndNote XML (File > Export > XML): one ``<record>`` per reference, via lxml."""
    raw = path.read_bytes() if raw is None else raw
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise InputError(path, f"well-formed EndNote XML ({exc})") from None
    out = []
    for n, rec in enumerate(root.iterfind("records/record"), start=1):

        def get(xpath: str, rec: etree._Element = rec) -> str:
            el = rec.find(xpath)
            return " ".join("".join(el.itertext()).split()) if el is not None else ""

        title = get("titles/title")
        _require_title(path, n, rec.sourceline, title, "titles/title")
        # A reference imported from PubMed: EndNote's filter puts the PMID in the
        # accession number and "NLM" as the database provider.
        db = get("remote-database-name").lower()
        nlm = get("remote-database-provider") == "NLM" or "pubmed" in db or "medline" in db
        an = get("accession-num")
        pmid = an if an.isdigit() and nlm else ""
        ref_type = rec.find("ref-type")
        out.append(
            SourceRecord(
                source=source,
                pmid=pmid,
                doi=_doi(get("electronic-resource-num")),
                title=title,
                abstract=get("abstract"),
                year=_year(get("dates/year") or get("dates/pub-dates/date")),
                journal=get("titles/secondary-title") or get("periodical/full-title"),
                authors=tuple(
                    " ".join("".join(a.itertext()).split())
                    for a in rec.iterfind("contributors/authors/author")
                ),
                publication_types=(ref_type.get("name"),)
                if ref_type is not None and ref_type.get("name")
                else (),
                mesh_terms=(),
                language=get("language"),
                **kw,
            )
        )
    n_records = len(root.findall(".//record"))
    if n_records != len(out):
        raise InputError(path, f"every <record> inside <xml><records> ({n_records} found, "
                         f"{len(out)} there)")  # fmt: skip
    return out


# --------------------------------------------------------------------------- CSV


def _csv_rows(path: Path, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(spreadsheet row, cells)]) of comma- or tab-separated text; blank rows skipped."""
    first = _head(text)
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=delimiter,
                        strict=True)  # fmt: skip
    records: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            records.append((len(records) + 1, cells))
    except csv.Error as exc:
        raise InputError(path, f"well-formed CSV ({exc})", row=len(records) + 1) from None
    if not records:
        raise InputError(path, "a header row followed by data rows, but the file is empty", row=1)
    header = [h.strip() for h in records[0][1]]
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise InputError(path, "each column name once (duplicated header)", row=1, column=name)
        seen.add(name)
    rows = []
    for num, cells in records[1:]:
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if len(cells) > len(header) and any(cells[len(header) :]):
            raise InputError(path, f"{len(header)} fields as in the header (is there a stray "
                             "comma?)", row=num, got=len(cells))  # fmt: skip
        rows.append((num, cells[: len(header)] + [""] * (len(header) - len(cells))))
    return header, rows


def read_csv_export(
    path: Path, source: str, *, text: str | None = None, **kw: Any
) -> list[SourceRecord]:
    """CSV (or tab-separated) export with columns named as in :data:`CSV_COLUMNS`."""
    header, rows = _csv_rows(path, _text(path, text))
    lower = {c.lower(): i for i, c in enumerate(header) if c}
    cols: dict[str, int] = {}
    for name, aliases in CSV_COLUMNS.items():
        for alias in aliases:
            if alias in lower:
                cols[name] = lower[alias]
                break
    if "title" not in cols:
        raise InputError(
            path, "a title column (one of: " + ", ".join(CSV_COLUMNS["title"]) + ")", row=1
        )
    out = []
    for row, cells in rows:

        def get(name: str, cells: list[str] = cells) -> str:
            return " ".join(cells[cols[name]].split()) if name in cols else ""

        def column(name: str) -> str:
            return header[cols[name]]

        pmid, year_raw = get("pmid"), get("year")
        if pmid and not pmid.isdigit():
            raise InputError(
                path, "a PubMed ID (digits only)", row=row, column=column("pmid"), got=pmid
            )
        year = _year(year_raw)
        if year_raw and not year:
            raise InputError(path, "a 4-digit year", row=row, column=column("year"), got=year_raw)
        if not get("title"):
            raise InputError(path, "a title", row=row, column=column("title"))
        out.append(
            SourceRecord(
                source=source,
                pmid=pmid,
                doi=normalise_doi(get("doi")),
                title=get("title"),
                abstract=get("abstract"),
                year=year,
                journal=get("journal"),
                authors=_split_list(get("authors")),
                publication_types=_split_list(get("publication_types")),
                mesh_terms=_split_list(get("mesh_terms")),
                language=get("language"),
                **kw,
            )
        )
    return out


READERS: dict[str, Callable[..., list[SourceRecord]]] = {
    "ris": read_ris,
    "medline": read_medline,
    "wos": read_wos,
    "wos-tab": read_wos_tab,
    "cochrane": read_cochrane,
    "endnote-xml": read_endnote_xml,
    "csv": read_csv_export,
}
