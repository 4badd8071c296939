"""PubMed client and parser: real NCBI responses, and a fake E-utilities server with faults."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import logging
import time
from pathlib import Path

import pytest
from fake_eutils import SMALL_TEMPLATE_FILES, FakeEutils, FakeRecord, make_corpus

from livingreview.io import read_json, sha256_file
from livingreview.search.errors import EutilsError, FetchFailedError, PubMedXMLError
from livingreview.search.pubmed import PubMedClient, _retry_after
from livingreview.search.pubmed_xml import (
    Deletion,
    _parse_esearch,
    iter_efetch_elements,
    parse_efetch,
)
from livingreview.search.snapshots import SNAPSHOT_FOOTER, SNAPSHOT_HEADER, run_search

ENTREZ = "fixtures/pubmed/biopython/Tests/Entrez"
METAPUB = "fixtures/pubmed/metapub/tests"
KEY = "SECRET-test-key-7f3a9c"
D = dt.date


@pytest.fixture()
def fx(shared: Path) -> Path:
    return shared / "fixtures" / "pubmed"


def records(source, **kw) -> list:
    return list(parse_efetch(source, **kw))


# --------------------------------------------------------------------------- parsing


def test_two_articles_compact_layout(shared: Path) -> None:
    recs = records(shared / ENTREZ / "pubmed1.xml")
    assert [r.pmid for r in recs] == ["12091962", "9997"]
    first, second = recs
    assert first.title == "The treatment of AIDS behind the walls of correctional facilities."
    assert first.abstract == "" and first.doi == ""
    assert first.year == 1990  # PubDate with Season only
    assert first.authors == ("Olivero JM",)
    assert first.publication_types == ("Journal Article", "Review")
    assert len(first.mesh_terms) == 19 and first.mesh_terms[0] == "AIDS Serodiagnosis"
    assert first.journal == "Social justice (San Francisco, Calif.)"
    assert first.language == "eng"
    assert second.doi == "10.1016/0005-2795(76)90109-4"
    assert second.year == 1976


def test_structured_abstract_labels_and_inline_html(shared: Path) -> None:
    (rec,) = records(shared / ENTREZ / "pubmed4.xml")
    assert rec.pmid == "27797938"
    assert rec.title.startswith("Leucocyte telomere length, genetic variants at the TERT gene")
    assert rec.abstract.startswith("OBJECTIVE: Telomere shortening occurs")
    assert " DESIGN: We measured prediagnostic" in rec.abstract
    assert " CONCLUSIONS: Prediagnostic leucocyte telomere length" in rec.abstract
    assert "<i>" not in rec.abstract and "\n" not in rec.abstract
    assert len(rec.mesh_terms) == 21
    # The ReferenceList's DOIs must not be taken for the article's own.
    assert rec.doi == "10.1136/gutjnl-2016-312510"


def test_mathml_and_html_kept_as_text(shared: Path) -> None:
    (rec,) = records(shared / ENTREZ / "pubmed6.xml")
    assert rec.title == (
        'A "Blood Relationship" Between the Overlooked Minimum Lactate Equivalent and '
        "Maximal Lactate Steady State in Trained Runners. Back to the Old Days?"
    )
    assert "maximal oxygen uptake ( V . O 2 m a x ) 67.6 ± 4.1 ml·kg-1·min-1]" in rec.abstract
    assert "(r = 0.72-0.79; P < 0.001)" in rec.abstract


def test_numeric_character_references_decoded(shared: Path) -> None:
    (rec,) = records(shared / METAPUB / "data/pmid_28731372.xml")
    assert "vitamin D3 (14,000\u2009IU/day; n\u2009=\u200930)" in rec.abstract
    assert "Randomized Controlled Trial" in rec.publication_types
    assert rec.abstract.count(": ") >= 5  # five labelled sections


def test_collective_group_author(shared: Path) -> None:
    (rec,) = records(shared / METAPUB / "test_data/sample_article_23435529.xml")
    assert "TAX 325 Study Group" in rec.authors
    assert rec.authors[0] == "Fossella F"
    assert rec.doi == "10.1200/jco.2012.44.6112"
    (guideline,) = records(shared / METAPUB / "fixtures/pmid_xml/38534005.xml")
    assert guideline.authors[-1].startswith("Task and Finish Group for Urinalysis (TFG-U)")


def test_vernacular_title(shared: Path) -> None:
    # Derived from pubmed1.xml: a translated title in brackets plus the original.
    raw = (shared / ENTREZ / "pubmed1.xml").read_bytes()
    raw = raw.replace(
        b"<ArticleTitle>The treatment of AIDS behind the walls of correctional facilities.</ArticleTitle>",
        b"<ArticleTitle>[Treatment of AIDS in prisons].</ArticleTitle>"
        b"<VernacularTitle>Le traitement du sida en prison &#xe0; Paris.</VernacularTitle>",
    )
    rec = records(raw)[0]
    assert rec.title == "[Treatment of AIDS in prisons]."
    assert rec.vernacular_title == "Le traitement du sida en prison à Paris."
    # Untranslated records with an empty ArticleTitle fall back to the vernacular one.
    raw2 = raw.replace(
        b"<ArticleTitle>[Treatment of AIDS in prisons].</ArticleTitle>", b"<ArticleTitle/>"
    )
    assert records(raw2)[0].title == "Le traitement du sida en prison à Paris."


def test_book_article(shared: Path) -> None:
    (rec,) = records(shared / METAPUB / "test_data/sample_article_20301577.xml")
    assert rec.kind == "book" and rec.pmid == "20301577"
    assert rec.title == "CACNA1C-Related Disorders"
    assert rec.journal == "GeneReviews®"
    assert rec.authors == ("Napolitano C", "Priori SG")  # editors are not authors
    assert rec.abstract.startswith("CLINICAL CHARACTERISTICS: The clinical manifestations")
    assert rec.publication_types == ("Review",)


def test_delete_citation(shared: Path) -> None:
    # Derived from pubmed1.xml: a DeleteCitation block as in PubMed update files.
    raw = (
        (shared / ENTREZ / "pubmed1.xml")
        .read_bytes()
        .replace(
            b"</PubmedArticleSet>",
            b'<DeleteCitation><PMID Version="1">111</PMID><PMID Version="1">222</PMID>'
            b"</DeleteCitation></PubmedArticleSet>",
        )
    )
    out = records(raw)
    assert [type(x).__name__ for x in out] == [
        "PubMedRecord",
        "PubMedRecord",
        "Deletion",
        "Deletion",
    ]
    assert out[2:] == [Deletion("111"), Deletion("222")]
    assert [r.pmid for r in records(raw, deletions=False)] == ["12091962", "9997"]


def test_empty_set_and_sources(shared: Path, tmp_path: Path) -> None:
    assert records(shared / METAPUB / "fixtures/pmid_xml/37909814.xml") == []
    raw = (shared / ENTREZ / "pubmed2.xml").read_bytes()
    gz = tmp_path / "x.xml.gz"
    gz.write_bytes(gzip.compress(raw))
    want = ["11748933", "11700088"]
    assert [r.pmid for r in records(gz)] == want
    assert [r.pmid for r in records(io.BytesIO(raw))] == want
    assert [r.pmid for r in records(str(shared / ENTREZ / "pubmed2.xml"))] == want


def test_error_responses_raise_clear_exceptions(shared: Path) -> None:
    with pytest.raises(
        EutilsError, match="E-utilities returned an error: Unable to obtain query #1"
    ):
        records(
            b"<?xml version='1.0'?><eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>"
        )
    with pytest.raises(EutilsError, match="Invalid db name specified: fleegle"):
        _parse_esearch(
            (
                shared / "fixtures/pubmed/klortho_eutils_json/samples/esearch.baderror.xml"
            ).read_bytes()
        )
    with pytest.raises(PubMedXMLError, match="expected a PubmedArticleSet, got <html>"):
        records(shared / ENTREZ / "pubmed3.html")
    with pytest.raises(PubMedXMLError, match="expected a PubmedArticleSet, got <eSummaryResult>"):
        records(shared / ENTREZ / "esummary1.xml")
    with pytest.raises(PubMedXMLError):
        records(shared / ENTREZ / "einfo4.xml")
    with pytest.raises(PubMedXMLError, match="invalid or truncated XML"):
        records(b"")


def test_truncated_response(shared: Path) -> None:
    raw = (shared / "fixtures/pubmed/klortho_eutils_json/samples/efetch.pubmed.xml").read_bytes()
    with pytest.raises(PubMedXMLError, match="invalid or truncated XML"):
        records(raw[: int(len(raw) * 0.7)])


def test_esearch_zero_hits_and_history(shared: Path) -> None:
    zero = _parse_esearch((shared / ENTREZ / "esearch8.xml").read_bytes())
    assert zero.count == 0 and zero.ids == ()
    hist = _parse_esearch((shared / ENTREZ / "esearch2.xml").read_bytes())
    assert (hist.count, hist.query_key, hist.webenv) == (
        42249,
        "1",
        "MCID_6927d6e7fee3e90f880ec190",
    )
    assert len(hist.ids) == 100


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE PubmedArticleSet [
 <!ENTITY a "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa">
 <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
 <!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
 <!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">
 <!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">
 <!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">
]>
<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>
<ArticleTitle>&f;</ArticleTitle></Article></MedlineCitation></PubmedArticle></PubmedArticleSet>"""


