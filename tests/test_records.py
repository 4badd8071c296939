"""Record store: snapshots + RIS/nbib/CSV exports -> de-duplicated records.csv and summary.json."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lxml import etree

from livingreview import clock
from livingreview.errors import InputError
from livingreview.io import read_json
from livingreview.search.export_readers import read_csv_export, read_medline, read_ris
from livingreview.search.records import (
    COLUMNS,
    RecordsSettings,
    build_records,
    read_records,
    run,
    write,
    write_records,
)
from livingreview.search.snapshots import write_snapshot

DATA = Path(__file__).parent / "data" / "search"
PUBMED = "fixtures/pubmed"


def articles(shared: Path, *files: str, retitle: dict[str, str] | None = None):
    """(pmid, xml) of the PubmedArticles in real efetch responses (optionally re-titled)."""
    out = []
    for rel in files:
        root = etree.parse(str(shared / PUBMED / rel)).getroot()
        for art in root:
            pmid = art.findtext("MedlineCitation/PMID")
            if retitle and pmid in retitle:
                title = art.find("MedlineCitation/Article/ArticleTitle")
                for child in list(title):
                    title.remove(child)
                title.text = retitle[pmid]
            art.tail = "\n"
            out.append((pmid, etree.tostring(art, encoding="utf-8")))
    return out


def snapshot(folder: Path, until: str, arts, deleted=()) -> None:
    write_snapshot(
        folder,
        dt.date.fromisoformat(until),
        arts,
        query="test[tiab]",
        mindate=dt.date(2023, 1, 1),
        deleted=deleted,
    )


@pytest.fixture()
def review(shared: Path, tmp_path: Path) -> Path:
    """Two snapshots (the second corrects one record and deletes another) + 3 exports."""
    root = tmp_path / "root"
    pm = root / "search" / "pubmed"
    snapshot(
        pm,
        "2024-01-01",
        articles(
            shared, "biopython/Tests/Entrez/pubmed2.xml", "biopython/Tests/Entrez/pubmed4.xml"
        ),
    )
    snapshot(
        pm,
        "2024-02-01",
        articles(
            shared,
            "biopython/Tests/Entrez/pubmed2.xml",
            retitle={"11748933": "Is cryopreservation a homogeneous process? (corrected)"},
        )[:1]
        + articles(shared, "metapub/tests/data/pmid_28731372.xml"),
        deleted=["11700088"],
    )
    shutil.copytree(DATA / "exports", root / "search" / "exports")
    return root


def test_build_records_merges_dedups_and_counts(review: Path) -> None:
    table, summary = build_records(review)
    assert list(table.columns) == COLUMNS
    ids = list(table["record_id"])
    assert ids[:5] == ["11700088", "11748933", "23435529", "27797938", "28731372"]
    assert len(ids) == 9 and sorted(i for i in ids[5:] if i.startswith("embase-")) == ids[5:6]
    assert all(i.startswith("scopus-") for i in ids[6:])
    by = table.set_index("record_id")

    corrected = by.loc["11748933"]  # PMID match: snapshot 1, snapshot 2 and Scopus
    assert corrected["title"] == "Is cryopreservation a homogeneous process? (corrected)"
    assert (corrected["first_seen"], corrected["last_updated"]) == ("2024-01-01", "2024-02-01")
    assert corrected["sources"] == "pubmed; scopus" and corrected["duplicate_of_count"] == 1
    assert corrected["doi"] == "10.1006/cryo.2001.2328"

    tert = by.loc["27797938"]  # PMID (nbib) + fuzzy title/year (Embase RIS, no DOI)
    assert tert["sources"] == "embase; medline; pubmed" and tert["duplicate_of_count"] == 2
    assert tert["abstract"].startswith("OBJECTIVE: Telomere shortening occurs")
    assert (tert["first_seen"], tert["last_updated"]) == ("2024-01-01", "2024-01-01")

    ebv = by.loc["28731372"]  # DOI match with Embase (different title)
    assert ebv["sources"] == "embase; pubmed" and ebv["first_seen"] == "2024-02-01"

    tax = by.loc["23435529"]  # nbib + Embase by DOI (upper/lower case); nbib content wins
    assert tax["sources"] == "embase; medline" and tax["first_seen"] == "2024-02-10"
    assert tax["title"].startswith("Randomized phase III trial of docetaxel")
    assert tax["authors"] == "Fossella F"
    assert tax["mesh_terms"] == "Humans; Docetaxel"

    im = by.loc[ids[5]]  # Embase + Scopus fuzzy (glycaemic/randomised spelling), same year
    assert im["sources"] == "embase; scopus" and im["duplicate_of_count"] == 1
    assert im["doi"] == "10.9999/im.2021.1" and im["year"] == "2021"
    other_year = table[(table["title"].str.startswith("Instant")) & (table["year"] == "2019")]
    assert len(other_year) == 1  # same title, other year: not merged

    # Deleted by a DeleteCitation in the later snapshot: kept (reviewers' rows stay valid), flagged.
    assert by.loc["11700088", "withdrawn"] == "2024-02-01"
    assert (table["withdrawn"] != "").sum() == 1
    assert summary["withdrawn"] == [{"record_id": "11700088", "date": "2024-02-01"}]
    assert summary["identified"] == {"embase": 4, "medline": 2, "pubmed": 4, "scopus": 5}
    assert summary["identified_total"] == 15
    assert summary["duplicates_removed"] == 6 == int(table["duplicate_of_count"].sum())
    assert summary["unique"] == 9
    assert summary["latest_search"] == "2024-02-01" and summary["new_in_latest"] == 1
    assert summary["deleted_pmids"] == ["11700088"]
    assert [s["file"] for s in summary["snapshots"]] == [
        "search/pubmed/2024-01-01.xml.gz",
        "search/pubmed/2024-02-01.xml.gz",
    ]
    assert [s["count"] for s in summary["snapshots"]] == [3, 2]
    assert [(e["source"], e["count"]) for e in summary["exports"]] == [
        ("embase", 4),
        ("medline", 2),
        ("scopus", 5),
    ]


def test_written_files_are_byte_identical_and_safe(review: Path, tmp_path: Path) -> None:
    out = tmp_path / "results"
    write_records(*build_records(review), out / "records.csv", out / "summary.json")
    first = (out / "records.csv").read_bytes(), (out / "summary.json").read_bytes()
    write_records(*build_records(review), out / "records.csv", out / "summary.json")
    assert ((out / "records.csv").read_bytes(), (out / "summary.json").read_bytes()) == first
    back = read_records(out / "records.csv")
    assert list(back.columns) == COLUMNS and len(back) == 9
    formula = back[back["doi"] == "10.9999/formula.1"]["title"].item()
    assert formula.startswith("'=HYPERLINK(")  # neutralised for spreadsheets
    assert b"\r" not in first[0]
    assert all(
        len(line.split(b'"')) % 2 == 1 for line in first[0].splitlines()
    )  # no multi-line cells
    assert read_json(out / "summary.json")["unique"] == 9


def test_stage_entry_point_reads_the_rule_params_and_writes_its_outputs(
    review: Path, tmp_path: Path
) -> None:
    settings = RecordsSettings.from_params({"root": str(review), "title_similarity": "100"})
    assert settings == RecordsSettings(review, 100.0)
    outputs = {n: tmp_path / f"{n}.out" for n in ("csv", "summary", "aliases")}
    write(run(settings), outputs)
    assert read_json(outputs["summary"])["title_similarity"] == 100.0
    assert list(read_records(outputs["csv"]).columns) == COLUMNS
    assert outputs["aliases"].read_text().startswith("old_id,record_id")


def test_edited_snapshot_is_refused(review: Path) -> None:
    gz = review / "search/pubmed/2024-01-01.xml.gz"
    gz.write_bytes(gz.read_bytes() + b"\0")
    with pytest.raises(
        InputError, match=r"2024-01-01.xml.gz: expected the SHA-256 recorded in 2024-01-01.json"
    ):
        build_records(review)


def test_snapshot_without_sidecar_and_partial_download(review: Path) -> None:
    partial = review / "search/pubmed/.partial"
    partial.mkdir()
    (partial / "edat-20240201-20240301-000000.xml.gz").write_bytes(b"unfinished")
    assert build_records(review)[1]["unique"] == 9  # an unfinished download is not read
    (review / "search/pubmed/2024-01-01.json").unlink()
    with pytest.raises(InputError, match=r"2024-01-01.xml.gz: expected a completed snapshot"):
        build_records(review)


def test_snapshot_is_never_overwritten(review: Path) -> None:
    with pytest.raises(Exception, match="never rewritten"):
        snapshot(review / "search/pubmed", "2024-01-01", [])


def test_empty_root_gives_empty_store(tmp_path: Path) -> None:
    table, summary = build_records(tmp_path)
    assert len(table) == 0 and list(table.columns) == COLUMNS
    assert summary["identified_total"] == 0 and summary["latest_search"] is None


def test_ris_reader(tmp_path: Path) -> None:
    recs = read_ris(
        DATA / "exports/embase/2024-02-15-embase.ris",
        "embase",
        origin="x",
        seen="2024-02-15",
        order=0,
    )
    assert [r.year for r in recs] == ["2018", "2017", "2021", "2003"]
    assert recs[2].doi == "10.9999/im.2021.1"  # resolver prefix and case removed
    assert recs[0].authors == ("Rolf, L.", "Muris, A.H.")
    assert recs[0].journal == "Multiple Sclerosis Journal" and recs[0].pmid == ""


def test_nbib_reader_on_real_medline_file(shared: Path) -> None:
    recs = read_medline(
        shared / PUBMED / "biopython/Tests/Medline/pubmed_result2.txt",
        "pubmed",
        origin="x",
        seen="2024-01-01",
        order=0,
    )
    assert len(recs) == 4
    first = read_medline(
        shared / PUBMED / "biopython/Tests/Medline/pubmed_result1.txt",
        "pubmed",
        origin="x",
        seen="2024-01-01",
        order=0,
    )[0]
    assert (first.pmid, first.year, first.journal) == (
        "12230038",
        "2002",
        "Briefings in bioinformatics",
    )
    assert first.title == "The Bio* toolkits--a brief overview."
    assert first.mesh_terms[:2] == ("Computational Biology", "Computer Systems")
    assert first.authors == ("Mangalam H",)


def test_csv_errors_name_file_row_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "scopus.csv"
    bad.write_text("Title,Year,PubMed ID\nA trial,2020,\nAnother trial,20x0,\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_csv_export(bad, "scopus", origin="x", seen="2024-01-01", order=0)
    assert str(info.value) == f"{bad}, row 3, column 'Year': expected a 4-digit year, got '20x0'"
    bad.write_text("Title,PubMed ID\nA trial,PMC123\n", encoding="utf-8")
    with pytest.raises(
        InputError,
        match=r"row 2, column 'PubMed ID': expected a PubMed ID \(digits only\), got 'PMC123'",
    ):
        read_csv_export(bad, "scopus", origin="x", seen="2024-01-01", order=0)
    bad.write_text("Name,Year\nx,2020\n", encoding="utf-8")
    with pytest.raises(InputError, match="row 1: expected a title column"):
        read_csv_export(bad, "scopus", origin="x", seen="2024-01-01", order=0)


def test_export_layout_errors(tmp_path: Path) -> None:
    (tmp_path / "search/exports").mkdir(parents=True)
    (tmp_path / "search/exports/loose.ris").write_text("TY  - JOUR\nER  - \n")
    with pytest.raises(InputError, match="inside a folder named after the database"):
        build_records(tmp_path)
    (tmp_path / "search/exports/loose.ris").unlink()
    (tmp_path / "search/exports/wos").mkdir()
    (tmp_path / "search/exports/wos/savedrecs.xls").write_text("x")
    with pytest.raises(
        InputError,
        match=r"savedrecs.xls: expected a database export named .ris, .nbib, .txt",
    ):
        build_records(tmp_path)


def test_updated_record_replaces_content_but_old_snapshot_stays(review: Path) -> None:
    old = (review / "search/pubmed/2024-01-01.xml.gz").read_bytes()
    table, _ = build_records(review)
    assert table.set_index("record_id").loc["11748933", "title"].endswith("(corrected)")
    assert (review / "search/pubmed/2024-01-01.xml.gz").read_bytes() == old


# --------------------------------------------------------------------------- workflow


SNAKEFILE = """
configfile: "config.yaml"
include: "workflow/rules/search.smk"
"""


def _workflow(repo: Path, tmp: Path, root: Path, extra: str = "") -> Path:
    work = tmp / "wf"
    (work / "workflow/rules").mkdir(parents=True)
    shutil.copy(repo / "workflow/rules/search.smk", work / "workflow/rules/search.smk")
    shutil.copytree(repo / "scripts", work / "scripts")
    (work / "Snakefile").write_text(SNAKEFILE)
    (work / "config.yaml").write_text(
        f"inputs: {{root: {root}}}\ndedup: {{title_similarity: 95}}\n"
        "search: {mode: offline, query: 'diabetes[tiab]', start_date: '2024-01-01', "
        "email: t@example.org, tool: livingreview, batch_size: 100, use_mdat: true, "
        f"max_retries: 2, timeout_s: 5, max_retry_after_s: 60{extra}}}\n"
    )
    return work


def _snakemake(work: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    return subprocess.run(
        [str(exe), "results/records/records.csv", "--cores", "1", *args, "--resources", "ncbi=1"],
        cwd=work,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_offline_workflow_then_live_against_fake_server(
    repo: Path, review: Path, tmp_path: Path, shared: Path
) -> None:
    import os

    from fake_eutils import SMALL_TEMPLATE_FILES, FakeEutils, make_corpus

    work = _workflow(repo, tmp_path, review)
    run = _snakemake(work)
    assert run.returncode == 0, run.stderr
    assert "search_pubmed" not in run.stderr  # offline: no search job at all
    csv = (work / "results/records/records.csv").read_bytes()
    assert len(read_records(work / "results/records/records.csv")) == 9
    again = _snakemake(work)
    assert "Nothing to be done" in again.stderr
    assert (work / "results/records/records.csv").read_bytes() == csv

    today = clock.today()
    corpus = make_corpus(40, today - dt.timedelta(days=10), today, first_pmid=41_000_000)
    with FakeEutils(shared / PUBMED, corpus, template_files=SMALL_TEMPLATE_FILES) as fake:
        env = {**os.environ, "NCBI_API_KEY": "SECRET-wf-key-91"}
        live = _snakemake(
            work,
            "--config",
            f"search={{mode: live, eutils_url: '{fake.base_url}', query: 'test[tiab]', start_date: '2024-01-01'}}",
            env=env,
        )
        assert live.returncode == 0, live.stderr
        assert all(p.get("api_key") == "SECRET-wf-key-91" for _, p in fake.requests)
    assert "search_pubmed" in live.stderr
    snap = review / f"search/pubmed/{today.isoformat()}.xml.gz"
    assert (
        snap.exists()
        and read_json(snap.with_name(f"{today.isoformat()}.json"))["mindate"] == "2024-02-01"
    )
    table = read_records(work / "results/records/records.csv")
    assert len(table) == 9 + 40
    log = (work / f"results/logs/search/pubmed-{today.isoformat()}.log").read_text()
    assert "fetched 40/80 records" in log and "SECRET-wf-key-91" not in log + live.stderr
