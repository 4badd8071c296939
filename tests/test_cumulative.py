"""Cumulative meta-analysis against metafor 3.8-1's cumul (tests/reference/make_cumul_reference.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from livingreview import stats

REF = json.loads((Path(__file__).parent / "reference" / "cumul_reference.json").read_text())
FIELDS = ("estimate", "se", "zval", "pval", "ci_low", "ci_high", "q", "q_pval", "tau2", "i2", "h2")
CASES = REF["cases"]


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c['dataset']}-{c['method']}-{c['test']}" for c in CASES]
)
def test_cumul_matches_metafor(case):
    res = stats.fit(case["yi"], case["vi"], case["method"], case["test"])
    cu = res.cumul(order=case["order"])
    assert cu["k"].tolist() == list(range(1, len(case["yi"]) + 1))
    # the study added at each step: labels are 1..k, R's order() is stable
    assert (cu["added"] - 1).tolist() == [int(i) for i in case["added"]]
    for name in FIELDS:
        ref = np.array([np.nan if v is None else v for v in case[name]], dtype=float)
        # 1e-6 relative; near 0 absolute: 1e-9 (I2, in percent, 1e-8: R's REML stops at
        # tau2 ~ 1e-11 where the engine truncates to 0); R fitted at threshold 1e-12
        atol = 1e-8 if name == "i2" else 1e-9
        np.testing.assert_allclose(
            cu[name].to_numpy(float), ref, rtol=1e-6, atol=atol, err_msg=name
        )


def test_cumul_needs_one_key_per_study():
    res = stats.fit([0.1, 0.3, 0.35], [0.02, 0.03, 0.01])
    with pytest.raises(ValueError, match="one key per study"):
        res.cumul(order=[1, 2])


def test_cumulative_review_orders_by_record_year_unknown_last(tmp_path):
    from livingreview.analysis.stratum import AnalysisSettings
    from livingreview.stats.cumulative import cumulative_review

    strata = tmp_path / "strata"
    (strata / "domain-glycemic").mkdir(parents=True)
    (strata / "domain-knowledge").mkdir()
    (strata / "strata.json").write_text(json.dumps({
        "domain-glycemic": {"kind": "domain", "domain": "glycemic"},
        "domain-knowledge": {"kind": "domain", "domain": "knowledge"},
    }))  # fmt: skip
    (strata / "domain-glycemic" / "pooled.json").write_text('{"reported": true, "measure": "SMD"}')
    (strata / "domain-knowledge" / "pooled.json").write_text('{"reported": false}')
    (strata / "domain-glycemic" / "data.csv").write_text(
        "study_id,citation,yi,vi\na,A (2020),0.1,0.02\nb,,0.3,0.03\nc,C (2018),0.35,0.01\n"
    )
    studies = tmp_path / "studies.csv"
    studies.write_text("study_id,record_id\na,1\nb,2\nc,3\n")
    records = tmp_path / "records.csv"
    records.write_text("record_id,title,year\n1,x,2020\n2,y,\n3,z,2018\n")
    out = cumulative_review(strata, studies, records, AnalysisSettings(method="DL"))
    # the rule's entry point: the same table, written with one figure per configured domain
    from livingreview.analysis import cumulative as stage

    params = {"method": "DL", "labels": {"glycemic": "Glycemic", "knowledge": "Knowledge"}}
    inputs = {"strata": [strata / "strata.json"], "studies": studies, "records": records}
    result = stage.run(stage.CumulativeSettings.from_params(params), inputs)
    pd.testing.assert_frame_equal(result.table, out)
    stage.write(result, {"table": tmp_path / "cum" / "cumulative.csv"})
    assert sorted(p.name for p in (tmp_path / "cum").iterdir()) == [
        "cumulative.csv", "glycemic.png", "glycemic.svg", "knowledge.png", "knowledge.svg"
    ]  # fmt: skip
    assert out["domain"].unique().tolist() == ["glycemic"]  # knowledge is not pooled
    assert out["added"].tolist() == ["C (2018)", "A (2020)", "b"]  # no year: last; no citation: id
    assert out["year"].tolist()[:2] == [2018, 2020] and pd.isna(out["year"].iloc[2])
    expect = stats.fit([0.35, 0.1], [0.01, 0.02], "DL")
    assert out["estimate"].iloc[1] == pytest.approx(expect.estimate, rel=1e-12)
