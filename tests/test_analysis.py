"""Per-stratum analyses against R's metafor 3.8-1 (BCG vaccine trials, dat.bcg).

Reference values were produced with (R 4, metafor 3.8-1, options(digits=15)):

    dat <- escalc(measure="RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)
    res <- rma(yi, vi, data=dat, control=list(threshold=1e-12))
    predict(res); cooks.distance(res); regtest(res); leave1out(res)
    top <- order(-cooks.distance(res))[1:3]            # studies 4, 8, 13
    rma(yi, vi, data=dat[-top,], control=list(threshold=1e-12))
    rma(yi, vi, mods=~ablat+year, data=dat, control=list(threshold=1e-12))
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from livingreview import stats
from livingreview.analysis.design_check import design_check
from livingreview.analysis.metareg import meta_regression, read_strata
from livingreview.analysis.stratum import (
    AnalysisSettings,
    StratumSpec,
    analyse_stratum,
    egger,
)

YI = [-0.8893113339202054, -1.5853886572014306, -1.3480731482996933, -1.4415511900213054,
      -0.2175473222112956, -0.7861155858188640, -1.6208982235983918, 0.0119523335238405,
      -0.4694176487381494, -1.3713448034727844, -0.3393588283383906, 0.4459134005713787,
      -0.0173139482168798]  # fmt: skip
VI = [0.32558476500396133, 0.19458112139814385, 0.41536796536796539, 0.02001003190224757,
      0.05121017216963086, 0.00690561845590876, 0.22301724757231517, 0.00396157929781773,
      0.05643421046324897, 0.07302479361302891, 0.01241221397155972, 0.53250584520015276,
      0.07140465968398629]  # fmt: skip
ABLAT = [44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33]
YEAR = [1948, 1949, 1960, 1977, 1973, 1953, 1973, 1980, 1968, 1961, 1974, 1969, 1976]
NI = [262, 609, 451, 26465, 10877, 2992, 3174, 176782, 14776, 3381, 77972, 4839, 34767]
REF_PATH = Path(__file__).parent / "reference" / "metafor_reference.json"
REL = 1e-6  # our REML iterates to 1e-12 as the R calls above; 1e-6 leaves room for BLAS order


@pytest.fixture
def bcg() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "study_id": [f"trial{i:02d}" for i in range(1, 14)],
            "domain": "complications",
            "yi": YI,
            "vi": VI,
            "n": NI,
            "followup_weeks": ABLAT,  # stand-ins for study-level moderators
            "ln_n": YEAR,
        }
    )


STRATUM = StratumSpec("domain-complications", "logRR", "Complications", "negative")


def run(data: pd.DataFrame, **kw):
    settings = AnalysisSettings.from_params({"influence_exclude": 3, **kw})
    return analyse_stratum(data, STRATUM, settings)[:3]


def test_pooled_matches_metafor(bcg: pd.DataFrame) -> None:
    pooled, loo, infl = run(bcg)
    assert pooled["reported"] is True and pooled["k"] == 13
    assert pooled["estimate"] == pytest.approx(-0.714532342158140, rel=REL)
    assert pooled["se"] == pytest.approx(0.179781516105207, rel=REL)
    assert pooled["tau2"] == pytest.approx(0.313243258136486, rel=REL)
    assert pooled["i2"] == pytest.approx(92.221384521269073, rel=REL)
    assert pooled["q"] == pytest.approx(152.233008082373289, rel=REL)
    assert pooled["pi_low"] == pytest.approx(-1.866692217902896, rel=REL)
    assert pooled["pi_high"] == pytest.approx(0.437627533586617, rel=REL)
    assert pooled["exp_estimate"] == pytest.approx(math.exp(-0.714532342158140), rel=REL)
    for key in ("stratum", "ci_low", "ci_high", "pval", "q_pval", "method", "measure", "h2",
                "zval", "test", "level", "converged", "label", "favourable_sign"):  # fmt: skip
        assert key in pooled
    # leave-one-out estimates (metafor leave1out)
    assert loo["omitted"].tolist() == bcg["study_id"].tolist()
    assert loo["estimate"].iloc[0] == pytest.approx(-0.707083784699262, rel=REL)
    assert loo["estimate"].iloc[7] == pytest.approx(-0.794767604515522, rel=REL)
    assert not loo["changes_direction"].any()
    assert len(infl) == 13 and "cook_d" in infl.columns


def test_influence_refit_drops_largest_cooks_distance(bcg: pd.DataFrame) -> None:
    refit = run(bcg)[0]["influence_refit"]
    assert refit["excluded"] == ["trial04", "trial08", "trial13"]
    assert refit["k"] == 10 and refit["reported"] is True
    assert refit["estimate"] == pytest.approx(-0.785210367856668, rel=REL)
    assert refit["se"] == pytest.approx(0.180143139440426, rel=REL)
    assert refit["tau2"] == pytest.approx(0.200545845815638, rel=REL)
    # excluding 10 of 13 leaves 3 studies (= min_k): still reported; 11 leaves 2: not
    assert run(bcg, influence_exclude=10)[0]["influence_refit"]["reported"] is True
    small = run(bcg, influence_exclude=11)[0]["influence_refit"]
    assert small["reported"] is False and small["estimate"] is None and small["k"] == 2


def test_below_min_k_is_not_estimated(bcg: pd.DataFrame) -> None:
    pooled, loo, infl = run(bcg.head(2))
    assert pooled["reported"] is False and pooled["k"] == 2
    for key in ("estimate", "se", "ci_low", "ci_high", "pval", "tau2", "i2", "q", "q_pval",
                "pi_low", "pi_high", "exp_estimate"):  # fmt: skip
        assert pooled[key] is None, key
    assert loo.empty and list(loo.columns)[:2] == ["omitted", "estimate"]
    assert infl.empty


def test_egger_matches_regtest(bcg: pd.DataFrame) -> None:
    result = egger(bcg, AnalysisSettings(), stratum="domain-complications")
    assert result["reported"] is True and result["k"] == 13
    assert result["statistic"] == pytest.approx(-0.803329193090804, rel=REL)
    assert result["pval"] == pytest.approx(0.421784488855319, rel=REL)
    assert result["limit_estimate"] == pytest.approx(-0.510431874103037, rel=REL)
    assert egger(bcg, AnalysisSettings(min_k_funnel=14), stratum="x") == {
        "stratum": "x",
        "k": 13,
        "model": "rma",
        "predictor": "sei",
        "reported": False,
    }


def test_meta_regression_matches_rma_mods(bcg: pd.DataFrame) -> None:
    both = AnalysisSettings(moderators=("followup_weeks", "ln_n"))
    result = meta_regression(bcg, both, name="complications")
    coefs = {c["term"]: c for c in result["coefficients"]}
    assert coefs["followup_weeks"]["estimate"] == pytest.approx(-0.02801132944419741, rel=1e-5)
    assert coefs["followup_weeks"]["pval"] == pytest.approx(0.00619833850456396, rel=1e-5)
    assert coefs["ln_n"]["estimate"] == pytest.approx(0.00190748044752272, rel=1e-5)
    assert result["r2"] == pytest.approx(64.6330147352433, rel=1e-5)
    assert result["qm"] == pytest.approx(12.2044868791710, rel=1e-5)
    # a missing moderator drops that row; too few rows -> not reported
    bcg.loc[0, "followup_weeks"] = np.nan
    one = AnalysisSettings(moderators=("followup_weeks",))
    assert meta_regression(bcg, one, name="x")["k_dropped"] == 1
    tiny = meta_regression(bcg.head(3), both, name="x")
    assert tiny["reported"] is False
    assert tiny["reason"] == "2 effects with every moderator, fewer than 4"


# dat.bcg's allocation (metafor): the reference values below are metafor's
# rma(yi, vi, mods = ~ factor(alloc), data = dat.bcg), REML, printed to 4 decimals by
# tests/reference/make_moderator_reference.R (metafor 3.8-1, R 4.2.2).
ALLOC = ["random"] * 4 + ["alternate"] * 2 + ["random"] * 3 + ["systematic"] * 4


def test_a_text_moderator_is_dummy_coded_against_its_reference(bcg: pd.DataFrame) -> None:
    """Issue 15: a categorical study column as moderator, as metafor's factor() codes it."""
    bcg["alloc"] = ALLOC
    result = meta_regression(bcg, AnalysisSettings(moderators=("alloc",)), name="overall")
    assert result["coding"] == {
        "alloc": {"reference": "alternate", "levels": ["alternate", "random", "systematic"]}
    }
    coefs = {c["term"]: c["estimate"] for c in result["coefficients"]}
    assert coefs == pytest.approx(
        {"intercept": -0.5180, "alloc[random]": -0.4478, "alloc[systematic]": 0.0890}, abs=6e-5
    )
    assert result["qm"] == pytest.approx(1.7675, abs=6e-5)
    assert result["tau2"] == pytest.approx(0.3615, abs=6e-5)
    # a stated reference ({alloc: random}) re-expresses the same model
    settings = AnalysisSettings.from_params({"moderators": [{"alloc": "random"}, "ln_n"]})
    assert settings.moderators == ("alloc", "ln_n") and settings.references == (
        ("alloc", "random"),
    )
    other = meta_regression(
        bcg, AnalysisSettings.from_params({"moderators": [{"alloc": "random"}]}), name="x"
    )
    terms = {c["term"]: c["estimate"] for c in other["coefficients"]}
    assert terms["intercept"] == pytest.approx(-0.5180 - 0.4478, abs=2e-4)
    assert terms["alloc[alternate]"] == pytest.approx(0.4478, abs=1e-4)
    assert other["qm"] == pytest.approx(result["qm"], rel=1e-9)
    with pytest.raises(ValueError, match="reference level 'cluster' of moderator alloc"):
        meta_regression(
            bcg, AnalysisSettings.from_params({"moderators": [{"alloc": "cluster"}]}), name="x"
        )
    # one category left after dropping incomplete rows: does not vary
    same = bcg.assign(alloc="random")
    assert meta_regression(same, AnalysisSettings(moderators=("alloc",)), name="x")["reason"] == (
        "moderator alloc does not vary"
    )
    with pytest.raises(ValueError, match="moderator sessions is not a column"):
        meta_regression(bcg, AnalysisSettings(moderators=("sessions",)), name="x")
    with pytest.raises(ValueError, match="names alloc twice"):
        AnalysisSettings.from_params({"moderators": ["alloc", {"alloc": "random"}]})


