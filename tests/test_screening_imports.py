"""Screening decisions from other tools: Rayyan, Covidence and ASReview LAB exports.

Each export (tests/data/screening_imports, see SOURCES.md there) is dropped into a
review's stage folder under the reviewer's name, read, mapped to the record store
of tests/data/screening (PMID, DOI, title + year) and merged with a second
reviewer's own sheet: statuses, reasons, Cohen's kappa, unmatched rows, and the
errors for what cannot be read without guessing.
"""

from __future__ import annotations

import csv
import json
import shutil
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
import yaml

from livingreview.errors import InputError, InputErrors
from livingreview.screening import merging
from livingreview.screening import stage as scr
from livingreview.screening.files import sheet_paths
from livingreview.screening.imports import RecordIndex, detect_tool, person_key
from livingreview.screening.merging import ScreeningResult
from livingreview.screening.reading import read_decisions
from livingreview.screening.status import format_status, status_of
from livingreview.screening.store import read_records
from livingreview.screening.tool_readers import read_export_file

DATA = Path(__file__).parent / "data" / "screening_imports"
STORE = Path(__file__).parent / "data" / "screening"
REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["screening"]
CONFIG = {**CONFIG, "prioritise": {"enabled": False}}
EMBASE = "embase-3f2a9c1e"


def rid(n: int) -> str:
    return EMBASE if n == 21 else str(38000100 + n)


def review(tmp_path: Path, files: dict[str, Path | str]) -> Path:
    """A review root whose screening folder holds ``files`` ({relative path: source or text})."""
    root = tmp_path / "review"
    for rel, src in files.items():
        target = root / "screening" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, Path):
            shutil.copyfile(src, target)
        else:
            target.write_text(src, encoding="utf-8")
    return root


def merge(root: Path, config=CONFIG) -> ScreeningResult:
    records = read_records(STORE / "records.csv")
    summary = json.loads((STORE / "summary.json").read_text())
    return merging.merge(records, sheet_paths(root), root / "screening", config, summary)


def statuses(result: ScreeningResult, stage: str) -> dict[str, tuple[str, str, str]]:
    d = result.decisions[result.decisions["stage"] == stage]
    return {
        r: (s, dec, reason)
        for r, s, dec, reason in zip(
            d["record_id"], d["status"], d["decisions"], d["reason"], strict=True
        )
        if s != "unscreened"
    }


def sheet(rows: list[tuple]) -> str:
    lines = ["record_id,decision,reason,note"]
    lines += [",".join(f'"{c}"' if "," in c else c for c in r) for r in rows]
    return "\n".join(lines) + "\n"


def kappa_of(result: ScreeningResult, stage: str) -> dict:
    (pair,) = result.agreement["stages"][stage].values()
    return pair


def rewrite_csv(src: Path, dst: Path, edit) -> None:
    """Copy a CSV export, changing cells: ``edit(row_number, row_dict)`` (header = row 1)."""
    with open(src, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
        header = list(rows[0])
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, header, lineterminator="\r\n")
        w.writeheader()
        for n, row in enumerate(rows, start=2):
            edit(n, row)
            w.writerow(row)


BOB_TA = sheet(
    [
        (rid(1), "include", "", ""),
        (rid(2), "exclude", "", ""),
        (rid(3), "include", "", ""),
        (rid(4), "include", "", ""),
        (rid(7), "exclude", "", ""),
        (rid(8), "exclude", "", ""),
        (rid(21), "include", "", ""),
    ]
)


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("file", "tool"),
    [
        ("rayyan/articles.csv", "rayyan"),
        ("covidence/review_123456_select_csv_20261102093012.csv", "covidence"),
        ("asreview/asreview_relevant+not_seen+irrelevant_diabetes_messaging.csv", "asreview"),
        ("asreview/asreview_result_diabetes-messaging.csv", "asreview"),
    ],
)
def test_the_tool_is_read_from_the_content(file, tool, tmp_path):
    # the name says nothing: the columns and cells do
    renamed = tmp_path / "alice.csv"
    shutil.copyfile(DATA / file, renamed)
    assert detect_tool(read_export_file(renamed)) == tool


