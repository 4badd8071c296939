"""GRADE suggestions: every rating-down rule on hand-worked cases, adjudication, SoF table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from livingreview.config_check import check_references
from livingreview.errors import InputError, InputErrors
from livingreview.evidence import grade

SCHEMA = (
    Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "grade_adjudication.schema.yaml"
)
S = grade.GradeSettings()


def pooled(**kw):
    base = dict(domain="glycemic", measure="SMD", favourable_sign="negative", k=12, reported=True,
                estimate=-0.4, ci_low=-0.6, ci_high=-0.2, pi_low=-0.9, pi_high=-0.1, tau2=0.1,
                i2=50.0, q=22.0, q_pval=0.02, n_participants=900, n_studies=12, level=0.95,
                label="Glycemic control")  # fmt: skip
    base.update(kw)
    return base


# --------------------------------------------------------------------------- risk of bias


def rob_data(judgements, vi=(0.1, 0.1, 0.2)):
    return pd.DataFrame(
        {"study_id": [f"s{i}" for i in range(len(vi))], "vi": vi, "rob_overall": judgements}
    )


def test_risk_of_bias_weight_shares_by_hand():
    # weights 1/(vi + tau2) with tau2 = 0.1: 5, 5, 10/3 -> total 40/3
    j = grade.rate_risk_of_bias(rob_data(["high", "low", "some concerns"]), 0.1, S)
    assert j.facts["weight_high"] == pytest.approx(5 / (40 / 3), rel=1e-12)  # 0.375
    assert j.facts["weight_high_or_some_concerns"] == pytest.approx(25 / 3 / (40 / 3), rel=1e-12)
    assert j.downgrade == 1 and "38% of the weight" in j.reason and "62% at high" in j.reason


def test_risk_of_bias_very_serious_and_not_serious():
    assert grade.rate_risk_of_bias(rob_data(["high", "high", "low"]), 0.1, S).downgrade == 2
    j = grade.rate_risk_of_bias(rob_data(["low", "low", "some concerns"]), 0.1, S)
    assert j.downgrade == 0  # 25% at some concerns < 50%


def test_risk_of_bias_missing_judgement_counts_as_concerns_and_is_named():
    j = grade.rate_risk_of_bias(rob_data(["low", None, "low"]), 0.0, S)
    # weights 10, 10, 5: the unassessed trial holds 40%
    assert j.facts["weight_high_or_some_concerns"] == pytest.approx(0.4)
    assert j.facts["not_assessed"] == ["s1"] and "s1" in j.reason and j.downgrade == 0


def test_risk_of_bias_thresholds_are_configurable():
    strict = grade.GradeSettings(rob_serious_share=0.2)
    assert (
        grade.rate_risk_of_bias(rob_data(["low", "low", "some concerns"]), 0.1, strict).downgrade
        == 1
    )


# --------------------------------------------------------------------------- inconsistency


def test_inconsistency_against_the_null_without_a_mid():
    j = grade.rate_inconsistency(pooled(pi_low=-0.5, pi_high=0.1), None)
    assert j.downgrade == 1 and "(-0.50 to 0.10) includes no effect (0)" in j.reason
    assert "I\u00b2 = 50%" in j.reason and "p = 0.020" in j.reason
    assert grade.rate_inconsistency(pooled(pi_low=-0.5, pi_high=-0.1), None).downgrade == 0


def test_inconsistency_against_the_mid():
    thr = grade.thresholds("SMD", "negative", 0.2)
    assert thr == (-0.2, 0.2)
    both = grade.rate_inconsistency(pooled(pi_low=-0.5, pi_high=0.3), thr)
    assert (
        both.downgrade == 2
        and "important benefit" in both.reason
        and "important harm" in both.reason
    )
    one = grade.rate_inconsistency(pooled(pi_low=-0.5, pi_high=-0.1), thr)
    assert one.downgrade == 1 and "important benefit (-0.20)" in one.reason
    assert grade.rate_inconsistency(pooled(pi_low=-0.5, pi_high=-0.25), thr).downgrade == 0


def test_inconsistency_one_trial_and_small_p_wording():
    assert "one trial" in grade.rate_inconsistency(pooled(k=1), None).reason
    j = grade.rate_inconsistency(pooled(q_pval=2e-9, pi_low=-0.9, pi_high=-0.0002), None)
    assert "p < 0.001" in j.reason and "p = 0.000" not in j.reason and "-0.00)" not in j.reason


# --------------------------------------------------------------------------- imprecision


def z_sum(alpha=0.05, power=0.8):
    return stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)


def test_optimal_information_size_by_hand():
    # continuous, MID 0.5 SD: n per arm = 2 (z_a + z_b)^2 / d^2
    ois = grade.optimal_information_size("SMD", grade.OutcomeSpec(mid=0.5), S)
    assert ois == pytest.approx(2 * 2 * z_sum() ** 2 / 0.25, rel=1e-9)
    assert round(ois) == 126
    # binary, control risk 0.2, RRR 25% -> p1 = 0.15
    ois = grade.optimal_information_size("logRR", grade.OutcomeSpec(control_risk=0.2), S)
    per_arm = z_sum() ** 2 * (0.2 * 0.8 + 0.15 * 0.85) / 0.05**2
    assert ois == pytest.approx(2 * per_arm, rel=1e-9)
    assert grade.optimal_information_size("SMD", grade.OutcomeSpec(), S) is None
    assert grade.optimal_information_size("logRR", grade.OutcomeSpec(mid=0.2), S) is None


def test_imprecision_rules():
    assert grade.rate_imprecision(pooled(), None, None).downgrade == 0
    crossing = grade.rate_imprecision(pooled(ci_low=-0.3, ci_high=0.05), None, None)
    assert crossing.downgrade == 1 and "includes no effect" in crossing.reason
    thr = grade.thresholds("SMD", "negative", 0.5)
    short = grade.rate_imprecision(
        pooled(ci_low=-0.9, ci_high=-0.6, n_participants=100), thr, 125.6
    )
    assert short.downgrade == 1 and "fewer than the optimal information size (126)" in short.reason
    enough = grade.rate_imprecision(
        pooled(ci_low=-0.9, ci_high=-0.6, n_participants=200), thr, 125.6
    )
    assert enough.downgrade == 0
    wide = grade.rate_imprecision(pooled(ci_low=-0.8, ci_high=0.7, n_participants=200), thr, 125.6)
    assert wide.downgrade == 2


def test_imprecision_binary_on_the_ratio_scale():
    thr = grade.thresholds("logRR", "negative", 0.25)
    assert thr == pytest.approx((math.log(0.75), math.log(1.25)))
    p = pooled(measure="logRR", ci_low=math.log(0.6), ci_high=math.log(1.3), n_participants=5000)
    j = grade.rate_imprecision(p, thr, 1805.3)
    assert j.downgrade == 2 and "RR 0.60 to 1.30" in j.reason and "(0.75)" in j.reason


# --------------------------------------------------------------------------- publication bias


def test_publication_bias():
    egger = {"reported": True, "pval": 0.05}
    assert grade.rate_publication_bias(12, egger, S).downgrade == 1
    assert grade.rate_publication_bias(12, {"reported": True, "pval": 0.2}, S).downgrade == 0
    small = grade.rate_publication_bias(6, None, S)
    assert small.downgrade == 0 and "not assessable with 6 trials" in small.reason
    assert (
        grade.rate_publication_bias(12, egger, grade.GradeSettings(egger_alpha=0.01)).downgrade == 0
    )


# --------------------------------------------------------------------------- certainty, adjudication


def judgements(**downgrades):
    return {
        gd: grade.Judgement(gd, downgrades.get(gd, 0), f"reason for {gd}")
        for gd in grade.GRADE_DOMAINS
    }


def test_certainty_counts_down_from_high_and_stops_at_very_low():
    r = grade.rating(judgements(risk_of_bias=1), {}, "glycemic")
    assert (r["suggested_certainty"], r["certainty"], r["symbols"]) == (
        "Moderate",
        "Moderate",
        "\u2295\u2295\u2295\u25ef",
    )
    r = grade.rating(judgements(risk_of_bias=2, imprecision=2, inconsistency=1), {}, "glycemic")
    assert r["certainty"] == "Very low"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_adjudication_overrides_the_suggestion_and_names_who(tmp_path):
    sheet = write(
        tmp_path / "grade" / "adjudication.csv",
        "domain,grade_domain,decision,reason,adjudicator\n"
        "glycemic,indirectness,serious,adults with type 2 diabetes only,alice\n"
        "glycemic,risk_of_bias,not serious,sensitivity analysis without high-risk trials agrees,bob\n",
    )
    adj = grade.load_adjudication(sheet, SCHEMA, ["glycemic", "knowledge"])
    r = grade.rating(judgements(risk_of_bias=1), adj, "glycemic")
    assert r["suggested_certainty"] == "Moderate" and r["certainty"] == "Moderate"
    assert r["domains"]["indirectness"]["final"] == "serious"
    assert r["domains"]["indirectness"]["decided_by"] == "alice (adjudication.csv:2)"
    assert r["domains"]["risk_of_bias"]["suggested"] == "serious"
    assert r["domains"]["risk_of_bias"]["final"] == "not serious" and r["adjudicated"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("diabetes,imprecision,serious,x,alice\n", "row 2, column 'domain'"),
        (
            "glycemic,imprecision,serious,x,alice\nglycemic,imprecision,not serious,y,bob\n",
            "row 3, column 'grade_domain': expected one row per domain and grade_domain (first on row 2)",
        ),  # fmt: skip
        ("glycemic,imprecise,serious,x,alice\n", "row 2, column 'grade_domain'"),
        ("glycemic,imprecision,moderate,x,alice\n", "row 2, column 'decision'"),
        ("glycemic,imprecision,serious,,alice\n", "row 2, column 'reason'"),
    ],
)
def test_adjudication_errors_name_file_row_and_column(tmp_path, rows, message):
    sheet = write(
        tmp_path / "adjudication.csv", "domain,grade_domain,decision,reason,adjudicator\n" + rows
    )
    with pytest.raises((InputError, InputErrors)) as err:
        grade.load_adjudication(sheet, SCHEMA, ["glycemic"])
    assert str(sheet) in str(err.value) and message in str(err.value)


def test_grade_outcomes_must_name_a_domain():
    config = {"extraction": {"domains": {"glycemic": {}}}, "grade": {"outcomes": {"glycaemic": {}}}}
    with pytest.raises(InputError, match=r"config.yaml, column 'grade.outcomes.glycaemic'"):
        check_references(config, ["config.yaml"])
    check_references({**config, "grade": {"outcomes": {"glycemic": {"mid": 0.3}}}})


# --------------------------------------------------------------------------- summary of findings


def test_summary_of_findings_rows_by_hand():
    settings = grade.GradeSettings.from_params(
        {"outcomes": {"complications": {"control_risk": 0.1}}}
    )
    binary = pooled(domain="complications", label="Complications", measure="logRR", k=6, n_studies=6,
                    n_participants=837, estimate=math.log(0.62), ci_low=math.log(0.42),
                    ci_high=math.log(0.91))  # fmt: skip
    unpooled = pooled(domain="attitude", label="Attitude", reported=False, k=2)
    ratings = {
        "glycemic": grade.rating(judgements(risk_of_bias=1, imprecision=1), {}, "glycemic"),
        "complications": grade.rating(judgements(), {}, "complications"),
    }
    sof = grade.summary_of_findings([pooled(), binary, unpooled], ratings, settings)
    g, c, a = (sof.set_index("domain").loc[d] for d in ("glycemic", "complications", "attitude"))
    assert g.effect == "SMD -0.40 (95% CI -0.60 to -0.20)"
    assert g.absolute == "small effect favouring the intervention"
    assert g.certainty == "Low" and g.footnotes.startswith(
        "risk of bias: serious (reason for risk_of_bias)"
    )
    assert c.effect == "RR 0.62 (95% CI 0.42 to 0.91)" and c.certainty == "High"
    # 100 per 1,000 without; 62 with (-38); CI 42 to 91 -> -58 to -9
    assert c.absolute == ("100 per 1,000 without, 62 per 1,000 with the intervention "
                          "(-38 per 1,000, 95% CI -58 to -9)")  # fmt: skip
    assert (c.studies, c.participants) == (6, 837)
    assert a.effect == "not pooled (k = 2 < min_k)" and a.certainty == "not rated"


def test_interpretation_of_smd_follows_the_favourable_sign():
    assert grade.interpret_smd(0.9, "positive") == "large effect favouring the intervention"
    assert grade.interpret_smd(0.6, "negative") == "moderate effect favouring control"
    assert grade.interpret_smd(-0.1, "negative") == "little or no difference"


def test_grade_review_on_strata_files(tmp_path):
    strata = tmp_path / "strata"
    index = {"domain-glycemic": {"kind": "domain", "domain": "glycemic", "k": 3},
             "domain-knowledge": {"kind": "domain", "domain": "knowledge", "k": 2},
             "platform-line": {"kind": "platform", "domain": None, "k": 5}}  # fmt: skip
    write(strata / "strata.json", json.dumps(index))
    write(strata / "domain-glycemic" / "pooled.json", json.dumps(pooled(k=3, n_studies=3)))
    rob_data(["high", "low", "some concerns"]).to_csv(
        strata / "domain-glycemic" / "data.csv", index=False
    )
    write(strata / "domain-knowledge" / "pooled.json",
          json.dumps(pooled(domain="knowledge", reported=False, k=2)))  # fmt: skip
    adj = write(tmp_path / "adjudication.csv", "domain,grade_domain,decision,reason,adjudicator\n"
                "knowledge,indirectness,serious,x,alice\n")  # fmt: skip
    result = grade.grade_review(strata, S, adjudication=adj, schema=SCHEMA)
    assert list(result.ratings["outcomes"]) == ["glycemic"]
    rob = result.ratings["outcomes"]["glycemic"]["domains"]["risk_of_bias"]
    assert rob["facts"]["weight_high"] == pytest.approx(0.375)
    assert result.ratings["adjudications_for_unpooled_domains"] == ["knowledge"]
    assert list(result.sof["domain"]) == ["glycemic", "knowledge"]
    # the entry point, as the rule calls it: the same result, written where the rule says
    inputs = {"strata": [strata / "strata.json"], "adjudication": [adj], "schema": SCHEMA}
    outputs = {"ratings": tmp_path / "out" / "grade.json", "sof": tmp_path / "out" / "sof.csv"}
    grade.write(grade.run(S, inputs), outputs)
    assert json.loads(outputs["ratings"].read_text()) == json.loads(json.dumps(result.ratings))
    assert (
        grade.run(S, {**inputs, "adjudication": []}).ratings["adjudications_for_unpooled_domains"]
        == []
    )


def test_report_shows_summary_of_findings_and_who_decided(tmp_path):
    from results_fixture import CONFIG, make_results

    from livingreview.io import write_csv, write_json
    from livingreview.publish import report

    results = make_results(tmp_path)
    adj = write(tmp_path / "adjudication.csv", "domain,grade_domain,decision,reason,adjudicator\n"
                "glycemic,indirectness,serious,<b>older adults</b> only,alice\n")  # fmt: skip
    result = grade.grade_review(results / "strata", S, adjudication=adj, schema=SCHEMA)
    write_json(results / "grade" / "grade.json", result.ratings)
    write_csv(result.sof, results / "grade" / "sof.csv")
    report.build_report(results, results / "report", CONFIG)
    html = (results / "report" / "index.html").read_text(encoding="utf-8")
    section = html[html.index('id="certainty"') : html.index('id="strata"')]
    assert "Summary of findings" in section and "Glycemic control" in section
    assert "alice (adjudication.csv:2)" in section
    assert "&lt;b&gt;older adults&lt;/b&gt; only" in section and "<b>older" not in section
    assert result.ratings["outcomes"]["glycemic"]["domains"]["indirectness"]["final"] == "serious"
