"""Figures: both formats written, deterministic bytes, labels that carry the sign convention."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest

from livingreview.publish import plots


def _stratum(k: int = 12, seed: int = 1) -> tuple[pd.DataFrame, dict]:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "study_id": [f"s{i:02d}" for i in range(k)],
            "citation": [f"Author{i} et al. 20{10 + i}" for i in range(k)],
            "yi": rng.normal(-0.5, 0.3, k),
            "vi": rng.uniform(0.01, 0.1, k),
        }
    )
    pooled = {
        "stratum": "domain-glycemic",
        "k": k,
        "estimate": -0.5,
        "se": 0.08,
        "ci_low": -0.66,
        "ci_high": -0.34,
        "pval": 1e-6,
        "zval": -6.1,
        "tau2": 0.03,
        "i2": 41.2,
        "q": 18.7,
        "q_pval": 0.07,
        "pi_low": -0.9,
        "pi_high": -0.1,
        "method": "REML",
        "test": "z",
        "level": 0.95,
        "measure": "SMD",
        "reported": True,
        "label": "Glycemic control",
        "favourable_sign": "negative",
    }
    return data, pooled


def _svg(path) -> str:
    """SVG text with the forest plot's non-collapsing padding (NBSP) read as spaces."""
    return path.with_suffix(".svg").read_text(encoding="utf-8").replace("\u00a0", " ")