def test_our_own_sheet_is_not_a_tool_export(tmp_path):
    path = tmp_path / "alice.csv"
    path.write_text(BOB_TA)
    assert detect_tool(read_export_file(path)) is None


def test_rayyan_names_meet_file_names_without_case_accents_and_punctuation():
    assert person_key("Alice") == "alice"
    assert person_key("Bob Jones") == "bobjones"
    assert person_key("Jürgen.Schneider") == "jurgenschneider"


# --------------------------------------------------------------------------- Rayyan


def test_rayyan_export_is_alices_sheet_merged_with_bobs_own(tmp_path):
    root = review(
        tmp_path,
        {
            "title_abstract/alice.csv": DATA / "rayyan/articles.csv",
            "title_abstract/bob.csv": BOB_TA,
        },
    )
    result = merge(root)
    assert statuses(result, "title_abstract") == {
        rid(1): ("included", "alice=include; bob=include", ""),  # by PMID
        rid(2): ("excluded", "alice=exclude; bob=exclude", "wrong population"),
        rid(3): ("included", "alice=maybe; bob=include", ""),  # Rayyan's Maybe is our maybe
        rid(4): ("conflict", "alice=exclude; bob=include", ""),
        rid(7): ("excluded", "alice=exclude; bob=exclude", ""),
        rid(8): ("excluded", "alice=exclude; bob=exclude", ""),  # by title and year only
        rid(21): ("included", "alice=include; bob=include", ""),  # by DOI (resolver URL, capitals)
    }
    d = result.decisions.set_index(["stage", "record_id"]).loc["title_abstract"]
    # 5: only "Bob Jones" screened it in Rayyan; 6: nobody: neither is alice's answer
    assert d.loc[rid(5), "status"] == d.loc[rid(6), "status"] == "unscreened"
    # sources name the export's spreadsheet rows (a quoted abstract spans lines: one row)
    assert d.loc[rid(4), "sources"] == (
        "alice=title_abstract/alice.csv:5; bob=title_abstract/bob.csv:5"
    )
    conflict = result.conflicts.set_index("record_id").loc[rid(4)]
    assert conflict["notes"] == "alice: Rayyan labels: RCT,gestational"
    # Cohen's kappa over the 7 records both screened (maybe counted as include):
    # agree include 101, 103, 121; agree exclude 102, 107, 108; alice exclude / bob include 104.
    # p_o = 6/7, p_e = (3*4 + 4*3)/49 = 24/49, kappa = (6/7 - 24/49)/(1 - 24/49) = 18/25
    k = kappa_of(result, "title_abstract")
    assert (k["n"], k["agreed"], k["table"]) == (7, 6, [[3, 0], [1, 3]])
    assert k["kappa"] == pytest.approx(float(Fraction(18, 25)), abs=1e-12)


def test_rayyan_row_matching_no_record_is_listed_not_dropped(tmp_path):
    root = review(tmp_path, {"title_abstract/alice.csv": DATA / "rayyan/articles.csv"})
    result = merge(root)
    assert result.unmatched.to_dict("records") == [
        {
            "file": "title_abstract/alice.csv",
            "row": 11,
            "tool": "rayyan",
            "reviewer": "alice",
            "stage": "title_abstract",
            "decision": "include",
            "pmid": "39999999",
            "doi": "10.1000/other.999",
            "title": "Text messaging to lower blood pressure in hypertension: a randomised trial",
            "year": "2024",
        }
    ]
    out = tmp_path / "out"
    scr.write_outputs(result, out, figures=False)
    written = pd.read_csv(out / "unmatched.csv", dtype=str, keep_default_na=False)
    assert written[["file", "row", "pmid"]].values.tolist() == [
        ["title_abstract/alice.csv", "11", "39999999"]
    ]
    st = status_of(result)
    assert st.unmatched == 1
    assert (
        "Rows of tool exports (Rayyan, Covidence, ASReview) that match no record: 1 "
        f"(listed in {out / 'unmatched.csv'})" in format_status(st, out)
    )


