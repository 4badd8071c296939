"""Retraction and correction watch: PubMed's notices read from the snapshots, acted on by screening."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from fake_eutils import SMALL_TEMPLATE_FILES, load_templates

from livingreview.evidence.grade import GradeSettings
from livingreview.publish import whats_new
from livingreview.screening import stage as scr
from livingreview.screening.merging import ScreeningResult
from livingreview.screening.status import format_status, status_of
from livingreview.search import watch
from livingreview.search.pubmed_xml import parse_efetch
from livingreview.search.records import build_records, write_records
from livingreview.search.snapshots import write_snapshot

REASONS = ["not an RCT", "wrong population"]
RETRACTION = (
    b'<CommentsCorrectionsList><CommentsCorrections RefType="RetractionIn">'
    b'<RefSource>Trials. 2024;1:1</RefSource><PMID Version="1">999</PMID>'
    b"</CommentsCorrections></CommentsCorrectionsList></MedlineCitation>"
)
ERRATUM = RETRACTION.replace(b"RetractionIn", b"ErratumIn").replace(b">999<", b">888<")


def article(
    shared: Path, pmid: str, notice: bytes = b"", retracted: bool = False
) -> tuple[str, bytes]:
    tpl = load_templates(shared / "fixtures" / "pubmed", SMALL_TEMPLATE_FILES)[-1]
    xml = tpl.replace(b"@PMID@", pmid.encode()).replace(b"@DOI@", f"10.1/{pmid}".encode())
    xml = xml.replace(b"@TITLE@", f"trial {pmid}".encode())
    if notice:
        xml = xml.replace(b"</MedlineCitation>", notice, 1)
    if retracted:
        xml = xml.replace(b"<PublicationTypeList>", b"<PublicationTypeList><PublicationType "
                          b'UI="D016441">Retracted Publication</PublicationType>', 1)  # fmt: skip
    return pmid, xml


def snapshot(root: Path, until: str, arts) -> None:
    write_snapshot(root / "search" / "pubmed", dt.date.fromisoformat(until), arts, query="q",
                   mindate=dt.date(2024, 1, 1))  # fmt: skip


def sheets(root: Path, ids: list[str]) -> None:
    for stage in ("title_abstract", "full_text"):
        for reviewer in ("alice", "bob"):
            folder = root / "screening" / stage
            folder.mkdir(parents=True, exist_ok=True)
            rows = "".join(f"{rid},include,,,2024-02-10\n" for rid in ids)
            (folder / f"{reviewer}.csv").write_text("record_id,decision,reason,note,date\n" + rows)


def run(root: Path, out: Path, retracted: str = "exclude") -> ScreeningResult:
    write_records(*build_records(root), out / "records.csv", out / "summary.json")
    config = {"allow_single_reviewer": False, "exclusion_reasons": REASONS, "retracted": retracted}
    settings = scr.ScreeningSettings.from_params({"root": root, "screening": config})
    result = scr.run(settings, {"records": out / "records.csv", "summary": out / "summary.json"})
    scr.write_outputs(result, out / "screening")
    return result


def test_efetch_parse_keeps_the_watched_links(shared: Path) -> None:
    _, xml = article(shared, "222", RETRACTION, retracted=True)
    (rec,) = [r for r in parse_efetch(b"<PubmedArticleSet>" + xml + b"</PubmedArticleSet>")]
    assert rec.corrections == ("RetractionIn 999",)
    assert "Retracted Publication" in rec.publication_types


def test_retracted_included_study_is_excluded_and_errata_flagged(
    shared: Path, tmp_path: Path
) -> None:
    root, out = tmp_path / "root", tmp_path / "out"
    (root / "search" / "exports").mkdir(parents=True)
    snapshot(root, "2024-02-01", [article(shared, "111"), article(shared, "222")])
    sheets(root, ["111", "222"])
    first = run(root, out)
    ft = first.decisions[first.decisions["stage"] == "full_text"].set_index("record_id")
    assert ft.loc["222", "status"] == "included" and len(first.watch) == 0
    # a later search: PubMed now marks 222 retracted and 111 corrected
    snapshot(root, "2024-03-01", [article(shared, "111", ERRATUM),
                                  article(shared, "222", RETRACTION, retracted=True)])  # fmt: skip
    result = run(root, out)
    ft = result.decisions[result.decisions["stage"] == "full_text"].set_index("record_id")
    assert (ft.loc["222", "status"], ft.loc["222", "rule"], ft.loc["222", "reason"]) == (
        "excluded", "retraction-watch", "retracted publication",
    )  # fmt: skip
    assert ft.loc["111", "status"] == "included"  # an erratum is flagged, never acted on
    notices = result.watch.set_index("record_id")
    assert (
        notices.loc["222", "notice"] == "retracted" and notices.loc["222", "notice_pmid"] == "999"
    )
    assert notices.loc["111", "notice"] == "erratum" and notices.loc["111", "status"] == "included"
    assert (out / "screening" / "watch.csv").read_text().count("\n") == 3
    text = format_status(status_of(result))
    assert "record 222 (excluded at full text): retracted (PMID 999)" in text
    # the team may keep it (and decide by hand): flag only
    kept = run(root, out, retracted="flag")
    ft = kept.decisions[kept.decisions["stage"] == "full_text"].set_index("record_id")
    assert ft.loc["222", "status"] == "included"


def test_watch_helpers() -> None:
    assert watch.retracted("Journal Article; Retracted Publication", "")
    assert watch.retracted("", "ErratumIn 5; RetractionIn 7")
    assert not watch.retracted("Journal Article", "ErratumIn 5")


def test_whats_new_names_a_retracted_removal(tmp_path: Path) -> None:
    changes = {
        "studies_removed": [["s1", "One et al."]],
        "causes": {"decisions_changed": [{"record_id": "r1", "stage": "full_text", "old": "included",
                                          "new": "excluded", "rule": "retraction-watch"}]},
    }  # fmt: skip
    prev = tmp_path / "v1"
    prev.mkdir()
    (prev / "effects.csv").write_text("study_id,record_id\ns1,r1\n")
    news = whats_new.whats_new(
        prev, tmp_path / "v2", changes, GradeSettings(), version="v2", date="d"
    )
    assert news["studies_removed"][0]["why"].startswith("removal of a retracted study")
    assert "studies removed" in news["change_types"]
