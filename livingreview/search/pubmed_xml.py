"""Reading E-utilities XML: efetch's PubmedArticleSet as records, esearch's result.

Why it is built this way:

* :func:`parse_efetch` streams with ``lxml.etree.iterparse`` (no DTD loading,
  no network, no entity expansion; documents declaring entities are refused,
  which stops "billion laughs" and XXE), so memory stays flat however large the
  response is.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lxml import etree

from .errors import EutilsError, PubMedXMLError


@dataclass(frozen=True)
class PubMedRecord:
    """One citation as the rest of the pipeline needs it (list fields are tuples)."""

    pmid: str
    title: str
    abstract: str
    doi: str
    year: int | None
    journal: str
    authors: tuple[str, ...]
    publication_types: tuple[str, ...]
    mesh_terms: tuple[str, ...]
    language: str
    vernacular_title: str = ""
    kind: str = "article"  # "article" (PubmedArticle) or "book" (PubmedBookArticle)
    # notices linked to this citation ("RetractionIn 12345", "ErratumIn 23456", ...):
    # the retraction and correction watch (livingreview.search.watch)
    corrections: tuple[str, ...] = ()


@dataclass(frozen=True)
class Deletion:
    """A ``DeleteCitation`` marker: PubMed withdrew this PMID."""

    pmid: str


_LAYOUT_WS = re.compile(r"[ \t\r\n]+")
_YEAR = re.compile(r"(1[89]|20|21)\d\d")
_RECORD_TAGS = {"PubmedArticle", "PubmedBookArticle", "DeleteCitation"}


def _text(el: etree._Element | None) -> str:
    """All text below ``el`` (inline HTML/MathML flattened), whitespace collapsed."""
    if el is None:
        return ""
    text = el.text or "" if len(el) == 0 else "".join(el.itertext())
    # Collapse layout whitespace only: NBSP, thin spaces etc. are content.
    if "\n" in text or "\t" in text or "\r" in text or "  " in text:
        text = _LAYOUT_WS.sub(" ", text)
    return text.strip(" ")


def normalise_doi(doi: str) -> str:
    """Lower-case a DOI and strip resolver prefixes: DOIs are case-insensitive."""
    doi = doi.strip().lower()
    doi = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:\s*)", "", doi)
    return doi.rstrip(".")


def _abstract(abstract: etree._Element | None) -> str:
    """Structured abstracts: each section as ``LABEL: text``, joined by a space.

    A space (not a newline) so that a CSV row stays one physical line and
    spreadsheet row numbers in later error messages stay right.
    """
    if abstract is None:
        return ""
    parts = []
    for sec in abstract.iterfind("AbstractText"):
        body = _text(sec)
        label = (sec.get("Label") or "").strip()
        if label and body:
            parts.append(f"{label}: {body}")
        elif body:
            parts.append(body)
    return " ".join(parts)


def _year(*dates: etree._Element | None) -> int | None:
    for date in dates:
        if date is None:
            continue
        y = date.findtext("Year")
        if y and y.strip().isdigit():
            return int(y.strip())
        m = _YEAR.search(date.findtext("MedlineDate") or "")
        if m:
            return int(m.group(0))
    return None


def _authors(author_list: etree._Element | None) -> tuple[str, ...]:
    """Vancouver style ``Last Initials``; group authors by their CollectiveName."""
    if author_list is None:
        return ()
    out = []
    for a in author_list.iterfind("Author"):
        if a.get("ValidYN", "Y") == "N":
            continue
        collective = _text(a.find("CollectiveName"))
        if collective:
            out.append(collective)
            continue
        last = _text(a.find("LastName"))
        initials = _text(a.find("Initials")) or _text(a.find("ForeName"))
        name = f"{last} {initials}".strip()
        if name:
            out.append(name)
    return tuple(out)


def _doi(id_list: etree._Element | None, *elocations: etree._Element) -> str:
    # Only the record's own ArticleIdList: ReferenceList carries cited DOIs too.
    if id_list is not None:
        for aid in id_list.iterfind("ArticleId"):
            if aid.get("IdType") == "doi" and _text(aid):
                return normalise_doi(_text(aid))
    for loc in elocations:
        if loc.get("EIdType") == "doi" and _text(loc):
            return normalise_doi(_text(loc))
    return ""


def _mesh(citation: etree._Element) -> tuple[str, ...]:
    return tuple(
        _text(d)
        for d in citation.iterfind("MeshHeadingList/MeshHeading/DescriptorName")
        if _text(d)
    )


WATCHED_LINKS = ("RetractionIn", "ErratumIn", "ExpressionOfConcernIn", "UpdateIn")


def _corrections(citation: etree._Element) -> tuple[str, ...]:
    """The notices PubMed links to a citation (CommentsCorrections of the watched types)."""
    out = []
    for c in citation.iterfind("CommentsCorrectionsList/CommentsCorrections"):
        kind = c.get("RefType", "")
        if kind in WATCHED_LINKS:
            out.append(f"{kind} {_text(c.find('PMID'))}".strip())
    return tuple(sorted(set(out)))


def _article(el: etree._Element) -> PubMedRecord:
    cit = el.find("MedlineCitation")
    if cit is None:
        raise PubMedXMLError("PubmedArticle without MedlineCitation")
    art = cit.find("Article")
    art = art if art is not None else etree.Element("Article")
    title = _text(art.find("ArticleTitle"))
    vern = _text(art.find("VernacularTitle"))
    return PubMedRecord(
        pmid=_text(cit.find("PMID")),
        title=title or vern,
        abstract=_abstract(art.find("Abstract")),
        doi=_doi(el.find("PubmedData/ArticleIdList"), *art.iterfind("ELocationID")),
        year=_year(art.find("Journal/JournalIssue/PubDate"), art.find("ArticleDate")),
        journal=_text(art.find("Journal/Title")) or _text(cit.find("MedlineJournalInfo/MedlineTA")),
        authors=_authors(art.find("AuthorList")),
        publication_types=tuple(
            _text(p) for p in art.iterfind("PublicationTypeList/PublicationType")
        ),
        mesh_terms=_mesh(cit),
        language="; ".join(_text(x) for x in art.iterfind("Language") if _text(x)),
        vernacular_title=vern,
        kind="article",
        corrections=_corrections(cit),
    )


def _book(el: etree._Element) -> PubMedRecord:
    doc = el.find("BookDocument")
    if doc is None:
        raise PubMedXMLError("PubmedBookArticle without BookDocument")
    book = doc.find("Book")
    book = book if book is not None else etree.Element("Book")
    authors = None
    for al in doc.iterfind("AuthorList"):  # the chapter's authors, not the book's editors
        if al.get("Type", "authors") == "authors":
            authors = al
            break
    vern = _text(doc.find("VernacularTitle"))
    return PubMedRecord(
        pmid=_text(doc.find("PMID")),
        title=_text(doc.find("ArticleTitle")) or _text(book.find("BookTitle")) or vern,
        abstract=_abstract(doc.find("Abstract")),
        doi=_doi(doc.find("ArticleIdList"), *doc.iterfind("ELocationID")),
        year=_year(book.find("PubDate"), doc.find("ContributionDate")),
        journal=_text(book.find("BookTitle")),
        authors=_authors(authors),
        publication_types=tuple(_text(p) for p in doc.iterfind("PublicationType")),
        mesh_terms=(),
        language="; ".join(_text(x) for x in doc.iterfind("Language") if _text(x)),
        vernacular_title=vern,
        kind="book",
    )


@contextlib.contextmanager
def _open_source(source: str | os.PathLike | bytes | IO[bytes]) -> Iterator[IO[bytes]]:
    if isinstance(source, bytes | bytearray):
        yield io.BytesIO(source)
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            yield fh
    else:
        yield source


def _refuse_entities(root: etree._Element) -> None:
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise PubMedXMLError(
            "refusing XML that declares entities in its DOCTYPE (PubMed never sends "
            "them; they enable entity-expansion and external-entity attacks)"
        )


def iter_efetch_elements(
    source: str | os.PathLike | bytes | IO[bytes],
) -> Iterator[etree._Element]:
    """Yield each PubmedArticle / PubmedBookArticle / DeleteCitation element in turn.

    The element is cleared after the consumer moves on, so memory stays flat.
    Raises :class:`~livingreview.search.errors.EutilsError` for an ``<ERROR>`` response and
    :class:`~livingreview.search.errors.PubMedXMLError` for anything that is not a complete PubmedArticleSet.
    """
    with _open_source(source) as fh:
        parser = etree.iterparse(
            fh,
            events=("end",),
            tag=(*_RECORD_TAGS, "ERROR"),
            resolve_entities=False,
            no_network=True,
            huge_tree=False,
            load_dtd=False,
            dtd_validation=False,
        )
        checked = False
        try:
            for _event, el in parser:
                parent = el.getparent()
                if el.tag == "ERROR":
                    raise EutilsError(f"E-utilities returned an error: {_text(el)}")
                if not checked:
                    _check_root(el.getroottree().getroot())
                    checked = True
                if parent is None or parent.getparent() is not None:
                    continue  # nested (e.g. a DeleteCitation inside something else)
                yield el
                el.clear()
                while el.getprevious() is not None:
                    del parent[0]
                parent.remove(el)
        except etree.XMLSyntaxError as exc:
            raise PubMedXMLError(f"invalid or truncated XML: {exc}") from None
        if parser.root is None:
            raise PubMedXMLError("empty response (no XML at all)")
        if not checked:
            _check_root(parser.root)


def _check_root(root: etree._Element) -> None:
    _refuse_entities(root)
    if root.tag == "eFetchResult":
        raise EutilsError("E-utilities returned an eFetchResult without articles")
    if root.tag != "PubmedArticleSet":
        raise PubMedXMLError(f"expected a PubmedArticleSet, got <{root.tag}> as the root element")


def parse_efetch(
    source: str | os.PathLike | bytes | IO[bytes], *, deletions: bool = True
) -> Iterator[PubMedRecord | Deletion]:
    """Stream an efetch PubmedArticleSet as :class:`PubMedRecord` objects.

    ``source`` is a path (``.gz`` is decompressed), bytes or a binary file
    object. ``DeleteCitation`` yields one :class:`Deletion` per PMID unless
    ``deletions=False``. An empty set yields nothing.
    """
    for el in iter_efetch_elements(source):
        if el.tag == "PubmedArticle":
            yield _article(el)
        elif el.tag == "PubmedBookArticle":
            yield _book(el)
        elif deletions:
            for pmid in el.iterfind("PMID"):
                yield Deletion(_text(pmid))


@dataclass(frozen=True)
class SearchResult:
    count: int
    webenv: str
    query_key: str
    ids: tuple[str, ...] = ()


def element_pmids(el: etree._Element) -> list[str]:
    """The PMID(s) of one record element; raises PubMedXMLError for a non-numeric PMID."""
    if el.tag == "DeleteCitation":
        pmids = [_text(p) for p in el.iterfind("PMID")]
    elif el.tag == "PubmedBookArticle":
        pmids = [_text(el.find("BookDocument/PMID"))]
    else:
        pmids = [_text(el.find("MedlineCitation/PMID"))]
    for pmid in pmids:
        if not (pmid.isascii() and pmid.isdigit()):
            raise PubMedXMLError(f"a <{el.tag}> with PMID {pmid[:40]!r}, not a number")
    return pmids


def _parse_esearch(body: bytes) -> SearchResult:
    try:
        root = etree.fromstring(
            body,
            etree.XMLParser(
                resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
            ),
        )
    except etree.XMLSyntaxError as exc:
        raise PubMedXMLError(f"invalid or truncated esearch XML: {exc}") from None
    if root is None or root.tag != "eSearchResult":
        raise PubMedXMLError("expected an eSearchResult")
    _refuse_entities(root)
    errors = [_text(e) for e in root.iterfind("ERROR")]
    if errors:
        raise EutilsError("esearch returned an error: " + "; ".join(errors))
    count = root.findtext("Count")
    if count is None or not count.strip().isdigit():
        raise PubMedXMLError("esearch response without a Count")
    ids = tuple(_text(i) for i in root.iterfind("IdList/Id"))
    bad = next((i for i in ids if not (i.isascii() and i.isdigit())), None)
    if bad is not None:
        raise PubMedXMLError(f"esearch listed the PMID {bad[:40]!r}, not a number")
    return SearchResult(
        count=int(count),
        webenv=(root.findtext("WebEnv") or "").strip(),
        query_key=(root.findtext("QueryKey") or "").strip(),
        ids=ids,
    )