def test_rayyan_user_notes_of_the_reviewer_become_the_note(tmp_path):
    root = review(tmp_path, {"title_abstract/alice.csv": DATA / "rayyan/articles.csv"})
    result = merge(root, {**CONFIG, "allow_single_reviewer": True})
    queue_notes = result.decisions.set_index(["stage", "record_id"])
    assert queue_notes.loc[("title_abstract", rid(3)), "status"] == "included"
    records = read_records(STORE / "records.csv")
    rows, _, errors = read_decisions(
        sheet_paths(root),
        root / "screening",
        set(records["record_id"]),
        CONFIG["exclusion_reasons"],
        index=RecordIndex.from_records(records),
        unmatched=[],
    )
    assert errors == []
    notes = {d.record_id: d.note for d in rows}
    assert notes[rid(3)] == "check the comparator"
    assert notes[rid(1)] == "Rayyan labels: RCT"


def test_rayyan_ris_export(tmp_path):
    root = review(
        tmp_path,
        {
            "title_abstract/alice.ris": DATA / "rayyan/articles.ris",
            "title_abstract/bob.csv": BOB_TA,
        },
    )
    result = merge(root)
    s = statuses(result, "title_abstract")
    assert s[rid(1)] == ("included", "alice=include; bob=include", "")
    assert s[rid(2)] == ("excluded", "alice=exclude; bob=exclude", "wrong population")
    assert s[rid(8)] == ("excluded", "alice=exclude; bob=exclude", "")  # title + year
    assert result.reviewers == ["alice", "bob"]
    # a RIS "row" is the line of the record's TY tag
    d = result.decisions.set_index(["stage", "record_id"])
    assert d.loc[("title_abstract", rid(8)), "sources"].startswith(
        "alice=title_abstract/alice.ris:24"
    )


def test_rayyan_reviewer_must_be_in_the_file(tmp_path):
    root = review(tmp_path, {"title_abstract/carol.csv": DATA / "rayyan/articles.csv"})
    with pytest.raises(InputError) as err:
        merge(root)
    assert err.value.file.endswith("title_abstract/carol.csv")
    assert (err.value.row, err.value.column) == (1, "notes")
    assert "decisions of reviewer carol" in str(err.value)
    assert "names in this file: Alice, Bob Jones" in str(err.value)


def test_rayyan_display_name_with_a_space_is_the_joined_file_name(tmp_path):
    root = review(tmp_path, {"title_abstract/bobjones.csv": DATA / "rayyan/articles.csv"})
    result = merge(root, {**CONFIG, "allow_single_reviewer": True})
    s = statuses(result, "title_abstract")
    assert s[rid(5)] == ("included", "bobjones=include", "")  # only Bob screened 5
    assert s[rid(4)] == ("included", "bobjones=include", "")


def test_rayyan_exclusion_reason_not_configured_stops_naming_the_row(tmp_path):
    src = DATA / "rayyan/articles.csv"
    dst = tmp_path / "src" / "alice.csv"

    def edit(n, row):
        if n == 3:
            row["notes"] = row["notes"].replace("wrong population", "wrong planet")

    rewrite_csv(src, dst, edit)
    root = review(tmp_path, {"title_abstract/alice.csv": dst})
    with pytest.raises(InputError) as err:
        merge(root)
    assert (err.value.row, err.value.column, err.value.got) == (3, "notes", "wrong planet")
    assert "configured ones (screening.exclusion_reasons)" in str(err.value)