def test_design_check_is_ols_with_hc3() -> None:
    rng = np.random.default_rng(7)
    weeks = rng.integers(4, 53, 30).astype(float)
    ln_n = 4 + 0.01 * weeks + rng.normal(0, 0.5 + weeks / 50, 30)
    result = design_check(pd.DataFrame({"followup_weeks": weeks, "ln_n": ln_n}))
    # HC3 by its formula (MacKinnon & White 1985): (X'X)^-1 X' diag(e^2/(1-h)^2) X (X'X)^-1
    x = np.column_stack([np.ones(30), weeks])
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ ln_n
    e = ln_n - x @ beta
    h = np.einsum("ij,jk,ik->i", x, bread, x)
    cov = bread @ (x.T * (e**2 / (1 - h) ** 2)) @ x @ bread
    slope = result["coefficients"][1]
    assert slope["estimate"] == pytest.approx(beta[1], rel=1e-9)
    assert slope["se"] == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-9)
    ols = sm.OLS(ln_n, x).fit()
    assert slope["se"] != pytest.approx(ols.bse[1], rel=1e-3)  # robust, not classical
    assert result["n"] == 30 and result["cov_type"] == "HC3"


def test_metareg_and_design_check_entry_points_read_and_write_the_rule_files(
    bcg: pd.DataFrame, tmp_path: Path
) -> None:
    from livingreview.analysis import design_check as design_stage
    from livingreview.analysis import metareg as metareg_stage

    data = tmp_path / "data.csv"
    bcg.insert(3, "platform", "app")  # a stratum's data.csv: the stratifier is the 4th column
    bcg.to_csv(data, index=False)
    params = {"moderators": ["followup_weeks", "ln_n"], "level": 0.95, "label": "ignored"}
    settings = metareg_stage.MetaregSettings.from_params(params, name="complications")
    result = metareg_stage.run(settings, {"data": [data]})
    expected = meta_regression(bcg, settings.analysis, name="complications")
    assert result == expected and result["reported"] is True
    metareg_stage.write(result, {"json": tmp_path / "m.json"})
    assert json.loads((tmp_path / "m.json").read_text())["qm"] == pytest.approx(result["qm"])
    check = design_stage.run(AnalysisSettings.from_params({"level": 0.9}), {"studies": data})
    assert check["level"] == 0.9 and check["n"] == 13 and check["reported"] is True
    design_stage.write(check, {"json": tmp_path / "d.json"})
    assert json.loads((tmp_path / "d.json").read_text())["n"] == 13