def test_entity_expansion_and_xxe_refused(tmp_path: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(PubMedXMLError, match="(?i)entit"):  # refused, never expanded
        records(BILLION_LAUGHS)
    assert time.perf_counter() - start < 2
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY x SYSTEM "file://{secret}">]>'
        "<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID>1</PMID><Article>"
        "<ArticleTitle>&x;</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
        "</PubmedArticleSet>"
    ).encode()
    with pytest.raises(PubMedXMLError, match="refusing") as info:
        records(xxe)
    assert "TOP-SECRET" not in str(info.value)


def test_streaming_keeps_one_record_in_memory(shared: Path) -> None:
    fake = FakeEutils(
        shared / "fixtures" / "pubmed", make_corpus(300, D(2020, 1, 1), D(2020, 2, 1))
    )
    body = SNAPSHOT_HEADER + b"".join(fake.article_xml(r) for r in fake.records) + SNAPSHOT_FOOTER
    sizes = [len(el.getparent()) for el in iter_efetch_elements(io.BytesIO(body))]
    earlier = [el.getprevious() is not None for el in iter_efetch_elements(io.BytesIO(body))]
    assert len(sizes) == 300 and not any(earlier)  # earlier records were freed
    assert max(sizes) < 20  # only lxml's read-ahead is held, never the whole set