def test_rayyan_several_reasons_cannot_be_attributed(tmp_path):
    dst = tmp_path / "src" / "alice.csv"

    def edit(n, row):
        if n == 3:
            row["notes"] = row["notes"].replace("wrong population", "wrong population,not an RCT")

    rewrite_csv(DATA / "rayyan/articles.csv", dst, edit)
    root = review(tmp_path, {"title_abstract/alice.csv": dst})
    with pytest.raises(InputError, match=r"one exclusion reason per record") as err:
        merge(root)
    assert (err.value.row, err.value.column) == (3, "notes")
    assert "Alice, Bob Jones" in str(err.value)


def test_rayyan_answer_other_than_included_excluded_maybe_stops(tmp_path):
    dst = tmp_path / "src" / "alice.csv"

    def edit(n, row):
        if n == 9:
            row["notes"] = row["notes"].replace('"Alice"=>"Excluded"', '"Alice"=>"Undecided"')

    rewrite_csv(DATA / "rayyan/articles.csv", dst, edit)
    root = review(tmp_path, {"title_abstract/alice.csv": dst})
    with pytest.raises(InputError) as err:
        merge(root)
    assert (err.value.row, err.value.column, err.value.got) == (9, "notes", "Undecided")


def test_keys_naming_two_records_are_ambiguous_and_stop(tmp_path):
    dst = tmp_path / "src" / "alice.csv"

    def edit(n, row):
        if n == 2:  # PMID of record 101, DOI of record 102
            row["doi"] = "10.1000/demo.002"

    rewrite_csv(DATA / "rayyan/articles.csv", dst, edit)
    root = review(tmp_path, {"title_abstract/alice.csv": dst})
    with pytest.raises(InputError) as err:
        merge(root)
    assert err.value.file.endswith("alice.csv")
    assert (err.value.row, err.value.column) == (2, "doi")
    assert f"its PMID names record {rid(1)}, its DOI names {rid(2)}" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_a_title_shared_by_two_records_is_ambiguous(tmp_path):
    records = pd.read_csv(STORE / "records.csv", dtype=str, keep_default_na=False)
    twin = records[records["record_id"] == rid(8)].assign(
        record_id="scopus-0badf00d", pmid="", doi="10.1000/demo.108"
    )
    store = tmp_path / "records.csv"
    pd.concat([records, twin]).to_csv(store, index=False)
    root = review(tmp_path, {"title_abstract/alice.csv": DATA / "rayyan/articles.csv"})
    summary = json.loads((STORE / "summary.json").read_text())
    with pytest.raises(InputError) as err:
        merging.merge(read_records(store), sheet_paths(root), root / "screening", CONFIG, summary)
    assert (err.value.row, err.value.column) == (9, "title")
    assert f"matches records {rid(8)}, scopus-0badf00d" in str(err.value)


def test_same_record_twice_in_an_export_with_different_answers_stops(tmp_path):
    dst = tmp_path / "src" / "alice.csv"

    def edit(n, row):
        if n == 8:  # a duplicate of record 102 left in the Rayyan project, answered otherwise
            row.update(pubmed_id="38000102", doi="", title="x")
            row["notes"] = 'RAYYAN-INCLUSION: {"Alice"=>"Included"}'

    rewrite_csv(DATA / "rayyan/articles.csv", dst, edit)
    root = review(tmp_path, {"title_abstract/alice.csv": dst})
    with pytest.raises(InputError, match=r"one answer per person and record") as err:
        merge(root)
    assert (err.value.row, err.value.column) == (8, "decision")


def test_an_unrecognised_export_stops_with_what_is_accepted(tmp_path):
    # Rayyan's import file before anyone screened: no markers, keys not rayyan-<id>
    text = "key,title,authors,journal,year,abstract,notes\n1,Some title,Doe J,J,2021,,\n"
    root = review(tmp_path, {"title_abstract/alice.csv": text})
    with pytest.raises(InputError) as err:
        merge(root)
    assert err.value.row == 1
    assert "Rayyan (RAYYAN-INCLUSION in its notes), Covidence" in str(err.value)
    assert err.value.got == "key, title, authors, journal, year, abstract, notes"