def _metafor_case(dataset: str, method: str, test: str) -> dict:
    ref = json.loads(REF_PATH.read_text())
    return next(
        c for c in ref["cases"] if (c["dataset"], c["method"], c["test"]) == (dataset, method, test)
    )


def test_influence_uses_the_fits_test(bcg: pd.DataFrame) -> None:
    """Defect 2: with test knha, influence.csv is metafor's influence(rma(..., test="knha"))."""
    ref = _metafor_case("bcg_rr", "REML", "knha")["influence"]
    pooled, _, infl = run(bcg, test="knha", level=0.9)
    assert pooled["test"] == "knha"
    for col in ("rstudent", "dffits", "cook_d", "cov_r", "dfbs"):
        np.testing.assert_allclose(infl[col].to_numpy(float), ref[col], rtol=1e-6, err_msg=col)
    assert infl["inf"].tolist() == ref["inf"]
    # the studies dropped by the refit are the largest Cook's distances of that table
    top = np.argsort(-np.asarray(ref["cook_d"]), kind="stable")[:3]
    assert pooled["influence_refit"]["excluded"] == [f"trial{i + 1:02d}" for i in top]


def test_settings_from_rule_params() -> None:
    """The stratum rule's params build the settings once; a bad value stops with its key."""
    params = {
        "measure": "SMD",
        "label": "Knowledge",
        "favourable_sign": "positive",
        "method": "PM",
        "test": "knha",
        "level": 0.9,
        "min_k": 4,
        "min_k_funnel": 12,
        "influence_exclude": 2,
        "leave_one_out": False,
    }
    settings = AnalysisSettings.from_params(params)
    assert settings == AnalysisSettings("PM", "knha", 0.9, 4, 12, 2, False, ())
    assert StratumSpec.from_params("domain-knowledge", params).label == "Knowledge"
    with pytest.raises(ValueError, match="method must be one of"):
        AnalysisSettings.from_params({**params, "method": "REM"})
    with pytest.raises(ValueError, match=r"analysis\.min_k must be a whole number"):
        AnalysisSettings.from_params({**params, "min_k": 2.5})


