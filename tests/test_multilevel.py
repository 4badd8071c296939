"""livingreview.stats.multilevel / robust / covariance against metafor 3.8-1 and clubSandwich 0.5.8.

Reference values: tests/reference/multilevel_reference.json, made by
tests/reference/make_multilevel_reference.R.

Tolerance (``tight``: R run with nlminb rel.tol = 1e-12, or the loosest of
1e-10/1e-8 it needed, recorded per case as ``rel_tol``): a value agrees when
|ours - R| <= 1e-6 * max(|R|, floor), floor = 1e-4 in the quantity's unit
(sqrt(mean v) for effect-scale values, mean v for variance components, 1
otherwise). P-values are compared as log p: a tail probability amplifies
the relative error of its statistic z by about z^2, and R's estimates are
only as accurate as nlminb's stopping rule, which bounds the change of the
log-likelihood, so its parameters are accurate to about sqrt(rel.tol) (for
berkey1998 every R optimiser tried stops ~1e-7 from the maximum, where our
score is 1e-13 and our log-likelihood is higher). A variance component that we put exactly at the boundary 0 is
compared differently: R (which optimises log sigma^2) must report it below
1e-7 * mean v, and our log-likelihood must be at least R's.
Against metafor's default convergence (``default``) the tolerance is
DEFAULT_RTOL = 1e-3 relative (same floors): that is the accuracy of
``nlminb`` at its default rel.tol = 1e-10 on the likelihood, not ours.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from livingreview import stats
from livingreview.analysis import multilevel_stratum
from livingreview.analysis.stratum import (
    AnalysisSettings,
    DependenceSettings,
    StratumSpec,
    analyse_stratum,
    egger,
)
from livingreview.stats import block_likelihood, covariance, multilevel, profile_likelihood, robust

REF = json.loads((Path(__file__).parent / "reference" / "multilevel_reference.json").read_text())
RTOL = 1e-6
DEFAULT_RTOL = 1e-3
CASES = [name for name in REF if name not in ("meta", "arms_arms")]
WITH_DEFAULT = [name for name in CASES if "default" in REF[name]]
Y_SCALE = {"beta", "se", "ci_low", "ci_high", "vcov_sqrt"}
V_SCALE = {"sigma2", "tau2"}


def _scale(case: dict) -> float:
    if "vi" in case:
        return float(np.mean(case["vi"]))
    return float(np.mean(np.diag(np.array(case["V"]))))


def check(where: str, name: str, ours, ref, mean_v: float, rtol: float = RTOL) -> None:
    a = np.atleast_1d(np.asarray(ours, dtype=float)).ravel()
    b = np.atleast_1d(np.asarray([np.nan if x is None else x for x in np.ravel(ref)], float))
    if name.lower().startswith(("pval", "qep", "qmp")):  # tail probabilities: compare log p
        a, b = np.log(a), np.log(b)
    assert a.shape == b.shape, f"{where} {name}: shape {a.shape} vs R {b.shape}"
    floor = 1e-4 * (math.sqrt(mean_v) if name in Y_SCALE else mean_v if name in V_SCALE else 1.0)
    dev = np.abs(a - b) / np.maximum(np.abs(b), floor)
    assert np.all(dev <= rtol), (
        f"{where} {name}: ours {a}, R {b}, relative deviation {dev.max():.2e}"
    )


def _blocks(V: np.ndarray, trial: list) -> covariance.BlockDiagonal:
    rows: dict = {}
    for i, t in enumerate(trial):
        rows.setdefault(t, []).append(i)
    idx = list(rows.values())
    return covariance.BlockDiagonal.from_blocks(idx, [V[np.ix_(r, r)] for r in idx])


def _fit(case: dict) -> multilevel.MultilevelResult:
    y = np.array(case["yi"])
    mods = np.array(case["mods"]) if "mods" in case else None
    if "outcome" in case:
        V = _blocks(np.array(case["V"]), case["trial"])
        return multilevel.fit_multivariate(y, V, case["trial"], case["outcome"], mods)
    vi = _blocks(np.array(case["V"]), case["trial"]) if "V" in case else np.array(case["vi"])
    return multilevel.fit(
        y, vi, case["trial"], mods, rho=case.get("rho", 0.0), method=case["method"],
        test=case["test"],
    )  # fmt: skip


_FITS: dict[str, multilevel.MultilevelResult] = {}


def fitted(name: str) -> multilevel.MultilevelResult:
    if name not in _FITS:
        _FITS[name] = _fit(REF[name])
    return _FITS[name]


def _components(res: multilevel.MultilevelResult, case: dict) -> tuple[list, list]:
    """Our variance components and R's, in R's order (sigma2, or tau2 by factor level)."""
    if "outcome" in case:
        return [res.sigma2[f"tau2.{lv}"] for lv in case["tau2_levels"]], case["tight"]["tau2"]
    return [res.sigma2["trial"], res.sigma2["effect"]], case["tight"]["sigma2"]


@pytest.mark.parametrize("name", CASES)
def test_fixed_effects_and_tests_match_metafor(name: str) -> None:
    case, res = REF[name], fitted(name)
    t, mv = case["tight"], _scale(case)
    assert res.converged
    cf = res.coefficients
    for ours, key in ((cf.estimate, "beta"), (cf.se, "se"), (cf.statistic, "zval"),
                      (cf.pval, "pval"), (cf.ci_low, "ci_low"), (cf.ci_high, "ci_high")):  # fmt: skip
        check(name, key, ours, t[key], mv)
    check(name, "QE", res.qe, t["QE"], mv)
    check(name, "QEp", res.qe_pval, t["QEp"], mv)
    check(name, "QM", res.qm, t["QM"], mv)
    check(name, "QMp", res.qm_pval, t["QMp"], mv)
    assert list(res.qm_df) == [x if x is not None else None for x in t["QMdf"]] or (
        res.qm_df[1] is None and t["QMdf"][1] is None
    )
    check(name, "logLik", res.loglik, t["logLik"], mv)
    check(name, "AIC", res.aic, t["AIC"], mv)
    check(name, "BIC", res.bic, t["BIC"], mv)


@pytest.mark.parametrize("name", CASES)
def test_variance_components_match_metafor(name: str) -> None:
    case, res = REF[name], fitted(name)
    mv = _scale(case)
    ours, ref = _components(res, case)
    for o, r in zip(ours, ref, strict=True):
        if o == 0.0:  # at the boundary: R's log-scale optimiser only approaches 0
            assert r < 1e-7 * mv, f"{name}: we put a component at 0, R has {r}"
            assert res.loglik >= case["tight"]["logLik"] - 1e-12 * abs(case["tight"]["logLik"])
        else:
            check(name, "sigma2", o, r, mv)
    if "rho" in case["tight"]:
        rho = [v for key, v in res.sigma2.items() if key.startswith("rho.")]
        check(name, "rho", rho, case["tight"]["rho"], mv)
    if "I2" in case["tight"]:
        if sum(ref) < 1e-7 * mv:  # all components at the boundary: I^2 is 0 up to R's tolerance
            assert res.i2 == 0.0 and case["tight"]["I2"] < 1e-4
        else:
            check(name, "I2", res.i2, case["tight"]["I2"], mv)


@pytest.mark.parametrize("name", CASES)
def test_cr1_matches_metafor_robust(name: str) -> None:
    case, res = REF[name], fitted(name)
    r, mv = case["tight"]["robust"], _scale(case)
    rb = robust.cr1(res)
    cf = rb.coefficients
    for ours, key in ((cf.se, "se"), (cf.statistic, "zval"), (cf.pval, "pval"),
                      (cf.ci_low, "ci_low"), (cf.ci_high, "ci_high")):  # fmt: skip
        check(name, key, ours, r[key], mv)
    assert rb.df == r["df"]
    check(name, "QM", rb.qm, r["QM"], mv)
    check(name, "QMp", rb.qm_pval, r["QMp"], mv)
    assert list(rb.qm_df) == r["QMdf"]


@pytest.mark.parametrize("name", CASES)
def test_cr2_matches_clubsandwich(name: str) -> None:
    case, res = REF[name], fitted(name)
    r, mv = case["tight"]["cr2"], _scale(case)
    rb = robust.cr2(res)
    cf = rb.coefficients
    vc = np.array(r["vcov"])
    assert np.allclose(rb.vcov, vc, rtol=RTOL, atol=1e-10 * mv), f"{name}: CR2 vcov"
    for ours, key in ((cf.se, "se"), (cf.statistic, "tstat"), (cf.df, "df"), (cf.pval, "pval"),
                      (cf.ci_low, "ci_low"), (cf.ci_high, "ci_high")):  # fmt: skip
        check(name, key, ours, r[key], mv)


@pytest.mark.parametrize("name", WITH_DEFAULT)
def test_default_convergence_within_looser_tolerance(name: str) -> None:
    case, res = REF[name], fitted(name)
    d, mv = case["default"], _scale(case)
    check(name, "beta", res.coefficients.estimate, d["beta"], mv, DEFAULT_RTOL)
    check(name, "se", res.coefficients.se, d["se"], mv, DEFAULT_RTOL)
    check(name, "QM", res.qm, d["QM"], mv, DEFAULT_RTOL)
    check(name, "robust_se", robust.cr1(res).coefficients.se, d["robust"]["se"], mv, DEFAULT_RTOL)
    ours, _ = _components(res, case)
    ref = d["tau2"] if "outcome" in case else d["sigma2"]
    for o, r in zip(ours, ref, strict=True):
        if o > 0:
            check(name, "sigma2", o, r, mv, DEFAULT_RTOL)


# --------------------------------------------------------------------------- edge cases


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_one_effect_per_trial_equals_univariate_model(method: str) -> None:
    case = REF["konstantopoulos_REML"]
    first = ~pd.Series(case["trial"]).duplicated().to_numpy()
    y, v = np.array(case["yi"])[first], np.array(case["vi"])[first]
    trial = np.array(case["trial"])[first]
    res = multilevel.fit(y, v, trial, method=method)
    uni = stats.fit(y, v, method=method)
    assert res.sigma2["effect"] == 0.0
    for ours, theirs in ((res.estimate, uni.estimate), (res.se, uni.se), (res.pval, uni.pval),
                         (res.sigma2["trial"], uni.tau2), (res.qe, uni.q),
                         (res.ci_low, uni.ci_low), (res.i2, uni.i2)):  # fmt: skip
        assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12)


def test_single_effect_trial_present() -> None:
    case = REF["single_effect_trial"]
    assert min(pd.Series(case["trial"]).value_counts()) == 1
    assert fitted("single_effect_trial").n_trials == 11


def test_rho_imputation_matches_vcalc() -> None:
    case = REF["assink_rho"]
    V = covariance.impute_covariance(case["vi"], case["trial"], rho=0.6).to_dense()
    np.testing.assert_allclose(V[:6, :6], np.array(case["V_check"]), rtol=1e-14, atol=0)


@pytest.mark.parametrize(
    ("name", "measure"), [("arms_smd", "SMD"), ("arms_rr", "RR"), ("arms_or", "OR")]
)
def test_shared_control_covariance_matches_r(name: str, measure: str) -> None:
    arms, case = REF["arms_arms"], REF[name]
    kw = {"n_control": arms["n2"]}
    if measure == "SMD":
        kw["n_total"] = arms["N"]
    else:
        kw["events_control"] = arms["x2"]
    V = covariance.shared_control_covariance(
        measure, case["yi"], case["vi"], arms["trial"], ["control"] * len(arms["trial"]), **kw
    )
    np.testing.assert_allclose(V.to_dense(), np.array(case["V"]), rtol=1e-12, atol=0)


def test_component_at_zero_is_exactly_zero() -> None:
    res = fitted("zero_trial")
    assert res.sigma2["trial"] == 0.0
    assert res.sigma2["effect"] > 0


# --------------------------------------------------------------------------- errors


def test_v_linking_two_trials_is_refused() -> None:
    V = covariance.impute_covariance([0.1, 0.1, 0.1, 0.1], [1, 1, 2, 2], rho=0.5)
    with pytest.raises(ValueError, match="V links effects [23] and [23] of different trials"):
        multilevel.fit([0.1, 0.2, 0.3, 0.4], V, trial=[1, 1, 1, 2])


def test_bad_inputs_name_the_effect() -> None:
    with pytest.raises(ValueError, match="effect 2: vi must be finite and > 0"):
        multilevel.fit([0.1, 0.2, 0.3], [0.1, 0.1, 0.0], [1, 1, 2])
    with pytest.raises(ValueError, match="effect 1: yi must be finite"):
        multilevel.fit([0.1, float("nan"), 0.3], [0.1, 0.1, 0.1], [1, 1, 2])
    with pytest.raises(ValueError, match="effect 3: trial has this outcome twice"):
        V = covariance.impute_covariance([0.1] * 4, [1, 1, 2, 2], rho=0.0)
        multilevel.fit_multivariate([0.1, 0.2, 0.3, 0.4], V, [1, 1, 2, 2], ["a", "b", "a", "a"])
    with pytest.raises(ValueError, match="n_control differs"):
        covariance.shared_control_covariance(
            "RR", [0.1, 0.2], [0.1, 0.1], [1, 1], ["c", "c"], n_control=[10, 11],
            events_control=[3, 3],
        )  # fmt: skip


def test_robust_needs_more_trials_than_coefficients() -> None:
    res = multilevel.fit([0.1, 0.2, 0.3, 0.4], [0.1] * 4, [1, 1, 2, 2], mods=[0, 0, 1, 1])
    with pytest.raises(ValueError, match="2 trials cannot give robust tests of 2 coefficients"):
        robust.cr1(res)


def test_no_dense_matrix_is_formed_for_many_trials() -> None:
    """20,000 effects would need a 3.2 GB dense M; the block-wise fit needs a few MB."""
    import tracemalloc

    rng = np.random.default_rng(1)
    m, n = 4000, 5
    v = rng.uniform(0.01, 0.1, m * n)
    trial = np.repeat(np.arange(m), n)
    y = 0.2 + rng.normal(0, 0.2, m)[trial] + rng.normal(0, 0.1, m * n) + rng.normal(0, np.sqrt(v))
    tracemalloc.start()
    res = multilevel.fit(y, v, trial)
    robust.cr2(res)
    multilevel.fit(y, v, trial, rho=0.5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200e6
    assert res.sigma2["trial"] == pytest.approx(0.04, rel=0.2)


# --------------------------------------------------------------------------- profile CIs


@pytest.mark.parametrize("component", ["trial", "effect"])
def test_profile_ci_matches_metafor_confint(component: str) -> None:
    """Profile-likelihood bounds against metafor's confint.

    metafor's bounds move by ~3e-4 relative with its settings (nested nlminb +
    uniroot): ours agree with confint(control = list(tol = 1e-12)) to 1e-6 and
    with confint's defaults to 1e-3. metafor
    reports convergence problems for the upper bound of the effect component
    (null); ours is checked there, as everywhere, by the defining equation:
    the profiled log-likelihood at each bound is chi2_1(0.95)/2 below the
    maximum, to 1e-8.
    """
    case = REF["konstantopoulos_REML"]
    res = fitted("konstantopoulos_REML")
    mv = _scale(case)
    ci = profile_likelihood.profile_ci(res, component)
    for key, rtol in (("profile", RTOL), ("profile_defaults", 1e-3)):
        ref = case[key][f"sigma2_{component}"]
        check(key, "sigma2", ci.ci_low, ref[1], mv, rtol)
        if ref[2] is not None:
            check(key, "sigma2", ci.ci_high, ref[2], mv, rtol)
    assert case["profile"]["sigma2_effect"][2] is None
    j = ["trial", "effect"].index(component)
    for bound in (ci.ci_low, ci.ci_high):
        theta = res._theta.copy()
        theta[j] = bound
        fixed = np.arange(2) == j
        ll = block_likelihood._optimise(
            res._groups, res.p, res.k, True, theta, np.ones(2, bool), mv, fixed
        )[1].ll
        assert ll == pytest.approx(res.loglik - 3.841458820694124 / 2, abs=1e-8)


# --------------------------------------------------------------------------- stratum analysis


def _stratum_frame(name: str) -> pd.DataFrame:
    case = REF[name]
    return pd.DataFrame(
        {
            "study_id": case["trial"],
            "yi": case["yi"],
            "vi": case["vi"],
            "n": np.arange(len(case["yi"])) % 7 + 20,  # varies within a trial
        }
    )


def test_analyse_multilevel_pools_with_cr2_and_counts_participants_once() -> None:
    data = _stratum_frame("konstantopoulos_REML")
    t = REF["konstantopoulos_REML"]["tight"]
    pooled, loo, _, _ = multilevel_stratum.analyse_multilevel(
        data, stratum="platform-wechat", measure="SMD", label="WeChat", favourable_sign="positive"
    )
    mv = _scale(REF["konstantopoulos_REML"])
    assert pooled["model"] == "multilevel" and pooled["inference"] == "CR2"
    assert (pooled["n_trials"], pooled["n_effects"], pooled["k"]) == (11, 56, 56)
    assert pooled["n_participants"] == float(data.groupby("study_id")["n"].max().sum())
    check("pooled", "beta", pooled["estimate"], t["beta"], mv)
    check("pooled", "se", pooled["se"], t["cr2"]["se"], mv)
    check("pooled", "df", pooled["robust_df"], t["cr2"]["df"], mv)
    check("pooled", "pval", pooled["pval"], t["cr2"]["pval"], mv)
    check("pooled", "ci_low", pooled["ci_low"], t["cr2"]["ci_low"], mv)
    check("pooled", "se", pooled["model_se"], t["se"], mv)
    check("pooled", "sigma2", pooled["tau2"], sum(t["sigma2"]), mv)
    check("pooled", "QE", pooled["q"], t["QE"], mv)
    # leave-one-out leaves out a trial (all its effects)
    assert list(loo["omitted"]) == list(pd.unique(data["study_id"].astype(str)))
    first = loo.iloc[0]
    sub = data[data["study_id"].astype(str) != first["omitted"]]
    refit = multilevel.fit(sub["yi"], sub["vi"], sub["study_id"])
    assert first["estimate"] == pytest.approx(refit.estimate, rel=1e-12)
    assert first["se"] == pytest.approx(robust.cr2(refit).se, rel=1e-12)
    assert first["n_effects"] == len(sub)
    model = multilevel_stratum.analyse_multilevel(
        data, stratum="platform-wechat", measure="SMD", label="WeChat",
        favourable_sign="positive", inference="model", leave_one_out=False,
    ).pooled  # fmt: skip
    check("pooled", "pval", model["pval"], t["pval"], mv)


def test_analyse_multilevel_below_min_k_trials_reports_nothing() -> None:
    data = _stratum_frame("konstantopoulos_REML").iloc[:8]  # two districts
    pooled, loo, infl, fit = multilevel_stratum.analyse_multilevel(
        data, stratum="platform-wechat", measure="SMD", label="x", favourable_sign="positive"
    )
    assert pooled["reported"] is False and pooled["estimate"] is None and loo.empty
    assert infl.empty and fit is None and pooled["influence_refit"]["reported"] is False


def test_egger_multilevel_matches_clubsandwich_slope_test() -> None:
    data = _stratum_frame("konstantopoulos_sei")
    t = REF["konstantopoulos_sei"]["tight"]["cr2"]
    out = multilevel_stratum.egger_multilevel(data, stratum="platform-wechat")
    mv = _scale(REF["konstantopoulos_sei"])
    check("egger", "tstat", out["statistic"], t["tstat"][1], mv)
    check("egger", "df", out["df"], t["df"][1], mv)
    check("egger", "pval", out["pval"], t["pval"][1], mv)
    check(
        "egger", "beta", out["limit_estimate"], REF["konstantopoulos_sei"]["tight"]["beta"][0], mv
    )


@pytest.mark.parametrize("module", [multilevel, robust, covariance, multilevel_stratum])
def test_docstring_examples_run(module) -> None:
    import doctest

    assert doctest.testmod(module).failed == 0


def test_covariance_block_not_positive_definite_is_refused() -> None:
    V = covariance.BlockDiagonal.from_blocks(
        [[0, 1], [2, 3]], [[[0.1, 0.2], [0.2, 0.1]], [[0.1, 0.0], [0.0, 0.1]]]
    )
    with pytest.raises(
        ValueError, match=r"trial 'a' \(effects \[0, 1\]\) is not positive definite"
    ):
        multilevel.fit([0.1, 0.2, 0.3, 0.4], V, trial=["a", "a", "b", "b"])


# --------------------------------------------------------------------------- the workflow's choice
# analyse_stratum (the stratum rule) gives a stratum with several effects per trial the
# multilevel model; one effect per trial keeps the univariate model (test_analysis.py).


def _settings(**dependence) -> AnalysisSettings:
    params = {"influence_exclude": 2}
    if dependence:
        params["dependence"] = dependence
    return AnalysisSettings.from_params(params)


SPEC = StratumSpec("platform-wechat", "SMD", "WeChat: all continuous outcomes", "positive")


def test_analyse_stratum_pools_several_effects_per_trial_with_the_multilevel_model() -> None:
    """metafor rma.mv + clubSandwich coef_test (CR2) numbers, through the stratum rule's door."""
    data = _stratum_frame("konstantopoulos_REML")
    t = REF["konstantopoulos_REML"]["tight"]
    mv = _scale(REF["konstantopoulos_REML"])
    res = analyse_stratum(data, SPEC, _settings(rho=0.0, inference="CR2"))
    pooled = res.pooled
    assert (pooled["model"], pooled["inference"], pooled["rho"], pooled["test"]) == (
        "multilevel", "CR2", 0.0, "t",
    )  # fmt: skip
    assert (pooled["n_trials"], pooled["n_effects"], pooled["k"]) == (11, 56, 56)
    check("stratum", "beta", pooled["estimate"], t["beta"], mv)
    check("stratum", "se", pooled["se"], t["cr2"]["se"], mv)
    check("stratum", "df", pooled["robust_df"], t["cr2"]["df"], mv)
    check("stratum", "pval", pooled["pval"], t["cr2"]["pval"], mv)
    check("stratum", "ci_high", pooled["ci_high"], t["cr2"]["ci_high"], mv)
    check("stratum", "se", pooled["model_se"], t["se"], mv)
    for name, ref in zip(("sigma2_trial", "sigma2_effect"), t["sigma2"], strict=True):
        check("stratum", "sigma2", pooled[name], ref, mv)
    assert isinstance(res.fit, multilevel.MultilevelResult)
    # leave-one-out and influence leave out a trial: refits by direct calls
    trials = list(pd.unique(data["study_id"].astype(str)))
    assert list(res.loo["omitted"]) == trials and list(res.influence["study"]) == trials
    full = multilevel.fit(data["yi"], data["vi"], data["study_id"])
    for i in (0, 5):
        sub = data[data["study_id"].astype(str) != trials[i]]
        refit = multilevel.fit(sub["yi"], sub["vi"], sub["study_id"])
        assert res.loo["estimate"].iloc[i] == pytest.approx(refit.estimate, rel=1e-10)
        assert res.loo["se"].iloc[i] == pytest.approx(robust.cr2(refit).se, rel=1e-10)
        row = res.influence.iloc[i]
        assert row["n_effects"] == len(data) - len(sub)
        assert row["cook_d"] == pytest.approx(
            (full.estimate - refit.estimate) ** 2 / full.se**2, rel=1e-8
        )
    # the influence refit leaves out the two trials of largest Cook's distance
    top = res.influence.sort_values("cook_d", ascending=False)["study"].head(2).tolist()
    refit = pooled["influence_refit"]
    assert refit["reported"] is True and refit["excluded"] == top
    sub = data[~data["study_id"].astype(str).isin(top)]
    direct = robust.cr2(multilevel.fit(sub["yi"], sub["vi"], sub["study_id"]))
    assert refit["estimate"] == pytest.approx(direct.estimate, rel=1e-10)
    assert refit["se"] == pytest.approx(direct.se, rel=1e-10)
    assert (refit["k"], refit["n_trials"]) == (len(sub), 9)


