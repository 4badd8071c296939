"""livingreview.stats against R's metafor 3.8-1 (values in tests/reference/metafor_reference.json).

Tolerance: a value agrees when |ours - metafor| <= 1e-6 * max(|metafor|, floor),
i.e. 1e-6 relative, with an absolute floor for reference values near zero:
floor = 1e-4 in the quantity's natural unit (so the absolute tolerance is
1e-10 for dimensionless numbers, 1e-10 * sqrt(mean vi) for values on the
effect scale and 1e-10 * mean(vi) for variances such as tau^2). The worst
deviation seen over the whole file is printed by the last test.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from livingreview import stats

REF_PATH = Path(__file__).parent / "reference" / "metafor_reference.json"
REF = json.loads(REF_PATH.read_text())
RTOL = 1e-6
WORST: dict[str, tuple[float, str]] = {}

# which unit each reported quantity is in: "y" effect scale, "v" variance scale, else 1
Y_SCALE = {
    "estimate", "se", "ci_low", "ci_high", "pi_low", "pi_high", "limit_estimate",
    "limit_ci_low", "limit_ci_high", "filled_yi",
}  # fmt: skip
V_SCALE = {"tau2", "se_tau2", "vt", "tau2_del", "tau2_low", "tau2_high", "filled_vi"}
TAU_SCALE = {"tau_low", "tau_high"}


def _floor(name: str, vi: list[float]) -> float:
    mv = float(np.mean(vi))
    if name in Y_SCALE or name in TAU_SCALE:
        return 1e-4 * math.sqrt(mv)
    if name in V_SCALE:
        return 1e-4 * mv
    return 1e-4


def compare(where: str, name: str, ours, ref, vi: list[float]) -> list[tuple[float, str]]:
    """Deviation metric |a - b| / max(|b|, floor) for every element; NaN/None must match."""
    a = np.atleast_1d(np.asarray(ours, dtype=float))
    b = np.atleast_1d(
        np.asarray([np.nan if x is None else x for x in np.atleast_1d(ref)], dtype=float)
    )
    assert a.shape == b.shape, f"{where} {name}: shape {a.shape} vs metafor {b.shape}"
    nan_a, nan_b = ~np.isfinite(a), ~np.isfinite(b)
    assert np.array_equal(nan_a, nan_b), (
        f"{where} {name}: missing values differ: ours {a}, metafor {b}"
    )
    fl = _floor(name, vi)
    dev = np.abs(a[~nan_a] - b[~nan_b]) / np.maximum(np.abs(b[~nan_b]), fl)
    out = []
    if dev.size:
        i = int(np.argmax(dev))
        out.append(
            (
                float(dev[i]),
                f"{where} {name}[{i}]: ours {float(a[~nan_a][i])!r} metafor {float(b[~nan_b][i])!r}",
            )
        )
    return out


def _record(devs: list[tuple[float, str]]) -> None:
    for d, msg in devs:
        if d > WORST.get("all", (-1.0, ""))[0]:
            WORST["all"] = (d, msg)


def _assert_close(devs: list[tuple[float, str]]) -> None:
    _record(devs)
    bad = [msg + f" (deviation {d:.3g})" for d, msg in devs if not d <= RTOL]
    assert not bad, "disagreement with metafor:\n" + "\n".join(bad)


def _case_id(c: dict) -> str:
    return f"{c['dataset']}-{c['method']}-{c['test']}"


CASES = REF["cases"]
FIT_CASES = [c for c in CASES if "fit" in c]
LM_CASES = [c for c in CASES if "regtest_lm" in c]


def case_devs(case: dict) -> list[tuple[float, str]]:
    """Every comparison of one (dataset, method, test) case."""
    ds = REF["datasets"][case["dataset"]]
    y, v = ds["yi"], ds["vi"]
    where = _case_id(case)
    devs: list[tuple[float, str]] = []
    method, test = case["method"], case["test"]
    ref = case["fit"]
    res = stats.fit(y, v, method=method, test=test)
    assert res.k == ref["k"]
    for name in ("estimate", "se", "zval", "pval", "ci_low", "ci_high", "pi_low", "pi_high",
                 "tau2", "se_tau2", "i2", "h2", "q", "q_pval", "vt", "s2w"):  # fmt: skip
        devs += compare(where + " fit", name, getattr(res, name), ref[name], v)
    devs += compare(where + " fit", "weights", res.weights, ref["weights"], v)
    devs += compare(where + " fit", "hat", res.hat, ref["hat"], v)

    l1o = case["leave1out"]
    if "error" in l1o:
        with pytest.raises(ValueError):
            stats.leave_one_out(y, v, method=method, test=test)
    else:
        df = stats.leave_one_out(y, v, method=method, test=test)
        for name in (
            "estimate",
            "se",
            "pval",
            "ci_low",
            "ci_high",
            "q",
            "q_pval",
            "tau2",
            "i2",
            "h2",
        ):
            devs += compare(where + " leave1out", name, df[name].to_numpy(), l1o[name], v)

    inf = case["influence"]
    if "error" in inf:
        with pytest.raises(ValueError):
            stats.influence(y, v, method=method, test=test)
    else:
        df = stats.influence(y, v, method=method, test=test)
        for name in (
            "rstudent",
            "dffits",
            "cook_d",
            "cov_r",
            "tau2_del",
            "qe_del",
            "hat",
            "weight",
            "dfbs",
        ):
            devs += compare(where + " influence", name, df[name].to_numpy(), inf[name], v)
        assert df["inf"].tolist() == inf["inf"], f"{where}: influential flags differ"

    rt = case.get("regtest_rma")
    if rt is not None and "error" not in rt:
        eg = stats.egger_test(y, v, model="rma", method=method, test=test)
        for name in ("statistic", "pval", "limit_estimate", "limit_ci_low", "limit_ci_high"):
            devs += compare(where + " regtest", name, getattr(eg, name), rt[name], v)

    tf = case.get("trimfill")
    if tf is not None and "error" not in tf:
        res_tf = stats.trim_and_fill(y, v, method=method)
        assert res_tf.k0 == tf["k0"], f"{where}: k0 {res_tf.k0} vs metafor {tf['k0']}"
        assert res_tf.side == tf["side"]
        for name in (
            "se_k0",
            "estimate",
            "se",
            "ci_low",
            "ci_high",
            "pval",
            "tau2",
            "filled_yi",
            "filled_vi",
        ):
            devs += compare(where + " trimfill", name, getattr(res_tf, name), tf[name], v)

    ci = case.get("confint")
    if ci is not None and "error" not in ci:
        q = stats.tau2_ci(y, v, method=method)
        for name in (
            "tau2_low",
            "tau2_high",
            "tau_low",
            "tau_high",
            "i2_low",
            "i2_high",
            "h2_low",
            "h2_high",
        ):
            devs += compare(where + " confint", name, getattr(q, name), ci[name], v)
    return devs


def lm_devs(case: dict) -> list[tuple[float, str]]:
    ds = REF["datasets"][case["dataset"]]
    ref = case["regtest_lm"]
    eg = stats.egger_test(ds["yi"], ds["vi"], model="lm")
    devs = []
    for name in ("statistic", "pval", "df", "limit_estimate", "limit_ci_low", "limit_ci_high"):
        devs += compare(
            case["dataset"] + " regtest lm", name, getattr(eg, name), ref[name], ds["vi"]
        )
    return devs


def metareg_devs(ref: dict) -> list[tuple[float, str]]:
    ds = REF["datasets"][ref["dataset"]]
    mods = pd.DataFrame({m: ds[m] for m in ref["mods"]})
    where = f"metareg {ref['dataset']}~{'+'.join(ref['mods'])} {ref['method']}-{ref['test']}"
    res = stats.meta_regression(ds["yi"], ds["vi"], mods, method=ref["method"], test=ref["test"])
    devs = []
    coef = res.coefficients
    assert coef["term"].tolist() == ["intercept", *ref["mods"]]
    for name in ("estimate", "se", "statistic", "pval", "ci_low", "ci_high"):
        devs += compare(where, name, coef[name].to_numpy(), ref[name], ds["vi"])
    for name in ("tau2", "se_tau2", "i2", "h2", "r2", "qm", "qm_pval", "qe", "qe_pval"):
        ours = getattr(res, name)
        devs += compare(where, name, np.nan if ours is None else ours, ref[name], ds["vi"])
    return devs


def extra_devs(ref: dict) -> list[tuple[float, str]]:
    """Trim-and-fill with every estimator and side; fit, PI and tau^2 CI at level 0.90."""
    ds = REF["datasets"][ref["dataset"]]
    y, v = ds["yi"], ds["vi"]
    devs = []
    if ref["kind"] == "trimfill":
        where = f"trimfill {ref['dataset']} {ref['estimator']} side={ref['side_arg']}"
        side = None if ref["side_arg"] == "auto" else ref["side_arg"]
        tf = stats.trim_and_fill(y, v, estimator=ref["estimator"], side=side)
        assert (tf.k0, tf.side) == (ref["k0"], ref["side"]), where
        for name in ("se_k0", "estimate", "se", "ci_low", "ci_high", "tau2"):
            devs += compare(where, name, getattr(tf, name), ref[name], v)
    else:
        where = f"level 0.90 {ref['dataset']} {ref['test']}"
        res = stats.fit(y, v, test=ref["test"], level=0.90)
        for name in ("estimate", "ci_low", "ci_high", "pi_low", "pi_high"):
            devs += compare(where, name, getattr(res, name), ref[name], v)
        ci = stats.tau2_ci(y, v, level=0.90)
        for name in ("tau2_low", "tau2_high"):
            devs += compare(where, name, getattr(ci, name), ref[name], v)
    return devs


EXTRA = REF.get("extra", [])


@pytest.mark.parametrize(
    "ref",
    EXTRA,
    ids=lambda r: "-".join(
        str(r.get(x)) for x in ("kind", "dataset", "estimator", "side_arg", "test") if x in r
    ),
)
def test_other_estimators_and_levels_against_metafor(ref: dict) -> None:
    _assert_close(extra_devs(ref))


@pytest.mark.parametrize("case", FIT_CASES, ids=_case_id)
def test_against_metafor(case: dict) -> None:
    _assert_close(case_devs(case))


@pytest.mark.parametrize("case", LM_CASES, ids=lambda c: c["dataset"])
def test_egger_lm_against_metafor(case: dict) -> None:
    _assert_close(lm_devs(case))


@pytest.mark.parametrize(
    "ref",
    REF["metareg"],
    ids=lambda r: f"{r['dataset']}-{'+'.join(r['mods'])}-{r['method']}-{r['test']}",
)
def test_meta_regression_against_metafor(ref: dict) -> None:
    _assert_close(metareg_devs(ref))


def test_reference_covers_the_issue() -> None:
    """At least four metadat datasets and the edge cases, every method and both tests."""
    datasets = {c["dataset"] for c in FIT_CASES}
    assert {"bcg_rr", "bcg_or", "normand1999", "molloy2014", "hackshaw1998"} <= datasets
    assert {"tau2_zero", "k2", "k3", "huge_var", "tiny_var"} <= datasets
    assert {(c["method"], c["test"]) for c in FIT_CASES} == {
        (m, t) for m in stats.METHODS for t in ("z", "knha")
    }
    # tau^2 truncated at zero really occurs in the references
    assert any(c["fit"]["tau2"] == 0 and c["method"] == "REML" for c in FIT_CASES)
    assert {e["estimator"] for e in EXTRA if e["kind"] == "trimfill"} == {"L0", "R0", "Q0"}


# ---------------------------------------------------------------- behaviour beyond the references


def test_vectorised_leave_one_out_equals_refitting() -> None:
    rng = np.random.default_rng(7)
    k = 40
    v = rng.uniform(0.01, 0.3, k)
    y = rng.normal(0.3, np.sqrt(v + 0.05))
    for method in ("REML", "ML", "PM", "EB", "DL", "SJ", "HE", "FE"):
        for test in ("z", "knha"):
            df = stats.leave_one_out(y, v, method=method, test=test)
            for i in (0, 17, 39):
                keep = np.arange(k) != i
                r = stats.fit(y[keep], v[keep], method=method, test=test)
                for col, val in (
                    ("estimate", r.estimate),
                    ("se", r.se),
                    ("tau2", r.tau2),
                    ("q", r.q),
                    ("i2", r.i2),
                ):
                    assert df[col].iloc[i] == pytest.approx(val, rel=1e-9, abs=1e-12), (
                        method,
                        test,
                        i,
                        col,
                    )


def test_series_sums_equal_exact_sums(monkeypatch: pytest.MonkeyPatch) -> None:
    """The O(k) series for the deleted-fit sums agrees with the exact O(k^2) sums."""
    rng = np.random.default_rng(11)
    k = 400
    v = rng.uniform(0.002, 0.4, k)
    v[5] = 1e-5  # a dominant study: its row must fall back to exact sums
    y = rng.normal(0.2, np.sqrt(v + 0.08))
    y[9] = 4.0  # an outlier
    results = {}
    for label, rho in (("series", stats.deleted._TAYLOR_RHO), ("exact", -1.0)):
        monkeypatch.setattr(stats.deleted, "_TAYLOR_RHO", rho)
        results[label] = (
            stats.leave_one_out(y, v, method="REML", test="knha"),
            stats.influence(y, v, method="REML", test="knha"),
        )
    for a, b in zip(results["series"], results["exact"], strict=True):
        num = a.select_dtypes("number").columns
        np.testing.assert_allclose(
            a[num].to_numpy(float), b[num].to_numpy(float), rtol=1e-10, atol=1e-13
        )


def test_large_k_leave_one_out_equals_refitting() -> None:
    rng = np.random.default_rng(3)
    k = 3000
    v = 4 / rng.integers(20, 400, k)
    y = rng.normal(0.3, np.sqrt(v + 0.05))
    df = stats.leave_one_out(y, v)
    for i in (0, 1234, k - 1):
        keep = np.arange(k) != i
        r = stats.fit(y[keep], v[keep])
        assert df["estimate"].iloc[i] == pytest.approx(r.estimate, rel=1e-10)
        assert df["tau2"].iloc[i] == pytest.approx(r.tau2, rel=1e-9)
        assert df["se"].iloc[i] == pytest.approx(r.se, rel=1e-10)


@pytest.mark.parametrize("tau2", [0.0, 0.002])
def test_leave_one_out_with_dominant_studies_equals_refitting(tau2: float) -> None:
    """Near-homogeneous data with three very precise studies: deleting one of them moves
    REML from the boundary to an interior maximum (a bimodal restricted likelihood)."""
    rng = np.random.default_rng(5)
    k = 2000
    v = 4 / rng.integers(20, 400, k)
    v[:3] = [1e-6, 1e-5, 1e-4]
    y = rng.normal(0.3, np.sqrt(v + tau2))
    for method in ("REML", "ML"):
        df = stats.leave_one_out(y, v, method=method)
        for i in (0, 1, 2, 500):
            keep = np.arange(k) != i
            r = stats.fit(y[keep], v[keep], method=method)
            assert df["tau2"].iloc[i] == pytest.approx(r.tau2, rel=1e-9, abs=1e-15), (method, i)
            assert df["estimate"].iloc[i] == pytest.approx(r.estimate, rel=1e-10), (method, i)


def test_k1_behaves_as_metafor() -> None:
    r = stats.fit([0.4], [0.04], method="REML", test="knha")
    assert (r.tau2, r.q, r.i2, r.h2, r.test) == (0.0, 0.0, 0.0, 1.0, "z")
    assert r.estimate == 0.4 and r.se == pytest.approx(0.2)
    assert r.ci_low == pytest.approx(0.4 - 1.959963984540054 * 0.2)
    with pytest.raises(ValueError, match="needs k >= 2"):
        stats.leave_one_out([0.4], [0.04])
    with pytest.raises(ValueError, match="needs k >= 2"):
        stats.influence([0.4], [0.04])


def test_bad_input_names_the_study() -> None:
    with pytest.raises(ValueError, match=r"^study 2: vi must be finite and > 0 \(got 0\.0\)$"):
        stats.fit([0.1, 0.2, 0.3], [0.1, 0.1, 0.0])
    with pytest.raises(ValueError, match=r"^study 1: vi must be finite and > 0 \(got -0\.5\)$"):
        stats.fit([0.1, 0.2], [0.1, -0.5])
    with pytest.raises(ValueError, match=r"^study 0: yi must be finite \(got nan\)$"):
        stats.fit([float("nan"), 0.2], [0.1, 0.1])
    with pytest.raises(ValueError, match="k = 0"):
        stats.fit([], [])
    with pytest.raises(ValueError, match="method must be one of"):
        stats.fit([0.1, 0.2], [0.1, 0.1], method="REM")
    with pytest.raises(ValueError, match="test must be 'z' or 'knha'"):
        stats.fit([0.1, 0.2], [0.1, 0.1], test="t")
    with pytest.raises(ValueError, match=r"study 1: moderator 'age' must be a finite number"):
        stats.meta_regression(
            [0.1, 0.2, 0.3, 0.4], [0.1] * 4, pd.DataFrame({"age": [1, np.nan, 3, 4]})
        )
    with pytest.raises(ValueError, match="not of full rank"):
        stats.meta_regression(
            [0.1, 0.2, 0.3, 0.4], [0.1] * 4, pd.DataFrame({"a": [1, 2, 3, 4], "b": [2, 4, 6, 8]})
        )


def test_result_is_frozen_and_serialisable() -> None:
    ds = REF["datasets"]["bcg_rr"]
    r = stats.fit(ds["yi"], ds["vi"])
    with pytest.raises(AttributeError):
        r.tau2 = 1.0  # type: ignore[misc]
    d = r.to_dict()
    json.dumps(d)
    assert d["df"] is None and d["method"] == "REML" and d["converged"] is True
    assert r.weights.sum() == pytest.approx(100)
    json.dumps(stats.trim_and_fill(ds["yi"], ds["vi"]).to_dict())
    json.dumps(stats.egger_test(ds["yi"], ds["vi"]).to_dict())
    json.dumps(stats.tau2_ci(ds["yi"], ds["vi"]).to_dict())
    mods = pd.DataFrame({"ablat": ds["ablat"]})
    json.dumps(stats.meta_regression(ds["yi"], ds["vi"], mods).to_dict())


def test_labels_are_carried() -> None:
    ds = REF["datasets"]["normand1999"]
    labels = [f"s{i}" for i in range(len(ds["yi"]))]
    assert stats.leave_one_out(ds["yi"], ds["vi"], labels).omitted.tolist() == labels
    assert stats.influence(ds["yi"], ds["vi"], labels).study.tolist() == labels
    assert list(stats.leave_one_out(ds["yi"], ds["vi"]).columns[:9]) == [
        "omitted", "estimate", "se", "ci_low", "ci_high", "pval", "tau2", "i2", "q",
    ]  # fmt: skip


def test_report_worst_deviation(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs last: prints the worst deviation from metafor (recomputed if run alone)."""
    if "all" not in WORST:
        for c in FIT_CASES:
            _record(case_devs(c))
        for c in LM_CASES:
            _record(lm_devs(c))
        for r in REF["metareg"]:
            _record(metareg_devs(r))
        for r in EXTRA:
            _record(extra_devs(r))
    dev, msg = WORST["all"]
    with capsys.disabled():
        print(
            f"\n[test_meta] worst deviation from metafor: {dev:.3g} (tolerance {RTOL:g}) at {msg}"
        )
    assert dev <= RTOL