# --------------------------------------------------------------------------- client


@pytest.fixture()
def fake(shared: Path):
    server = FakeEutils(
        shared / "fixtures" / "pubmed",
        make_corpus(450, D(2021, 1, 1), D(2021, 12, 31)),
        template_files=SMALL_TEMPLATE_FILES,
    )
    with server:
        yield server


def client(fake: FakeEutils, sleeps: list | None = None, **kw) -> PubMedClient:
    opts = dict(email="t@example.org", rate=0, timeout=5, max_retries=3, backoff_base=0.01)
    opts.update(kw)
    return PubMedClient(
        fake.base_url, sleep=(sleeps.append if sleeps is not None else lambda s: None), **opts
    )


def snapshot_pmids(path: Path) -> list[str]:
    return [r.pmid for r in parse_efetch(path)]


def search(fake, folder, until=None, **kw):
    until = until or D(2022, 1, 1)
    c = kw.pop("c", None) or client(fake)
    kw.setdefault("batch_size", 100)
    return run_search(c, folder, "diabetes[tiab]", start_date=D(2021, 1, 1), until=until, **kw)


def test_first_run_writes_snapshot_and_sidecar(fake, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="livingreview.search.snapshots")
    path = search(fake, tmp_path)
    assert path == tmp_path / "2022-01-01.xml.gz"
    pmids = snapshot_pmids(path)
    assert sorted(pmids) == sorted(str(r.pmid) for r in fake.records)
    assert len(pmids) == len(set(pmids)) == 450
    meta = read_json(tmp_path / "2022-01-01.json")
    assert meta["mindate"] == "2021-01-01" and meta["maxdate"] == "2022-01-01"
    assert (meta["datetype"], meta["mdat"], meta["query"]) == ("edat", True, "diabetes[tiab]")
    assert meta["count_reported"] == 900  # 450 by edat + the same 450 by mdat
    assert meta["count_fetched"] == 450
    assert meta["file_sha256"] == sha256_file(path)
    assert set(meta) >= {"pmids_sha256", "started", "completed", "software", "file"}
    assert not (tmp_path / ".partial").exists()
    assert "fetched 100/900 records" in caplog.text and "fetched 900/900 records" in caplog.text
    searches = [p for e, p in fake.requests if e == "esearch"]
    assert [(p["datetype"], p["mindate"], p["maxdate"]) for p in searches] == [
        ("edat", "2021/01/01", "2022/01/01"),
        ("mdat", "2021/01/01", "2022/01/01"),
    ]
    assert all(p["usehistory"] == "y" and p["tool"] == "livingreview" for p in searches)
    assert fake.count("efetch") == 10
    # Same day again: the completed snapshot is left alone, nothing fetched.
    before = path.stat().st_mtime_ns
    assert search(fake, tmp_path) == path
    assert path.stat().st_mtime_ns == before and fake.count("efetch") == 10