def test_analyse_stratum_rho_and_model_inference_reach_the_fit() -> None:
    data = _stratum_frame("konstantopoulos_REML")
    res = analyse_stratum(data, SPEC, _settings(rho=0.6, inference="model"))
    direct = multilevel.fit(data["yi"], data["vi"], data["study_id"], rho=0.6)
    p = res.pooled
    assert p["rho"] == 0.6 and p["inference"] == "model" and p["test"] == "z"
    assert p["estimate"] == pytest.approx(direct.estimate, rel=1e-10)
    assert p["se"] == pytest.approx(direct.se, rel=1e-10)
    assert p["pval"] == pytest.approx(direct.pval, rel=1e-8)
    assert p["robust_se"] == pytest.approx(robust.cr2(direct).se, rel=1e-10)
    assert p["sigma2_trial"] == pytest.approx(direct.sigma2["trial"], rel=1e-8, abs=1e-12)
    # ML when configured; other estimators have no multilevel counterpart: REML, said so
    ml = analyse_stratum(data, SPEC, AnalysisSettings(method="ML")).pooled
    assert ml["method"] == "ML"
    assert ml["estimate"] == pytest.approx(
        multilevel.fit(data["yi"], data["vi"], data["study_id"], rho=0.6, method="ML").estimate,
        rel=1e-10,
    )
    dl = analyse_stratum(data, SPEC, AnalysisSettings(method="DL")).pooled
    assert dl["method"] == "REML" and "analysis.method DL" in dl["warnings"][0]


