"""Extraction stage: double-extraction merge, effect sizes per input form, selection rules, bad input.

Reference effect sizes are metafor 3.8-1 values (R line in the comment next to
each literal). For the MD forms the R line applies the conversion this project
documents (SE from a 95% CI or p with the t distribution, df = n1 + n2 - 2; SD
pooled = SE / sqrt(1/n1 + 1/n2)) and lets escalc do the Hedges' g.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from livingreview.errors import InputError, InputErrors
from livingreview.extraction.files import input_files
from livingreview.extraction.stage import ExtractionSettings, run, write
from livingreview.io import sha256_file

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "extraction"
SCHEMAS = REPO / "workflow" / "schemas"
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["extraction"]
OUTPUTS = ("studies", "discrepancies", "effects", "not_selected")  # the rule's, in order
TOL = 1e-9

STUDY_HEADER = "study_id,record_id,citation,design,icc,cluster_size,platform,followup_weeks,n_total"
OUTCOME_HEADER = (
    "study_id,domain,outcome,timepoint_weeks,form,favourable,"
    "m1,sd1,se1,n1,m2,sd2,se2,n2,md,ci_low,ci_high,se,p,events1,events2"
)
STUDY = "s1,101,Study 2020,individual,,,wechat,24,120"
DECISIONS = "record_id,stage,status\n101,full_text,included\n102,full_text,included\n"


def run_fixture(root: Path = DATA, resolutions: bool = True, config: dict = CONFIG):
    """The stage as its rule runs it, on the sheets under ``root``."""
    settings = ExtractionSettings.from_params({"root": root, "extraction": config})
    inputs = {
        **input_files(root),
        "decisions": root / "decisions.csv",
        "schemas": [SCHEMAS / "studies.schema.yaml"],
    }
    if not resolutions:
        inputs["resolutions"] = []
    return run(settings, inputs)


def row(frame: pd.DataFrame, **match) -> pd.Series:
    sel = frame
    for k, v in match.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, f"{match}: {len(sel)} rows"
    return sel.iloc[0]


def make_root(tmp_path, studies=None, outcomes=None, bob_studies=None, bob_outcomes=None):
    """A one-extractor (or two-) input root with a decisions.csv including records 101/102."""
    root = tmp_path / "root"
    (root / "extraction" / "studies").mkdir(parents=True)
    (root / "extraction" / "outcomes").mkdir(parents=True)
    (root / "decisions.csv").write_text(DECISIONS)
    sheets = {
        "studies/alice.csv": (STUDY_HEADER, studies if studies is not None else [STUDY]),
        "outcomes/alice.csv": (OUTCOME_HEADER, outcomes or []),
    }
    if bob_studies is not None:
        sheets["studies/bob.csv"] = (STUDY_HEADER, bob_studies)
    if bob_outcomes is not None:
        sheets["outcomes/bob.csv"] = (OUTCOME_HEADER, bob_outcomes)
    for name, (header, lines) in sheets.items():
        (root / "extraction" / name).write_text("\n".join([header, *lines]) + "\n")
    return root


def outcome(form, numbers: dict, domain="glycemic", name="HbA1c", tp=24, fav="lower", study="s1"):
    cols = OUTCOME_HEADER.split(",")
    values = {"study_id": study, "domain": domain, "outcome": name, "timepoint_weeks": tp}
    values.update({"form": form, "favourable": fav, **numbers})
    return ",".join(str(values.get(c, "")) for c in cols)


MEANS = {"m1": 7.4, "sd1": 1.0, "n1": 58, "m2": 8.1, "sd2": 1.3, "n2": 57}


# --------------------------------------------------------------------- the fixture review


@pytest.fixture(scope="module")
def result():
    return run_fixture()


def test_settings_are_parsed_once_from_the_rule_params():
    config = {**CONFIG, "plausibility": {"max_abs_smd": 3}, "xlsx_sheet": "Data"}
    settings = ExtractionSettings.from_params({"extraction": config})
    assert settings.root is None and settings.xlsx_sheet == "Data"
    assert settings.limits == {"max_abs_smd": 3, "nonnegative_means": True}
    assert sorted(settings.extraction.domains) == sorted(CONFIG["domains"])


def test_each_input_form_matches_metafor(result):
    eff, nots = result.effects, result.not_selected
    cases = [
        # escalc("SMD", m1i=7.4, sd1i=1.0, n1i=58, m2i=8.1, sd2i=1.3, n2i=57)
        (eff, ("smith2019", "HbA1c", 24.0), -0.600248065435, 0.036351750873),
        # escalc("SMD", m1i=-1.2, sd1i=1.5, n1i=58, m2i=-0.3, sd2i=1.4, n2i=57)
        (eff, ("smith2019", "BMI", 24.0), -0.616005406926, 0.036435076618),
        # change_se, se1 resolved to 0.15:
        # escalc("SMD", m1i=-0.8, sd1i=0.15*sqrt(40), n1i=40, m2i=-0.2, sd2i=0.16*sqrt(40), n2i=40)
        (eff, ("chen2021", "HbA1c", 12.0), -0.605831385109, 0.052293947920),
        # se <- (5.0-1.2)/(2*qt(0.975, 113)); sdp <- se/sqrt(1/58+1/57)
        # escalc("SMD", m1i=3.1, sd1i=sdp, n1i=58, m2i=0, sd2i=sdp, n2i=57)
        (eff, ("smith2019", "DKQ", 24.0), 0.598866469315, 0.036344547864),
        # sdp <- 0.2/sqrt(1/38+1/39); escalc("SMD", m1i=-0.45, sd1i=sdp, n1i=38, m2i=0, sd2i=sdp, n2i=39)
        (nots, ("chen2021", "FBG", 12.0), -0.507717158266, 0.053630689873),
        # se <- 2.0/qt(1-0.03/2, 78); sdp <- se/sqrt(1/40+1/40)
        # escalc("SMD", m1i=2.0, sd1i=sdp, n1i=40, m2i=0, sd2i=sdp, n2i=40)
        (eff, ("chen2021", "attitude score", 12.0), 0.489515276604, 0.051497657538),
        # escalc("RR", ai=4, n1i=40, ci=10, n2i=40)
        (eff, ("chen2021", "any complication", 12.0), -0.916290731874, 0.3),
        # escalc("RR", ai=0, n1i=40, ci=3, n2i=40)   (0.5 added to every cell)
        (nots, ("chen2021", "hospitalisation", 12.0), -1.945910149055, 2.236933797909),
    ]
    for frame, (sid, name, tp), yi, vi in cases:
        got = row(frame, study_id=sid, outcome=name, timepoint_weeks=tp)
        assert got["yi"] == pytest.approx(yi, rel=TOL, abs=1e-11), (sid, name)
        assert got["vi"] == pytest.approx(vi, rel=TOL), (sid, name)


def test_alignment_follows_scale_direction_and_domain_sign(result):
    eff = result.effects.set_index(["study_id", "domain"])
    # lower HbA1c is favourable and glycemic reports favourable as negative
    assert eff.loc[("smith2019", "glycemic"), "yi"] < 0
    # knowledge: higher favourable, favourable_sign positive
    assert eff.loc[("smith2019", "knowledge"), "yi"] > 0
    # complications: fewer events favourable, reported as log RR < 0
    assert eff.loc[("chen2021", "complications"), "measure"] == "logRR"
    assert eff.loc[("chen2021", "complications"), "yi"] < 0


def test_cluster_trial_variance_times_design_effect(result):
    got = row(result.effects, study_id="lee2020", domain="glycemic")
    # DE = 1 + (11 - 1) * 0.05 = 1.5
    # escalc("SMD", m1i=7.0, sd1i=1.7, n1i=90, m2i=7.6, sd2i=1.8, n2i=88)
    assert got["design_effect"] == pytest.approx(1.5)
    assert got["yi"] == pytest.approx(-0.341365179569, rel=TOL)
    assert got["vi"] == pytest.approx(0.022802079457 * 1.5, rel=TOL)
    assert got["n"] == 178
    assert got["ln_n"] == pytest.approx(5.181783550292085, rel=TOL)  # log(178)


def test_selected_effects_and_their_provenance(result):
    eff = result.effects
    assert list(zip(eff["study_id"], eff["domain"], eff["outcome"], strict=True)) == [
        ("chen2021", "attitude", "attitude score"),
        ("chen2021", "complications", "any complication"),
        ("chen2021", "glycemic", "HbA1c"),
        ("kim2021", "clinical-other", "SBP"),
        ("lee2020", "glycemic", "FPG"),
        ("smith2019", "clinical-other", "BMI"),
        ("smith2019", "glycemic", "HbA1c"),
        ("smith2019", "knowledge", "DKQ"),
    ]
    smith = row(eff, study_id="smith2019", domain="glycemic")
    assert smith["source"] == (
        "extraction/outcomes/alice.csv:3; extraction/outcomes/bob-2025.csv:3"
    )
    assert smith[["record_id", "platform", "followup_weeks", "rob_overall"]].tolist() == [
        "101",
        "wechat",
        24.0,
        "low",
    ]
    assert smith[["interactivity", "feedback"]].tolist() == ["yes", "no"]
    kim = row(eff, study_id="kim2021")
    assert kim["platform"] == "facebook-messenger"  # configured label accepted
    assert kim["source"] == "extraction/outcomes/alice.csv:22"


def test_priority_tier_then_latest_time_point(result):
    smith = row(result.effects, study_id="smith2019", domain="glycemic")
    assert smith["rule"] == (
        "HbA1c: priority tier 1 of 3 (HbA1c > FBG/FPG > 2hPG); "
        "latest time point in 1-520 wk: 24 wk (of 12, 24)"
    )
    assert smith["beat"] == "HbA1c 12 wk; FBG 24 wk"
    nots = result.not_selected
    assert (
        row(nots, study_id="smith2019", outcome="HbA1c")["why"]
        == "earlier time point than the selected HbA1c 24 wk"
    )
    assert (
        row(nots, study_id="smith2019", outcome="FBG")["why"]
        == "lower priority tier (FBG: tier 2) than the selected HbA1c 24 wk (tier 1)"
    )
    # clinical-other: BMI before weight
    assert row(result.effects, study_id="smith2019", domain="clinical-other")["beat"] == (
        "weight 24 wk"
    )


def test_within_tier_larger_n_then_config_order(result):
    lee = row(result.effects, study_id="lee2020", domain="glycemic")
    assert lee["outcome"] == "FPG"
    assert "within the tier the larger n (178)" in lee["rule"]
    assert lee["beat"] == "FBG 26 wk; 2hPG 26 wk"
    assert row(result.not_selected, study_id="lee2020", outcome="FBG")["why"] == (
        "same tier as the selected FPG 26 wk, smaller n (100 < 178)"
    )
    kim = row(result.effects, study_id="kim2021")
    assert kim["outcome"] == "SBP"  # SBP and DBP tie on n: configured order
    assert "then the configured order" in kim["rule"]
    assert row(result.not_selected, study_id="kim2021", outcome="DBP")["why"] == (
        "same tier and n as the selected SBP 52 wk, later in the configured order"
    )


def test_time_point_outside_window_is_not_a_candidate(result):
    bmi = row(result.not_selected, study_id="kim2021", outcome="BMI")
    assert bmi["status"] == "not-selected"
    assert bmi["why"] == "time point 0 wk outside the window 1-520 wk"


def test_not_computable_effect_is_skipped_and_named(result):
    dmses = row(result.not_selected, study_id="chen2021", outcome="DMSES")
    assert dmses["status"] == "not-computable"
    assert dmses["why"] == (
        "effect size not computable: md must be non-zero to recover an SE from p (got 0)"
    )
    attitude = row(result.effects, study_id="chen2021", domain="attitude")
    assert attitude["rule"].endswith("; not computable: DMSES 12 wk")


def test_unresolved_preferred_effect_stops_the_domain(result):
    """SDSCA total (composite) outranks diet score, but its sd1 is unresolved."""
    assert result.effects.query("study_id == 'lee2020' and domain == 'behaviour'").empty
    sdsca = row(result.not_selected, study_id="lee2020", outcome="SDSCA total")
    assert sdsca["status"] == "unresolved"
    assert sdsca["why"] == (
        "unresolved discrepancy in outcomes field sd1 (alice=1.2; bob=1.5) "
        "of lee2020|behaviour|SDSCA total|26"
    )
    diet = row(result.not_selected, study_id="lee2020", outcome="diet score")
    assert diet["status"] == "not-selected"
    assert "preferred effect SDSCA total 26 wk is unresolved" in diet["why"]


def test_screening_status_and_unresolved_record_id(result):
    wang = row(result.not_selected, study_id="wang2022")
    assert wang["status"] == "not-included"
    assert wang["why"] == "record 104 is not included at full text (screening status: excluded)"
    park = row(result.not_selected, study_id="park2023")
    assert park["status"] == "unresolved"
    assert "record_id (alice=105; bob=150)" in park["why"]


def test_discrepancies_table(result):
    d = result.discrepancies
    got = [tuple(r) for r in d[["sheet", "key", "field", "values", "status", "resolution"]].values]
    assert got == [
        ("studies", "chen2021", "citation", "alice=Chen 2021; bob=Chen et al. 2021", "resolved", "Chen et al. 2021"),
        ("studies", "chen2021", "rob_overall", "alice=low; bob=some concerns", "unresolved", ""),
        ("studies", "kim2021", "(row)", "alice=entered; bob=missing", "resolved", "single extraction"),
        ("studies", "park2023", "record_id", "alice=105; bob=150", "unresolved", ""),
        ("outcomes", "chen2021|glycemic|HbA1c|12", "se1", "alice=0.15; bob=0.18", "resolved", "0.15"),
        ("outcomes", "lee2020|behaviour|SDSCA total|26", "sd1", "alice=1.2; bob=1.5", "unresolved", ""),
        ("outcomes", "smith2019|glycemic|FBG|24", "(row)", "alice=entered; bob=missing", "unresolved", ""),
    ]  # fmt: skip
    assert row(d, key="smith2019|glycemic|FBG|24")["note"] == "missing in extractor bob"
    # agreements: platform 'wechat' vs 'WeChat', 'line' vs 'LINE', empty design vs individual
    assert not (d["field"].isin(["platform", "design"])).any()


def test_merged_study_table(result):
    s = result.studies.set_index("study_id")
    assert s.loc["chen2021", "citation"] == "Chen et al. 2021"  # resolution
    assert pd.isna(s.loc["chen2021", "rob_overall"])  # unresolved, not needed: left empty
    assert s.loc["chen2021", "unresolved"] == "rob_overall"
    assert s.loc["chen2021", "platform"] == "line"
    assert s.loc["kim2021", "extractors"] == "alice"
    assert s.loc["lee2020", "extractors"] == "alice; bob"
    assert s.loc["wang2022", "screening_status"] == "excluded"


def test_outputs_are_byte_identical_on_rerun(tmp_path):
    hashes = []
    for attempt in range(2):
        out = tmp_path / str(attempt)
        paths = [out / n for n in ("studies.csv", "disc.csv", "effects.csv", "not.csv")]
        write(run_fixture(), dict(zip(OUTPUTS, paths, strict=True)))
        hashes.append([sha256_file(p) for p in paths])
    assert hashes[0] == hashes[1]
    text = (tmp_path / "0" / "effects.csv").read_text()
    assert text.splitlines()[0] == (
        "study_id,record_id,citation,domain,platform,measure,yi,vi,n,followup_weeks,ln_n,"
        "outcome,timepoint_weeks,form,design_effect,rob_overall,interactivity,moderation,"
        "feedback,care_integration,source,rule,beat"
    )
    first = next(csv.DictReader((tmp_path / "0" / "effects.csv").open()))
    assert first["timepoint_weeks"] == "12" and first["n"] == "80"


# --------------------------------------------------------------------- resolutions


def copy_fixture(tmp_path) -> Path:
    root = tmp_path / "fixture"
    shutil.copytree(DATA, root)
    return root


def test_resolving_the_composite_selects_it_over_sub_scores(tmp_path):
    root = copy_fixture(tmp_path)
    with (root / "extraction" / "resolutions.csv").open("a") as fh:
        fh.write("outcomes,lee2020|behaviour|sdsca total|26,sd1,1.2,checked\n")
        fh.write("studies,park2023,record_id,105,the PMID of the trial report\n")
    res = run_fixture(root)
    lee = row(res.effects, study_id="lee2020", domain="behaviour")
    assert lee["outcome"] == "SDSCA total"
    assert lee["beat"] == "diet score 26 wk"
    # escalc("SMD", m1i=5.2, sd1i=1.2, n1i=90, m2i=4.6, sd2i=1.3, n2i=88); vi times DE 1.5
    assert lee["yi"] == pytest.approx(0.477786124668, rel=TOL)
    assert lee["vi"] == pytest.approx(0.023115982253 * 1.5, rel=TOL)
    park = row(res.effects, study_id="park2023")  # record_id conflict resolved: included
    assert park["record_id"] == "105"
    assert (res.discrepancies["status"] == "resolved").sum() == 5


@pytest.mark.parametrize(
    ("line", "column", "expected"),
    [
        (
            "studies,nobody2020,citation,X,",
            "key",
            "expected a key present in the studies sheets, got 'nobody2020'",
        ),
        (
            "studies,chen2021,colour,red,",
            "field",
            "expected a field of the studies sheet ((row) or one of: record_id,",
        ),
        (
            "outcomes,chen2021|glycemic|HbA1c|12,se1,abc,",
            "value",
            "expected a number (use a point as decimal separator), got 'abc'",
        ),
        (
            "outcomes,chen2021|glycemic|HbA1c|12,se1,-0.2,",
            "value",
            "expected a value > 0, got -0.2",
        ),
        (
            "studies,smith2019,country,Japan,",
            "value",
            "expected the value the extractors now agree on ('China') or no resolution for this field, got 'Japan'",
        ),
        (
            "outcomes,chen2021|glycemic|HbA1c,se1,0.2,",
            "key",
            "expected a key of the outcomes sheet in the form study_id|domain|outcome|timepoint_weeks",
        ),
        (
            "studies,chen2021,citation,Chen,",
            "field",
            "expected one resolution per sheet, key and field (also in row 2)",
        ),
    ],
)
def test_bad_resolution_names_file_row_column(tmp_path, line, column, expected):
    root = copy_fixture(tmp_path)
    path = root / "extraction" / "resolutions.csv"
    with path.open("a") as fh:
        fh.write(line + "\n")
    with pytest.raises(InputError) as info:
        run_fixture(root)
    assert str(info.value).startswith(f"{path}, row 5, column '{column}': {expected}")


def test_resolution_that_breaks_a_row_is_named(tmp_path):
    """Resolving se1 to 'not reported' leaves the change_se row without an SD or SE for arm 1."""
    root = copy_fixture(tmp_path)
    path = root / "extraction" / "resolutions.csv"
    text = path.read_text().replace("se1,0.15,Table 2", "se1,,Table 2")
    path.write_text(text)
    with pytest.raises(InputError) as info:
        run_fixture(root)
    assert str(info.value) == (
        f"{path}, row 3, column 'value': expected a value (se1, or sd1; or for the mean "
        "difference ci_low and ci_high, se or p) after resolutions for chen2021|glycemic|HbA1c|12"
    )


def test_xlsx_sheets_give_the_same_effects(tmp_path):
    import openpyxl

    root = copy_fixture(tmp_path)
    csv_path = root / "extraction" / "outcomes" / "bob-2025.csv"
    book = openpyxl.Workbook()
    for line in csv.reader(csv_path.open()):
        book.active.append(
            [float(c) if c.replace(".", "", 1).lstrip("-").isdigit() else c for c in line]
        )
    book.save(root / "extraction" / "outcomes" / "bob-2025.xlsx")
    csv_path.unlink()
    res = run_fixture(root)
    expected = run_fixture()
    cols = ["study_id", "domain", "outcome", "yi", "vi", "rule", "beat"]
    pd.testing.assert_frame_equal(res.effects[cols], expected.effects[cols])
    assert (
        "extraction/outcomes/bob-2025.xlsx:3"
        in row(res.effects, study_id="smith2019", domain="glycemic")["source"]
    )


# --------------------------------------------------------------------- input forms, small cases


def effect_of(tmp_path, line, **kw):
    root = make_root(tmp_path, outcomes=[line], **kw)
    res = run_fixture(root)
    assert len(res.effects) == 1, res.not_selected
    return res.effects.iloc[0]


def test_means_with_se_instead_of_sd(tmp_path):
    got = effect_of(tmp_path, outcome("means", {**MEANS, "sd1": "", "se1": 1.0 / 58**0.5}))
    # same as sd1 = 1.0: escalc("SMD", m1i=7.4, sd1i=1.0, n1i=58, m2i=8.1, sd2i=1.3, n2i=57)
    assert got["yi"] == pytest.approx(-0.600248065435, rel=TOL)
    assert got["vi"] == pytest.approx(0.036351750873, rel=TOL)


def test_means_without_sds_use_the_ci_of_the_difference(tmp_path):
    numbers = {"m1": 7.5, "n1": 50, "m2": 8.0, "n2": 50, "ci_low": -1.1, "ci_high": 0.1}
    got = effect_of(tmp_path, outcome("means", numbers))
    # se <- (0.1-(-1.1))/(2*qt(0.975, 98)); sdp <- se/sqrt(1/50+1/50)
    # escalc("SMD", m1i=7.5, sd1i=sdp, n1i=50, m2i=8.0, sd2i=sdp, n2i=50)
    assert got["yi"] == pytest.approx(-0.328205809302, rel=TOL)
    assert got["vi"] == pytest.approx(0.040538595266, rel=TOL)


def test_md_se_by_hand(tmp_path):
    """Independent check: g = J(df) * md / (se / sqrt(1/n1 + 1/n2)), J exact via gamma."""
    from math import gamma, sqrt

    got = effect_of(
        tmp_path,
        outcome(
            "md_se", {"md": 2.5, "se": 0.8, "n1": 20, "n2": 25}, "knowledge", "DKT", 12, "higher"
        ),
    )
    df = 43
    j = gamma(df / 2) / (sqrt(df / 2) * gamma((df - 1) / 2))
    g = j * 2.5 / (0.8 / sqrt(1 / 20 + 1 / 25))
    assert got["yi"] == pytest.approx(g, rel=TOL)
    assert got["vi"] == pytest.approx(1 / 20 + 1 / 25 + g**2 / (2 * 45), rel=TOL)


def test_single_extractor_team_is_not_flagged(tmp_path):
    root = make_root(tmp_path, outcomes=[outcome("means", MEANS)])
    assert run_fixture(root).discrepancies.empty


def test_numbers_agree_within_relative_tolerance(tmp_path):
    near = {**MEANS, "m1": 7.4 * (1 + 1e-12)}
    far = {**MEANS, "m1": 7.4 * (1 + 1e-6)}
    root = make_root(
        tmp_path,
        outcomes=[outcome("means", MEANS)],
        bob_studies=[STUDY],
        bob_outcomes=[outcome("means", near)],
    )
    assert run_fixture(root).discrepancies.empty
    (root / "extraction" / "outcomes" / "bob.csv").write_text(
        OUTCOME_HEADER + "\n" + outcome("means", far) + "\n"
    )
    d = run_fixture(root).discrepancies
    assert d[["key", "field", "status"]].values.tolist() == [
        ["s1|glycemic|HbA1c|24", "m1", "unresolved"]
    ]


# --------------------------------------------------------------------- bad input: one message each


def bad_outcome(tmp_path, numbers, form="means", **kw):
    root = make_root(tmp_path, outcomes=[outcome(form, numbers, **kw)])
    with pytest.raises(InputError) as info:
        run_fixture(root)
    assert not isinstance(info.value, InputErrors)
    return str(info.value), root / "extraction" / "outcomes" / "alice.csv"


@pytest.mark.parametrize(
    ("numbers", "form", "kw", "message"),
    [
        (
            {**MEANS, "sd1": ""},
            "means",
            {},
            "column 'sd1': expected a value (sd1, or se1; or for the mean difference "
            "ci_low and ci_high, se or p)",
        ),
        ({**MEANS, "sd2": 0}, "means", {}, "column 'sd2': expected a value > 0, got 0.0"),
        ({**MEANS, "sd1": -1.2}, "means", {}, "column 'sd1': expected a value > 0, got -1.2"),
        ({**MEANS, "n1": 0}, "means", {}, "column 'n1': expected a value >= 2, got 0"),
        ({**MEANS, "n2": 1}, "means", {}, "column 'n2': expected a value >= 2, got 1"),
        (
            {"events1": 41, "n1": 40, "events2": 3, "n2": 40},
            "events",
            {"domain": "complications", "name": "hospitalisation"},
            "column 'events1': expected at most n1 = 40 events, got 41",
        ),
        (
            {"md": 3.0, "ci_low": 0.5, "ci_high": 2.5, "n1": 30, "n2": 30},
            "md_ci",
            {"domain": "knowledge", "name": "DKQ", "fav": "higher"},
            "column 'ci_high': expected a 95% CI containing the mean difference (md = 3), got 2.5",
        ),
        (
            {"md": 3.0, "p": 0, "n1": 30, "n2": 30},
            "md_p",
            {"domain": "knowledge", "name": "DKQ"},
            "column 'p': expected a value > 0, got 0.0",
        ),
        (
            {"md": 3.0, "p": 1, "n1": 30, "n2": 30},
            "md_p",
            {"domain": "knowledge", "name": "DKQ"},
            "column 'p': expected a value < 1, got 1.0",
        ),
        (
            {"md": 3.0, "n1": 30, "n2": 30},
            "md_se",
            {"domain": "knowledge", "name": "DKQ"},
            "column 'se': expected a value (form md_se needs md, se, n1, n2)",
        ),
        (
            MEANS,
            "means",
            {"domain": "glucose"},
            "column 'domain': expected a configured domain (one of: glycemic, clinical-other, "
            "knowledge, behaviour, attitude, complications), got 'glucose'",
        ),
        (
            MEANS,
            "means",
            {"name": "fructosamine"},
            "column 'outcome': expected an outcome of domain glycemic (one of: HbA1c, FBG, FPG, "
            "2hPG), got 'fructosamine'",
        ),
        (MEANS, "means", {"tp": -4}, "column 'timepoint_weeks': expected a value >= 0, got -4.0"),
        (
            MEANS,
            "means",
            {"study": "s9"},
            "column 'study_id': expected a study_id present in a study sheet (extraction/studies), "
            "got 's9'",
        ),
        (
            MEANS,
            "events",
            {"domain": "glycemic"},
            "column 'form': expected a continuous form (means, change_sd, change_se, md_ci, md_se, "
            "md_p) for domain glycemic, got 'events'",
        ),
    ],
)
def test_bad_outcome_row_names_file_row_column(tmp_path, numbers, form, kw, message):
    text, path = bad_outcome(tmp_path, numbers, form, **kw)
    assert text == f"{path}, row 2, {message}"


@pytest.mark.parametrize(
    ("study", "message"),
    [
        (
            "s1,101,Study 2020,individual,,,signal,24,100",
            "column 'platform': expected a configured platform (one of: facebook-messenger, "
            "kakaotalk, line, mixed, naver-band, telegram, wechat, whatsapp), got 'signal'",
        ),
        (
            "s1,101,Study 2020,individual,,,wechat,-4,100",
            "column 'followup_weeks': expected a value > 0, got -4.0",
        ),
        (
            "s1,101,Study 2020,cluster,,12,wechat,24,100",
            "column 'icc': expected a value (icc is required for a cluster trial)",
        ),
        (
            "s1,101,Study 2020,individual,,,wechat,24,1",
            "column 'n_total': expected a value >= 2, got 1",
        ),
    ],
)
def test_bad_study_row_names_file_row_column(tmp_path, study, message):
    root = make_root(tmp_path, studies=[study])
    with pytest.raises(InputError) as info:
        run_fixture(root)
    assert str(info.value) == f"{root / 'extraction' / 'studies' / 'alice.csv'}, row 2, {message}"


def test_duplicate_row_of_one_extractor(tmp_path):
    root = make_root(tmp_path, studies=[STUDY, STUDY])
    path = root / "extraction" / "studies" / "alice.csv"
    with pytest.raises(InputError) as info:
        run_fixture(root)
    assert str(info.value) == (
        f"{path}, row 3, column 'study_id': expected each study_id once per extractor "
        f"(also in {path} row 2), got 's1'"
    )


def test_extractor_name_from_file_name(tmp_path):
    root = make_root(tmp_path)
    bad = root / "extraction" / "studies" / "Al ice.csv"
    bad.write_text(STUDY_HEADER + "\n")
    with pytest.raises(InputError, match=r"Al ice.csv: expected a file name starting with"):
        run_fixture(root)


def test_empty_extraction_gives_empty_tables(tmp_path):
    root = make_root(tmp_path, studies=[])
    res = run_fixture(root)
    assert res.effects.empty and res.not_selected.empty and res.studies.empty
    paths = [tmp_path / n for n in ("a.csv", "b.csv", "c.csv", "d.csv")]
    write(res, dict(zip(OUTPUTS, paths, strict=True)))
    assert paths[2].read_text().startswith("study_id,record_id,citation,domain,")


# --------------------------------------------------------------------- the Snakemake rule


def test_snakemake_rule_runs_and_reruns_nothing(tmp_path):
    work = tmp_path / "wf"
    (work / "workflow").mkdir(parents=True)
    shutil.copytree(REPO / "workflow" / "rules", work / "workflow" / "rules")
    shutil.copytree(SCHEMAS, work / "workflow" / "schemas")
    (work / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "extraction.py", work / "scripts" / "extraction.py")
    shutil.copytree(DATA / "extraction", work / "inputs" / "extraction")
    (work / "results" / "screening").mkdir(parents=True)
    shutil.copy(DATA / "decisions.csv", work / "results" / "screening" / "decisions.csv")
    (work / "results" / "records").mkdir()
    (work / "results" / "records" / "aliases.csv").write_text("old_id,record_id\n")
    config = {"inputs": {"root": "inputs"}, "extraction": CONFIG}
    (work / "config.yaml").write_text(yaml.safe_dump(config))
    (work / "Snakefile").write_text(
        'configfile: "config.yaml"\n'
        'SCHEMA_DIR = "workflow/schemas"\n'  # as workflow/rules/common.smk defines it
        'include: "workflow/rules/extraction.smk"\n'
    )
    snakemake = [str(Path(sys.executable).parent / "snakemake"), "--cores", "1", "extraction"]
    done = subprocess.run(snakemake, cwd=work, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    effects = pd.read_csv(work / "results" / "effects" / "effects.csv")
    assert len(effects) == 8
    assert effects["source"].iloc[0].startswith("extraction/outcomes/alice.csv:")
    assert "effects selected" in (work / "results" / "logs" / "extraction.log").read_text()
    again = subprocess.run(
        [*snakemake, "--dry-run"], cwd=work, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_snakemake_start_up_imports_no_scipy_or_jsonschema():
    # extraction.smk imports livingreview.extraction.files (input_files), and strata,
    # in every Snakemake run: effects (scipy.special, ~0.2 s) and jsonschema load only
    # when the extraction job computes effects or reports a bad cell.
    code = (
        "import sys, livingreview.extraction.files, livingreview.analysis.strata;"
        "print(sorted(m for m in ('scipy', 'jsonschema', 'livingreview.stats.escalc') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_rule_files_import_no_pandas_numpy_or_requests():
    # Issue 15: Snakemake parses the rule files at every start, so what they import at
    # the top (input functions, checks) must not pull pandas (~0.6 s), numpy or requests.
    rules = Path(__file__).parents[1] / "workflow" / "rules"
    modules = sorted(
        {
            m
            for f in rules.glob("*.smk")
            for m in re.findall(r"^from (livingreview\S*) import", f.read_text(), re.M)
        }
    )
    assert "livingreview.extraction.files" in modules and "livingreview.screening.files" in modules
    code = (
        f"import sys, {', '.join(modules)};"
        "print(sorted(m for m in ('pandas', 'numpy', 'scipy', 'requests') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_study_columns_and_the_stratifier_column_reach_effects_csv(tmp_path):
    """Issue 15: a team's own stratifier column and moderator columns, declared in config."""
    root = make_root(tmp_path, outcomes=[outcome("means", MEANS)])
    sheet = root / "extraction" / "studies" / "alice.csv"
    sheet.write_text(
        STUDY_HEADER.replace(",platform,", ",exercise_type,") + ",supervised,setting\n"
        + STUDY.replace(",wechat,", ",Aerobic,") + ",yes,community\n"
    )  # fmt: skip
    config = {
        **CONFIG,
        "stratifier": {"column": "exercise_type", "label": "Exercise type",
                       "values": {"aerobic": "Aerobic", "yoga": "Yoga"}},
        "study_columns": {"supervised": "boolean", "setting": "text"},
    }  # fmt: skip
    res = run_fixture(root, config=config)
    eff = res.effects.iloc[0]
    assert list(res.effects.columns[3:6]) == ["domain", "exercise_type", "measure"]
    assert (eff.exercise_type, eff.supervised, eff.setting) == ("aerobic", "yes", "community")
    assert "platform" not in res.effects.columns
    # a declared column missing from a studies sheet: one message naming sheet and column
    sheet.write_text(
        STUDY_HEADER.replace(",platform,", ",exercise_type,") + ",supervised\n"
        + STUDY.replace(",wechat,", ",yoga,") + ",no\n"
    )  # fmt: skip
    with pytest.raises(InputError) as info:
        run_fixture(root, config=config)
    assert str(info.value) == (
        f"{sheet}, row 1, column 'setting': expected this required column in the header"
    )
    # a value the stratifier does not know, in the stratifier's words
    sheet.write_text(
        STUDY_HEADER.replace(",platform,", ",exercise_type,") + ",supervised,setting\n"
        + STUDY.replace(",wechat,", ",pilates,") + ",no,home\n"
    )  # fmt: skip
    with pytest.raises(InputError, match=r"column 'exercise_type': expected a configured exercise"):
        run_fixture(root, config=config)