def test_a_ris_file_without_tool_markers_is_not_recognised(tmp_path):
    ris = "TY  - JOUR\nTI  - Some title\nPY  - 2021\nER  - \n"
    root = review(tmp_path, {"title_abstract/alice.ris": ris})
    with pytest.raises(InputError, match=r"a RIS file without Rayyan or ASReview notes"):
        merge(root)


# --------------------------------------------------------------------------- Covidence


COV = DATA / "covidence"
SELECT = COV / "review_123456_select_csv_20261102093012.csv"
IRRELEVANT = COV / "review_123456_irrelevant_csv_20261102093020.csv"
INCLUDED = COV / "review_123456_included_csv_20261120101500.csv"
EXCLUDED = COV / "review_123456_excluded_csv_20261120101506.csv"


def covidence_review(tmp_path: Path, bob_ft: str) -> Path:
    return review(
        tmp_path,
        {
            f"title_abstract/carol-{SELECT.name}": SELECT,
            f"title_abstract/carol-{IRRELEVANT.name}": IRRELEVANT,
            # records that reached full text passed title/abstract too
            f"title_abstract/carol-{INCLUDED.name}": INCLUDED,
            f"title_abstract/carol-{EXCLUDED.name}": EXCLUDED,
            f"full_text/carol-{INCLUDED.name}": INCLUDED,
            f"full_text/carol-{EXCLUDED.name}": EXCLUDED,
            "title_abstract/bob.csv": BOB_TA,
            "full_text/bob.csv": bob_ft,
        },
    )


BOB_FT = sheet(
    [
        (rid(1), "include", "", ""),
        (rid(3), "exclude", "not an RCT", ""),
        (rid(4), "exclude", "wrong outcomes", ""),
        (rid(21), "include", "", ""),
    ]
)


def test_covidence_lists_are_carols_decisions_merged_with_bobs_own(tmp_path):
    result = merge(covidence_review(tmp_path, BOB_FT))
    ta = statuses(result, "title_abstract")
    assert ta == {
        rid(1): ("included", "bob=include; carol=include", ""),
        rid(2): ("excluded", "bob=exclude; carol=exclude", ""),
        rid(3): ("included", "bob=include; carol=include", ""),
        rid(4): ("included", "bob=include; carol=include", ""),  # by DOI (no accession number)
        rid(7): ("excluded", "bob=exclude; carol=exclude", ""),
        rid(8): ("excluded", "bob=exclude; carol=exclude", ""),  # by title and year
        rid(21): ("included", "bob=include; carol=include", ""),  # Embase number ignored, DOI
    }
    ft = statuses(result, "full_text")
    assert ft == {
        rid(1): ("included", "bob=include; carol=include", ""),
        rid(3): ("excluded", "bob=exclude; carol=exclude", "not an RCT"),
        # reasons differ: the alphabetically first reviewer's, said in the note
        rid(4): ("excluded", "bob=exclude; carol=exclude", "wrong outcomes"),
        rid(21): ("included", "bob=include; carol=include", ""),
    }
    d = result.decisions.set_index(["stage", "record_id"])
    assert d.loc[("full_text", rid(4)), "reasons"] == "bob=wrong outcomes; carol=wrong population"
    # complete agreement at both stages: kappa 1
    ta_k, ft_k = kappa_of(result, "title_abstract"), kappa_of(result, "full_text")
    assert (ta_k["n"], ta_k["agreed"], ta_k["kappa"]) == (7, 7, pytest.approx(1.0, abs=1e-12))
    assert (ft_k["n"], ft_k["agreed"], ft_k["kappa"]) == (4, 4, pytest.approx(1.0, abs=1e-12))
    assert result.unmatched[["file", "row", "pmid"]].values.tolist() == [
        [f"title_abstract/carol-{IRRELEVANT.name}", 5, "39999999"]
    ]
    assert result.prisma["included_records"] == 2


