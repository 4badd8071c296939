"""Hostile content: XML bombs and XXE, script in the report, formulas in exports, file names, secrets.

The XML and file-name tests are unit tests of the parser and name checks. The
report, spreadsheet and secret tests use one full live-mode run of the demo
with hostile text in records, sheets and notes (tests/hostile_project.py,
shared with test_crash.py): they check what the real workflow wrote.
"""

from __future__ import annotations

import csv
import datetime
import html
import http.server
import json
import logging
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fake_eutils import SMALL_TEMPLATE_FILES, FakeEutils, make_corpus
from hostile_project import (
    ABSTRACT,
    CANARY,
    CITATION,
    COUNTRY,
    FIXTURES,
    MATH_CITATION,
    NOTE,
    RESOLUTION_NOTE,
    SECRET,
    TITLES,
    Run,
    clean_run,
    server,
)
from lxml import etree
from test_prisma import counts as prisma_counts
from test_report import _chrome, _chromium

from livingreview.errors import InputError
from livingreview.extraction.files import extractor_name
from livingreview.io import FORMULA_PREFIXES
from livingreview.screening.files import reviewer_name
from livingreview.search.errors import EutilsError, FetchFailedError, PubMedXMLError
from livingreview.search.pubmed import PubMedClient
from livingreview.search.pubmed_xml import parse_efetch

ARTICLE = (
    b"<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
    b"<ArticleTitle>%s</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
    b"</PubmedArticleSet>"
)


# --------------------------------------------------------------------------- XML


def _billion_laughs(in_attribute: bool) -> bytes:
    decl = b'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [\n<!ENTITY lol0 "lol">\n'
    for i in range(1, 10):
        decl += f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">\n'.encode()
    decl += b"]>\n"
    if in_attribute:
        return decl + (
            b'<PubmedArticleSet><PubmedArticle><MedlineCitation Owner="&lol9;"><PMID>1</PMID>'
            b"</MedlineCitation></PubmedArticle></PubmedArticleSet>"
        )
    return decl + ARTICLE % b"&lol9;"


