"""Screening stage: merging reviewers' sheets, conflicts, kappa, queues, PRISMA counts, errors.

Fixture (tests/data/screening, see make_xlsx.py for bob.xlsx): 21 records,
38000101..38000120 plus embase-3f2a9c1e; 1-12 first seen 2026-05-01, the rest
in the latest search (2026-11-01). alice screens titles/abstracts in two CSV
batches plus a late third file, bob in one .xlsx; carol adjudicates.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pandas as pd
import pytest
import yaml

from livingreview.errors import InputError, InputErrors, LivingReviewError
from livingreview.screening import merging
from livingreview.screening import stage as scr
from livingreview.screening.agreement import kappa
from livingreview.screening.columns import QUEUE_COLUMNS, UNSCREENED
from livingreview.screening.files import reviewer_name, sheet_paths
from livingreview.screening.merging import ScreeningResult
from livingreview.screening.status import format_status, status, status_of
from livingreview.screening.store import new_record_flags, read_records

DATA = Path(__file__).parent / "data" / "screening"
REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["screening"]


def rid(n: int) -> str:
    return "embase-3f2a9c1e" if n == 21 else str(38000100 + n)


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    target = tmp_path / "review"
    shutil.copytree(DATA / "review", target)
    return target


def merge(root: Path, config=CONFIG) -> ScreeningResult:
    records = read_records(DATA / "records.csv")
    summary = json.loads((DATA / "summary.json").read_text())
    return merging.merge(records, sheet_paths(root), root / "screening", config, summary)


def table(result: ScreeningResult, stage: str) -> dict[str, tuple[str, str]]:
    d = result.decisions[result.decisions["stage"] == stage]
    return {r: (s, rule) for r, s, rule in zip(d["record_id"], d["status"], d["rule"], strict=True)}


# --------------------------------------------------------------------------- statuses


def test_title_abstract_status_and_rule_per_record(root):
    ta = table(merge(root), "title_abstract")
    expected = {
        1: ("included", "agreement"),
        2: ("excluded", "agreement"),
        3: ("included", "agreement"),  # include vs maybe: maybe sends to full text
        4: ("included", "agreement"),  # maybe vs maybe
        5: ("included", "adjudication"),  # include vs exclude, carol: include
        6: ("conflict", "none"),  # exclude vs include, not adjudicated
        7: ("excluded", "agreement"),
        8: ("excluded", "agreement"),
        9: ("included", "agreement"),
        10: ("included", "agreement"),
        11: ("included", "agreement"),  # alice wrote "Include"
        12: ("excluded", "adjudication"),  # exclude vs maybe, carol: exclude
        13: ("excluded", "agreement"),
        14: ("included", "agreement"),
        15: ("awaiting", "none"),
        16: ("awaiting", "none"),
        17: ("awaiting", "none"),  # from alice's late third file
        18: ("awaiting", "none"),
        19: ("unscreened", "none"),  # blank row of the late file is skipped
        20: ("unscreened", "none"),
        21: ("included", "agreement"),
    }
    assert ta == {rid(n): v for n, v in expected.items()}


def test_full_text_only_for_included_records_maybe_is_a_conflict(root):
    result = merge(root)
    ft = table(result, "full_text")
    expected = {
        1: ("included", "agreement"),  # repeated in alice's late file with the same answer
        3: ("excluded", "agreement"),
        4: ("excluded", "agreement"),  # different reasons
        5: ("included", "adjudication"),
        9: ("conflict", "none"),  # maybe vs include
        10: ("excluded", "agreement"),
        11: ("included", "agreement"),
        14: ("included", "agreement"),
        21: ("awaiting", "none"),
    }
    assert ft == {rid(n): v for n, v in expected.items()}
    d = result.decisions.set_index(["stage", "record_id"])
    assert (
        d.loc[("full_text", rid(10)), "reason"] == "wrong intervention"
    )  # "Wrong intervention" normalised
    four = d.loc[("full_text", rid(4))]
    assert four["reason"] == "non-extractable data"  # alice's, first alphabetically
    assert four["note"].startswith(
        "reasons differ (alice=non-extractable data; bob=poor methodological quality): alice's reason used"
    )
    assert (
        d.loc[("full_text", rid(9)), "note"]
        == "maybe at full text is not final: needs adjudication"
    )
    five = d.loc[("title_abstract", rid(5))]
    assert five["decisions"] == "alice=include; bob=exclude"
    assert five["adjudication"] == "carol=include"
    assert five["sources"] == (
        "alice=title_abstract/alice-batch1.csv:6; bob=title_abstract/bob.xlsx:6; carol=adjudication.csv:2"
    )


def test_single_reviewer_policy(root):
    result = merge(root, {**CONFIG, "allow_single_reviewer": True})
    ta = table(result, "title_abstract")
    assert [ta[rid(n)] for n in (15, 16, 17, 18)] == [
        ("included", "single-reviewer"),
        ("excluded", "single-reviewer"),
        ("included", "single-reviewer"),
        ("excluded", "single-reviewer"),
    ]
    d = result.decisions.set_index(["stage", "record_id"])
    row = d.loc[("full_text", rid(21))]
    assert (row["status"], row["rule"], row["reason"]) == (
        "excluded",
        "single-reviewer",
        "poor methodological quality",
    )
    # newly included 15 and 17 enter full text, unscreened there
    assert table(result, "full_text")[rid(15)] == ("unscreened", "none")


def test_conflicts_csv_lists_both_decisions_and_notes(root, tmp_path):
    result = merge(root)
    scr.write_outputs(result, tmp_path / "out", figures=False)
    text = (tmp_path / "out" / "conflicts.csv").read_text()
    assert text.splitlines()[0] == "record_id,stage,decisions,reasons,notes,year,title"
    # notes are prefixed by the reviewer's name, so alice's "@carol ..." is harmless
    assert text.splitlines()[1] == (
        f'{rid(6)},title_abstract,alice=exclude; bob=include,,"alice: @carol SMS, not instant messaging; '
        'bob: instant messaging? unclear",2018,SMS reminders for insulin adherence in type 1 diabetes'
    )
    conflicts = pd.read_csv(tmp_path / "out" / "conflicts.csv", dtype=str, keep_default_na=False)
    assert list(zip(conflicts["record_id"], conflicts["stage"], strict=True)) == [
        (rid(6), "title_abstract"),
        (rid(9), "full_text"),
    ]
    assert conflicts["decisions"].tolist() == [
        "alice=exclude; bob=include",
        "alice=maybe; bob=include",
    ]


# --------------------------------------------------------------------------- agreement


def test_kappa_matches_hand_computation(root):
    """Title/abstract, alice vs bob over the 15 records both screened (maybe = include).

    Table (rows alice, columns bob; include, exclude) = [[8, 1], [2, 4]], n = 15.
    p_o = 12/15 = 0.8; p_e = (9/15)(10/15) + (6/15)(5/15) = 120/225; kappa =
    (0.8 - 120/225) / (1 - 120/225) = (60/225) / (105/225) = 4/7.
    Variance (Fleiss, Cohen & Everitt 1969), margins p1. = 9/15, p2. = 6/15,
    p.1 = 10/15, p.2 = 5/15:
      A = p11 (1 - (p1. + p.1)(1 - k))^2 + p22 (1 - (p2. + p.2)(1 - k))^2
      B = (1 - k)^2 [p12 (p.1 + p2.)^2 + p21 (p.2 + p1.)^2]
      C = (k - p_e (1 - k))^2,  var = (A + B - C) / ((1 - p_e)^2 n)
    """
    entry = merge(root).agreement["stages"]["title_abstract"]["alice-bob"]
    assert entry["table"] == [[8, 1], [2, 4]]
    assert entry["n"] == 15 and entry["agreed"] == 12
    k = Fraction(4, 7)
    pe = Fraction(120, 225)
    f = Fraction
    a = (
        f(8, 15) * (1 - (f(9, 15) + f(10, 15)) * (1 - k)) ** 2
        + f(4, 15) * (1 - (f(6, 15) + f(5, 15)) * (1 - k)) ** 2
    )
    b = (1 - k) ** 2 * (
        f(1, 15) * (f(10, 15) + f(6, 15)) ** 2 + f(2, 15) * (f(5, 15) + f(9, 15)) ** 2
    )
    c = (k - pe * (1 - k)) ** 2
    se = float((a + b - c) / ((1 - pe) ** 2 * 15)) ** 0.5
    assert entry["kappa"] == pytest.approx(4 / 7, abs=1e-12)
    assert entry["se"] == pytest.approx(se, rel=1e-10)
    assert entry["ci_low"] == pytest.approx(4 / 7 - 1.959963984540054 * se, rel=1e-9)
    assert entry["ci_high"] == pytest.approx(4 / 7 + 1.959963984540054 * se, rel=1e-9)


def test_full_text_kappa_uses_three_categories_and_clips_ci(root):
    entry = merge(root).agreement["stages"]["full_text"]["alice-bob"]
    # records 1,3,4,5,9,10,11,14; alice's maybe on 9 against bob's include
    assert entry["categories"] == ["include", "exclude", "maybe"]
    assert entry["table"] == [[3, 1, 0], [0, 3, 0], [1, 0, 0]]
    # p_o = 6/8, p_e = (4*4 + 4*3 + 0)/64 = 28/64 -> kappa = (48/64-28/64)/(36/64) = 5/9
    assert entry["kappa"] == pytest.approx(5 / 9, abs=1e-12)
    assert entry["ci_high"] == 1.0  # kappa + 1.96 SE = 1.033 is clipped to kappa's range


def test_kappa_undefined_without_variation():
    entry = kappa(["include"] * 3, ["include"] * 3, ["include", "exclude"])
    assert entry["kappa"] is None and entry["percent_agreement"] == 1.0 and entry["n"] == 3


# --------------------------------------------------------------------------- queues


def test_queues_newest_first_marked_and_neutralised(root, tmp_path):
    result = merge(root)
    scr.write_outputs(result, tmp_path / "out", figures=False)
    assert sorted(p.name for p in (tmp_path / "out" / "queue").iterdir()) == [
        "_unscreened.csv",
        "alice.csv",
        "bob.csv",
    ]
    bob = pd.read_csv(tmp_path / "out" / "queue" / "bob.csv", dtype=str, keep_default_na=False)
    assert list(bob.columns[:6]) == ["record_id", "stage", "decision", "reason", "note", "date"]
    assert list(zip(bob["record_id"], bob["stage"], strict=True)) == [
        *[(rid(n), "title_abstract") for n in (20, 19, 18, 17, 16, 15)],
        (rid(21), "full_text"),
    ]
    assert set(bob["new_since_last_search"]) == {"yes"}
    assert (bob["decision"] == "").all()
    title19 = bob.loc[bob["record_id"] == rid(19), "title"].item()
    assert title19.startswith("'=HYPERLINK(")
    assert bob.loc[bob["record_id"] == rid(20), "abstract"].item().startswith("'-Reminders")
    alice = pd.read_csv(tmp_path / "out" / "queue" / "alice.csv", dtype=str, keep_default_na=False)
    assert alice["record_id"].tolist() == [rid(20), rid(19)]


def test_queue_puts_new_records_first_and_marks_them(root):
    # only alice's title/abstract files and a newcomer, dave, who screened record 20
    (root / "screening" / "title_abstract" / "bob.xlsx").unlink()
    shutil.rmtree(root / "screening" / "full_text")
    (root / "screening" / "adjudication.csv").unlink()
    (root / "screening" / "title_abstract" / "dave.csv").write_text(
        f"record_id,decision\n{rid(20)},include\n"
    )
    queue = merge(root).queues["dave"]
    expected = [21, 19, 18, 17, 16, 15, 14, 13, *range(12, 0, -1)]  # newest search first, then id
    assert queue["record_id"].tolist() == [rid(n) for n in expected]
    assert queue["new_since_last_search"].tolist() == ["yes"] * 8 + ["no"] * 12
    assert set(queue["stage"]) == {"title_abstract"}


def test_header_only_sheet_gets_a_queue_of_every_waiting_record(root, tmp_path):
    """A new reviewer starts with a header-only file and gets everything waiting for them."""
    (root / "screening" / "title_abstract" / "erin.csv").write_text(
        "record_id,decision,reason,note,date\n"
    )
    (root / "screening" / "full_text" / "frank.csv").write_text("record_id,decision\n")
    result = merge(root)
    assert "erin" in result.reviewers and "frank" in result.reviewers
    decisions = result.decisions
    waiting = decisions[decisions["status"].isin(["unscreened", "awaiting"])]
    for who in ("erin", "frank"):
        queue = result.queues[who]
        assert sorted(zip(queue["record_id"], queue["stage"], strict=True)) == sorted(
            zip(waiting["record_id"], waiting["stage"], strict=True)
        )
    assert len(result.queues["erin"]) > 0
    # nobody's records: only the unscreened ones, in the same columns as a queue
    unscreened = decisions[decisions["status"] == "unscreened"]
    assert sorted(result.unscreened["record_id"]) == sorted(unscreened["record_id"])
    assert list(result.unscreened.columns) == QUEUE_COLUMNS
    scr.write_outputs(result, tmp_path / "out", figures=False)
    written = pd.read_csv(tmp_path / "out" / "queue" / f"{UNSCREENED}.csv", dtype=str)
    assert sorted(written["record_id"]) == sorted(unscreened["record_id"])
    assert (tmp_path / "out" / "queue" / "erin.csv").is_file()


def test_status_names_the_queue_and_conflict_files(root, tmp_path):
    text = format_status(status_of(merge(root)), tmp_path / "results" / "screening")
    assert f"{tmp_path / 'results' / 'screening' / 'queue'}/<reviewer>.csv" in text
    assert f"queue/{UNSCREENED}.csv" in text
    assert str(tmp_path / "results" / "screening" / "conflicts.csv") in text


def test_queue_is_empty_but_written_when_nothing_waits(root, tmp_path):
    (root / "screening" / "title_abstract" / "bob-rest.csv").write_text(
        "record_id,decision\n" + "".join(f"{rid(n)},exclude\n" for n in (15, 16, 17, 18, 19, 20))
    )
    (root / "screening" / "title_abstract" / "alice-rest.csv").write_text(
        f"record_id,decision\n{rid(19)},exclude\n{rid(20)},exclude\n"
    )
    (root / "screening" / "full_text" / "bob-rest.csv").write_text(
        f"record_id,decision,reason\n{rid(21)},exclude,poor methodological quality\n"
    )
    result = merge(root)
    scr.write_outputs(result, tmp_path / "out", figures=False)
    lines = (tmp_path / "out" / "queue" / "bob.csv").read_text().splitlines()
    assert lines == [",".join(QUEUE_COLUMNS)]
    assert result.prisma["unscreened"] == {"title_abstract": 0, "full_text": 0}


def test_filled_in_queue_is_a_valid_sheet(root, tmp_path):
    result = merge(root)
    scr.write_outputs(result, tmp_path / "out", figures=False)
    queue = pd.read_csv(tmp_path / "out" / "queue" / "bob.csv", dtype=str, keep_default_na=False)
    queue = queue[queue["stage"] == "title_abstract"].copy()
    queue.loc[queue["record_id"] == rid(15), "decision"] = "include"
    queue.loc[queue["record_id"] == rid(16), "decision"] = "exclude"
    queue.to_csv(root / "screening" / "title_abstract" / "bob-queue.csv", index=False)
    ta = table(merge(root), "title_abstract")
    assert ta[rid(15)] == ("included", "agreement")
    assert ta[rid(16)] == ("excluded", "agreement")
    assert ta[rid(17)] == ("awaiting", "none")  # left blank: still waiting


# --------------------------------------------------------------------------- PRISMA counts


def test_prisma_counts_add_up(root):
    p = merge(root).prisma
    assert p["identified"] == {"embase": 5, "pubmed": 24}
    assert (p["identified_total"], p["duplicates_removed"], p["records"]) == (29, 8, 21)
    assert (p["screened"], p["excluded_title_abstract"]) == (14, 5)
    assert (p["fulltext_assessed"], p["fulltext_excluded_total"]) == (7, 3)
    assert p["fulltext_excluded"] == {
        "non-extractable data": 1,
        "not an RCT": 1,
        "wrong intervention": 1,
    }
    assert (p["included_records"], p["included_studies"]) == (4, 4)
    assert (p["previous_included"], p["new_included"]) == (3, 1)  # 1, 5, 11 old; 14 new
    assert p["awaiting"] == {"title_abstract": 4, "full_text": 1}
    assert p["conflicts"] == {"title_abstract": 1, "full_text": 1}
    assert p["unscreened"] == {"title_abstract": 2, "full_text": 0}
    assert p["update"] is True and p["latest_search"] == "2026-11-01"
    for flow in (p, p["new_search"]):
        pending_ta = sum(flow[k]["title_abstract"] for k in ("awaiting", "conflicts", "unscreened"))
        assert flow["records"] == flow["screened"] + pending_ta
        ta_included = flow["screened"] - flow["excluded_title_abstract"]
        pending_ft = sum(flow[k]["full_text"] for k in ("awaiting", "conflicts", "unscreened"))
        assert ta_included == flow["fulltext_assessed"] + pending_ft
        assert (
            flow["fulltext_assessed"] == flow["fulltext_excluded_total"] + flow["included_records"]
        )
    new = p["new_search"]
    # new records 13..21: pubmed 13-20 (8), embase 14, 15, 21 (3) -> 2 found by both
    assert (new["identified"], new["identified_total"], new["duplicates_removed"]) == (
        {"embase": 3, "pubmed": 8},
        11,
        2,
    )
    assert (new["records"], new["screened"], new["included_records"]) == (9, 3, 1)


def test_outputs_are_byte_identical_across_runs(root, tmp_path):
    out1, out2 = tmp_path / "a", tmp_path / "b"
    for out in (out1, out2):
        settings = scr.ScreeningSettings.from_params({"root": root, "screening": CONFIG})
        result = scr.run(
            settings, {"records": DATA / "records.csv", "summary": DATA / "summary.json"}
        )
        scr.write(result, {"decisions": out / "decisions.csv"})
    files = sorted(p.relative_to(out1) for p in out1.rglob("*") if p.is_file())
    assert [str(f) for f in files] == [
        "agreement.json",
        "conflicts.csv",
        "decisions.csv",
        "prioritise.json",
        "prisma.json",
        "prisma.png",
        "prisma.svg",
        "queue/_unscreened.csv",
        "queue/alice.csv",
        "queue/bob.csv",
        "unmatched.csv",
        "watch.csv",
    ]
    for f in files:
        assert (out1 / f).read_bytes() == (out2 / f).read_bytes(), f
    assert scr.included_records(out1 / "decisions.csv") == {rid(1), rid(5), rid(11), rid(14)}
    header = (out1 / "decisions.csv").read_text().splitlines()[0]
    assert header.startswith(
        "record_id,stage,decisions,n_reviewers,adjudication,status,rule,reason"
    )


# --------------------------------------------------------------------------- bad input


def _raise_for(root: Path, bad: str, target: str) -> str:
    dest = root / "screening" / target
    shutil.copy(DATA / "bad" / bad, dest)
    with pytest.raises((InputError, InputErrors)) as info:
        merge(root)
    return str(info.value)


BAD = {
    "unknown record": (
        "title_abstract/dave-unknown-record.csv",
        "title_abstract/dave-unknown-record.csv",
        "dave-unknown-record.csv, row 3, column 'record_id': expected a record_id of "
        "results/records/records.csv (the PMID, or the store's id for records without one), got '99999999'",
    ),
    "unknown decision": (
        "title_abstract/dave-bad-decision.csv",
        "title_abstract/dave-bad-decision.csv",
        "dave-bad-decision.csv, row 3, column 'decision': expected one of: include, exclude, maybe, got 'inclde'",
    ),
    "bad reviewer name": (
        "title_abstract/Dave Smith.csv",
        "title_abstract/Dave Smith.csv",
        "Dave Smith.csv: expected a file name starting with the reviewer's name in lower-case letters "
        "and digits (e.g. alice.csv or alice-batch2.xlsx), then optionally '-' or '_' and anything, "
        "got 'Dave Smith.csv'",
    ),
    "same reviewer, different answer": (
        "title_abstract/alice-changed-mind.csv",
        "title_abstract/alice-changed-mind.csv",
        "alice-changed-mind.csv, row 3, column 'decision': expected the same answer as alice's earlier "
        "row title_abstract/alice-batch1.csv:3 (exclude) for record 38000102 at title_abstract: one "
        "answer per person and record, got 'include'",
    ),
    "missing full-text reason": (
        "full_text/dave-missing-reason.csv",
        "full_text/dave-missing-reason.csv",
        "dave-missing-reason.csv, row 3, column 'reason': expected an exclusion reason for a full-text "
        "exclusion (one of: not an RCT; wrong population;",
    ),
    "reason not configured": (
        "full_text/dave-unknown-reason.csv",
        "full_text/dave-unknown-reason.csv",
        "dave-unknown-reason.csv, row 3, column 'reason': expected one of the configured exclusion "
        "reasons (screening.exclusion_reasons): not an RCT;",
    ),
    "reason with include": (
        "full_text/dave-reason-on-include.csv",
        "full_text/dave-reason-on-include.csv",
        "dave-reason-on-include.csv, row 2, column 'reason': expected no reason unless the decision is "
        "exclude (put remarks in 'note'), got 'not an RCT'",
    ),
    "full text of a record excluded at title/abstract": (
        "full_text/dave-excluded-at-ta.csv",
        "full_text/dave-excluded-at-ta.csv",
        "dave-excluded-at-ta.csv, row 3, column 'record_id': expected a record included at "
        "title/abstract before it is screened at full text (its title/abstract status is excluded), "
        "got '38000102'",
    ),
    "adjudicator's maybe at full text": (
        "adjudication/full-text-maybe.csv",
        "adjudication.csv",
        "adjudication.csv, row 5, column 'decision': expected include or exclude (an adjudication at "
        "full text is final), got 'maybe'",
    ),
    "adjudication of an unscreened record": (
        "adjudication/unscreened.csv",
        "adjudication.csv",
        "adjudication.csv, row 5, column 'record_id': expected a record that at least one reviewer "
        "screened at title_abstract (nothing to adjudicate), got '38000120'",
    ),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_input_names_file_row_and_column(root, kind):
    bad, target, message = BAD[kind]
    text = _raise_for(root, bad, target)
    assert message in text
    assert "\n" not in text  # exactly one problem, one message


def test_all_problems_reported_together(root):
    shutil.copy(
        DATA / "bad" / "title_abstract" / "dave-unknown-record.csv",
        root / "screening" / "title_abstract",
    )
    shutil.copy(
        DATA / "bad" / "full_text" / "dave-unknown-reason.csv", root / "screening" / "full_text"
    )
    with pytest.raises(InputErrors) as info:
        merge(root)
    assert len(info.value.errors) == 2
    assert str(info.value).startswith("2 problem(s) in input files:")


def test_reviewer_names():
    assert reviewer_name("x/Alice-batch2.xlsx") == "alice"
    assert reviewer_name("x/bob_late.csv") == "bob"
    assert reviewer_name("x/r2.csv") == "r2"
    for bad in ("x/al ice.csv", "x/-alice.csv", "x/élise.csv", "x/a.b.csv"):
        with pytest.raises(
            InputError, match="expected a file name starting with the reviewer's name"
        ):
            reviewer_name(bad)


def test_lock_and_hidden_files_are_not_sheets(root):
    folder = root / "screening" / "title_abstract"
    (folder / "~$bob.xlsx").write_bytes(b"lock")
    (folder / ".alice.csv.swp").write_bytes(b"swap")
    (folder / "README.md").write_text("notes")
    assert [p.name for p in sheet_paths(root) if p.parent == folder] == [
        "alice-batch1.csv",
        "alice-batch2.csv",
        "alice_late.csv",
        "bob.xlsx",
    ]


def test_other_file_types_are_rejected(root):
    (root / "screening" / "title_abstract" / "carol.ods").write_bytes(b"x")
    with pytest.raises(
        InputError,
        match=r"carol.ods: expected a .csv or .xlsx sheet \(or a tool's .ris export, "
        r"docs/contracts.md\), got 'carol.ods'",
    ):
        merge(root)


# --------------------------------------------------------------------------- status command


def test_status_reports_waiting_work(root, tmp_path):
    results = tmp_path / "results" / "records"
    results.mkdir(parents=True)
    shutil.copy(DATA / "records.csv", results / "records.csv")
    shutil.copy(DATA / "summary.json", results / "summary.json")
    config = {"inputs": {"root": "review"}, "screening": CONFIG}
    st = status(config, workdir=tmp_path)
    assert st.waiting == {
        "alice": {"title_abstract": 2, "full_text": 0},
        "bob": {"title_abstract": 6, "full_text": 1},
    }
    assert st.conflicts == {"title_abstract": 1, "full_text": 1}
    assert format_status(st) == (
        "Screening: 21 records (latest search 2026-11-01), 4 included at full text\n"
        "\n"
        "reviewer  title/abstract       full text\n"
        "alice                  2               0\n"
        "bob                    6               1\n"
        "\n"
        "Conflicts awaiting adjudication: title/abstract 1, full text 1\n"
        "Not screened by anyone: title/abstract 2, full text 0\n"
        "\n"
        "Queues in their usual order: not ranked yet: 9 includes and 5 excludes so far; "
        "the model needs at least 5 and 20\n"
    )


def test_status_without_records_says_what_to_do(tmp_path):
    with pytest.raises(LivingReviewError, match="records.csv not found: run the workflow"):
        status({"inputs": {"root": "review"}, "screening": CONFIG}, workdir=tmp_path)


# --------------------------------------------------------------------------- workflow


SNAKEFILE = """
from livingreview.project import schema_dir
from livingreview.screening.files import sheet_paths