def test_covidence_file_name_must_keep_the_list(tmp_path):
    root = review(tmp_path, {"title_abstract/carol-covidence.csv": SELECT})
    with pytest.raises(InputError, match=r"a file name that keeps Covidence's list name") as err:
        merge(root)
    assert err.value.got == "carol-covidence.csv"


def test_covidence_list_in_the_wrong_stage_stops(tmp_path):
    root = review(tmp_path, {f"full_text/carol-{IRRELEVANT.name}": IRRELEVANT})
    with pytest.raises(InputError) as err:
        merge(root)
    assert "the irrelevant list belongs in title_abstract/" in str(err.value)
    root2 = review(
        tmp_path / "b", {"title_abstract/carol-review_1_screen_csv_20261101.csv": SELECT}
    )
    with pytest.raises(InputError, match=r"holds records nobody has screened yet"):
        merge(root2)


def test_covidence_full_text_exclusion_reason_must_be_configured(tmp_path):
    dst = tmp_path / "src" / EXCLUDED.name

    def edit(n, row):
        if n == 3:
            row["Notes"] = "Exclusion reason: Wrong setting; "

    rewrite_csv(EXCLUDED, dst, edit)
    root = covidence_review(tmp_path, BOB_FT)
    shutil.copyfile(dst, root / "screening" / "full_text" / f"carol-{EXCLUDED.name}")
    with pytest.raises(InputError) as err:
        merge(root)
    assert (err.value.row, err.value.column, err.value.got) == (3, "Notes", "Wrong setting")


# --------------------------------------------------------------------------- ASReview LAB


V2 = DATA / "asreview/asreview_relevant+not_seen+irrelevant_diabetes_messaging.csv"
V1 = DATA / "asreview/asreview_result_diabetes-messaging.csv"
RIS = DATA / "asreview/asreview_relevant+not_seen+irrelevant_diabetes_messaging.ris"

ASREVIEW_TA = {
    rid(1): ("included", "bob=include; dave=include", ""),
    rid(2): ("excluded", "bob=exclude; dave=exclude", ""),
    rid(3): ("included", "bob=include; dave=include", ""),
    rid(4): ("included", "bob=include; dave=include", ""),  # DOI as resolver URL
    rid(7): ("excluded", "bob=exclude; dave=exclude", ""),
    rid(8): ("excluded", "bob=exclude; dave=exclude", ""),  # title + year (no DOI)
    rid(21): ("included", "bob=include; dave=include", ""),
}


def _xlsx_from_csv(src: Path, dst: Path) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    with open(src, newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.reader(fh)):
            cells = [int(c) if n and c.isdigit() and len(c) < 3 else c for c in row]
            ws.append(cells)  # labels and ASReview's record ids as numbers, as Excel keeps them
    book.save(dst)
    return dst


@pytest.mark.parametrize("export", ["v2.csv", "v1.csv", "v2.ris", "v2.xlsx"])
def test_asreview_export_is_daves_sheet_merged_with_bobs_own(export, tmp_path):
    src = {"v2.csv": V2, "v1.csv": V1, "v2.ris": RIS}.get(export)
    if export == "v2.xlsx":
        src = _xlsx_from_csv(V2, tmp_path / "export.xlsx")
    suffix = Path(export).suffix
    root = review(
        tmp_path,
        {f"title_abstract/dave-asreview_export{suffix}": src, "title_abstract/bob.csv": BOB_TA},
    )
    result = merge(root)
    assert statuses(result, "title_abstract") == ASREVIEW_TA
    d = result.decisions.set_index(["stage", "record_id"])
    # ASReview's "not seen" (empty label) is no answer
    assert d.loc[("title_abstract", rid(5)), "status"] == "unscreened"
    k = kappa_of(result, "title_abstract")
    assert (k["n"], k["agreed"], k["kappa"]) == (7, 7, pytest.approx(1.0, abs=1e-12))
    assert result.unmatched[["tool", "reviewer", "doi"]].values.tolist() == [
        ["asreview", "dave", "10.1000/other.999"]
    ]