def test_egger_of_a_multilevel_stratum_is_the_cr2_slope_test() -> None:
    data = _stratum_frame("konstantopoulos_sei")
    t = REF["konstantopoulos_sei"]["tight"]["cr2"]
    mv = _scale(REF["konstantopoulos_sei"])
    settings = _settings(rho=0.0)
    res = analyse_stratum(data, SPEC, settings)
    out = egger(data, settings, stratum="platform-wechat", result=res.fit)
    assert out["model"] == "multilevel" and out["reported"] is True
    check("egger", "tstat", out["statistic"], t["tstat"][1], mv)
    check("egger", "df", out["df"], t["df"][1], mv)
    check("egger", "pval", out["pval"], t["pval"][1], mv)


def test_univariate_setting_pools_as_independent_and_says_so() -> None:
    data = _stratum_frame("konstantopoulos_REML").assign(domain="d")
    res = analyse_stratum(data, SPEC, _settings(model="univariate"))
    direct = stats.fit(data["yi"], data["vi"])
    p = res.pooled
    assert p["model"] == "univariate" and (p["n_trials"], p["n_effects"]) == (11, 56)
    assert p["estimate"] == pytest.approx(direct.estimate, rel=1e-10)
    assert any("pooled as if independent" in w for w in p["warnings"])
    assert egger(data, _settings(model="univariate"), stratum="x")["model"] == "rma"