# ---------------------------------------------------------------- tight convergence (issue 13)

TIGHT = json.loads((REF_PATH.parent / "metafor_tight_reference.json").read_text())
TAU2_NAMES = {"tau2", "tau2_del"}


def tight_devs(case: dict) -> list[tuple[float, str]]:
    """Deviation in units of the tolerance: tau^2 values within metafor's absolute threshold
    (plus 1e-9 relative); everything else within max(1e-6, 1e4 threshold) relative to the
    largest value of its column, i.e. 1e-6 at thresholds 1e-10 and 1e-12."""
    ds = TIGHT["datasets"][case["dataset"]]
    thr = case["threshold"]
    where = f"{case['dataset']}-{case['method']}-{case['test']} threshold {thr:g}"
    res = stats.fit(ds["yi"], ds["vi"], method=case["method"], test=case["test"])
    tables = {
        "fit": {name: getattr(res, name) for name in case["fit"]},
        "leave1out": res.leave1out(),
        "influence": res.influence(),
    }
    out = []
    for part, table in tables.items():
        for name, ref in case[part].items():
            a = np.atleast_1d(np.asarray(table[name], dtype=float))
            b = np.atleast_1d(np.asarray(ref, dtype=float))
            if name in TAU2_NAMES:
                tol = thr + 1e-9 * np.abs(b)
            else:  # metafor's own error at threshold 1e-8 reaches ~1e-6 in derived values
                rel = max(1e-6, 1e4 * thr)
                tol = rel * np.maximum(np.abs(b), np.abs(b).max()) + 1e-12
            dev = np.abs(a - b) / tol
            i = int(np.argmax(dev))
            out.append(
                (float(dev[i]), f"{where} {part} {name}[{i}]: ours {a[i]!r} metafor {b[i]!r}")
            )
    return out


