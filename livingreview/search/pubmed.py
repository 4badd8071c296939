"""PubMed via NCBI E-utilities: incremental search, resumable download, streaming parse.

Why it is built this way:

* ``esearch`` lists the PMIDs of a date window (``retmax`` 9,999); ``efetch``
  then fetches them by PMID in batches. ESearch cannot list past the first
  9,999 PubMed UIDs, so a date window whose ``Count`` exceeds that is cut in
  halves (recursively) until every slice fits.
* What arrives is checked against what was asked for: the PMIDs of each
  batch (articles and ``DeleteCitation``), again per slice. Missing ones are
  asked for again, and if they do not come the search fails naming them: a
  short efetch page never becomes a snapshot with a gap.
* Each run searches the window since the newest completed snapshot (its
  ``maxdate``, inclusive: the overlap day is de-duplicated by PMID) up to today,
  by Entrez date (``edat``) and optionally by modification date (``mdat``, to
  pick up corrected records).
* Batches land in ``<snapshots>/.partial/`` as they arrive, so a run that dies
  (network, SIGKILL) resumes without fetching them again; only when every batch
  is there is the snapshot assembled and committed: the gz and its sidecar
  become visible together (:func:`write_snapshot`). A completed snapshot
  (``<until>.xml.gz`` + ``<until>.json``) is never rewritten, and Snakemake
  never owns one: the search job's output is a marker (:func:`search_marker`).
* Rate limits: NCBI allows 3 requests/s without an API key and 10 with one.
  Each client spaces its own requests; the workflow declares ``resources:
  ncbi=1`` on every rule that calls NCBI so that at most one such job runs at a
  time (set ``resources: [ncbi=1]`` in the profile).
* Requests are POSTed, so the API key never appears in a URL (and therefore in
  no exception text from requests/urllib3); messages are scrubbed as well.
  No redirect is followed, and the key is refused over plain http (except to
  this machine), so it reaches no other host. A ``Retry-After`` above a cap
  fails instead of holding the run for hours.
* :func:`parse_efetch` streams with ``lxml.etree.iterparse`` (no DTD loading,
  no network, no entity expansion; documents declaring entities are refused,
  which stops "billion laughs" and XXE), so memory stays flat however large the
  response is.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import gzip
import hashlib
import io
import ipaddress
import logging
import os
import random
import re
import shutil
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests
from lxml import etree

from .. import __version__
from ..errors import LivingReviewError
from ..io import atomic_write, read_json, sha256_file, write_json

log = logging.getLogger(__name__)

DEFAULT_EUTILS = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
#: ESearch/EFetch cannot page past this many PubMed UIDs (retstart <= 9998).
MAX_UIDS = 9999
DATE_FMT = "%Y/%m/%d"
#: Longest ``Retry-After`` (seconds) honoured before failing instead
#: (``search.max_retry_after_s``).
DEFAULT_MAX_RETRY_AFTER = 600.0
#: How often the PMIDs missing from an efetch answer are asked for again.
REFETCH_ROUNDS = 2
SNAPSHOT_HEADER = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN"'
    b' "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
    b"<PubmedArticleSet>\n"
)
SNAPSHOT_FOOTER = b"</PubmedArticleSet>\n"
PARTIAL = ".partial"


# --------------------------------------------------------------------------- errors


class PubMedError(LivingReviewError):
    """Anything that stops a PubMed search or parse."""


class EutilsError(PubMedError):
    """E-utilities answered with an ``<ERROR>`` element or a non-retryable HTTP status."""


class PubMedXMLError(PubMedError):
    """The response is not a well-formed PubmedArticleSet (truncated, HTML, entities...)."""


class FetchFailedError(PubMedError):
    """A request still failed after the last retry."""


# --------------------------------------------------------------------------- records


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
    Raises :class:`EutilsError` for an ``<ERROR>`` response and
    :class:`PubMedXMLError` for anything that is not a complete PubmedArticleSet.
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


# --------------------------------------------------------------------------- client


@dataclass(frozen=True)
class SearchResult:
    count: int
    webenv: str
    query_key: str
    ids: tuple[str, ...] = ()


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or url


def _may_carry_key(url: str) -> bool:
    """https anywhere; plain http only to this machine (the key never leaves it)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return True
    if parts.scheme != "http":
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` is either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
    return None


class PubMedClient:
    """A small E-utilities client holding configuration, rate limit and retry policy.

    ``api_key`` should come from the ``NCBI_API_KEY`` environment variable
    (see :meth:`from_env`); it is sent in the POST body only and scrubbed from
    every message. ``rate`` defaults to NCBI's limit (3/s, 10/s with a key);
    ``rate=0`` disables spacing (benchmarks against a local server).
    Back-off before retry ``n`` (0-based) is ``min(backoff_max, backoff_base *
    2**n)`` scaled by a uniform jitter in [0.5, 1], or the server's
    ``Retry-After`` when it sends one; a ``Retry-After`` longer than
    ``max_retry_after`` seconds fails at once (:class:`FetchFailedError`)
    instead of holding the run (and its lock) for hours.

    The key goes to ``base_url`` only: redirects are never followed (a 3xx
    is an error naming where it pointed), and a key is refused over plain
    http except to a loopback address (a local test server).
    """

    def __init__(
        self,
        base_url: str = DEFAULT_EUTILS,
        *,
        api_key: str | None = None,
        email: str | None = None,
        tool: str = "livingreview",
        timeout: float = 60.0,
        max_retries: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 120.0,
        rate: float | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._api_key = api_key or None
        if self._api_key and not _may_carry_key(self.base_url):
            raise PubMedError(
                f"refusing to send NCBI_API_KEY over plain http to {_host(self.base_url)}: "
                "set search.eutils_url to an https:// address (plain http is allowed only "
                "on this machine, e.g. 127.0.0.1)"
            )
        self.max_retry_after = max_retry_after
        self.email = email
        self.tool = tool
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.rate = (10.0 if self._api_key else 3.0) if rate is None else rate
        self.session = session or requests.Session()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._last_request = 0.0
        self.requests_made = 0

    @classmethod
    def from_env(cls, base_url: str = DEFAULT_EUTILS, **kwargs: Any) -> PubMedClient:
        """Client with ``api_key`` taken from ``NCBI_API_KEY`` (the only place it may come from)."""
        return cls(base_url, api_key=os.environ.get("NCBI_API_KEY") or None, **kwargs)

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"PubMedClient(base_url={self.base_url!r}, api_key=<{key}>, rate={self.rate})"

    def scrub(self, text: str) -> str:
        """Remove the API key from any text that might be shown or logged."""
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return re.sub(r"(api_key=)[^&\s'\"]+", r"\1***", text)

    # -- transport -----------------------------------------------------------

    def _wait_rate(self) -> None:
        if self.rate and self.rate > 0:
            gap = 1.0 / self.rate - (time.monotonic() - self._last_request)
            if gap > 0:
                time.sleep(gap)
        self._last_request = time.monotonic()

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_max, self.backoff_base * 2**attempt)
        return delay * self._rng.uniform(0.5, 1.0)

    def _call(self, endpoint: str, params: dict[str, Any], check: Callable[[bytes], Any]) -> Any:
        """POST to ``endpoint``; retry transient failures; return ``check(body)``.

        ``check`` parses the body and raises :class:`PubMedXMLError` if it is
        invalid or truncated (retried) or :class:`EutilsError` (not retried).
        """
        data = {"db": "pubmed", **params, "tool": self.tool}
        if self.email:
            data["email"] = self.email
        if self._api_key:
            data["api_key"] = self._api_key
        url = self.base_url + endpoint
        last = ""
        for attempt in range(self.max_retries + 1):
            self._wait_rate()
            self.requests_made += 1
            try:
                resp = self.session.post(
                    url, data=data, timeout=self.timeout, allow_redirects=False
                )
                status = resp.status_code
                if 300 <= status < 400:
                    raise EutilsError(
                        self.scrub(
                            f"{endpoint}: HTTP {status} redirect to "
                            f"{resp.headers.get('Location', '(no Location)')!s:.200} not followed "
                            "(a request is only ever sent to search.eutils_url; set it to the "
                            "final address)"
                        )
                    )
                if status == 429 or status >= 500:
                    raise _Retry(f"HTTP {status}", _retry_after(resp.headers.get("Retry-After")))
                if status >= 400:
                    raise EutilsError(
                        self.scrub(f"{endpoint}: HTTP {status}: {resp.text[:300].strip()}")
                    )
                return check(resp.content)
            except _Retry as exc:
                last, wait = exc.reason, exc.retry_after
            except PubMedXMLError as exc:
                last, wait = str(exc), None
            except requests.Timeout:
                last, wait = f"no answer within {self.timeout:g} s", None
            except requests.RequestException as exc:
                last, wait = f"{type(exc).__name__}: {exc}", None
            last = self.scrub(last)
            if wait is not None and wait > self.max_retry_after:
                raise FetchFailedError(
                    f"{endpoint} at {self.scrub(url)}: the server asked to wait {wait:.0f} s "
                    f"before retrying ({last}, Retry-After), more than the cap of "
                    f"{self.max_retry_after:g} s (search.max_retry_after_s); try again later"
                )
            if attempt == self.max_retries:
                break
            delay = wait if wait is not None else self._backoff(attempt)
            log.warning(
                "%s failed (%s); retry %d/%d in %.1f s",
                endpoint,
                last,
                attempt + 1,
                self.max_retries,
                delay,
            )
            self._sleep(delay)
        raise FetchFailedError(
            f"{endpoint} at {self.scrub(url)} failed after {self.max_retries + 1} attempts; "
            f"last error: {last}"
        )

    # -- E-utilities -----------------------------------------------------------

    def esearch(
        self,
        term: str,
        *,
        mindate: dt.date | None = None,
        maxdate: dt.date | None = None,
        datetype: str = "edat",
        retstart: int = 0,
        retmax: int = 0,
        usehistory: bool = True,
    ) -> SearchResult:
        params: dict[str, Any] = {"term": term, "retstart": retstart, "retmax": retmax}
        if usehistory:
            params["usehistory"] = "y"
        if mindate or maxdate:
            params.update(
                datetype=datetype,
                mindate=(mindate or dt.date(1800, 1, 1)).strftime(DATE_FMT),
                maxdate=(maxdate or dt.date.today()).strftime(DATE_FMT),
            )

        def check(body: bytes) -> SearchResult:
            res = _parse_esearch(body)
            want = max(0, min(retmax, min(res.count, MAX_UIDS) - retstart))
            if len(res.ids) != want:  # a short IdList would silently lose records
                raise PubMedXMLError(
                    f"esearch reported {res.count} records but listed {len(res.ids)} "
                    f"of the {want} asked for"
                )
            return res

        return self._call("esearch.fcgi", params, check)

    def efetch(self, webenv: str, query_key: str, retstart: int, retmax: int) -> bytes:
        """One efetch batch from the history server, checked to be a complete PubmedArticleSet."""
        params = {
            "WebEnv": webenv,
            "query_key": query_key,
            "retstart": retstart,
            "retmax": retmax,
            "retmode": "xml",
        }

        def check(body: bytes) -> bytes:
            for _ in iter_efetch_elements(body):
                pass
            return body

        return self._call("efetch.fcgi", params, check)

    def efetch_ids(self, pmids: Iterable[str]) -> tuple[bytes, set[str]]:
        """efetch these PMIDs (POSTed); return the body and the PMIDs it holds.

        A ``DeleteCitation`` counts as an answer for its PMIDs. A PMID that is
        not a number makes the whole answer invalid (retried like truncated XML).
        """
        params = {"id": ",".join(pmids), "retmode": "xml"}

        def check(body: bytes) -> tuple[bytes, set[str]]:
            got: set[str] = set()
            for el in iter_efetch_elements(body):
                got.update(element_pmids(el))
            return body, got

        return self._call("efetch.fcgi", params, check)


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


# --------------------------------------------------------------------------- snapshots


@dataclass
class Slice:
    """A date window small enough for esearch to page through (count <= MAX_UIDS)."""

    datetype: str
    mindate: dt.date
    maxdate: dt.date
    count: int
    webenv: str = field(default="", repr=False)
    query_key: str = field(default="", repr=False)
    ids: tuple[str, ...] = field(default=(), repr=False)

    @property
    def key(self) -> str:
        return f"{self.datetype}-{self.mindate:%Y%m%d}-{self.maxdate:%Y%m%d}"


def plan_slices(
    client: PubMedClient, term: str, datetype: str, mindate: dt.date, maxdate: dt.date
) -> list[Slice]:
    """Cut ``[mindate, maxdate]`` (inclusive days) in halves until each count fits.

    Each slice carries the PMIDs esearch listed for it: they are what the
    download must deliver, batch by batch.
    """
    res = client.esearch(term, mindate=mindate, maxdate=maxdate, datetype=datetype, retmax=MAX_UIDS)
    if res.count <= MAX_UIDS:
        return [Slice(datetype, mindate, maxdate, res.count, res.webenv, res.query_key, res.ids)]
    if mindate >= maxdate:
        raise PubMedError(
            f"{res.count} records have {datetype} {mindate:%Y-%m-%d}; esearch cannot page "
            f"past {MAX_UIDS} on one day: narrow the query"
        )
    mid = mindate + (maxdate - mindate) // 2
    log.info("%s %s..%s: %d hits > %d, splitting", datetype, mindate, maxdate, res.count, MAX_UIDS)
    return plan_slices(client, term, datetype, mindate, mid) + plan_slices(
        client, term, datetype, mid + dt.timedelta(days=1), maxdate
    )


def search_marker(until: str) -> str:
    """The search job's output: a marker under ``results/``, never the snapshot itself."""
    return f"results/records/search-{until}.json"


def write_search_marker(path: str | Path, snapshot: str | Path) -> None:
    """Record which completed snapshot today's search job left in the store.

    Only the snapshot's name and checksum: the sidecar's timestamps would make
    a resumed run's marker differ from a clean run's.
    """
    snapshot = Path(snapshot)
    sidecar = snapshot.with_name(snapshot.name[: -len(".xml.gz")] + ".json")
    write_json(path, {"snapshot": snapshot.name, "sha256": read_json(sidecar)["file_sha256"]})


def pending_marker(folder: str | Path, until: dt.date | str) -> Path:
    """The sidecar of a snapshot being committed (see :func:`write_snapshot`)."""
    day = until if isinstance(until, str) else until.isoformat()
    return Path(folder) / f".{day}.json.pending"


def completed_snapshots(snapshot_dir: str | Path) -> list[tuple[dt.date, Path, Path]]:
    """``(until, xml.gz, sidecar)`` of every completed snapshot, oldest first."""
    out = []
    folder = Path(snapshot_dir)
    if not folder.is_dir():
        return out
    for gz in sorted(folder.glob("*.xml.gz")):
        stem = gz.name[: -len(".xml.gz")]
        sidecar = gz.with_name(stem + ".json")
        with contextlib.suppress(ValueError):
            until = dt.date.fromisoformat(stem)
            if sidecar.exists():
                out.append((until, gz, sidecar))
    return out


def orphan_snapshots(snapshot_dir: str | Path) -> list[Path]:
    """``*.xml.gz`` files without a sidecar that are not being committed right now.

    The pending marker is looked at before the sidecar: the commit renames the
    one into the other, so a gz seen without both is really an orphan.
    """
    folder = Path(snapshot_dir)
    out = []
    for gz in sorted(folder.glob("*.xml.gz")) if folder.is_dir() else []:
        stem = gz.name[: -len(".xml.gz")]
        if pending_marker(folder, stem).exists() or gz.with_name(stem + ".json").exists():
            continue
        out.append(gz)
    return out


def finish_commits(snapshot_dir: str | Path) -> None:
    """Complete (or undo) a snapshot commit that a killed process left half done.

    Only the searching process calls this: readers just ignore a snapshot
    whose pending marker exists.
    """
    folder = Path(snapshot_dir)
    for marker in sorted(folder.glob(".*.json.pending")) if folder.is_dir() else []:
        day = marker.name[1 : -len(".json.pending")]
        final, hidden = folder / f"{day}.xml.gz", folder / f".{day}.xml.gz.new"
        sidecar = folder / f"{day}.json"
        want = read_json(marker).get("file_sha256")
        if not final.exists() and hidden.exists() and sha256_file(hidden) == want:
            os.replace(hidden, final)
        if final.exists() and sha256_file(final) == want and not sidecar.exists():
            os.replace(marker, sidecar)
            log.info("completed the commit of snapshot %s left by a killed run", final.name)
        else:
            marker.unlink()
            hidden.unlink(missing_ok=True)
            log.warning("discarded an unfinished commit of snapshot %s", final.name)
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha_lines(items: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def _batch_pmids(path: Path) -> set[str]:
    got: set[str] = set()
    for el in iter_efetch_elements(path):
        got.update(element_pmids(el))
    return got


def _save_batch(path: Path, body: bytes) -> None:
    with atomic_write(path, "wb") as fh:
        fh.write(gzip.compress(body, compresslevel=1, mtime=0))


def _fill_gaps(
    client: PubMedClient, missing: list[str], stem: Path, files: list[Path]
) -> tuple[set[str], list[str]]:
    """Ask again for PMIDs an answer lacked; return (received, still missing).

    Each answer is kept as ``<stem>-r<n>.xml.gz``: a resumed run reads those
    first, then asks up to :data:`REFETCH_ROUNDS` more times.
    """
    received: set[str] = set()
    kept = sorted(
        stem.parent.glob(f"{stem.name}-r*.xml.gz"),
        key=lambda p: int(p.name[len(stem.name) + 2 : -len(".xml.gz")]),
    )
    for path in kept:
        files.append(path)
        received |= _batch_pmids(path)
    missing = [p for p in missing if p not in received]
    for n in range(len(kept) + 1, len(kept) + 1 + REFETCH_ROUNDS):
        if not missing:
            break
        log.warning("refetching %d PMID(s) missing from an efetch answer", len(missing))
        body, got = client.efetch_ids(missing)
        path = stem.with_name(f"{stem.name}-r{n}.xml.gz")
        _save_batch(path, body)
        files.append(path)
        received |= got
        missing = [p for p in missing if p not in got]
    return received, missing


def _missing_error(where: str, missing: list[str], asked: int) -> PubMedError:
    shown = ", ".join(missing[:20]) + (
        f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    )
    return PubMedError(
        f"PubMed did not return {len(missing)} of the {asked} records esearch listed for "
        f"{where}, also when asked again {REFETCH_ROUNDS} times: PMIDs {shown}. No snapshot "
        "was written; the batches already fetched are kept and the next run asks again"
    )


def run_search(
    client: PubMedClient,
    snapshot_dir: str | Path,
    query: str,
    *,
    start_date: dt.date,
    until: dt.date | None = None,
    use_mdat: bool = True,
    batch_size: int = 200,
    after_batch: Callable[[int], None] | None = None,
) -> Path:
    """Fetch everything new since the last completed snapshot into ``<until>.xml.gz``.

    Returns the snapshot path. If a completed snapshot for ``until`` already
    exists, nothing is fetched. Batches are kept under ``.partial/`` (one
    gzip file per batch, written atomically) so a failed run resumes where it
    stopped; ``after_batch(n_batches_fetched)`` is a hook for progress/tests.

    Every batch asks for PMIDs by id (those esearch listed) and its answer
    is compared with them: missing PMIDs are asked for again, and if they
    still do not come the search fails naming them; a snapshot is only ever
    completed without a gap.
    """
    folder = Path(snapshot_dir)
    until = until or dt.date.today()
    final = folder / f"{until.isoformat()}.xml.gz"
    sidecar = folder / f"{until.isoformat()}.json"
    finish_commits(folder)
    if sidecar.exists():
        log.info("snapshot %s is already complete; nothing to fetch", final.name)
        if " ".join(str(read_json(sidecar).get("query", "")).split()) != " ".join(query.split()):
            log.warning(
                "the query differs from the one %s was made with; it runs tomorrow", final.name
            )
        return final
    done = [s for s in completed_snapshots(folder) if s[0] < until]
    mindate = start_date
    if done:
        last = read_json(done[-1][2])
        if " ".join(str(last.get("query", "")).split()) == " ".join(query.split()):
            mindate = dt.date.fromisoformat(last.get("maxdate") or done[-1][0].isoformat())
        else:  # a changed query must be run over the whole period, not just the new days
            log.warning(
                "the query differs from %s's; searching from %s", done[-1][1].name, start_date
            )
    if mindate > until:
        raise PubMedError(f"search window starts {mindate} after it ends {until}")
    datetypes = ["edat"] + (["mdat"] if use_mdat else [])

    partial = folder / PARTIAL
    plan_file = partial / "plan.json"
    wanted = {"query": query, "mindate": mindate.isoformat(), "datetypes": datetypes}
    plan: dict[str, Any] = read_json(plan_file) if plan_file.exists() else {}
    if {k: plan.get(k) for k in wanted} != wanted:
        if partial.exists():
            log.info("discarding an unfinished download of a different search in %s", partial)
            shutil.rmtree(partial)
        plan = {**wanted, "started": _now(), "slices": {}}
    else:
        log.info("resuming the unfinished download in %s", partial)
    partial.mkdir(parents=True, exist_ok=True)

    # Resuming on a later day: keep the windows already planned (their batches
    # stay valid) and add one for the new days (overlap day de-duplicated).
    start = mindate
    old_windows: dict[str, list[tuple[dt.date, dt.date]]] = {d: [] for d in datetypes}
    if plan.get("until") and plan["until"] < until.isoformat():
        start = dt.date.fromisoformat(plan["until"])
        for key in plan["slices"]:
            datetype, lo, hi = key.split("-")
            old_windows[datetype].append(
                (
                    dt.datetime.strptime(lo, "%Y%m%d").date(),
                    dt.datetime.strptime(hi, "%Y%m%d").date(),
                )
            )
    slices: list[Slice] = []
    for datetype in datetypes:
        for lo, hi in sorted(old_windows[datetype]):
            slices += plan_slices(client, query, datetype, lo, hi)
        first = start if old_windows[datetype] else mindate
        slices += plan_slices(client, query, datetype, first, until)
    total = sum(s.count for s in slices)
    # Record every slice before fetching anything, so a resume knows them all.
    old_slices, plan["slices"] = plan["slices"], {}
    for sl in slices:
        entry = {"count": sl.count, "batch_size": batch_size, "ids_sha256": _sha_lines(sl.ids)}
        old = old_slices.get(sl.key)
        if old is not None and old != entry:
            log.info(
                "%s: result set changed (%s -> %d); refetching it", sl.key, old["count"], sl.count
            )
            for f in partial.glob(f"{sl.key}-*.xml.gz"):
                f.unlink()
        plan["slices"][sl.key] = entry
    plan["until"] = until.isoformat()
    write_json(plan_file, plan)
    log.info("%d records reported in %d slice(s) for %s..%s", total, len(slices), mindate, until)

    fetched = 0
    batches_fetched = 0
    batch_files: list[Path] = []
    for sl in slices:
        received: set[str] = set()
        for retstart in range(0, len(sl.ids), batch_size):
            asked = list(sl.ids[retstart : retstart + batch_size])
            stem = partial / f"{sl.key}-{retstart:06d}"
            path = stem.with_name(stem.name + ".xml.gz")
            if path.exists():
                got = _batch_pmids(path)
            else:
                body, got = client.efetch_ids(asked)
                _save_batch(path, body)
                batches_fetched += 1
                if after_batch is not None:
                    after_batch(batches_fetched)
            batch_files.append(path)
            missing = [p for p in asked if p not in got]
            if missing:
                log.warning(
                    "%s: efetch returned %d of the %d records asked for",
                    path.name,
                    len(asked) - len(missing),
                    len(asked),
                )
                more, missing = _fill_gaps(client, missing, stem, batch_files)
                got |= more
                if missing:
                    raise _missing_error(f"{sl.key} from {retstart}", missing, len(asked))
            received |= got
            fetched += len(asked)
            log.info("fetched %d/%d records", fetched, total)
        gap = [p for p in sl.ids if p not in received]
        if gap:  # never complete a snapshot with a gap
            raise _missing_error(sl.key, gap, sl.count)

    return _assemble(batch_files, final, sidecar, plan, until, total, partial)


def _assemble(
    batch_files: list[Path],
    final: Path,
    sidecar: Path,
    plan: dict[str, Any],
    until: dt.date,
    total: int,
    partial: Path,
) -> Path:
    """Merge the batches (first copy of each PMID wins) into the snapshot, then drop .partial."""
    deleted: list[str] = []

    def articles() -> Iterator[tuple[str, bytes]]:
        seen: set[str] = set()
        for path in batch_files:
            for el in iter_efetch_elements(path):
                pmids = element_pmids(el)
                if el.tag == "DeleteCitation":
                    deleted.extend(pmids)
                    continue
                if pmids[0] not in seen:
                    seen.add(pmids[0])
                    el.tail = "\n"
                    yield pmids[0], etree.tostring(el, encoding="utf-8")

    write_snapshot(
        final.parent,
        until,
        articles(),
        query=plan["query"],
        mindate=dt.date.fromisoformat(plan["mindate"]),
        mdat="mdat" in plan["datetypes"],
        count_reported=total,
        started=plan["started"],
        deleted=deleted,
    )
    shutil.rmtree(partial)
    return final


def write_snapshot(
    folder: str | Path,
    until: dt.date,
    articles: Iterable[tuple[str, bytes]],
    *,
    query: str,
    mindate: dt.date,
    mdat: bool = False,
    count_reported: int | None = None,
    started: str | None = None,
    deleted: Iterable[str] = (),
) -> Path:
    """Write a completed snapshot: ``<until>.xml.gz`` and its ``<until>.json`` sidecar.

    ``articles`` yields ``(pmid, PubmedArticle/PubmedBookArticle XML bytes)``;
    ``deleted`` PMIDs are written as one ``DeleteCitation`` after the articles
    (it is consumed after ``articles``, so a generator may fill it). The gzip
    header has no name or time, so equal content gives equal bytes. Refuses to
    overwrite a completed snapshot.

    The pair becomes visible together: both are written under hidden names,
    the sidecar as ``.<until>.json.pending``; the gz is renamed into place,
    then the pending sidecar (the commit). Readers ignore a gz whose pending
    marker exists (:func:`orphan_snapshots`, :func:`completed_snapshots`), and
    :func:`finish_commits` completes a commit a kill interrupted.
    """
    folder = Path(folder)
    final = folder / f"{until.isoformat()}.xml.gz"
    sidecar = folder / f"{until.isoformat()}.json"
    hidden = folder / f".{until.isoformat()}.xml.gz.new"
    marker = pending_marker(folder, until)
    if sidecar.exists() or marker.exists():
        raise PubMedError(f"{sidecar} exists: a completed snapshot is never rewritten")
    started = started or _now()
    pmids: list[str] = []
    with atomic_write(hidden, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0, filename="") as gz:
            gz.write(SNAPSHOT_HEADER)
            for pmid, xml in articles:
                pmids.append(pmid)
                gz.write(xml if xml.endswith(b"\n") else xml + b"\n")
            gone = sorted(set(deleted), key=int)
            if gone:
                gz.write(b"<DeleteCitation>")
                for pmid in gone:
                    gz.write(f'<PMID Version="1">{pmid}</PMID>'.encode())
                gz.write(b"</DeleteCitation>\n")
            gz.write(SNAPSHOT_FOOTER)
    meta = {
        "query": query,
        "mindate": mindate.isoformat(),
        "maxdate": until.isoformat(),
        "datetype": "edat",
        "mdat": mdat,
        "count_reported": len(pmids) if count_reported is None else count_reported,
        "count_fetched": len(pmids),
        "pmids_sha256": _sha_lines(sorted(pmids, key=int)),
        "started": started,
        "completed": _now(),
        "software": {"livingreview": __version__, "python": sys.version.split()[0]},
        "file": final.name,
        "file_sha256": sha256_file(hidden),
    }
    write_json(marker, meta)
    os.replace(hidden, final)
    os.replace(marker, sidecar)  # the commit: from here on the pair is visible
    _fsync_dir(folder)
    log.info("snapshot %s complete: %d records", final.name, len(pmids))
    return final
