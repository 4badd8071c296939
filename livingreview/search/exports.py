"""Database exports as they really come -> :class:`~livingreview.search.export_records.SourceRecord` (issue 20, "In").

A file below ``search/exports/<database>/`` is read by what it contains, not
by its name: a Web of Science ``savedrecs.txt`` is WoS tagged text, a ``.txt``
from PubMed is MEDLINE, a ``.ris`` saved by mistake as ``.txt`` is still RIS.
Formats (:func:`detect_format`, first non-empty line decides):

* ``ris``: RIS (``TY  - `` ... ``ER  - ``), read by ``rispy``: Ovid (MEDLINE,
  Embase, PsycInfo), EBSCOhost (CINAHL, PsycInfo), ProQuest, Scopus, Lens, Web
  of Science, Cochrane CENTRAL and PubMed via a reference manager; the tag
  variants they use (TI/T1, AB/N2, PY/Y1/DA, JO/JF/T2/J2, DO/L3) are read;
* ``medline``: PubMed/MEDLINE tagged text (``PMID- ``, ``.nbib``), ``Bio.Medline``;
* ``wos``: Web of Science tagged text (``FN``/``VR`` header, ``PT`` ... ``ER``),
  ``rispy``'s ``WokParser``;
* ``wos-tab``: Web of Science tab-delimited (header ``PT<tab>AU<tab>...``);
* ``endnote-xml``: EndNote XML (``<xml><records><record>``), ``lxml``;
* ``cochrane``: the Cochrane Library's plain-text export of CENTRAL
  (``Record #1 of N`` then ``ID:``, ``TI:``, ``YR:``, ``DOI:`` lines);
* ``csv``: a comma- or tab-separated header of named columns, read by the
  names of :data:`~livingreview.search.export_readers.CSV_COLUMNS` (Scopus CSV, WoS/Embase/CINAHL/Covidence CSV,
  our own layout).

Text is UTF-8 (a BOM is skipped), UTF-16 with a BOM, or else Windows-1252/
Latin-1 (logged); CRLF and CR line ends are read as LF.

Every record of a file is read or the run stops: the number of records must
equal the file's record markers (``ER`` lines, ``Record #k of N``, XML
``<record>`` elements, data rows), and a record without a title, or one that
is malformed, stops with :class:`~livingreview.search.export_records.RecordError` naming the file, the record
number (1-based, in file order), its first line and the field.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

from ..errors import InputError
from .export_readers import READERS, read_endnote_xml
from .export_records import _COCHRANE_HEAD, ExportFile, _head, decode

__all__ = ["FORMATS", "detect_format", "export_date", "load_export"]

log = logging.getLogger(__name__)

#: Format names, as in ``summary.json`` ``exports[].format``.
FORMATS = ("ris", "medline", "wos", "wos-tab", "endnote-xml", "cochrane", "csv")


# --------------------------------------------------------------------------- files


def export_date(path: Path) -> str:
    """First ``YYYY-MM-DD`` in the file name, else the modification date (UTC)."""
    m = re.search(r"(\d{4})-(\d{2})-(\d{2})", path.name)
    if m:
        try:
            return dt.date(*map(int, m.groups())).isoformat()
        except ValueError:
            pass
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).date().isoformat()


_RIS_LINE = re.compile(r"^([A-Z][A-Z0-9])  -(?: |$)")
_WOS_LINE = re.compile(r"^(FN|VR|PT) \S")
_MEDLINE_LINE = re.compile(r"^PMID- ?\d")
_ENDNOTE = re.compile(r"<xml>\s*<records>\s*<record[\s>]")


def detect_format(path: Path, text: str) -> str:
    """The format of an export by its content (see the module doc); InputError if none fits."""
    first = _head(text)
    if first.startswith("<"):
        if _ENDNOTE.search(text[:5000]):
            return "endnote-xml"
    elif _RIS_LINE.match(first):
        if first.startswith("TY  -"):
            return "ris"
    elif _MEDLINE_LINE.match(first):
        return "medline"
    elif _WOS_LINE.match(first):
        return "wos"
    elif _COCHRANE_HEAD.match(first):
        return "cochrane"
    else:
        cells = first.split("\t")
        if {"PT", "AU", "TI", "UT"} <= set(cells):
            return "wos-tab"
        # A header of two or more named columns: a CSV export (its reader names
        # the title column it needs when there is none).
        names = [c.strip().strip('"') for c in re.split(r"[,\t]", first)]
        if len(names) > 1 and all(names):
            return "csv"
    raise InputError(
        path,
        "a database export: RIS ('TY  - ' first), PubMed/MEDLINE ('PMID- '), Web of Science "
        "tagged ('FN '/'PT ') or tab-delimited ('PT<tab>AU<tab>...'), EndNote XML "
        "('<xml><records><record>'), Cochrane ('Record #1 of N') or CSV (a header of named columns)",
        got=first[:60],
    )


def load_export(path: Path, source: str, **kw: Any) -> ExportFile:
    """Every record of one export file (format by content; ``kw``: origin, seen, order)."""
    raw = path.read_bytes()
    text, encoding = decode(raw)
    if encoding in ("cp1252", "latin-1"):
        log.warning("%s is not UTF-8; read as %s", path, encoding)
    fmt = detect_format(path, text)
    suffix = path.suffix.lower()
    if fmt != _USUAL.get(suffix, fmt) and not (suffix == ".txt" and fmt != "csv"):
        log.info("%s: the content is %s (decided by content, not the name)", path, fmt)
    if fmt == "endnote-xml":
        records = read_endnote_xml(path, source, raw=raw, **kw)
    else:
        records = READERS[fmt](path, source, text=text, **kw)
    return ExportFile(records, fmt, encoding)


_USUAL = {".ris": "ris", ".nbib": "medline", ".ciw": "wos", ".csv": "csv", ".xml": "endnote-xml"}
