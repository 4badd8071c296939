"""The records an export reader returns, its error, and the helpers every reader shares.

:class:`SourceRecord` is one record as one source returned it; :class:`RecordError`
names the file, record number, line and field of one that cannot be read
(``livingreview.search.exports`` reads the files, ``livingreview.search.export_readers``
the formats).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .pubmed_xml import normalise_doi

_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_COCHRANE_HEAD = re.compile(r"^Record #(\d+) of (\d+)\s*$")


@dataclass
class SourceRecord:
    """One record as one source returned it (before de-duplication)."""

    source: str
    origin: str  # file, relative to the input root
    seen: str  # YYYY-MM-DD
    order: int  # position among all inputs (deterministic tie-breaks)
    pmid: str = ""
    doi: str = ""
    title: str = ""
    abstract: str = ""
    year: str = ""
    journal: str = ""
    authors: tuple[str, ...] = ()
    publication_types: tuple[str, ...] = ()
    mesh_terms: tuple[str, ...] = ()
    language: str = ""
    corrections: tuple[
        str, ...
    ] = ()  # PubMed's retraction/erratum/... links (livingreview.search.watch)
    from_snapshot: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def content(self) -> tuple:
        return (
            self.doi,
            self.title,
            self.abstract,
            self.year,
            self.journal,
            self.authors,
            self.publication_types,
            self.mesh_terms,
            self.language,
            self.corrections,
        )


@dataclass
class ExportFile:
    """The records of one export file, with the format and encoding it was read as."""

    records: list[SourceRecord]
    format: str
    encoding: str


_MISSING = object()


class RecordError(InputError):
    """A record of an export that cannot be read: file, record number, line, field."""

    def __init__(
        self,
        file: str | Path,
        record: int,
        expected: str,
        *,
        line: int | None = None,
        field: str | None = None,
        got: object = _MISSING,
    ) -> None:
        if got is _MISSING:
            super().__init__(file, expected, column=field)
        else:
            super().__init__(file, expected, column=field, got=got)
        self.record = record
        self.line = line
        where = f"{file}, record {record}" + (f" (line {line})" if line else "")
        if field:
            where += f", field '{field}'"
        text = f"expected {expected}" + ("" if got is _MISSING else f", got {got!r}")
        self.args = (f"{where}: {text}",)


def decode(raw: bytes) -> tuple[str, str]:
    """(text with LF line ends, encoding): UTF-8 (BOM skipped), UTF-16 with a BOM, else cp1252."""
    if raw.startswith(b"\xef\xbb\xbf"):
        text, enc = raw[3:].decode("utf-8"), "utf-8-sig"
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        text, enc = raw.decode("utf-16"), "utf-16"
    else:
        try:
            text, enc = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            try:
                text, enc = raw.decode("cp1252"), "cp1252"
            except UnicodeDecodeError:  # the five bytes cp1252 leaves undefined
                text, enc = raw.decode("latin-1"), "latin-1"
    return text.replace("\r\n", "\n").replace("\r", "\n"), enc


def _head(text: str) -> str:
    """The first non-empty line (leading BOMs and spaces removed)."""
    for line in text.split("\n"):
        line = line.lstrip("\ufeff \t")
        if line:
            return line
    return ""


# --------------------------------------------------------------------------- helpers


def _year(value: Any) -> str:
    m = re.search(r"(1[89]|20|21)\d\d", str(value or ""))
    return m.group(0) if m else ""


def _split_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else re.split(r"\s*;\s*", str(value))
    return tuple(s.strip() for s in items if s and s.strip())


def _first(entry: dict[str, Any], *keys: str) -> str:
    for k in keys:
        v = entry.get(k)
        if isinstance(v, list):
            v = v[0] if v else ""
        if v:
            return " ".join(str(v).split())
    return ""


def _doi(*values: Any) -> str:
    """The first value that is a DOI once resolver prefixes are removed ('' if none)."""
    for value in values:
        for v in value if isinstance(value, list) else [value]:
            doi = normalise_doi(" ".join(str(v or "").split()))
            if _DOI.match(doi):
                return doi
    return ""


def _text(path: Path, text: str | None) -> str:
    return decode(path.read_bytes())[0] if text is None else text


def _chunks(
    path: Path, text: str, start: Callable[[str], bool], end: Callable[[str], bool], what: str
) -> Iterator[tuple[int, int, list[str]]]:
    """(record number, first line number, lines) of each start...end block.

    Lines outside blocks must be blank (``skip`` lines aside): anything else is
    a record this reader would lose, so it stops the run.
    """
    n, first, lines = 0, 0, None
    for num, line in enumerate(text.split("\n"), start=1):
        if lines is None:
            if start(line):
                n, first, lines = n + 1, num, [line]
            elif line.strip("\ufeff \t"):
                raise RecordError(path, n + 1, f"a record starting with {what}", line=num,
                                  got=line[:60])  # fmt: skip
        elif end(line):
            lines.append(line)
            yield n, first, lines
            lines = None
        elif start(line):
            raise RecordError(path, n, "its end line before the next record starts", line=first)
        else:
            lines.append(line)
    if lines is not None:
        raise RecordError(path, n, "an end line (the file ends inside this record)", line=first)


def _require_title(path: Path, n: int, line: int, title: str, tags: str) -> None:
    if not title:
        raise RecordError(path, n, f"a title ({tags})", line=line, field=tags.split(" ")[0])