configfile: "config/config.yaml"


SCHEMA_DIR = schema_dir(workflow.basedir)  # as workflow/rules/common.smk defines it


def screening_sheets(wildcards):  # the input function, as in workflow/rules/common.smk
    return [str(p) for p in sheet_paths(config["inputs"]["root"])]


include: "workflow/rules/screening.smk"


rule all:
    input:
        rules.screening.output,
"""


def _snakemake(workdir: Path) -> str:
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "--nolock"],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_rule_reruns_when_a_sheet_is_added(root, tmp_path):
    """The real rule: adding a sheet reruns screening; no change runs nothing."""
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
    shutil.copytree(root, work / "review")
    (work / "results" / "records").mkdir(parents=True)
    shutil.copy(DATA / "records.csv", work / "results" / "records" / "records.csv")
    shutil.copy(DATA / "summary.json", work / "results" / "records" / "summary.json")

    out = work / "results" / "screening"
    _snakemake(work)
    first = (out / "decisions.csv").read_bytes()
    assert (work / "results" / "logs" / "screening.log").read_text().count("4 included") == 1
    assert "Nothing to be done" in _snakemake(work)

    # bob's late file: a second decision on 15 -> included by agreement
    (work / "review" / "screening" / "title_abstract" / "bob-late.csv").write_text(
        f"record_id,decision\n{rid(15)},include\n"
    )
    log = _snakemake(work)
    assert "rule screening" in log
    decisions = pd.read_csv(out / "decisions.csv", dtype=str, keep_default_na=False)
    row = decisions[(decisions["record_id"] == rid(15)) & (decisions["stage"] == "title_abstract")]
    assert row[["status", "rule"]].values.tolist() == [["included", "agreement"]]
    assert (out / "decisions.csv").read_bytes() != first


def test_settings_parsed_once_and_old_stages_key_rejected() -> None:
    """screening.stages was required but read by nothing (issue 13, defect 4): now it is refused."""
    from livingreview.screening.settings import Settings

    settings = Settings.from_config({"allow_single_reviewer": True, "exclusion_reasons": ["x"]})
    assert settings == Settings(allow_single_reviewer=True, exclusion_reasons=("x",))
    assert Settings.from_config(settings) is settings
    with pytest.raises(LivingReviewError, match="screening.stages is no longer a setting"):
        Settings.from_config({**CONFIG, "stages": ["title_abstract", "full_text"]})


def test_search_rounds_come_from_the_review_history_not_file_dates() -> None:
    """An export dated before the first PubMed search is part of the first round (issue 15)."""
    records = pd.DataFrame(
        {"first_seen": ["2024-01-10", "2024-02-01", "2024-02-01", "2024-05-03", "2024-06-01"]},
        index=["exp-1", "1", "2", "exp-2", "3"],
    )
    one = {"latest_search": "2024-02-01", "snapshots": [{"until": "2024-02-01"}]}
    new, latest = new_record_flags(records, one)
    assert new.all() and latest == "2024-02-01"  # a new review: no "previous version" boxes
    two = {**one, "latest_search": "2024-06-01",
           "snapshots": [{"until": "2024-02-01"}, {"until": "2024-06-01"}]}  # fmt: skip
    new, _ = new_record_flags(records, two)
    # the update round: everything first seen after the previous search, exports included
    assert new.tolist() == [False, False, False, True, True]