def test_forest_plot_writes_svg_and_png_with_sign_weights_and_heterogeneity(tmp_path):
    data, pooled = _stratum()
    out = plots.forest_plot(data, pooled, tmp_path / "forest.svg", measure="SMD")
    assert [p.name for p in out] == ["forest.svg", "forest.png"]
    assert (tmp_path / "forest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = _svg(tmp_path / "forest.svg")
    # the favoured side: negative = intervention, so the left arrow names it
    assert "\u2190 Favours intervention" in svg
    assert "Favours control \u2192" in svg
    assert "I\u00b2 = 41.2%" in svg and "Q(11) = 18.70" in svg
    assert "Random-effects model (k = 12)" in svg
    assert "PI [-0.90, -0.10]" in svg
    # random-effects weights 1/(v + tau2), in percent, printed per study
    w = 1 / (data["vi"] + pooled["tau2"])
    first = f"{100 * w.iloc[0] / w.sum():.1f}%"
    assert first in svg
    # CI of the first study at 95%
    lo = data["yi"].iloc[0] - 1.959964 * math.sqrt(data["vi"].iloc[0])
    assert f"[{lo:.2f}," in svg
    # estimate [CI] weight: one monospaced string per row, padded to one width so
    # that decimals line up, the pooled row included
    rows = re.findall(r">([^<>]*\[[^<>]*\][^<>]*%)</text>", svg)
    assert len(rows) == 12 + 1 and len({len(r) for r in rows}) == 1
    assert rows[-1].endswith("100.0%") and "monospace" in svg


def test_study_labels_are_printed_as_given(tmp_path):
    data, pooled = _stratum(k=3)
    data["citation"] = ["Cost $5 per $ saved", "A & B <2020>", "Ng (2019)"]
    plots.forest_plot(data, {**pooled, "k": 3}, tmp_path / "f.svg")
    svg = _svg(tmp_path / "f.svg")
    assert ">Cost $5 per $ saved<" in svg  # not read as mathtext
    assert ">A &amp; B &lt;2020&gt;<" in svg  # escaped, not markup


def test_positive_sign_puts_intervention_on_the_right(tmp_path):
    data, pooled = _stratum()
    plots.forest_plot(data, pooled, tmp_path / "f.svg", favourable_sign="positive")
    svg = _svg(tmp_path / "f.svg")
    assert "\u2190 Favours control" in svg and "Favours intervention \u2192" in svg


def test_identical_inputs_give_byte_identical_files(tmp_path):
    data, pooled = _stratum()
    a = plots.forest_plot(data, pooled, tmp_path / "a" / "forest.svg")
    b = plots.forest_plot(data, pooled, tmp_path / "b" / "forest.svg")
    for x, y in zip(a, b, strict=True):
        assert x.read_bytes() == y.read_bytes(), x.name
    svg = a[0].read_text(encoding="utf-8")
    assert "<dc:date>" not in svg  # no timestamp in the SVG metadata
    assert b"Software" not in a[1].read_bytes()[:400]  # no software text chunk in the PNG


def test_unreported_stratum_and_ratio_measure(tmp_path):
    data = pd.DataFrame(
        {"study_id": ["a", "b"], "yi": [math.log(0.6), math.log(0.8)], "vi": [0.05, 0.08]}
    )
    pooled = {"k": 2, "reported": False, "estimate": None, "measure": "logRR"}
    plots.forest_plot(
        data, pooled, tmp_path / "rr.svg", favourable_sign="negative", label="Complications"
    )
    svg = _svg(tmp_path / "rr.svg")
    assert "Not estimated (k = 2" in svg
    assert "Risk ratio (log scale)" in svg
    assert "0.60 [" in svg  # back-transformed study estimate
    assert "Random-effects model" not in svg


def test_funnel_prints_egger(tmp_path):
    data, pooled = _stratum()
    plots.funnel_plot(
        data, pooled, {"zval": 1.234, "pval": 0.217, "limit": -0.41}, tmp_path / "funnel"
    )
    svg = _svg(tmp_path / "funnel.svg")
    assert "Egger's test: statistic = 1.23, p = 0.217" in svg
    assert "Standard error" in svg
    assert (tmp_path / "funnel.png").exists()


def test_summary_plot_rows_and_ne(tmp_path):
    _, pooled = _stratum()
    knowledge = dict(pooled, label="Knowledge", estimate=1.0, ci_low=0.2, ci_high=1.9)
    knowledge["favourable_sign"] = "positive"
    rows = [pooled, knowledge, {"label": "Attitudes", "k": 2, "reported": False}]
    plots.domain_summary_plot(rows, tmp_path / "domains.svg")
    svg = _svg(tmp_path / "domains.svg")
    assert "-0.50 [-0.66, -0.34]" in svg and "1.00 [0.20, 1.90]" in svg
    assert "NE" in svg
    assert "\u2190 favours intervention: lower" in svg
    assert "favours intervention: higher \u2192" in svg


@pytest.fixture
def rob() -> pd.DataFrame:
    levels = ["low", "some concerns", "high", "low"]
    return pd.DataFrame(
        {
            "study_id": ["a", "b", "c", "d"],
            "citation": ["A 2020", "B 2021", "C 2022", ""],
            "rob_d1": levels,
            "rob_d2": ["low"] * 4,
            "rob_d3": ["high", "high", "low", None],
            "rob_d4": levels,
            "rob_d5": levels,
            "rob_overall": ["some concerns", "high", "high", "low"],
        }
    )


def test_rob_summary_shares(tmp_path, rob):
    plots.rob_summary_plot(rob, tmp_path / "rob_summary")
    svg = _svg(tmp_path / "rob_summary.svg")
    assert "D1: Bias arising from the randomization process" in svg
    assert "Overall risk of bias" in svg
    # robvis colours: low, some concerns, high, and blue for the missing D3 judgement
    for colour in ("#02c100", "#e2df07", "#bf0000", "#4ea1f7"):
        assert colour in svg.lower()
    assert "Share of studies (n = 4)" in svg


def test_rob_traffic_light_lists_every_study(tmp_path, rob):
    plots.rob_traffic_light_plot(rob, tmp_path / "traffic.svg")
    svg = _svg(tmp_path / "traffic.svg")
    for name in ("A 2020", "B 2021", "C 2022", ">d<"):
        assert name in svg
    assert "Overall" in svg and "D5" in svg


def test_rob_traffic_light_pages_a_large_review(tmp_path):
    n = plots.TRAFFIC_LIGHT_PAGE * 2 + 7
    levels = ["low", "some concerns", "high"]
    studies = pd.DataFrame(
        {
            "study_id": [f"s{i:04d}" for i in range(n)],
            "citation": [f"Trial{i:04d} 2020" for i in range(n)],
            **{c: [levels[(i + j) % 3] for i in range(n)] for j, c in enumerate(plots.ROB_DOMAINS)},
        }
    )
    written = plots.rob_traffic_light_plot(studies, tmp_path / "traffic")
    svgs = sorted(p.name for p in written if p.suffix == ".svg")
    assert svgs == ["traffic.svg", "traffic_p2.svg", "traffic_p3.svg"]
    seen = [
        name
        for svg in svgs
        for name in studies["citation"]
        if name in (tmp_path / svg).read_text(encoding="utf-8")
    ]
    assert sorted(seen) == sorted(studies["citation"])  # each study on exactly one page
    assert "(3 of 3)" in (tmp_path / "traffic_p3.svg").read_text(encoding="utf-8")


def _forest_of(k: int, tmp_path) -> tuple[list, pd.DataFrame]:
    from livingreview import stats

    rng = np.random.default_rng(3)
    data = pd.DataFrame(
        {"study_id": [f"s{i}" for i in range(k)], "citation": [f"Study{i:04d}" for i in range(k)],
         "yi": rng.normal(0.3, 0.3, k), "vi": rng.uniform(0.01, 0.2, k)}
    )  # fmt: skip
    fit = stats.fit(data["yi"], data["vi"])
    pooled = {**fit.to_dict(), "stratum": "domain-x", "reported": True, "measure": "SMD"}
    return plots.forest_plot(data, pooled, tmp_path / f"forest{k}"), data


def _label_column_ink(png) -> int:
    """Dark pixels in the study-label column, over the middle half of the rows."""
    from PIL import Image

    grey = np.asarray(Image.open(png).convert("L"))
    h, w = grey.shape
    return int((grey[h // 4 : 3 * h // 4, int(0.03 * w) : int(0.25 * w)] < 128).sum())


def test_tall_png_is_capped_and_drops_unreadable_labels_but_svg_keeps_every_study(tmp_path):
    from PIL import Image

    k = 900  # 218 inches tall: the PNG is drawn at 55 dpi, where 9-pt text is 6.9 pixels
    written, data = _forest_of(k, tmp_path)
    png = next(p for p in written if p.suffix == ".png")
    assert max(Image.open(png).size) <= plots.PNG_MAX_PIXELS
    assert _label_column_ink(png) == 0  # no per-study labels in the PNG ...
    svg = (tmp_path / f"forest{k}.svg").read_text(encoding="utf-8")
    for name in data["citation"]:  # ... but every one in the SVG
        assert f">{name}<" in svg
    # a stratum whose PNG is readable (k = 300: 150 dpi) keeps its labels in the PNG
    small = next(p for p in _forest_of(300, tmp_path)[0] if p.suffix == ".png")
    assert _label_column_ink(small) > 1000


# --------------------------------------------------------------------------- multilevel strata


def _multilevel_stratum() -> tuple[pd.DataFrame, dict]:
    """Three trials with 3, 2 and 1 effects, and pooled numbers of a multilevel fit."""
    data = pd.DataFrame(
        {
            "study_id": ["a", "a", "a", "b", "b", "c"],
            "domain": ["glycemic", "knowledge", "behaviour", "glycemic", "knowledge", "glycemic"],
            "yi": [0.3, 0.5, 0.1, 0.7, 0.6, 0.2],
            "vi": [0.02, 0.03, 0.04, 0.05, 0.02, 0.03],
        }
    )
    _, pooled = _stratum()
    pooled.update(
        stratum="platform-wechat", label="WeChat: all continuous outcomes",
        favourable_sign="positive", model="multilevel", k=6, n_effects=6, n_trials=3,
        rho=0.6, inference="CR2", sigma2_trial=0.02, sigma2_effect=0.01, tau2=0.03,
        estimate=0.4, ci_low=0.1, ci_high=0.7, zval=3.9, pval=0.02, robust_df=1.8,
        pi_low=-0.1, pi_high=0.9, test="t",
    )  # fmt: skip
    return data, pooled


def test_multilevel_forest_names_the_model_and_weights_as_metafor(tmp_path):
    data, pooled = _multilevel_stratum()
    plots.forest_plot(data, pooled, tmp_path / "forest")
    svg = _svg(tmp_path / "forest.svg")
    assert "Multilevel model (k = 6, 3 trials)" in svg and "Random-effects model" not in svg
    assert "Multilevel model (REML): 6 effects nested in 3 trials, \u03c1 = 0.6; CR2" in svg
    assert "Satterthwaite df = 1.8): t = 3.90" in svg
    # weights.rma.mv: diag of the inverse marginal covariance, formed here as one dense matrix
    sd = np.sqrt(data["vi"].to_numpy())
    same = data["study_id"].to_numpy()[:, None] == data["study_id"].to_numpy()[None, :]
    m = same * (0.6 * np.outer(sd, sd) + 0.02) + np.diag(0.4 * data["vi"].to_numpy() + 0.01)
    w = np.diag(np.linalg.inv(m))
    np.testing.assert_allclose(
        plots.effect_weights(data, pooled, True), 100 * w / w.sum(), rtol=1e-12
    )
    for pct in 100 * w / w.sum():
        assert f"{pct:.1f}%" in svg
    # the univariate weights are not what a multilevel stratum shows
    uni = 1 / (data["vi"].to_numpy() + 0.03)
    assert not np.allclose(plots.effect_weights(data, pooled, True), 100 * uni / uni.sum())


def test_multilevel_rows_of_the_platform_overview_are_labelled(tmp_path):
    _, pooled = _multilevel_stratum()
    ne = dict(pooled, label="LINE", k=4, n_trials=2, reported=False)
    plots.platform_overview_plot([dict(pooled, label="WeChat"), ne], tmp_path / "overview")
    svg = _svg(tmp_path / "overview.svg")
    assert "Platform overview (continuous outcomes, multilevel model)" in svg
    assert "k (trials)" in svg and "6 (3)" in svg and "4 (2)" in svg
    assert "effects nested in trials, \u03c1 = 0.6; CR2 cluster-robust CI" in svg
    assert "fewer than 3 trials in a multilevel row" in svg
    _, uni = _stratum()
    plots.platform_overview_plot([uni], tmp_path / "plain")
    plain = _svg(tmp_path / "plain.svg")
    assert "multilevel" not in plain.lower() and "k (trials)" not in plain


def test_multilevel_funnel_prints_the_cr2_egger_test(tmp_path):
    data, pooled = _multilevel_stratum()
    egger = {"model": "multilevel", "statistic": 0.348, "df": 2.69, "pval": 0.753,
             "limit_estimate": 0.498}  # fmt: skip
    plots.funnel_plot(data, pooled, egger, tmp_path / "funnel")
    svg = _svg(tmp_path / "funnel.svg")
    assert "Egger's test (multilevel, CR2, df = 2.7): t = 0.35, p = 0.753" in svg


def test_summary_labels_follow_the_configured_level_min_k_and_stratifier(tmp_path):
    """Issue 15: rows pooled at 95% (or saying nothing) are labelled as configured."""
    _, pooled = _stratum()
    ne = dict(pooled, label="Yoga", k=1, reported=False)
    rows = [dict(pooled, label="Aerobic"), ne]
    plots.platform_overview_plot(
        rows,
        tmp_path / "overview",
        heading="Exercise type overview",
        row_header="Exercise type",
        level=0.9,
        min_k=2,
    )
    svg = _svg(tmp_path / "overview.svg")
    assert "Exercise type overview (continuous outcomes)" in svg
    assert "Estimate [90% CI]" in svg and "Black line: 90% CI; grey band: 90% prediction" in svg
    assert "NE: not estimated (k &lt; 2)" in svg and "k &lt; 3" not in svg and "95%" not in svg
    assert "Exercise type" in svg and "Platform" not in svg and "Stratum" not in svg
    # without the configured values the rows' own level and min_k are stated, as before
    plots.domain_summary_plot(rows, tmp_path / "domains")
    plain = _svg(tmp_path / "domains.svg")
    assert f"Estimate [{pooled['level'] * 100:g}% CI]" in plain
