"""RevMan Web's study-data import set: built from the merged extraction of the selected effects."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from livingreview.extraction.columns import ARM_DATA_COLUMNS
from livingreview.extraction.files import input_files
from livingreview.extraction.stage import ExtractionSettings, run, write
from livingreview.publish.revman import (
    ARMS_COLUMNS,
    RESULTS_COLUMNS,
    ROB2_COLUMNS,
    STUDY_COLUMNS,
    revman_tables,
    write_revman,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = REPO / "workflow" / "schemas"
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
LABELS = {d: s["label"] for d, s in CONFIG["extraction"]["domains"].items()}
STUDIES = (
    "study_id,record_id,citation,design,icc,cluster_size,platform,followup_weeks,n_total,"
    "rob_d1,rob_d2,rob_d3,rob_d4,rob_d5,rob_overall\n"
    "lee2020,101,Lee et al. (2020),individual,,,wechat,24,120,"
    "low,some concerns,low,low,low,some concerns\n"
    "ortiz2022,102,Ortiz and Ruiz (2022),individual,,,whatsapp,12,90,low,low,high,low,low,high\n"
)
OUTCOMES = (
    "study_id,domain,outcome,timepoint_weeks,form,favourable,"
    "m1,sd1,se1,n1,m2,sd2,se2,n2,md,ci_low,ci_high,se,p,events1,events2\n"
    "lee2020,glycemic,HbA1c,24,means,lower,7.69,1.289,,60,8.21,1.09,,58,,,,,,,\n"
    "lee2020,clinical-other,BMI,24,change_se,lower,-0.9,,0.31,60,-0.2,,0.28,58,,,,,,,\n"
    "lee2020,complications,hospitalisation,24,events,lower,,,,60,,,,58,,,,,,4,11\n"
    "ortiz2022,glycemic,HbA1c,12,md_ci,lower,,,,45,,,,44,-0.42,-0.71,-0.13,,,,\n"
)
DECISIONS = "record_id,stage,status\n101,full_text,included\n102,full_text,included\n"


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    root = tmp_path_factory.mktemp("revman")
    for kind, text in (("studies", STUDIES), ("outcomes", OUTCOMES)):
        (root / "extraction" / kind).mkdir(parents=True)
        (root / "extraction" / kind / "alice.csv").write_text(text)
        (root / "extraction" / kind / "bob.csv").write_text(text)  # double extraction, agreed
    (root / "decisions.csv").write_text(DECISIONS)
    settings = ExtractionSettings.from_params({"root": root, **CONFIG})
    inputs = {**input_files(root), "decisions": root / "decisions.csv",
              "schemas": [SCHEMAS / "studies.schema.yaml"]}  # fmt: skip
    result = run(settings, inputs)
    results = root / "results"
    (results / "extraction").mkdir(parents=True)
    (results / "effects").mkdir()
    write(result, {"studies": results / "extraction/studies.csv",
                   "discrepancies": results / "extraction/d.csv",
                   "effects": results / "effects/effects.csv",
                   "not_selected": results / "effects/n.csv",
                   "arm_data": results / "effects/arm_data.csv"})  # fmt: skip
    return result, results


def test_arm_data_holds_the_merged_numbers_of_each_selected_effect(extracted):
    result, results = extracted
    arm = pd.read_csv(results / "effects" / "arm_data.csv")
    assert list(arm.columns) == list(ARM_DATA_COLUMNS)
    keys = ["study_id", "domain", "outcome"]
    assert arm[keys].values.tolist() == result.effects[keys].values.tolist()
    hba1c = arm[(arm.study_id == "lee2020") & (arm.domain == "glycemic")].iloc[0]
    assert (hba1c.m1, hba1c.sd1, hba1c.n1, hba1c.m2, hba1c.sd2, hba1c.n2) == (
        7.69, 1.289, 60, 8.21, 1.09, 58
    )  # fmt: skip
    assert hba1c.form == "means" and hba1c.measure == "SMD"


def test_results_carry_the_calculator_inputs_per_arm(extracted):
    result, results = extracted
    tables = revman_tables(
        result.studies, pd.read_csv(results / "effects/arm_data.csv", dtype={"study_id": str}),
        LABELS,
    )  # fmt: skip
    res = tables["study_results"]
    assert list(res.columns) == RESULTS_COLUMNS and len(res) == 2 * 4  # two arms per result

    def arm(study, outcome, n):
        sel = res[(res["Study ID"] == study) & (res["Study outcome"] == outcome) & (res.Arm == n)]
        assert len(sel) == 1
        return sel.iloc[0]

    i, c = arm("lee2020", "HbA1c", "1"), arm("lee2020", "HbA1c", "2")
    assert (i.Mean, i.SD, i.Total, i.Intervention) == (7.69, 1.289, 60, "Intervention")
    assert (c.Mean, c.SD, c.Total, c.Intervention) == (8.21, 1.09, 58, "Control")
    assert i["Data type"] == "Continuous" and i.Outcome == "Glycemic control"
    assert i.Study == "Lee 2020" and i["Time point (weeks)"] == "24"
    bmi = arm("lee2020", "BMI", "2")  # a change score's SE: RevMan's calculator input
    assert bmi.SE == 0.28 and math.isnan(bmi.SD)
    assert bmi["Calculated SD"] == pytest.approx(0.28 * math.sqrt(58), rel=1e-15)
    e1, e2 = arm("lee2020", "hospitalisation", "1"), arm("lee2020", "hospitalisation", "2")
    assert (e1.Events, e1.Total, e2.Events, e2.Total) == (4, 60, 11, 58)
    assert e1["Data type"] == "Dichotomous" and e1["Effect measure"] == "logRR"
    md1, md2 = arm("ortiz2022", "HbA1c", "1"), arm("ortiz2022", "HbA1c", "2")
    assert (md1["Mean difference"], md1["MD CI lower"], md1["MD CI upper"]) == (-0.42, -0.71, -0.13)
    assert math.isnan(md2["Mean difference"]) and md1["Data type"] == "Contrast"
    assert (md1.Total, md2.Total) == (45, 44)


def test_study_information_arms_and_rob2_per_result(extracted):
    result, results = extracted
    tables = revman_tables(
        result.studies, pd.read_csv(results / "effects/arm_data.csv", dtype={"study_id": str}),
        LABELS,
    )  # fmt: skip
    info = tables["study_information"].set_index("Study ID")
    assert list(tables["study_information"].columns) == STUDY_COLUMNS
    assert (
        info.loc["ortiz2022", "Study"] == "Ortiz 2022" and info.loc["ortiz2022", "Year"] == "2022"
    )
    assert info.loc["lee2020", "Char: Intervention (stratifier)"] == "wechat"
    assert info.loc["lee2020", "Char: Participants (randomised)"] == "120"
    arms = tables["study_arms"]
    assert list(arms.columns) == ARMS_COLUMNS and len(arms) == 4
    assert arms[arms["Study ID"] == "lee2020"]["Arm description"].tolist() == [
        "Intervention (wechat)", "Control"
    ]  # fmt: skip
    rob = tables["risk_of_bias_2"]
    assert list(rob.columns) == ROB2_COLUMNS and len(rob) == 4  # one row per result
    lee = rob[rob["Study ID"] == "lee2020"]
    assert lee["Result"].tolist() == ["BMI 24 wk", "hospitalisation 24 wk", "HbA1c 24 wk"]
    assert set(lee["D2: Deviations from intended interventions"]) == {"Some concerns"}
    assert rob[rob["Study ID"] == "ortiz2022"].iloc[0]["Overall"] == "High risk"


def test_write_revman_puts_the_four_files_in_the_bundle(extracted, tmp_path):
    _result, results = extracted
    write_revman(results, tmp_path, CONFIG)
    names = sorted(p.name for p in (tmp_path / "revman").iterdir())
    assert names == ["risk_of_bias_2.csv", "study_arms.csv", "study_information.csv",
                     "study_results.csv"]  # fmt: skip
    back = pd.read_csv(tmp_path / "revman" / "study_results.csv")
    assert list(back.columns) == RESULTS_COLUMNS and len(back) == 8
    empty = tmp_path / "none"
    write_revman(tmp_path / "no-results", empty, CONFIG)  # nothing extracted: nothing written
    assert not empty.exists()
