"""Exports for other tools: PRISMA2020 CSV, RIS of the included studies, CITATION.cff, .zenodo.json."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pandas as pd
import rispy
import yaml

from livingreview.publish import interop

CFF_SCHEMA = json.loads((Path(__file__).parent / "data" / "cff-1.2.0.schema.json").read_text())
PRISMA = {
    "update": True, "included_studies": 25, "included_records": 26, "new_included": 3,
    "previous_included": 22, "previous_included_records": 23, "identified_total": 361,
    "new_search": {"identified": {"pubmed": 40, "embase": 2}, "identified_total": 42,
                   "duplicates_removed": 2, "screened": 37, "excluded_title_abstract": 29,
                   "fulltext_assessed": 8, "fulltext_excluded": {"not an RCT": 4, "non-extractable data": 1},
                   "included_records": 3},
}  # fmt: skip


def test_prisma2020_template_of_an_update():
    table = interop.prisma2020_csv(PRISMA).set_index("data")
    assert list(interop.prisma2020_csv(PRISMA).columns) == [
        "data", "node", "box", "description", "boxtext", "tooltips", "url", "n",
    ]  # fmt: skip
    n = table["n"]
    assert (n["previous_studies"], n["previous_reports"]) == (22, 23)
    assert (n["database_results"], n["duplicates"], n["records_screened"]) == (42, 2, 37)
    assert (n["records_excluded"], n["dbr_assessed"], n["new_studies"], n["total_studies"]) == (
        29,
        8,
        3,
        25,
    )
    assert n["database_specific_results"] == "embase, 2; pubmed, 40"
    assert n["dbr_excluded"] == "non-extractable data, 1; not an RCT, 4"


def test_prisma2020_template_of_a_first_version():
    first = {k: v for k, v in PRISMA.items() if k != "update"} | PRISMA["new_search"]
    n = interop.prisma2020_csv({**first, "update": False}).set_index("data")["n"]
    assert n["previous_studies"] == 0 and n["new_studies"] == 25 == n["total_studies"]


def test_included_ris_round_trips():
    records = pd.DataFrame({"record_id": ["1", "2", "3"], "pmid": ["111", "", "333"],
                            "title": ["A trial", "B trial", "C trial"], "authors": ["Smith J; Doe A", "", "Roe B"],
                            "year": ["2019", "2020", "2021"], "journal": ["J1", "J2", "J3"],
                            "doi": ["10.1/a", "", "10.1/c"], "abstract": ["", "", "x"]})  # fmt: skip
    studies = pd.DataFrame({"study_id": ["smith2019", "roe2021"], "record_id": ["1", "3"]})
    text = interop.included_ris(records, studies)
    assert text.startswith("TY  - JOUR")  # no counter line before a reference
    entries = rispy.loads(text)
    assert [e["title"] for e in entries] == ["A trial", "C trial"]
    assert entries[0]["authors"] == ["Smith J", "Doe A"] and entries[0]["doi"] == "10.1/a"
    assert entries[1]["id"] == "roe2021" and "PMID 333" in entries[1]["notes"]


def test_citation_files_follow_the_schemas():
    review = {"title": "IM for diabetes", "license": "CC-BY-4.0", "keywords": ["diabetes"],
              "authors": [{"name": "Doe, Jane", "orcid": "0000-0002-1825-0097", "affiliation": "Uni"},
                          {"name": "Living Evidence Group"}]}  # fmt: skip
    cff = yaml.safe_load(interop.citation_cff(review, "2026-12-02.3", "2026-12-02", "2026-11-25.1"))
    jsonschema.validate(cff, CFF_SCHEMA)
    assert cff["version"] == "2026-12-02.3" and cff["date-released"] == "2026-12-02"
    assert cff["authors"][0] == {"family-names": "Doe", "given-names": "Jane",
                                 "orcid": "https://orcid.org/0000-0002-1825-0097", "affiliation": "Uni"}  # fmt: skip
    assert cff["authors"][1] == {"name": "Living Evidence Group"}
    jsonschema.validate(
        yaml.safe_load(interop.citation_cff({"title": "T"}, "v", "2026-01-01", None)), CFF_SCHEMA
    )
    zen = interop.zenodo_json(review, "2026-12-02.3", "2026-12-02", "2026-11-25.1")
    assert zen["related_identifiers"][0]["relation"] == "isNewVersionOf"
    assert zen["creators"][0] == {
        "name": "Doe, Jane",
        "orcid": "0000-0002-1825-0097",
        "affiliation": "Uni",
    }
    assert zen["license"] == "cc-by-4.0" and zen["upload_type"] == "dataset"


def test_metafor_tables_carry_the_published_numbers(tmp_path):
    from results_fixture import make_results

    from livingreview.publish.metafor_export import metafor_tables, write_metafor

    results = make_results(tmp_path)
    tables, expected = metafor_tables(results / "strata")
    index = json.loads((results / "strata" / "strata.json").read_text())
    pooled = {n: json.loads((results / "strata" / n / "pooled.json").read_text()) for n in index}
    assert set(tables) == {n for n, p in pooled.items() if p.get("reported")}
    row = expected.set_index("stratum").loc["domain-glycemic"]
    glyc = pooled["domain-glycemic"]
    assert (row["model"], row["method"]) == ("univariate", glyc["method"])
    assert (row["estimate"], row["se"], row["tau2"]) == (glyc["estimate"], glyc["se"], glyc["tau2"])
    table = tables["domain-glycemic"]
    data = pd.read_csv(results / "strata" / "domain-glycemic" / "data.csv")
    assert (
        table["yi"].tolist() == data["yi"].tolist()
        and table["trial"].tolist() == data["study_id"].tolist()
    )
    assert (table["sei"] ** 2).round(12).tolist() == data["vi"].round(12).tolist()
    write_metafor(results / "strata", tmp_path / "bundle")
    written = pd.read_csv(tmp_path / "bundle" / "metafor" / "domain-glycemic.csv")
    assert written["yi"].tolist() == data["yi"].tolist()  # full precision (%.17g)
    script = (tmp_path / "bundle" / "metafor" / "reproduce.R").read_text()
    assert "rma(yi, vi, data = d, method = e$method, test = e$test" in script