def test_settings_reach_every_output(bcg: pd.DataFrame) -> None:
    """One settings object drives the fit, leave-one-out, influence, refit and Egger."""
    settings = AnalysisSettings(method="PM", test="knha", level=0.9, influence_exclude=3)
    res = analyse_stratum(bcg, STRATUM, settings)
    assert res.fit.method == "PM" and res.fit.test == "knha" and res.fit.level == 0.9
    direct = stats.fit(bcg["yi"], bcg["vi"], method="PM", test="knha", level=0.9)
    assert res.pooled["ci_low"] == pytest.approx(direct.ci_low, rel=1e-10)
    loo = stats.leave_one_out(bcg["yi"], bcg["vi"], method="PM", test="knha", level=0.9)
    np.testing.assert_allclose(res.loo["ci_low"], loo["ci_low"], rtol=1e-10)
    inf = stats.influence(bcg["yi"], bcg["vi"], method="PM", test="knha")
    np.testing.assert_allclose(res.influence["cook_d"], inf["cook_d"], rtol=1e-10)
    eg = egger(bcg, settings, stratum="x", result=res.fit)
    assert eg["test"] == "knha" and eg["df"] == 11
    assert eg == egger(bcg, settings, stratum="x")


def test_non_convergence_is_reported_in_pooled(
    bcg: pd.DataFrame, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Defect 5: the fallback root-finder makes converged false and adds a warning."""
    pooled = run(bcg)[0]
    assert pooled["converged"] is True and pooled["warnings"] == []
    monkeypatch.setattr(stats.tau2, "_MAXITER", 2)
    pooled = run(bcg)[0]
    assert pooled["converged"] is False
    assert any("iteration limit" in w for w in pooled["warnings"])
    assert any("leave-one-out" in w for w in pooled["warnings"])
    assert pooled["tau2"] == pytest.approx(0.313243258136486, rel=REL)  # still the REML root


def test_meta_regression_without_effects_is_not_reported() -> None:
    """Defect (issue 13, item 5): a review with no included studies gives metareg no input;
    the result says it is not reported and why, instead of crashing."""
    settings = AnalysisSettings(moderators=("followup_weeks", "ln_n"))
    data = read_strata([])
    assert data.empty
    result = meta_regression(data, settings, name="overall")
    assert result == {
        "name": "overall",
        "moderators": ["followup_weeks", "ln_n"],
        "k": 0,
        "k_dropped": 0,
        "method": "REML",
        "test": "z",
        "level": 0.95,
        "reported": False,
        "reason": "no effects in this review",
    }


def test_settings_spelling_is_canonical() -> None:
    settings = AnalysisSettings.from_params({"method": "reml", "test": "KNHA"})
    assert (settings.method, settings.test) == ("REML", "knha")


def test_one_effect_per_trial_keeps_the_univariate_model(bcg: pd.DataFrame) -> None:
    """analysis.dependence does not touch a stratum with one effect per trial (issue 18)."""
    plain = analyse_stratum(bcg, STRATUM, AnalysisSettings(influence_exclude=3))
    other = AnalysisSettings.from_params(
        {"influence_exclude": 3, "dependence": {"rho": 0.3, "inference": "model"}}
    )
    res = analyse_stratum(bcg, STRATUM, other)
    assert isinstance(res.fit, stats.MetaResult)
    assert "model" not in res.pooled and "n_trials" not in res.pooled
    assert json.dumps(res.pooled, sort_keys=True) == json.dumps(plain.pooled, sort_keys=True)
    pd.testing.assert_frame_equal(res.loo, plain.loo)
    pd.testing.assert_frame_equal(res.influence, plain.influence)
    assert egger(bcg, other, stratum="x") == egger(bcg, AnalysisSettings(), stratum="x")
    assert res.pooled["estimate"] == pytest.approx(stats.fit(bcg["yi"], bcg["vi"]).estimate)


def test_stratum_entry_point_writes_the_rule_outputs(bcg: pd.DataFrame, tmp_path: Path) -> None:
    from livingreview import contract
    from livingreview.analysis import stratum as stage

    data = tmp_path / "data.csv"
    bcg.insert(3, "platform", "app")
    bcg.assign(citation=bcg["study_id"]).to_csv(data, index=False)
    params = {"measure": "logRR", "label": "Complications", "favourable_sign": "negative",
              "min_k_funnel": 10}  # fmt: skip
    settings = stage.StratumSettings.from_params(params, name="domain-complications")
    result = stage.run(settings, {"data": data})
    assert result.analysis.pooled == analyse_stratum(bcg, settings.spec, settings.analysis).pooled
    assert result.egger is not None and result.egger["k"] == 13
    names = {**contract.STRATUM_OUTPUTS, **contract.FUNNEL_OUTPUTS}
    outputs = {key: tmp_path / "out" / name for key, name in names.items()}
    stage.write(result, outputs)
    assert all(path.is_file() for path in outputs.values())
    assert json.loads(outputs["egger"].read_text())["reported"] is True
    small = stage.run(stage.StratumSettings.from_params({**params, "min_k_funnel": 14},
                                                        name="domain-complications"),
                      {"data": data})  # fmt: skip
    assert small.egger is None
    with pytest.raises(ValueError, match="fewer effects than min_k_funnel"):
        stage.write(small, outputs)