def test_dependence_settings_are_checked_and_match_the_schema_defaults() -> None:
    import yaml

    schema = yaml.safe_load(
        (Path(__file__).parents[1] / "workflow/schemas/config.schema.yaml").read_text()
    )
    props = schema["properties"]["analysis"]["properties"]["dependence"]["properties"]
    assert {k: v["default"] for k, v in props.items()} == dataclasses.asdict(DependenceSettings())
    assert AnalysisSettings.from_params({"dependence": None}).dependence == DependenceSettings()
    with pytest.raises(ValueError, match=r"analysis\.dependence\.rho"):
        _settings(rho=1.0)
    with pytest.raises(ValueError, match=r"analysis\.dependence\.inference"):
        _settings(inference="CR1")
    with pytest.raises(ValueError, match=r"analysis\.dependence\.model"):
        _settings(model="multivariate")
    with pytest.raises(ValueError, match="unknown keys: rh"):
        _settings(rh=0.5)


def test_min_k_two_trials_leave_one_out_with_a_single_effect_left() -> None:
    """min_k 2: leaving out the trial with several effects leaves one effect; no crash."""
    data = pd.DataFrame(
        {"study_id": ["a", "a", "a", "b"], "n": 30, "yi": [0.1, 0.4, 0.3, 0.6],
         "vi": [0.02, 0.03, 0.02, 0.04]}
    )  # fmt: skip
    settings = AnalysisSettings(min_k=2, influence_exclude=1)
    res = analyse_stratum(data, SPEC, settings)
    assert res.pooled["reported"] is True and res.pooled["n_trials"] == 2
    row = res.loo.set_index("omitted").loc["a"]
    assert row["n_effects"] == 1 and np.isnan(row["estimate"]) and not row["changes_direction"]
    kept = res.loo.set_index("omitted").loc["b"]
    direct = multilevel.fit(data["yi"][:3], data["vi"][:3], data["study_id"][:3], rho=0.6)
    assert kept["estimate"] == pytest.approx(direct.estimate, rel=1e-10)
    assert np.isnan(res.influence.set_index("study").loc["a", "cook_d"])
    assert res.pooled["influence_refit"]["reported"] is False