def test_search_stage_entry_point_parses_settings_once_and_writes_the_marker(
    fake, tmp_path: Path, monkeypatch
) -> None:
    """search.stage: settings from the rule's params, run fetches the snapshot, write the marker."""
    from livingreview.search import stage

    params = {
        "search": {
            "eutils_url": fake.base_url,
            "query": "diabetes[tiab]\n   ",  # folded YAML: whitespace is normalised once
            "start_date": "2021-01-01",
            "email": "t@example.org",
            "tool": "livingreview",
            "timeout_s": 5,
            "max_retries": "3",
            "max_retry_after_s": 30,
            "use_mdat": True,
            "batch_size": 100,
        },
        "until": "2022-01-01",
        "snapshot_dir": str(tmp_path / "pubmed"),
    }
    settings = stage.SearchSettings.from_params(params)
    assert (settings.query, settings.until, settings.max_retries) == (
        "diabetes[tiab]",
        D(2022, 1, 1),
        3,
    )
    monkeypatch.setenv("NCBI_API_KEY", "secret-key")
    made = settings.client()
    assert made.base_url == fake.base_url and "secret-key" not in repr(made)
    result = stage.run(settings, {}, client=client(fake))
    assert result.snapshot == tmp_path / "pubmed" / "2022-01-01.xml.gz"
    assert len(snapshot_pmids(result.snapshot)) == 450
    stage.write(result, {"marker": tmp_path / "marker.json"})
    marker = read_json(tmp_path / "marker.json")
    assert marker == {"snapshot": "2022-01-01.xml.gz", "sha256": sha256_file(result.snapshot)}


def test_second_run_fetches_only_new_and_corrected(fake, tmp_path: Path) -> None:
    search(fake, tmp_path, use_mdat=True)
    on_boundary = [r for r in fake.records if r.edat == D(2021, 12, 31)]
    new = make_corpus(30, D(2022, 1, 1), D(2022, 1, 20), first_pmid=40_000_000)
    fake.records += new
    corrected = fake.records[5]
    corrected.mdat, corrected.version = D(2022, 1, 10), 2
    fake.requests.clear()
    path = search(fake, tmp_path, until=D(2022, 1, 20))
    got = snapshot_pmids(path)
    # Overlap day 2022-01-01 is searched again (maxdate of the last snapshot, inclusive).
    want = {str(r.pmid) for r in new} | {str(corrected.pmid)}
    want |= {
        str(r.pmid) for r in fake.records if r.edat >= D(2022, 1, 1) or r.mdat >= D(2022, 1, 1)
    }
    assert set(got) == want and len(got) == len(set(got))
    assert not on_boundary or all(str(r.pmid) not in got for r in on_boundary)
    searches = [p for e, p in fake.requests if e == "esearch"]
    assert {p["mindate"] for p in searches} == {"2022/01/01"}
    fixed = next(r for r in parse_efetch(path) if r.pmid == str(corrected.pmid))
    assert fixed.title.endswith(f"(synthetic {corrected.pmid} v2)")
    assert fake.count("efetch") == 2  # 30 new by edat + 31 by mdat, one batch each
    assert read_json(tmp_path / "2022-01-20.json")["mindate"] == "2022-01-01"
    assert (tmp_path / "2022-01-01.xml.gz").exists()  # the old snapshot stays