@pytest.mark.parametrize("src", [V2, RIS], ids=["csv", "ris"])
def test_asreview_note_is_kept(src, tmp_path):
    root = review(
        tmp_path, {f"title_abstract/dave{src.suffix}": src, "title_abstract/bob.csv": BOB_TA}
    )
    records = read_records(STORE / "records.csv")
    rows, _, errors = read_decisions(
        sheet_paths(root),
        root / "screening",
        set(records["record_id"]),
        CONFIG["exclusion_reasons"],
        index=RecordIndex.from_records(records),
        unmatched=[],
    )
    assert errors == []
    notes = {d.record_id: d.note for d in rows if d.reviewer == "dave"}
    assert notes[rid(4)] == "RCT? check allocation"
    assert notes[rid(8)] == "not a trial"


def test_asreview_label_other_than_1_0_empty_stops(tmp_path):
    dst = tmp_path / "src" / "dave.csv"

    def edit(n, row):
        if n == 4:
            row["asreview_label"] = "2"

    rewrite_csv(V2, dst, edit)
    root = review(tmp_path, {"title_abstract/dave.csv": dst})
    with pytest.raises(InputError) as err:
        merge(root)
    assert (err.value.row, err.value.column, err.value.got) == (4, "asreview_label", "2")


def test_asreview_exclusion_at_full_text_needs_a_reason(tmp_path):
    # ASReview has no exclusion reasons: its exclusions cannot be full-text decisions
    root = review(
        tmp_path,
        {
            "title_abstract/dave.csv": V2,
            "title_abstract/bob.csv": BOB_TA,
            "full_text/dave.csv": V2,
        },
    )
    with pytest.raises(InputErrors, match=r"an exclusion reason for a full-text exclusion"):
        merge(root)


def test_our_queue_screened_in_asreview_with_our_decision_column_filled_stops(tmp_path):
    text = (
        "record_id,decision,title,year,doi,asreview_label\n"
        f"{rid(1)},include,x,2021,10.1000/demo.001,1\n"
    )
    root = review(tmp_path, {"title_abstract/dave.csv": text})
    with pytest.raises(InputError, match=r"one place for each decision") as err:
        merge(root)
    assert (err.value.row, err.value.column) == (2, "decision")


# --------------------------------------------------------------------------- workflow inputs


def test_an_export_in_a_stage_folder_is_an_input_of_the_rule(tmp_path):
    root = review(
        tmp_path,
        {
            "title_abstract/alice.ris": DATA / "rayyan/articles.ris",
            "title_abstract/bob.csv": BOB_TA,
        },
    )
    assert [p.name for p in sheet_paths(root)] == ["alice.ris", "bob.csv"]