@pytest.mark.parametrize(
    "case",
    TIGHT["cases"],
    ids=lambda c: f"{c['dataset']}-{c['method']}-{c['test']}-{c['threshold']:g}",
)
def test_huge_variance_study_converges_as_metafor(case: dict) -> None:
    """Defect 5: one study with vi = 1e8 among ~0.01; the stopping rule is relative to tau^2."""
    bad = [f"{msg} ({d:.3g} x tolerance)" for d, msg in tight_devs(case) if not d <= 1]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    "ref", TIGHT["trimfill"], ids=lambda r: f"{r['dataset']}-{r['method']}-{r['estimator']}"
)
def test_trimfill_outlier_and_equal_effects_as_metafor(ref: dict) -> None:
    """Defect 5: no 'math domain error'; k0 = 0 with se(k0) NaN where metafor gives NaN."""
    tf = stats.trim_and_fill(ref["yi"], ref["vi"], method=ref["method"], estimator=ref["estimator"])
    assert (tf.k0, tf.side) == (ref["k0"], ref["side"])
    if ref["se_k0"] is None:
        assert math.isnan(tf.se_k0)
    else:
        assert tf.se_k0 == pytest.approx(ref["se_k0"], rel=1e-12)
    for name in ("estimate", "se", "tau2"):
        assert getattr(tf, name) == pytest.approx(ref[name], rel=1e-6, abs=1e-12), name
    assert tf.to_dict()["se_k0"] == ref["se_k0"]