def test_a_retraction_reaches_the_store_through_the_modification_date(fake, tmp_path: Path) -> None:
    """The retraction watch in live mode: PubMed updates the record; the mdat search finds it."""
    search(fake, tmp_path, use_mdat=True)
    retracted = fake.records[7]
    retracted.mdat, retracted.retracted_by = D(2022, 1, 12), 41_000_000
    fake.requests.clear()
    path = search(fake, tmp_path, until=D(2022, 1, 20))
    rec = next(r for r in parse_efetch(path) if r.pmid == str(retracted.pmid))
    assert rec.corrections == ("RetractionIn 41000000",)
    assert "Retracted Publication" in rec.publication_types


def test_changed_query_searches_the_whole_period_again(fake, tmp_path: Path) -> None:
    search(fake, tmp_path, use_mdat=False)
    fake.requests.clear()
    c = client(fake)
    run_search(
        c,
        tmp_path,
        "diabetes[tiab] AND wechat[tiab]",
        start_date=D(2021, 1, 1),
        until=D(2022, 2, 1),
        use_mdat=False,
    )
    assert next(p for e, p in fake.requests if e == "esearch")["mindate"] == "2021/01/01"
    assert read_json(tmp_path / "2022-02-01.json")["mindate"] == "2021-01-01"


def test_more_than_10000_hits_are_sliced(shared: Path, tmp_path: Path) -> None:
    corpus = make_corpus(10_500, D(2020, 1, 1), D(2020, 12, 31))
    small = ("metapub/tests/fixtures/pmid_xml/11618220.xml",)  # 2.7 kB keeps this quick
    with FakeEutils(shared / "fixtures" / "pubmed", corpus, template_files=small) as fake:
        path = run_search(
            client(fake),
            tmp_path,
            "q",
            start_date=D(2020, 1, 1),
            until=D(2021, 1, 1),
            use_mdat=False,
            batch_size=2500,
        )
        first = next(p for e, p in fake.requests if e == "esearch")
        searches = [p for e, p in fake.requests if e == "esearch"]
        fetches = [p for e, p in fake.requests if e == "efetch"]
    assert (first["mindate"], first["maxdate"]) == ("2020/01/01", "2021/01/01")
    windows = [(p["mindate"], p["maxdate"]) for p in searches[1:]]
    assert windows == [("2020/01/01", "2020/07/02"), ("2020/07/03", "2021/01/01")]
    assert all(len(p["id"].split(",")) <= 2500 for p in fetches)  # by PMID: no retstart limit
    assert sum(len(p["id"].split(",")) for p in fetches) == 10_500
    pmids = snapshot_pmids(path)
    assert len(pmids) == len(set(pmids)) == 10_500
    assert read_json(path.with_name("2021-01-01.json"))["count_reported"] == 10_500


def test_fake_server_refuses_paging_past_9999(shared: Path) -> None:
    corpus = make_corpus(10_050, D(2020, 1, 1), D(2020, 3, 1))
    with FakeEutils(shared / "fixtures" / "pubmed", corpus) as fake:
        c = client(fake)
        res = c.esearch("q", mindate=D(2020, 1, 1), maxdate=D(2020, 3, 1))
        assert res.count == 10_050
        with pytest.raises(EutilsError, match="cannot be larger than 9998"):
            c.esearch("q", mindate=D(2020, 1, 1), maxdate=D(2020, 3, 1), retstart=10_000, retmax=10)
        with pytest.raises(EutilsError, match="cannot be larger than 9998"):
            c.efetch(res.webenv, res.query_key, 9_999, 10)