@pytest.mark.parametrize("in_attribute", [False, True], ids=["in-text", "in-attribute"])
def test_billion_laughs_is_refused_within_bounded_memory(
    in_attribute: bool, tmp_path: Path
) -> None:
    """10^9 'lol's (3 GB expanded) fail at once; the process stays under a 1 GiB address space."""
    bomb = tmp_path / "bomb.xml"
    bomb.write_bytes(_billion_laughs(in_attribute))
    child = textwrap.dedent(
        f"""
        import json, resource
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from livingreview.search.errors import PubMedXMLError
        from livingreview.search.pubmed_xml import parse_efetch
        try:
            list(parse_efetch({str(bomb)!r}))
            out = {{"error": None}}
        except PubMedXMLError as exc:
            out = {{"error": str(exc)}}
        out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["error"] is not None and "lol" * 100 not in out["error"]
    assert re.search(r"entity|amplification", out["error"]), out["error"]
    assert out["maxrss_mb"] < 400, out  # Python + lxml alone take ~90 MB


@pytest.fixture
def http_hits() -> Iterator[tuple[int, list[str]]]:
    """A local HTTP server recording every request an XML parser might make."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY x "FETCHED">')

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv.server_address[1], hits
    finally:
        srv.shutdown()
        srv.server_close()


def test_external_entities_are_neither_fetched_nor_read(http_hits, tmp_path: Path) -> None:
    port, hits = http_hits
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-FILE-CONTENT")
    head = b'<?xml version="1.0"?>'
    refused = {
        "http entity": b'<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "http://127.0.0.1:%d/xxe">]>'
        % port,
        "file entity": b'<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "%s">]>'
        % secret.as_uri().encode(),
        "parameter entity": b'<!DOCTYPE PubmedArticleSet [<!ENTITY %% p SYSTEM "http://127.0.0.1:%d/dtd"> %%p;]>'
        % port,
    }
    for name, doctype in refused.items():
        with pytest.raises(PubMedXMLError) as info:
            list(parse_efetch(head + doctype + ARTICLE % b"&xxe;"))
        assert "refusing XML that declares entities" in str(info.value), name
        assert "TOP-SECRET" not in str(info.value)
    # An external DTD (real PubMed responses name one) and XInclude are simply not loaded.
    dtd = b'<!DOCTYPE PubmedArticleSet SYSTEM "http://127.0.0.1:%d/pubmed.dtd">' % port
    (rec,) = parse_efetch(head + dtd + ARTICLE % b"Plain title")
    assert rec.title == "Plain title"
    xinclude = (
        b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="%s" parse="text"/>'
        % secret.as_uri().encode()
    )
    (rec,) = parse_efetch(head + ARTICLE % xinclude)
    assert "TOP-SECRET" not in rec.title
    assert hits == []


def test_error_response_and_html_title_are_text(tmp_path: Path) -> None:
    """An <ERROR> is an error, and markup in a title is kept as inert text (escaped later)."""
    with pytest.raises(EutilsError, match="E-utilities returned an error: Unable"):
        list(parse_efetch(b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>"))
    escaped = html.escape(TITLES[0]).encode()
    (rec,) = parse_efetch(ARTICLE % escaped)
    assert rec.title == TITLES[0]


# --------------------------------------------------------------------------- file names

UNSAFE_NAMES = [
    "Zoe Smith.csv",
    "zoe..csv",
    "zoe$(id).csv",
    "zoe;rm -rf ~.csv",
    "zo\u00eb.csv",
    "zoe\\..\\..\\alice.csv",
    "zoe%2f..%2falice.csv",
    "-.csv",
]


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_sheet_names_are_rejected(name: str) -> None:
    for check, who in (
        (reviewer_name, "reviewer"),
        (extractor_name, "extractor"),
    ):
        with pytest.raises(InputError) as info:
            check(Path("resources/demo/screening/title_abstract") / name)
        assert info.value.file and info.value.file.endswith(name)
        assert f"a file name starting with the {who}'s name" in str(info.value)
        assert repr(name) in str(info.value)  # the offending name is shown, quoted


def test_safe_sheet_names_give_the_person() -> None:
    for name, who in (
        ("alice.csv", "alice"),
        ("Bob-batch2.xlsx", "bob"),
        ("carol_2026.csv", "carol"),
    ):
        assert reviewer_name(Path(name)) == who == extractor_name(Path(name))


# --------------------------------------------------------------------------- secrets (unit)


class _EchoKey(FakeEutils):
    """A misbehaving server (or proxy) that echoes the request, key included, in a 400 body."""

    def _handle(self, h, query):  # type: ignore[no-untyped-def]
        self.requests.append(("echo", {k: v[-1] for k, v in query.items()}))
        body = ("bad request: " + "&".join(f"{k}={v[-1]}" for k, v in query.items())).encode()
        self._send(h, 400, body, "text/plain")


def test_api_key_scrubbed_from_errors_and_logs(monkeypatch, caplog) -> None:
    monkeypatch.setenv("NCBI_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    corpus = make_corpus(3, datetime.date(2026, 1, 1), datetime.date(2026, 1, 2))
    with _EchoKey(FIXTURES, corpus, template_files=SMALL_TEMPLATE_FILES) as fake:
        client = PubMedClient.from_env(fake.base_url, max_retries=0, rate=0)
        with pytest.raises(EutilsError) as info:
            client.esearch("diabetes")
        assert fake.requests[0][1].get("api_key") == SECRET  # the key was really sent
    assert "bad request" in str(info.value) and SECRET not in str(info.value)
    with FakeEutils(FIXTURES, corpus, template_files=SMALL_TEMPLATE_FILES) as fake:
        fake.fault("500", "esearch", times=5)
        client = PubMedClient.from_env(fake.base_url, max_retries=2, rate=0, sleep=lambda _s: None)
        with pytest.raises(FetchFailedError) as info:
            client.esearch("diabetes")
    assert SECRET not in str(info.value) and SECRET not in repr(client)
    assert "api_key=<set>" in repr(client)
    assert SECRET not in caplog.text and "retry 1/2" in caplog.text


# --------------------------------------------------------------------------- the live run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return clean_run(tmp_path_factory.mktemp("hostile"))


def test_live_run_used_the_key_and_wrote_it_nowhere(run: Run) -> None:
    assert any(p.get("api_key") == SECRET for _e, p in server().requests)
    new = sorted((run.project / "resources/demo/search/pubmed").glob("*.json"))
    assert len(new) == 3  # the demo's two snapshots + today's
    written = [p for p in run.project.rglob("*") if p.is_file()]
    assert len(written) > 1000
    leaks = [str(p.relative_to(run.project)) for p in written if SECRET.encode() in p.read_bytes()]
    assert leaks == []
    assert SECRET not in run.output
    bundles = run.project / "results" / "bundles"
    assert any(p.suffix == ".zip" for p in bundles.iterdir())  # zips are checked as bytes above


def _pages(run: Run) -> list[Path]:
    bundles = run.project / "results" / "bundles"
    latest = (bundles / "LATEST").read_text().strip()
    return [run.project / "results/report/index.html", bundles / latest / "report" / "index.html"]


def test_report_escapes_hostile_text(run: Run) -> None:
    for page_path in _pages(run):
        page = page_path.read_text(encoding="utf-8")
        assert html.escape(CITATION, quote=True) in page, page_path  # shown, as text
        assert "<script" not in page.lower()
        assert not re.search(r"<[^>]*\son[a-z]+\s*=", page, re.I), "event handler attribute"
        assert not re.search(r"""(?:href|src)\s*=\s*["']?\s*javascript:""", page, re.I)
        assert "script-src 'none'" in page
    figures = list((run.project / "results").rglob("*.svg"))
    assert len(figures) > 50
    for svg in figures:
        tree = etree.parse(str(svg), etree.XMLParser(resolve_entities=False, no_network=True))
        for el in tree.iter():
            if not isinstance(el.tag, str):
                continue
            assert etree.QName(el).localname != "script", svg
            for attr, value in el.attrib.items():
                assert not etree.QName(attr).localname.lower().startswith("on"), (svg, attr)
                assert not value.strip().lower().startswith("javascript:"), (svg, attr)


def test_report_runs_no_content_script_in_chromium(run: Run) -> None:
    binary = _chromium()
    if binary is None:
        pytest.skip("chromium not found and `apt-get install chromium` failed")
    title = yaml.safe_load((run.project / "config/config.yaml").read_text())["review"]["title"]
    for page in _pages(run):
        dom = _chrome(binary, page.as_uri(), "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert f"<title>{html.escape(title, quote=False)}</title>" in dom.stdout
        assert f"<title>{CANARY}" not in dom.stdout
        assert html.escape(CITATION, quote=False)[:60] in dom.stdout  # rendered as text
        assert "<script" not in dom.stdout.lower()


def _cells(path: Path) -> Iterator[tuple[int, str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        for n, row in enumerate(reader, start=2):
            for col, cell in zip(header, row, strict=False):
                yield n, col, cell


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_spreadsheet_exports_neutralise_formulas(run: Run) -> None:
    results = run.project / "results"
    exports = [
        *sorted((results / "screening" / "queue").glob("*.csv")),
        results / "screening" / "conflicts.csv",
        results / "screening" / "decisions.csv",
        results / "extraction" / "discrepancies.csv",
        results / "extraction" / "studies.csv",
        results / "records" / "records.csv",
    ]
    everything = sorted(p for p in results.rglob("*.csv") if "logs" not in p.parts)
    assert not list(results.rglob("*.xlsx"))  # no XLSX is written; extend this test if one is
    bad = [
        f"{p.relative_to(results)}:{n} {col}={cell[:40]!r}"
        for p in everything
        for n, col, cell in _cells(p)
        if cell.startswith(FORMULA_PREFIXES) and not _is_number(cell)
    ]
    assert bad == []
    # ... and the hostile text did reach every export (neutralised, not dropped)
    text = {p.name if p.parent.name != "queue" else "queue": "" for p in exports}
    for p in exports:
        text[p.name if p.parent.name != "queue" else "queue"] += p.read_text(encoding="utf-8")
    queue = text["queue"].replace('""', '"')
    assert "'=1+1 tab-led title" in queue and "'=1+1 carriage-return-led title" in queue
    assert "'" + ABSTRACT in queue and "'@Journal of =Formulas" in queue and "'-Minus" in queue
    conflicts = text["conflicts.csv"].replace('""', '"')
    for title in TITLES[:4]:  # the records alice included and bob excluded
        assert "'" + title in conflicts
    assert NOTE in text["conflicts.csv"].replace('""', '"')  # as "alice: =...", not at a cell start
    assert (
        COUNTRY in text["discrepancies.csv"] and "'" + RESOLUTION_NOTE in text["discrepancies.csv"]
    )


# --------------------------------------------------------------------------- figures

# Text matplotlib would read as markup: mathtext (one raised "Unknown symbol" and
# crashed the risk-of-bias figure), TeX commands, braces, a lone dollar, backslashes.
MARKUP = [r"$x^2$ trial", r"Smith $\frac{1}{2}$ {c}", r"Ng $\notacommand$", r"a\b {x} $5"]


def _svg_texts(path: Path) -> str:
    """The SVG's text elements (figures keep text as SVG text), entities decoded, NBSP as space.

    Comments are left out: matplotlib writes the unparsed string into one.
    """
    svg = re.sub(r"<!--.*?-->", "", path.read_text(encoding="utf-8"), flags=re.S)
    return html.unescape(svg).replace("\u00a0", " ")


def _stratum_rows(texts: list[str]) -> tuple:
    import pandas as pd

    k = len(texts)
    data = pd.DataFrame(
        {
            "study_id": [f"s{i}" for i in range(k)],
            "citation": texts,
            "yi": [-0.5 + 0.1 * i for i in range(k)],
            "vi": [0.04 + 0.01 * i for i in range(k)],
        }
    )
    pooled = {
        "stratum": "domain-x", "k": k, "estimate": -0.4, "se": 0.1, "ci_low": -0.6,
        "ci_high": -0.2, "pval": 0.001, "tau2": 0.01, "i2": 20.0, "q": 5.0, "q_pval": 0.2,
        "pi_low": -0.8, "pi_high": 0.0, "method": "REML", "test": "z", "level": 0.95,
        "measure": "SMD", "reported": True, "favourable_sign": "negative",
    }  # fmt: skip
    return data, pooled


def _figure(kind: str, text: str, tmp_path: Path) -> tuple[list[Path], list[str]]:
    """Draw figure ``kind`` with ``text`` in every place data text goes; (files, strings drawn)."""
    import pandas as pd

    from livingreview.publish import plots, prisma

    data, pooled = _stratum_rows([text, "B 2020", "C 2021", "D 2022"])
    title, row = "Title " + text, "Row " + text
    if kind == "forest":
        return plots.forest_plot(data, dict(pooled, label=title), tmp_path / "f"), [text, title]
    if kind == "funnel":
        return plots.funnel_plot(data, pooled, None, tmp_path / "f", label=title), [title]
    if kind in ("domain summary", "overview"):
        rows = [dict(pooled, label=row), {"label": "Other " + text, "k": 2, "reported": False}]
        make = (
            plots.domain_summary_plot if kind == "domain summary" else plots.platform_overview_plot
        )
        return make(rows, tmp_path / "s", title=title), [row, "Other " + text, title]
    rob = pd.DataFrame({"study_id": ["a", "b"], "citation": [text, "B 2020"]})
    for col in plots.ROB_DOMAINS:
        rob[col] = ["low", "no information"]
    if kind == "rob traffic light":
        return plots.rob_traffic_light_plot(rob, tmp_path / "rob"), [text]
    if kind == "rob summary":  # draws no text from the data; it must still draw
        return plots.rob_summary_plot(rob, tmp_path / "rob_summary"), []
    assert kind == "prisma"
    reasons = {row: 1, "not an RCT": 1, "wrong intervention": 1}
    flow = prisma_counts(identified={text: 5, "pubmed": 24}, fulltext_excluded=reasons)
    return prisma.write_prisma(flow, tmp_path / "prisma"), [text, row]


FIGURES = ["forest", "funnel", "domain summary", "overview", "rob traffic light", "prisma"]


@pytest.mark.parametrize("text", MARKUP)
@pytest.mark.parametrize("kind", [*FIGURES, "rob summary"])
def test_figures_print_markup_from_the_data_as_plain_text(kind, text, tmp_path: Path) -> None:
    written, drawn = _figure(kind, text, tmp_path)
    assert sorted(p.suffix for p in written) == [".png", ".svg"]
    assert all(p.stat().st_size > 0 for p in written)
    svg = _svg_texts(written[0])
    for string in drawn:  # each place holds the string as given, not rendered as math
        assert string in svg, (kind, string)


def test_the_workflow_draws_a_mathtext_citation_as_text(run: Run) -> None:
    """End to end: the RoB figure of the live run shows the citation as typed."""
    svgs = sorted((run.project / "results" / "report").rglob("rob_traffic_light*.svg"))
    assert svgs, "no traffic-light figure"
    assert any(MATH_CITATION in _svg_texts(p) for p in svgs)