def test_trimfill_side_undetermined_is_a_clear_error() -> None:
    """All yi and all vi equal: metafor stops ('missing value where TRUE/FALSE needed',
    the Egger slope is not estimable); we say why and how to proceed."""
    assert TIGHT["trimfill_equal_yi_and_vi_error"] != "no error"
    with pytest.raises(ValueError, match=r"side.*all vi are equal.*side="):
        stats.trim_and_fill([0.3] * 6, [0.02] * 6)
    assert stats.trim_and_fill([0.3] * 6, [0.02] * 6, side="left").k0 == 0


def test_fixed_effect_i2_is_zero_when_q_is_zero() -> None:
    """Defect 5: metafor reports I^2 = 0 (not NaN) for a fixed-effect fit with Q = 0."""
    ref = TIGHT["fe_q_zero"]
    res = stats.fit(ref["yi"], ref["vi"], method="FE")
    assert (res.q, res.i2, res.h2) == (ref["q"], ref["i2"], ref["h2"]) == (0, 0, 0)
    loo = stats.leave_one_out(ref["yi"], ref["vi"], method="FE")
    assert (loo["i2"] == 0).all()


def test_fallback_root_is_not_reported_as_converged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 5: when scoring hits the iteration limit the bracketed root is used, and the
    fit says it did not converge (the estimate itself is still the root)."""
    ds = REF["datasets"]["bcg_rr"]
    good = stats.fit(ds["yi"], ds["vi"])
    assert good.converged is True
    y, v = np.asarray(ds["yi"]), np.asarray(ds["vi"])
    deleted = {i: stats.fit(np.delete(y, i), np.delete(v, i)).tau2 for i in (0, 5)}
    monkeypatch.setattr(stats.tau2, "_MAXITER", 2)
    with pytest.warns(stats.ConvergenceWarning, match="iteration limit"):
        res = stats.fit(ds["yi"], ds["vi"])
    assert res.converged is False
    assert res.tau2 == pytest.approx(good.tau2, rel=1e-10)
    with pytest.warns(stats.ConvergenceWarning, match="leave-one-out"):
        loo = res.leave1out()
    for i, tau2 in deleted.items():
        assert loo["tau2"].iloc[i] == pytest.approx(tau2, rel=1e-9)


def test_report_worst_tight_deviation(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the worst deviation (in units of its tolerance) from the tight references."""
    dev, msg = max((d for c in TIGHT["cases"] for d in tight_devs(c)), key=lambda x: x[0])
    with capsys.disabled():
        print(f"\n[test_meta] worst tight-convergence deviation: {dev:.3g} x tolerance at {msg}")
    assert dev <= 1


def test_docstring_examples_run() -> None:
    """The Examples sections of the model's modules in livingreview.stats run as doctests."""
    import doctest

    attempted = 0
    for name in ("checks", "rma", "tau2", "qprofile", "deleted", "bias", "metareg"):
        result = doctest.testmod(getattr(stats, name), optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, name
        attempted += result.attempted
    assert attempted >= 10