class Killed(Exception):
    pass


def test_killed_mid_download_resumes_without_loss_or_duplicates(fake, tmp_path: Path) -> None:
    def die_after_3(n: int) -> None:
        if n == 3:
            raise Killed

    with pytest.raises(Killed):
        search(fake, tmp_path, after_batch=die_after_3)
    assert not (tmp_path / "2022-01-01.xml.gz").exists()
    assert not (tmp_path / "2022-01-01.json").exists()
    kept = sorted(p.name for p in (tmp_path / ".partial").glob("*.xml.gz"))
    assert len(kept) == 3
    first_fetches = fake.count("efetch")
    assert first_fetches == 3
    fresh = client(fake)  # a new process: new client, new WebEnv
    path = search(fake, tmp_path, c=fresh)
    assert fake.count("efetch") - first_fetches == 10 - 3
    resumed = [p["id"].split(",") for e, p in fake.requests[-(10 - 3) :] if e == "efetch"]
    newest = str(max(r.pmid for r in fake.records))
    assert newest in resumed[2]  # the mdat slice's first batch was never fetched before
    pmids = snapshot_pmids(path)
    assert sorted(pmids) == sorted(str(r.pmid) for r in fake.records)
    assert len(pmids) == len(set(pmids))
    assert not (tmp_path / ".partial").exists()


def test_resume_on_a_later_day_keeps_finished_batches(fake, tmp_path: Path) -> None:
    def die_after_3(n: int) -> None:
        if n == 3:
            raise Killed

    with pytest.raises(Killed):
        search(fake, tmp_path, after_batch=die_after_3)
    late = [
        FakeRecord(pmid=42_000_000 + i, edat=D(2022, 1, 3), mdat=D(2022, 1, 3)) for i in range(5)
    ]
    fake.records += late
    before = fake.count("efetch")
    path = search(fake, tmp_path, until=D(2022, 1, 5))
    assert fake.count("efetch") - before == (10 - 3) + 2  # the rest + one batch per datetype
    pmids = snapshot_pmids(path)
    assert sorted(pmids) == sorted(str(r.pmid) for r in fake.records)
    assert len(pmids) == len(set(pmids))
    meta = read_json(tmp_path / "2022-01-05.json")
    assert (meta["mindate"], meta["maxdate"]) == ("2021-01-01", "2022-01-05")


def test_resume_after_a_changed_count_refetches_that_slice(fake, tmp_path: Path) -> None:
    with pytest.raises(Killed):
        search(fake, tmp_path, use_mdat=False, after_batch=lambda n: (_ for _ in ()).throw(Killed))
    fake.records.append(FakeRecord(pmid=39_999_999, edat=D(2021, 6, 1), mdat=D(2021, 6, 1)))
    path = search(fake, tmp_path, use_mdat=False)
    pmids = snapshot_pmids(path)
    assert len(pmids) == len(set(pmids)) == 451


@pytest.mark.parametrize(
    ("kind", "extra"),
    [("500", {}), ("slow", {"delay": 1.0}), ("reset", {}), ("truncate", {})],
)
def test_transient_faults_are_retried(fake, tmp_path: Path, kind: str, extra: dict) -> None:
    fake.fault(kind, "efetch", **extra)
    sleeps: list[float] = []
    c = client(fake, sleeps, timeout=0.4)
    path = search(fake, tmp_path, c=c, use_mdat=False)
    assert len(snapshot_pmids(path)) == 450
    assert fake.count("efetch") == 5 + 1
    assert len(sleeps) == 1 and 0.005 <= sleeps[0] <= 0.01  # back-off base 0.01 s x jitter


def test_429_honours_retry_after(fake, tmp_path: Path) -> None:
    fake.fault("429", "esearch", retry_after="7")
    fake.fault("429", "efetch", times=2, retry_after="3")
    sleeps: list[float] = []
    path = search(fake, tmp_path, c=client(fake, sleeps), use_mdat=False)
    assert sleeps == [7.0, 3.0, 3.0]
    assert len(snapshot_pmids(path)) == 450


