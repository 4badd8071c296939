"""PubMed via NCBI E-utilities: the client (configuration, rate limit, retries, the API key).

Why it is built this way:

* Rate limits: NCBI allows 3 requests/s without an API key and 10 with one.
  Each client spaces its own requests; the workflow declares ``resources:
  ncbi=1`` on every rule that calls NCBI so that at most one such job runs at a
  time (set ``resources: [ncbi=1]`` in the profile).
* Requests are POSTed, so the API key never appears in a URL (and therefore in
  no exception text from requests/urllib3); messages are scrubbed as well.
  No redirect is followed, and the key is refused over plain http (except to
  this machine), so it reaches no other host. A ``Retry-After`` above a cap
  fails instead of holding the run for hours.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import ipaddress
import logging
import os
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import requests

from .. import clock
from .errors import EutilsError, FetchFailedError, PubMedError, PubMedXMLError
from .pubmed_xml import SearchResult, _parse_esearch, element_pmids, iter_efetch_elements

log = logging.getLogger(__name__)


DEFAULT_EUTILS = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
#: ESearch/EFetch cannot page past this many PubMed UIDs (retstart <= 9998).
MAX_UIDS = 9999
DATE_FMT = "%Y/%m/%d"
#: Longest ``Retry-After`` (seconds) honoured before failing instead
#: (``search.max_retry_after_s``).
DEFAULT_MAX_RETRY_AFTER = 600.0


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
    ``max_retry_after`` seconds fails at once (:class:`~livingreview.search.errors.FetchFailedError`)
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

        ``check`` parses the body and raises :class:`~livingreview.search.errors.PubMedXMLError` if it is
        invalid or truncated (retried) or :class:`~livingreview.search.errors.EutilsError` (not retried).
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
                maxdate=(maxdate or clock.today()).strftime(DATE_FMT),
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
