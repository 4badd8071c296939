"""Record identity in a living review (issue 14): ids stay valid when PubMed catches up or withdraws.

A record first imported from an export gets ``<source>-<hash>``; when PubMed
later returns it (same DOI) its id becomes the PMID, and when PubMed deletes
a record (DeleteCitation) it used to vanish. Either way reviewers' correct rows
were then reported as wrong. Now the earlier id is an alias, and a withdrawn
record stays, flagged.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from fake_eutils import SMALL_TEMPLATE_FILES, load_templates

from livingreview import cli
from livingreview.extraction.stage import ExtractionSettings
from livingreview.extraction.stage import run as run_extraction
from livingreview.io import read_json
from livingreview.publish.report import render_index
from livingreview.screening import stage as scr
from livingreview.screening.merging import ScreeningResult
from livingreview.search.records import (
    ALIASES_CSV,
    alias_map,
    build_records,
    read_aliases,
    read_records,
    withdrawal_warnings,
    write_records,
)
from livingreview.search.snapshots import write_snapshot

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
DOI = "10.5555/identity.1"
PMID = "39000001"
EXPORT = (
    "Title,DOI,Year,Source title,Authors\n"
    f"Messenger support for glycaemic control: a randomised trial,{DOI},2023,Diabetes Care,Roe A\n"
    "Another trial without any identifier,,2022,Trials,Poe B\n"
)


def article(shared: Path, pmid: str, doi: str) -> tuple[str, bytes]:
    tpl = load_templates(shared / "fixtures" / "pubmed", SMALL_TEMPLATE_FILES)[-1]  # has a DOI
    xml = tpl.replace(b"@PMID@", pmid.encode()).replace(b"@DOI@", doi.encode())
    return pmid, xml.replace(b"@TITLE@", b"(PubMed version)")


def snapshot(root: Path, until: str, arts, deleted=()) -> None:
    write_snapshot(
        root / "search" / "pubmed",
        dt.date.fromisoformat(until),
        arts,
        query="q",
        mindate=dt.date(2024, 1, 1),
        deleted=deleted,
    )


def build(root: Path, out: Path) -> pd.DataFrame:
    write_records(*build_records(root), out / "records.csv", out / "summary.json")
    return read_records(out / "records.csv")


def sheet(root: Path, stage: str, reviewer: str, rows: list[tuple[str, str]]) -> None:
    folder = root / "screening" / stage
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["record_id,decision,reason,note,date"]
    lines += [f"{rid},{decision},,,2024-01-20" for rid, decision in rows]
    (folder / f"{reviewer}.csv").write_text("\n".join(lines) + "\n")


def screen(root: Path, out: Path) -> ScreeningResult:
    settings = scr.ScreeningSettings.from_params(
        {"root": root, "screening": {**CONFIG["screening"], "allow_single_reviewer": False}}
    )
    result = scr.run(settings, {"records": out / "records.csv", "summary": out / "summary.json"})
    scr.write_outputs(result, out / "screening")
    return result


@pytest.fixture()
def review(tmp_path: Path) -> Path:
    """Run 1: one Scopus export; both reviewers screen its records by the export ids."""
    root = tmp_path / "root"
    (root / "search" / "exports" / "scopus").mkdir(parents=True)
    (root / "search" / "exports" / "scopus" / "2024-01-15-scopus.csv").write_text(EXPORT)
    return root


def test_export_record_later_in_pubmed_keeps_its_old_id_valid(
    review: Path, shared: Path, tmp_path: Path
) -> None:
    first = build(review, tmp_path / "run1")
    old = first.loc[first["doi"] == DOI, "record_id"].item()
    other = first.loc[first["doi"] == "", "record_id"].item()
    assert old.startswith("scopus-")
    for reviewer in ("alice", "bob"):
        sheet(review, "title_abstract", reviewer, [(old, "include"), (other, "exclude")])
    screen(review, tmp_path / "run1")

    # Run 2: PubMed now has the record (same DOI): its id becomes the PMID.
    snapshot(review, "2024-02-01", [article(shared, PMID, DOI)])
    out = tmp_path / "run2"
    second = build(review, out)
    assert PMID in set(second["record_id"]) and old not in set(second["record_id"])
    assert second.set_index("record_id").loc[PMID, "aliases"] == old
    assert read_aliases(out / ALIASES_CSV) == {old: PMID} == alias_map(second)
    # The reviewers' rows (old id) still count, for the record under its new id.
    result = screen(review, out)
    ta = result.decisions[result.decisions["stage"] == "title_abstract"].set_index("record_id")
    assert ta.loc[PMID, "status"] == "included"
    assert ta.loc[other, "status"] == "excluded"

    # A clean run on the same store gives the same ids and aliases, byte for byte.
    clean = tmp_path / "clean"
    build(review, clean)
    for name in ("records.csv", ALIASES_CSV):
        assert (clean / name).read_bytes() == (out / name).read_bytes()


def test_old_and_new_id_for_one_record_are_one_answer(
    review: Path, shared: Path, tmp_path: Path
) -> None:
    first = build(review, tmp_path / "run1")
    old = first.loc[first["doi"] == DOI, "record_id"].item()
    snapshot(review, "2024-02-01", [article(shared, PMID, DOI)])
    build(review, tmp_path / "run2")
    sheet(review, "title_abstract", "alice", [(old, "include"), (PMID, "exclude")])
    sheet(review, "title_abstract", "bob", [(PMID, "include")])
    with pytest.raises(Exception, match=r"alice.csv.*row 3.*one answer per person and record"):
        screen(review, tmp_path / "run2")


def test_withdrawn_record_stays_flagged_and_warns(
    review: Path, shared: Path, tmp_path: Path, capsys
) -> None:
    snapshot(review, "2024-02-01", [article(shared, PMID, DOI), article(shared, "39000002", "")])
    out = tmp_path / "run"
    build(review, out)
    for reviewer in ("alice", "bob"):
        sheet(review, "title_abstract", reviewer, [(PMID, "include"), ("39000002", "exclude")])
    screen(review, out)

    snapshot(review, "2024-03-01", [], deleted=["39000002"])
    table = build(review, out).set_index("record_id")
    assert table.loc["39000002", "withdrawn"] == "2024-03-01"
    assert table.loc[PMID, "withdrawn"] == ""
    result = screen(review, out)  # the reviewers' rows about it are not errors
    ta = result.decisions[result.decisions["stage"] == "title_abstract"].set_index("record_id")
    assert ta.loc["39000002", "status"] == "excluded"
    summary = read_json(out / "summary.json")
    assert summary["deleted_pmids"] == ["39000002"]
    assert withdrawal_warnings(summary) == [
        "record 39000002 was withdrawn from PubMed on 2024-03-01 (DeleteCitation); it stays "
        "in the review, flagged: check its screening and extraction rows"
    ]
    # The report and `livingreview status` warn (instead of failing).
    results = tmp_path / "project" / "results"
    shutil.copytree(out, results / "records")
    html = render_index(results, results / "report", CONFIG, strata={}, figures={}, tables={})
    assert (
        "<strong>Warning:</strong> record 39000002 was withdrawn from PubMed on 2024-03-01" in html
    )
    (tmp_path / "project" / "config.yaml").write_text(
        yaml.safe_dump({**CONFIG, "inputs": {"root": str(review)}})
    )
    assert cli.main(["status", "-d", str(tmp_path / "project"), "--configfile", "config.yaml"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "warning: " + withdrawal_warnings(summary)[0]

    # PubMed returning it later lifts the flag.
    snapshot(review, "2024-04-01", [article(shared, "39000002", "")])
    assert build(review, out).set_index("record_id").loc["39000002", "withdrawn"] == ""


def test_extraction_sheet_with_an_earlier_id_is_included(tmp_path: Path) -> None:
    root = tmp_path / "root"
    for kind in ("studies", "outcomes"):
        (root / "extraction" / kind).mkdir(parents=True)
    (root / "extraction/studies/alice.csv").write_text(
        "study_id,record_id,citation,design,icc,cluster_size,platform,followup_weeks,n_total\n"
        "s1,scopus-1a2b3c4d,Study 2020,individual,,,wechat,24,115\n"
    )
    (root / "extraction/outcomes/alice.csv").write_text(
        "study_id,domain,outcome,timepoint_weeks,form,favourable,m1,sd1,n1,m2,sd2,n2\n"
        "s1,glycemic,HbA1c,24,means,lower,7.4,1.0,58,8.1,1.3,57\n"
    )
    (root / "decisions.csv").write_text("record_id,stage,status\n101,full_text,included\n")
    (root / "aliases.csv").write_text("old_id,record_id\nscopus-1a2b3c4d,101\n")

    def extract(aliases):
        return run_extraction(
            ExtractionSettings.from_params({"root": root, "extraction": CONFIG["extraction"]}),
            {
                "studies": [root / "extraction/studies/alice.csv"],
                "outcomes": [root / "extraction/outcomes/alice.csv"],
                "decisions": root / "decisions.csv",
                "schemas": [REPO / "workflow" / "schemas" / "studies.schema.yaml"],
                "aliases": aliases,
            },
        )

    without = extract(None)  # what happened before: silently not included
    assert list(without.not_selected["status"]) == ["not-included"]
    res = extract(root / "aliases.csv")
    assert len(res.effects) == 1 and res.effects["record_id"].item() == "101"
    assert res.studies["screening_status"].item() == "included"


def test_earlier_id_of_another_record_is_not_an_alias(shared: Path, tmp_path: Path) -> None:
    """Two exports of one DOI-less title in different years stay two records, no cross alias."""
    root = tmp_path / "root"
    folder = root / "search" / "exports" / "scopus"
    folder.mkdir(parents=True)
    (folder / "2024-01-15-scopus.csv").write_text(
        "Title,DOI,Year\nSame title,,2020\nSame title,,2021\n"
    )
    table = build(root, tmp_path / "out")
    assert len(table) == 2 and (table["aliases"] == "").all()
    assert read_aliases(tmp_path / "out" / ALIASES_CSV) == {}