def test_retry_after_http_date() -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    value = later.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 25 <= _retry_after(value) <= 31
    assert _retry_after("12") == 12.0 and _retry_after(None) is None


def test_backoff_is_exponential_with_jitter(fake) -> None:
    fake.fault("500", "esearch", times=4)
    sleeps: list[float] = []
    c = client(fake, sleeps, max_retries=4, backoff_base=1.0)
    c.esearch("q")
    assert len(sleeps) == 4
    for n, s in enumerate(sleeps):
        assert 0.5 * 2**n <= s <= 2**n


def test_esearch_error_element_stops_without_retry(fake, tmp_path: Path) -> None:
    fake.fault("error", "esearch", message="Invalid query syntax near 'AND AND'")
    with pytest.raises(
        EutilsError, match="esearch returned an error: Invalid query syntax near 'AND AND'"
    ):
        search(fake, tmp_path)
    assert fake.count("esearch") == 1
    assert not list(tmp_path.glob("*.xml.gz"))


def test_gives_up_with_clear_message_then_resumes(fake, tmp_path: Path) -> None:
    fake.fault("500", "efetch", times=100)
    with pytest.raises(FetchFailedError) as info:
        search(fake, tmp_path, c=client(fake, max_retries=2), use_mdat=False)
    msg = str(info.value)
    assert msg.startswith("efetch.fcgi at http://127.0.0.1:")
    assert msg.endswith("failed after 3 attempts; last error: HTTP 500")
    assert not list(tmp_path.glob("*.xml.gz"))
    assert (tmp_path / ".partial" / "plan.json").exists()
    fake.faults.clear()
    assert len(snapshot_pmids(search(fake, tmp_path, use_mdat=False))) == 450


def test_api_key_sent_but_never_leaked(fake, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fault("429", "esearch", retry_after="0")
    fake.fault("reset", "efetch")
    fake.fault("truncate", "efetch")
    c = client(fake, api_key=KEY, max_retries=2)
    assert KEY not in repr(c)
    assert PubMedClient(api_key=KEY).rate == 10.0 and PubMedClient().rate == 3.0
    search(fake, tmp_path, c=c)
    fake.fault("500", "efetch", times=100)
    with pytest.raises(FetchFailedError) as info:
        search(fake, tmp_path / "b", c=c)
    assert all(p.get("api_key") == KEY for _, p in fake.requests)  # NCBI does get it
    assert KEY not in str(info.value) and KEY not in caplog.text
    assert "retry 1/2" in caplog.text  # the warnings were logged (and scrubbed)
    for f in tmp_path.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            if f.suffix == ".gz":
                data = gzip.decompress(data)
            assert KEY.encode() not in data, f
    assert c.scrub(f"http://x/efetch.fcgi?db=pubmed&api_key={KEY}&id=1") == (
        "http://x/efetch.fcgi?db=pubmed&api_key=***&id=1"
    )


def test_rate_limit_spaces_requests(fake) -> None:
    c = client(fake, rate=20)
    start = time.monotonic()
    for _ in range(5):
        c.esearch("q")
    assert time.monotonic() - start >= 4 / 20 - 0.01


def test_from_env_reads_ncbi_api_key(monkeypatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", KEY)
    assert PubMedClient.from_env("http://127.0.0.1:1/")._api_key == KEY
    monkeypatch.delenv("NCBI_API_KEY")
    assert PubMedClient.from_env("http://127.0.0.1:1/")._api_key is None


def test_client_errors_are_not_retried(fake) -> None:
    sleeps: list[float] = []
    c = PubMedClient(
        fake.base_url.replace("/entrez/eutils/", "/wrong/"), rate=0, sleep=sleeps.append
    )
    with pytest.raises(EutilsError, match=r"esearch.fcgi: HTTP 404: not found"):
        c.esearch("q")
    assert sleeps == [] and c.requests_made == 1