def test_run_writes_unmatched_csv_and_is_byte_identical(tmp_path):
    root = review(
        tmp_path,
        {
            "title_abstract/alice.csv": DATA / "rayyan/articles.csv",
            "title_abstract/bob.csv": BOB_TA,
        },
    )
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        settings = scr.ScreeningSettings.from_params({"root": root, "screening": CONFIG})
        scr.write(
            scr.run(
                settings, {"records": STORE / "records.csv", "summary": STORE / "summary.json"}
            ),
            {"decisions": out / "decisions.csv"},
        )
    for name in ("unmatched.csv", "decisions.csv", "agreement.json"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes()
    assert (outs[0] / "unmatched.csv").read_text().splitlines()[0] == (
        "file,row,tool,reviewer,stage,decision,pmid,doi,title,year"
    )


def test_rule_reruns_when_an_export_is_dropped_in_or_changed(tmp_path):
    """The real rule: a Rayyan export in place of alice's sheet is an input; changing it reruns."""
    from test_screening import SNAKEFILE, _snakemake

    work = tmp_path / "wf"
    for rel in (
        "workflow/rules/screening.smk",
        "workflow/schemas/screening.schema.yaml",
        "workflow/schemas/adjudication.schema.yaml",
        "scripts/screening.py",
    ):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, work / rel)
    (work / "config").mkdir()
    (work / "config" / "config.yaml").write_text(
        yaml.safe_dump({"inputs": {"root": "review"}, "screening": CONFIG})
    )
    (work / "Snakefile").write_text(SNAKEFILE)
    review(work, {"title_abstract/bob.csv": BOB_TA})
    (work / "results" / "records").mkdir(parents=True)
    shutil.copy(STORE / "records.csv", work / "results" / "records" / "records.csv")
    shutil.copy(STORE / "summary.json", work / "results" / "records" / "summary.json")
    out = work / "results" / "screening"
    _snakemake(work)
    assert (out / "unmatched.csv").read_text().count("\n") == 1  # header only

    alice = work / "review" / "screening" / "title_abstract" / "alice.csv"
    shutil.copyfile(DATA / "rayyan/articles.csv", alice)
    assert "rule screening" in _snakemake(work)
    decisions = pd.read_csv(out / "decisions.csv", dtype=str, keep_default_na=False)
    row = decisions[(decisions["record_id"] == rid(2)) & (decisions["stage"] == "title_abstract")]
    assert row[["status", "reason"]].values.tolist() == [["excluded", "wrong population"]]
    assert "39999999" in (out / "unmatched.csv").read_text()
    assert "Nothing to be done" in _snakemake(work)

    # Alice changes her mind on 104 in Rayyan and exports again
    rewrite_csv(
        DATA / "rayyan/articles.csv",
        alice,
        lambda n, row: (
            row.update(notes='RAYYAN-INCLUSION: {"Alice"=>"Included"}') if n == 5 else None
        ),
    )
    assert "rule screening" in _snakemake(work)
    decisions = pd.read_csv(out / "decisions.csv", dtype=str, keep_default_na=False)
    row = decisions[(decisions["record_id"] == rid(4)) & (decisions["stage"] == "title_abstract")]
    assert row[["status", "decisions"]].values.tolist() == [
        ["included", "alice=include; bob=include"]
    ]


def test_rayyan_map_with_an_unquoted_answer_stops(tmp_path):
    # older Rayyan exports wrote {"Name"=>true}: no answer is guessed from it
    dst = tmp_path / "src" / "alice.csv"

    def edit(n, row):
        if n == 2:
            row["notes"] = 'RAYYAN-INCLUSION: {"Alice"=>true, "Bob Jones"=>"Included"}'

    rewrite_csv(DATA / "rayyan/articles.csv", dst, edit)
    root = review(tmp_path, {"title_abstract/alice.csv": dst})
    with pytest.raises(
        InputError, match=r'a RAYYAN-INCLUSION map like \{"Name"=>"Included"'
    ) as err:
        merge(root)
    assert (err.value.row, err.value.column) == (2, "notes")


def test_a_pmid_column_holds_digits_only(tmp_path):
    dst = tmp_path / "src" / "alice.csv"

    def edit(n, row):
        if n == 2:
            row["pubmed_id"] = "PMC1234567"

    rewrite_csv(DATA / "rayyan/articles.csv", dst, edit)
    root = review(tmp_path, {"title_abstract/alice.csv": dst})
    with pytest.raises(InputError, match=r"a PubMed ID \(digits only\)") as err:
        merge(root)
    assert (err.value.row, err.value.column, err.value.got) == (2, "pubmed_id", "PMC1234567")
