"""A small fake of NCBI E-utilities (esearch + efetch) on 127.0.0.1, for tests and benchmarks.

It behaves like PubMed where the client depends on it:

* ``esearch.fcgi``: ``term`` (ignored: every record matches), ``datetype``
  (``edat`` or ``mdat``) with inclusive ``mindate``/``maxdate`` (YYYY/MM/DD),
  ``retstart``/``retmax`` (default 20), ``usehistory=y`` -> ``WebEnv`` +
  ``QueryKey``; ``Count`` is the full count, but like real PubMed no UID past
  the first 9,999 can be paged to (``retstart`` > 9998 gives an ``<ERROR>``).
* ``efetch.fcgi``: ``WebEnv`` + ``query_key`` + ``retstart``/``retmax`` (or
  ``id=``), answering a PubmedArticleSet. Unknown history -> the ``<ERROR>``
  NCBI sends ("Unable to obtain query #1").
* GET and POST (form body) both work, as at NCBI.

Records are the real PubmedArticle elements from ``../shared/fixtures/pubmed``
(derived: PMID and DOI rewritten so that each synthetic record is distinct),
each with an Entrez date and a modification date.

Fault injection (:meth:`FakeEutils.fault`), applied to the next matching
requests in order: ``429`` (with ``Retry-After``), ``500``, ``slow`` (sleep
before answering), ``reset`` (TCP reset), ``truncate`` (half the body, valid
HTTP), ``error`` (HTTP 200 with an ``<ERROR>`` element), ``short`` (an efetch
answer holding only its first ``keep`` records), ``badpmid`` (the first
record's PMID is not a number), ``redirect`` (HTTP ``status`` to ``location``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from lxml import etree

PREFIX = "/entrez/eutils/"
LIMIT = 9999
ESEARCH_HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n'
    b'<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    b'"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n'
)
EFETCH_HEAD = (
    b'<?xml version="1.0" ?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
    b"<PubmedArticleSet>\n"
)
LIMIT_MSG = (
    "Search Backend failed: Exception:\n'retstart' cannot be larger than 9998. For PubMed, "
    "ESearch can only retrieve the first 9,999 records matching the query. To obtain more "
    "than 9,999 PubMed records, consider using EDirect that contains additional logic to "
    "batch PubMed search results automatically so that an arbitrary number can be retrieved."
)

# Real efetch responses holding PubmedArticle elements (not books, not empty sets).
TEMPLATE_FILES = (
    "biopython/Tests/Entrez/pubmed1.xml",
    "biopython/Tests/Entrez/pubmed2.xml",
    "biopython/Tests/Entrez/pubmed4.xml",
    "biopython/Tests/Entrez/pubmed5.xml",
    "biopython/Tests/Entrez/pubmed6.xml",
    "metapub/tests/data/pmid_28731372.xml",
    "metapub/tests/fixtures/pmid_xml/33474827.xml",
    "metapub/tests/fixtures/pmid_xml/38147649.xml",
    "metapub/tests/fixtures/pmid_xml/38534005.xml",
    "metapub/tests/fixtures/pmid_xml/11618220.xml",
    "metapub/tests/test_data/sample_article_23435529.xml",
)


#: Small real records (2-5 kB each) for quick tests.
SMALL_TEMPLATE_FILES = (
    "biopython/Tests/Entrez/pubmed1.xml",
    "metapub/tests/fixtures/pmid_xml/11618220.xml",
)


def load_templates(fixtures: Path, files: tuple[str, ...] = TEMPLATE_FILES) -> list[bytes]:
    """PubmedArticle elements as bytes with ``@PMID@``/``@DOI@`` placeholders."""
    out = []
    for rel in files:
        tree = etree.parse(str(fixtures / rel), etree.XMLParser(load_dtd=False, no_network=True))
        for art in tree.getroot().iterfind("PubmedArticle"):
            art.find("MedlineCitation/PMID").text = "@PMID@"
            ids = art.find("PubmedData/ArticleIdList")
            for aid in ids.iterfind("ArticleId"):
                if aid.get("IdType") == "pubmed":
                    aid.text = "@PMID@"
                elif aid.get("IdType") == "doi":
                    aid.text = "@DOI@"
            for loc in art.iterfind("MedlineCitation/Article/ELocationID"):
                if loc.get("EIdType") == "doi":
                    loc.text = "@DOI@"
            title = art.find("MedlineCitation/Article/ArticleTitle")
            title.tail = None
            title.text = (title.text or "") + " @TITLE@"
            art.tail = "\n"
            out.append(etree.tostring(art, encoding="utf-8"))
    return out


@dataclass
class FakeRecord:
    pmid: int
    edat: dt.date
    mdat: dt.date
    version: int = 1  # bump to simulate a corrected record (title changes)
    retracted_by: int | None = None  # PMID of a retraction notice: PubMed marks it retracted


def make_corpus(
    n: int, start: dt.date, end: dt.date, first_pmid: int = 30_000_000
) -> list[FakeRecord]:
    """``n`` records with Entrez dates spread evenly over ``[start, end]``."""
    days = (end - start).days
    return [
        FakeRecord(
            pmid=first_pmid + i,
            edat=start + dt.timedelta(days=(i * (days + 1)) // n),
            mdat=start + dt.timedelta(days=(i * (days + 1)) // n),
        )
        for i in range(n)
    ]


@dataclass
class Fault:
    kind: str
    endpoint: str
    times: int = 1
    retry_after: str = "2"
    delay: float = 1.0
    message: str = "Search Backend failed: simulated"
    keep: int = 0
    location: str = ""
    status: int = 307


@dataclass
class FakeEutils:
    fixtures: Path
    records: list[FakeRecord] = field(default_factory=list)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    template_files: tuple[str, ...] = TEMPLATE_FILES

    def __post_init__(self) -> None:
        self.templates = load_templates(self.fixtures, self.template_files)
        self.faults: list[Fault] = []
        self.deleted: set[int] = set()  # PMIDs answered with a DeleteCitation
        self.history: dict[str, list[int]] = {}
        self._webenv = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- control ------------------------------------------------------------

    def fault(self, kind: str, endpoint: str = "efetch", times: int = 1, **kw: object) -> None:
        self.faults.append(Fault(kind, endpoint, times, **kw))

    def count(self, endpoint: str) -> int:
        return sum(1 for e, _ in self.requests if e == endpoint)

    def article_xml(self, rec: FakeRecord) -> bytes:
        tpl = self.templates[rec.pmid % len(self.templates)]
        title = f"(synthetic {rec.pmid} v{rec.version})"
        xml = (
            tpl.replace(b"@PMID@", str(rec.pmid).encode())
            .replace(b"@DOI@", f"10.5555/fake.{rec.pmid}".encode())
            .replace(b"@TITLE@", title.encode())
        )
        if rec.retracted_by is not None:  # as PubMed writes a retraction into the record
            notice = (
                b'<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn">'
                b'<RefSource>Retraction notice</RefSource><PMID Version="1">%d</PMID>'
                b"</CommentsCorrections></CommentsCorrectionsList></MedlineCitation>"
            ) % rec.retracted_by
            xml = xml.replace(b"</MedlineCitation>", notice, 1).replace(
                b"<PublicationTypeList>",
                b'<PublicationTypeList><PublicationType UI="D016441">Retracted Publication'
                b"</PublicationType>",
                1,
            )
        return xml

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{PREFIX}"

    def start(self) -> FakeEutils:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                fake._handle(self, parse_qs(urlparse(self.path).query))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode()
                query = parse_qs(urlparse(self.path).query)
                for k, v in parse_qs(body).items():
                    query.setdefault(k, []).extend(v)
                fake._handle(self, query)

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # clients that time out or get reset are part of the tests

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeEutils:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling -------------------------------------------------------

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.endpoint == endpoint:
                    f.times -= 1
                    if f.times <= 0:
                        self.faults.remove(f)
                    return f
        return None

    def _handle(self, h: BaseHTTPRequestHandler, query: dict[str, list[str]]) -> None:
        params = {k: v[-1] for k, v in query.items()}
        path = urlparse(h.path).path
        endpoint = path[len(PREFIX) :].removesuffix(".fcgi") if path.startswith(PREFIX) else ""
        with self._lock:
            self.requests.append((endpoint, params))
        if endpoint not in ("esearch", "efetch"):
            return self._send(h, 404, b"not found", "text/plain")
        fault = self._take_fault(endpoint)
        if fault and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault and fault.kind == "reset":
            with contextlib.suppress(OSError):
                h.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                h.connection.close()
            h.close_connection = True
            return None
        if fault and fault.kind in ("429", "500"):
            headers = {"Retry-After": fault.retry_after} if fault.kind == "429" else {}
            body = (
                b'{"error":"API rate limit exceeded","api-key":"127.0.0.1","count":"4","limit":"3"}'
            )
            return self._send(h, int(fault.kind), body, "application/json", headers)
        if fault and fault.kind == "redirect":
            return self._send(h, fault.status, b"", "text/plain", {"Location": fault.location})
        if fault and fault.kind == "error":
            root = b"eSearchResult" if endpoint == "esearch" else b"eFetchResult"
            return self._send(h, 200, self._error(root, fault.message))
        if endpoint == "esearch":
            body = self._esearch(params)
        else:
            body = self._efetch(
                params,
                keep=fault.keep if fault and fault.kind == "short" else None,
                bad_pmid=bool(fault and fault.kind == "badpmid"),
            )
        if fault and fault.kind == "truncate":
            body = body[: len(body) // 2]
        return self._send(h, 200, body)

    @staticmethod
    def _error(root: bytes, message: str) -> bytes:
        msg = message.replace("&", "&amp;").replace("<", "&lt;").encode()
        return b'<?xml version="1.0" encoding="UTF-8" ?>\n<%s><ERROR>%s</ERROR></%s>\n' % (
            root,
            msg,
            root,
        )

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        ctype: str = "text/xml; charset=UTF-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.send_header("X-RateLimit-Limit", "3")
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
        except OSError:
            pass  # the client went away (timeout tests)

    def _esearch(self, p: dict[str, str]) -> bytes:
        datetype = p.get("datetype", "edat")
        lo = dt.datetime.strptime(p["mindate"], "%Y/%m/%d").date() if "mindate" in p else None
        hi = dt.datetime.strptime(p["maxdate"], "%Y/%m/%d").date() if "maxdate" in p else None
        ids = sorted(
            (
                r.pmid
                for r in self.records
                if (lo is None or getattr(r, datetype) >= lo)
                and (hi is None or getattr(r, datetype) <= hi)
            ),
            reverse=True,  # PubMed's default order: most recent first
        )
        retstart = int(p.get("retstart", 0))
        retmax = int(p.get("retmax", 20))
        if retstart > LIMIT - 1:
            return self._error(b"eSearchResult", LIMIT_MSG)
        head = b"<eSearchResult><Count>%d</Count><RetMax>%d</RetMax><RetStart>%d</RetStart>" % (
            len(ids),
            min(retmax, max(0, min(len(ids), LIMIT) - retstart)),
            retstart,
        )
        if p.get("usehistory") == "y":
            with self._lock:
                webenv = f"MCID_{next(self._webenv):024x}"
                self.history[webenv] = ids
            head += b"<QueryKey>1</QueryKey><WebEnv>%s</WebEnv>" % webenv.encode()
        page = ids[retstart : min(retstart + retmax, LIMIT)]
        id_list = b"".join(b"<Id>%d</Id>\n" % i for i in page)
        return (
            ESEARCH_HEAD
            + head
            + b"<IdList>\n"
            + id_list
            + b"</IdList><TranslationSet/><QueryTranslation>fake</QueryTranslation></eSearchResult>\n"
        )

    def _efetch(self, p: dict[str, str], keep: int | None = None, bad_pmid: bool = False) -> bytes:
        if "id" in p:
            wanted = [int(x) for x in p["id"].split(",") if x.strip()]
        else:
            ids = self.history.get(p.get("WebEnv", ""))
            if ids is None or p.get("query_key") != "1":
                return self._error(b"eFetchResult", "Unable to obtain query #1")
            retstart = int(p.get("retstart", 0))
            retmax = int(p.get("retmax", 20))
            if retstart > LIMIT - 1:
                return self._error(b"eFetchResult", LIMIT_MSG)
            wanted = ids[retstart : min(retstart + retmax, LIMIT)]
        by_pmid = {r.pmid: r for r in self.records}
        arts = [
            self.article_xml(by_pmid[i]) for i in wanted if i in by_pmid and i not in self.deleted
        ]
        if keep is not None:
            arts = arts[:keep]
        if bad_pmid and arts:
            pmid = next(i for i in wanted if i in by_pmid)
            arts[0] = arts[0].replace(b">%d</PMID>" % pmid, b">%dA</PMID>" % pmid, 1)
        deleted = [i for i in wanted if i in self.deleted]
        tail = b"".join(
            b'<DeleteCitation><PMID Version="1">%d</PMID></DeleteCitation>\n' % i for i in deleted
        )
        return EFETCH_HEAD + b"".join(arts) + tail + b"</PubmedArticleSet>\n"
