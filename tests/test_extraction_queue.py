"""Extraction queues: included trials per extractor, prefilled ids and citations (issue 15)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from livingreview.extraction.queue import (
    UNEXTRACTED,
    QueueResult,
    QueueSettings,
    build_queues,
    citation,
    queue_columns,
    run,
    study_id,
    write,
)
from livingreview.project import SCHEMA_DIR
from livingreview.sheets import load_schema

COLUMNS = ["study_id", "record_id", "citation", "country", "n_total"]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def review(tmp_path: Path) -> dict[str, Path]:
    decisions = _write(
        tmp_path / "decisions.csv",
        "record_id,stage,status\n"
        "101,title_abstract,included\n101,full_text,included\n"
        "102,full_text,included\n"
        "103,full_text,excluded\n"  # excluded at full text: nothing to extract
        "104,title_abstract,included\n"  # awaiting full text
        "105,full_text,included\n",
    )
    records = _write(
        tmp_path / "records.csv",
        "record_id,title,authors,year,abstract\n"
        "101,A,Smith J; Haugen K,2024,x\n"
        '102,B,"Smith, A.",2024,x\n'
        "103,C,Brown P,2023,x\n"
        "104,D,Lee M,2025,x\n"
        "105,E,Ødegård K; Lie T,2019,x\n",
    )
    return {"decisions": decisions, "records": records, "root": tmp_path}


def test_each_extractor_gets_the_included_trials_they_have_not_entered(review) -> None:
    sheets = [
        _write(review["root"] / "studies/ana.csv", "study_id,record_id,citation\n"),
        _write(review["root"] / "studies/ben.csv", "study_id,record_id\nsmith-j,101\n"),
        _write(review["root"] / "studies/ben-march.csv", "study_id,record_id\n"),
    ]
    queues = build_queues(review["decisions"], review["records"], sheets, COLUMNS)
    assert sorted(queues) == [UNEXTRACTED, "ana", "ben"]
    ana = queues["ana"]
    assert list(ana.columns) == COLUMNS
    # only full-text inclusions, in decision order; ids and citations filled in
    assert ana[["study_id", "record_id", "citation"]].values.tolist() == [
        ["smith-j", "101", "Smith et al. (2024)"],  # the id ben gave it, for both
        ["smith2024", "102", "Smith (2024)"],
        ["odegard2019", "105", "Ødegård et al. (2019)"],
    ]
    assert (ana[["country", "n_total"]] == "").all().all()
    assert queues["ben"]["record_id"].tolist() == ["102", "105"]
    assert queues[UNEXTRACTED]["record_id"].tolist() == ["102", "105"]


def test_suggested_study_ids_are_unique_and_follow_the_sheet_pattern() -> None:
    taken = {"smith2024"}
    assert study_id("Smith J", "2024", taken) == "smith2024b"
    assert study_id("Smith J", "2024", taken | {"smith2024b"}) == "smith2024c"
    assert study_id("", "", set()) == "study"
    assert study_id("van der Berg, A.; Li, B.", "2020", set()) == "vanderberg2020"
    pattern = load_schema(SCHEMA_DIR / "studies.schema.yaml")["properties"]["study_id"]["pattern"]
    import re

    for sid in ("smith2024b", "odegard2019", "vanderberg2020", "study"):
        assert re.match(pattern, sid)
    assert citation("", "2021") == "Unnamed (2021)"
    assert citation("John Smith and Mary Lee", "2020") == "Smith et al. (2020)"


def test_queue_columns_follow_the_configured_stratifier_and_study_columns() -> None:
    schema = load_schema(SCHEMA_DIR / "studies.schema.yaml")
    extraction = {
        "stratifier": {"column": "exercise_type", "label": "Exercise type", "values": {}},
        "study_columns": {"supervised": "boolean"},
    }
    columns = queue_columns(schema, extraction)
    assert columns[:3] == ["study_id", "record_id", "citation"]
    assert "exercise_type" in columns and "supervised" in columns
    assert "platform" not in columns and columns[-1] == "note"
    demo = queue_columns(schema, {"stratifier": {"label": "Platform", "values": {}}})
    assert "platform" in demo and "exercise_type" not in demo


def test_written_queues_replace_the_old_ones_and_read_back(review, tmp_path: Path) -> None:
    out = tmp_path / "queue"
    _write(out / "gone.csv", "study_id\n")  # an extractor whose sheet was removed
    ana = _write(review["root"] / "studies/ana.csv", "study_id,record_id\n")
    result = QueueResult(build_queues(review["decisions"], review["records"], [ana], COLUMNS))
    write(result, {"queue": out})
    assert result.counts == {"ana": 3, UNEXTRACTED: 3}
    assert sorted(p.name for p in out.iterdir()) == ["_unextracted.csv", "ana.csv"]
    back = pd.read_csv(out / "ana.csv", dtype=str, keep_default_na=False)
    assert back["citation"].tolist()[0] == "Smith et al. (2024)"


def test_entry_point_takes_the_rule_params_and_inputs(review) -> None:
    extraction = {"stratifier": {"column": "exercise_type", "label": "Exercise", "values": {}}}
    inputs = {"decisions": review["decisions"], "records": review["records"], "studies": []}
    result = run(
        QueueSettings.from_params({"extraction": extraction}),
        {**inputs, "schema": SCHEMA_DIR / "studies.schema.yaml"},
    )
    assert list(result.queues) == [UNEXTRACTED]  # no extractor yet: only the unextracted queue
    assert "exercise_type" in result.queues[UNEXTRACTED].columns
    assert result.counts == {UNEXTRACTED: 3}
