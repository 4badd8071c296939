"""Search integrity (issue 14): no gap in a snapshot, pairs visible together, key and waits bounded."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from fake_eutils import SMALL_TEMPLATE_FILES, FakeEutils, make_corpus

from livingreview.io import read_json, sha256_file
from livingreview.search.errors import EutilsError, FetchFailedError, PubMedError
from livingreview.search.files import completed_snapshots, orphan_snapshots
from livingreview.search.pubmed import DEFAULT_MAX_RETRY_AFTER, PubMedClient
from livingreview.search.pubmed_xml import Deletion, parse_efetch
from livingreview.search.records import build_records
from livingreview.search.snapshots import REFETCH_ROUNDS, run_search

D = dt.date
KEY = "SECRET-test-key-7f3a9c"
UNTIL = D(2022, 1, 1)


@pytest.fixture()
def fake(shared: Path):
    server = FakeEutils(
        shared / "fixtures" / "pubmed",
        make_corpus(12, D(2021, 1, 1), D(2021, 12, 31)),
        template_files=SMALL_TEMPLATE_FILES,
    )
    with server:
        yield server


def client(fake: FakeEutils, sleeps: list | None = None, **kw) -> PubMedClient:
    opts = dict(email="t@example.org", rate=0, timeout=5, max_retries=2, backoff_base=0.01)
    opts.update(kw)
    return PubMedClient(
        fake.base_url, sleep=(sleeps.append if sleeps is not None else lambda s: None), **opts
    )


def search(fake: FakeEutils, folder: Path, **kw) -> Path:
    c = kw.pop("c", None) or client(fake)
    kw.setdefault("batch_size", 12)
    kw.setdefault("use_mdat", False)
    return run_search(c, folder, "q", start_date=D(2021, 1, 1), until=UNTIL, **kw)


def pmids(path: Path) -> list[str]:
    return [r.pmid for r in parse_efetch(path)]


def store_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*")) if p.is_file()}


# --------------------------------------------------------------------------- short efetch pages


def test_short_efetch_page_is_refetched_not_published(fake, tmp_path: Path) -> None:
    """The case from the issue: a page of 12 answered with 5 records."""
    fake.fault("short", "efetch", keep=5)
    path = search(fake, tmp_path)
    assert sorted(pmids(path)) == sorted(str(r.pmid) for r in fake.records)
    assert read_json(tmp_path / "2022-01-01.json")["count_fetched"] == 12
    fetches = [p for e, p in fake.requests if e == "efetch"]
    assert len(fetches) == 2
    assert len(fetches[1]["id"].split(",")) == 7  # only the missing ones were asked again


def test_records_that_never_come_fail_naming_them_and_no_snapshot(fake, tmp_path: Path) -> None:
    fake.fault("short", "efetch", keep=5)
    fake.fault("short", "efetch", keep=0, times=REFETCH_ROUNDS)
    with pytest.raises(PubMedError) as info:
        search(fake, tmp_path)
    asked = sorted((str(r.pmid) for r in fake.records), key=int, reverse=True)
    msg = str(info.value)
    assert msg.startswith("PubMed did not return 7 of the 12 records esearch listed for edat-")
    for pmid in asked[5:]:
        assert pmid in msg
    assert not list(tmp_path.glob("*.xml.gz")) and not list(tmp_path.glob("*.json"))
    # The next run asks only for what is still missing and completes without a gap.
    before = fake.count("efetch")
    path = search(fake, tmp_path)
    assert sorted(pmids(path)) == sorted(asked)
    assert fake.count("efetch") - before == 1


def test_short_page_on_resume_is_completed_per_slice(fake, tmp_path: Path) -> None:
    """A batch file a previous run kept short (per-batch check on resume)."""
    fake.fault("short", "efetch", keep=3)
    fake.fault("short", "efetch", keep=0, times=REFETCH_ROUNDS)
    with pytest.raises(PubMedError):
        search(fake, tmp_path, batch_size=6)
    path = search(fake, tmp_path, batch_size=6)
    got = pmids(path)
    assert sorted(got) == sorted(str(r.pmid) for r in fake.records) and len(got) == len(set(got))


def test_non_numeric_pmid_is_an_xml_error_of_that_batch(fake, tmp_path: Path) -> None:
    fake.fault("badpmid", "efetch")
    sleeps: list[float] = []
    path = search(fake, tmp_path, c=client(fake, sleeps))
    assert len(sleeps) == 1  # retried like a truncated answer
    assert sorted(pmids(path)) == sorted(str(r.pmid) for r in fake.records)
    fake.fault("badpmid", "efetch", times=10)
    with pytest.raises(FetchFailedError, match=r"PubmedArticle> with PMID '\d+A', not a number"):
        search(fake, tmp_path / "b")
    assert not list((tmp_path / "b").glob("*.xml.gz"))


def test_short_esearch_id_list_is_retried(fake, tmp_path: Path) -> None:
    class Short(PubMedClient):
        cut = 1

        def _call(self, endpoint, params, check):
            if endpoint == "esearch.fcgi" and self.cut:
                self.cut -= 1

                answers = []

                def short(body: bytes):
                    answers.append(body)
                    if len(answers) == 1:  # only the first answer is short
                        body = body.replace(b"<Id>%d</Id>" % fake.records[0].pmid, b"", 1)
                    return check(body)

                return super()._call(endpoint, params, short)
            return super()._call(endpoint, params, check)

    sleeps: list[float] = []
    c = Short(fake.base_url, rate=0, sleep=sleeps.append, max_retries=2, backoff_base=0.01)
    path = search(fake, tmp_path, c=c)
    assert len(pmids(path)) == 12 and fake.count("esearch") == 2 and len(sleeps) == 1


def test_deleted_record_counts_as_answered(fake, tmp_path: Path) -> None:
    gone = fake.records[3].pmid
    fake.deleted.add(gone)
    path = search(fake, tmp_path)
    items = list(parse_efetch(path))
    assert [i.pmid for i in items if isinstance(i, Deletion)] == [str(gone)]
    assert len(items) == 12


# --------------------------------------------------------------------------- pair visibility


def test_snapshot_and_sidecar_become_visible_together(fake, tmp_path: Path, monkeypatch) -> None:
    seen: list[tuple[list, list]] = []
    real_replace = os.replace

    def watching(src, dst):
        real_replace(src, dst)
        seen.append((completed_snapshots(tmp_path), orphan_snapshots(tmp_path)))

    monkeypatch.setattr(os, "replace", watching)
    search(fake, tmp_path)
    for completed, orphans in seen:
        assert orphans == []  # a reader never saw a gz without its sidecar
        assert all(gz.exists() and side.exists() for _, gz, side in completed)
    assert [c for c, _ in seen][-1] != []


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4])
def test_commit_killed_between_renames_is_invisible_then_completed(
    fake, tmp_path: Path, monkeypatch, kill_at: int
) -> None:
    real_replace = os.replace
    calls = []

    class Killed(BaseException):
        pass

    def dying(src, dst):  # renames into the store: hidden gz, pending sidecar, gz, sidecar
        if Path(dst).parent == tmp_path:
            calls.append(Path(dst).name)
            if len(calls) == kill_at:
                raise Killed
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", dying)
    monkeypatch.setattr("livingreview.io.os.replace", dying)
    with pytest.raises(Killed):
        search(fake, tmp_path)
    monkeypatch.undo()
    # Readers see no snapshot and no orphan: build_records runs (nothing half visible).
    assert completed_snapshots(tmp_path) == [] and orphan_snapshots(tmp_path) == []
    root = tmp_path / "root"
    (root / "search").mkdir(parents=True)
    (root / "search" / "pubmed").symlink_to(tmp_path)
    table, _ = build_records(root)
    assert len(table) == 0
    before = fake.count("efetch")
    path = search(fake, tmp_path)
    assert sorted(pmids(path)) == sorted(str(r.pmid) for r in fake.records)
    assert read_json(path.with_name("2022-01-01.json"))["file_sha256"] == sha256_file(path)
    assert fake.count("efetch") == before  # the finished download was not fetched again
    assert not list(tmp_path.glob(".*.pending")) and not list(tmp_path.glob(".*.new"))


# --------------------------------------------------------------------------- network


def test_api_key_never_follows_a_redirect(shared: Path, fake, tmp_path: Path) -> None:
    with FakeEutils(shared / "fixtures" / "pubmed", fake.records) as other:
        for status in (301, 302, 307, 308):
            fake.fault(
                "redirect", "esearch", location=other.base_url + "esearch.fcgi", status=status
            )
            with pytest.raises(EutilsError) as info:
                client(fake, api_key=KEY).esearch("q")
            msg = str(info.value)
            assert f"HTTP {status} redirect to {other.base_url}esearch.fcgi not followed" in msg
            assert KEY not in msg
        assert other.requests == []


def test_api_key_refused_over_plain_http() -> None:
    with pytest.raises(PubMedError) as info:
        PubMedClient("http://eutils.ncbi.nlm.nih.gov/entrez/eutils/", api_key=KEY)
    msg = str(info.value)
    assert msg.startswith(
        "refusing to send NCBI_API_KEY over plain http to eutils.ncbi.nlm.nih.gov"
    )
    assert KEY not in msg
    PubMedClient("http://eutils.ncbi.nlm.nih.gov/entrez/eutils/")  # no key: allowed
    PubMedClient("https://eutils.ncbi.nlm.nih.gov/entrez/eutils/", api_key=KEY)
    for local in ("http://127.0.0.1:8/", "http://localhost:8/", "http://[::1]:8/"):
        PubMedClient(local, api_key=KEY)
    with pytest.raises(PubMedError):
        PubMedClient("ftp://example.org/", api_key=KEY)


def test_retry_after_beyond_the_cap_fails_at_once(fake, tmp_path: Path) -> None:
    fake.fault("429", "esearch", retry_after="86400")
    sleeps: list[float] = []
    with pytest.raises(FetchFailedError) as info:
        search(fake, tmp_path, c=client(fake, sleeps, max_retry_after=600))
    assert sleeps == []
    assert "asked to wait 86400 s before retrying (HTTP 429, Retry-After)" in str(info.value)
    assert "more than the cap of 600 s (search.max_retry_after_s)" in str(info.value)
    fake.fault("429", "esearch", retry_after="600")
    search(fake, tmp_path, c=client(fake, sleeps, max_retry_after=600))
    assert sleeps == [600.0]


def test_default_retry_after_cap() -> None:
    assert PubMedClient().max_retry_after == DEFAULT_MAX_RETRY_AFTER == 600
