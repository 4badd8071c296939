"""Report: tables and figures on disk, escaping of sheet text, and a real render in Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from results_fixture import CONFIG, EVIL, make_results

from livingreview.publish import html as page_html
from livingreview.publish import report, report_data, report_sections


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report")
    results = make_results(root)
    report.build_report(results, results / "report", CONFIG)
    return results / "report"


def test_platform_domain_table_has_ne_below_three(built):
    table = pd.read_csv(built / "tables" / "platform_domain.csv", keep_default_na=False)
    assert list(table.columns[:4]) == ["platform", "domain", "stratum", "k"]
    glyc = table[(table.platform == "all") & (table.domain == "glycemic")].iloc[0]
    assert glyc.k == 12 and glyc.cell.startswith("k = 12; SMD -0.")
    comp = table[(table.platform == "all") & (table.domain == "complications")].iloc[0]
    assert comp.cell == "NE (k = 2)" and comp.estimate == ""
    # no platform stratum for LINE x complications at all
    line = table[(table.platform == "line") & (table.domain == "complications")].iloc[0]
    assert line.cell == "NE (k = 0)"
    html = (built / "tables" / "platform_domain.html").read_text()
    assert "<th>Glycemic control</th>" in html and "All platforms" in html


def test_loo_metareg_and_figures_written(built):
    assert (built / "tables" / "LOO_domain-glycemic.csv").is_file()
    assert not (built / "tables" / "LOO_domain-complications.csv").exists()  # k = 2: not reported
    mr = pd.read_csv(built / "tables" / "metaregression.csv")
    row = mr[mr.term == "followup_weeks"].iloc[0]
    assert row.model == "overall" and row.estimate == pytest.approx(0.002) and row.r2 == 1.3
    for name in (
        "domain_summary",
        "platform_overview",
        "prisma",
        "rob_summary",
        "rob_traffic_light",
        "forest_domain-glycemic",
        "funnel_domain-glycemic",
    ):
        for fmt in ("svg", "png"):
            assert (built / "figures" / f"{name}.{fmt}").is_file(), name
    assert not (built / "figures" / "funnel_domain-knowledge.svg").exists()  # k = 5 < 10


def test_prisma_counts_are_a_table_for_people_and_a_csv(built):
    """Issue 15: the PRISMA section was a raw dump of prisma.json's keys."""
    table = pd.read_csv(built / "tables" / "prisma.csv")
    rows = dict(zip(table["PRISMA 2020 box"], table["whole review"], strict=True))
    assert rows["Records identified from Embase"] == 40
    assert rows["Records identified, total"] == 340
    assert rows["Reports excluded: not an RCT"] == 30
    assert rows["Studies included in the review"] == 12
    assert list(table.columns) == ["PRISMA 2020 box", "whole review"]  # not an update
    html = (built / "index.html").read_text(encoding="utf-8")
    section = html[html.index('id="prisma"') : html.index("Agreement between reviewers")]
    assert "<td>Records identified from PubMed</td><td>300</td>" in section
    assert 'href="tables/prisma.csv"' in section and 'href="../screening/prisma.json"' in section
    assert "identified_total" not in section and "fulltext_excluded" not in section


def test_design_check_is_a_coefficient_table(built):
    html = (built / "index.html").read_text(encoding="utf-8")
    section = html[html.index("Design check") :][:1500]
    assert "<th>estimate</th><th>SE</th><th>t</th><th>p</th><th>95% CI low</th>" in section
    assert "<td>intercept</td><td>4.900</td><td>0.290</td><td>16.900</td><td>&lt; 0.001</td>" in (
        section
    )
    assert "R\u00b2 = 0.080" in section and "coefficients" not in section


def test_index_escapes_everything_from_sheets(built):
    page = (built / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert not re.search(r"<[^>]*onerror", page)  # present only as escaped text
    assert "&lt;img src=x onerror=alert(1)&gt; javascript:alert(2)" in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Demo review &lt;b&gt;&amp; friends&lt;/b&gt;" in page
    assert 'http-equiv="Content-Security-Policy"' in page and "script-src 'none'" in page
    # no external requests: every src/href is relative or a fragment
    for url in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert not re.match(r"^[a-z]+:", url) and not url.startswith("//"), url
    for section in ("Search", "PRISMA 2020 flow", "Changes since the last version", "Provenance"):
        assert section in page
    assert "2026-11-20" in page  # the search date


def test_stale_figures_removed_on_rebuild(tmp_path):
    results = make_results(tmp_path, n_studies=4)
    out = results / "report"
    report.build_report(results, out, CONFIG)
    stale = out / "figures" / "forest_domain-gone.svg"
    stale.write_text("<svg/>")
    report.build_report(results, out, CONFIG)
    assert not stale.exists()


def test_stratum_figures_copied_and_unchanged_ones_not_rewritten(tmp_path):
    results = make_results(tmp_path, n_studies=4)
    sdir = results / "strata" / "domain-glycemic"
    (sdir / "forest.svg").write_text("<svg>analysis forest</svg>")
    (sdir / "forest.png").write_bytes(b"\x89PNG analysis forest")
    out = results / "report"
    report.build_report(results, out, CONFIG)
    svg, png = (
        out / "figures" / "forest_domain-glycemic.svg",
        out / "figures" / "forest_domain-glycemic.png",
    )
    assert svg.read_text() == "<svg>analysis forest</svg>" and png.read_bytes().endswith(b"forest")
    first = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    inodes = {p: p.stat().st_ino for p in (svg, png)}  # copied, not drawn by the report
    report.build_report(results, out, CONFIG)  # nothing changed: identical copies left in place
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == first
    assert {p: p.stat().st_ino for p in (svg, png)} == inodes
    (sdir / "forest.svg").write_text("<svg>analysis FOREST</svg>")  # same size, new bytes
    png.write_bytes(b"something else entirely")  # a damaged copy is replaced too
    report.build_report(results, out, CONFIG)
    assert svg.read_text() == (sdir / "forest.svg").read_text() and svg.stat().st_ino != inodes[svg]
    assert png.read_bytes() == (sdir / "forest.png").read_bytes()


def test_stratum_without_rows_has_no_forest_plot(tmp_path):
    results = make_results(tmp_path, n_studies=4)
    data = results / "strata" / "domain-knowledge" / "data.csv"
    data.write_text(data.read_text().splitlines()[0] + "\n")  # header only
    report.build_report(results, results / "report", CONFIG)
    assert not (results / "report" / "figures" / "forest_domain-knowledge.svg").exists()
    assert (results / "report" / "figures" / "forest_domain-glycemic.svg").is_file()


def test_importing_the_report_module_does_not_load_matplotlib():
    """The bundle step renders index.html only; loading matplotlib cost it half a second."""
    code = "import sys, livingreview.publish.bundle; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name) or (
            f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None
        )
        if path:
            return path
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(
            ["apt-get", "update", "-qq"], check=True, env=env, timeout=300, capture_output=True
        )
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "chromium"],
            check=True,
            env=env,
            timeout=600,
            capture_output=True,
        )
    except (subprocess.SubprocessError, OSError):
        return None
    return shutil.which("chromium")


def _chrome(binary: str, url: str, *extra: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                *extra,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )


def test_index_renders_in_headless_chromium(built, tmp_path):
    binary = _chromium()
    if binary is None:
        pytest.skip(
            "chromium not found and `apt-get install chromium` failed (no root, apt or network)"
        )
    # The page shows a canary script in a citation as text; if any content script ran it
    # would change the title, so the DOM after scripts must keep the original title.
    url = (built / "index.html").as_uri()
    dom = _chrome(binary, url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert html.count("<table") >= 6
    assert "<title>Demo review &lt;b&gt;&amp; friends&lt;/b&gt;</title>" in html
    assert (
        EVIL.split("<img")[0].replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")[:20]
        in html
    )
    assert "<script" not in html.lower()
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Refused" in line]
    assert not console, console
    # Every image must load: an SVG/PNG that failed would render as a broken image and be
    # reported; check by loading each image URL the page references.
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 10
    for src in images:
        assert (built / src).is_file(), src
    shot = tmp_path / "page.png"
    res = _chrome(binary, url, f"--screenshot={shot}", "--window-size=1200,2000")
    assert res.returncode == 0 and shot.stat().st_size > 20000
    assert "Failed to load" not in res.stderr and "ERR_FILE_NOT_FOUND" not in res.stderr


def test_report_settings_read_once_from_params_or_whole_config():
    """The report's params and the published configuration give the same settings."""
    from livingreview.publish.report_settings import ReportSettings

    whole = ReportSettings.from_config(CONFIG)
    params = {
        "review": {"title": CONFIG["review"]["title"]},
        "search": dict(CONFIG["search"]),
        "extraction": {
            "domains": {
                d: {"label": v["label"]} for d, v in CONFIG["extraction"]["domains"].items()
            },
            "stratifier": CONFIG["extraction"]["stratifier"],
        },
        "analysis": {k: CONFIG["analysis"][k] for k in ("min_k", "min_k_funnel")},
    }
    assert ReportSettings.from_config(params) == whole
    assert whole.domain_labels["glycemic"] == "Glycemic control"
    assert whole.platform_labels["wechat"] == "WeChat"
    assert ReportSettings.from_config(whole) is whole
    custom = ReportSettings.from_config({"analysis": {"level": 0.9, "min_k": 2, "min_k_funnel": 4}})
    assert (custom.ci_label, custom.analysis.min_k, custom.title) == (
        "90% CI",
        2,
        "Living systematic review",
    )
    with pytest.raises(ValueError, match="min_k"):
        ReportSettings.from_config({"analysis": {"min_k": -1}})


def test_captions_follow_the_level_and_min_k(tmp_path):
    results = make_results(tmp_path, level=0.9)
    config = {**CONFIG, "analysis": {**CONFIG["analysis"], "level": 0.9, "min_k": 2}}
    report.build_report(results, results / "report", config)
    html = (results / "report" / "index.html").read_text(encoding="utf-8")
    assert "90% CI" in html and "95% CI" not in html
    assert "NE = not estimated (k &lt; 2)" in html


def test_labels_follow_a_non_default_configuration(tmp_path):
    """Issue 15: level 0.9, min_k 2 and the stratifier "Exercise type" in every label."""
    results = make_results(tmp_path, level=0.9)
    stratifier = {
        "column": "platform",
        "label": "Exercise type",
        "values": {"whatsapp": "Aerobic", "wechat": "Resistance", "line": "Yoga"},
    }
    config = {
        **CONFIG,
        "extraction": {**CONFIG["extraction"], "stratifier": stratifier},
        "analysis": {**CONFIG["analysis"], "level": 0.9, "min_k": 2},
    }
    out = results / "report"
    report.build_report(results, out, config)
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "95% CI" not in html and "k &lt; 3" not in html and "Platform" not in html
    assert "Pooled SMD, 90% CI and prediction interval per outcome domain" in html
    assert "(NE: not estimated, k &lt; 2)" in html
    assert "Exercise type x domain: k, pooled estimate [90% CI]" in html
    assert "<th>Exercise type</th>" in html and "All exercise types" in html
    assert "<td>Resistance</td>" in html
    assert "Exercise type overview across continuous outcomes" in html
    # binary domains are not in the SMD figure: the caption says where they are
    assert "Binary domains (risk ratio, 90% CI): Complications: in the table below" in html
    # the table of contents links each domain and, under it, its strata
    toc = html[
        html.index('<nav class="toc"') : html.index("</nav>", html.index('<nav class="toc"'))
    ]
    assert '<a href="#s-domain-glycemic">Glycemic control</a><ul>' in toc
    assert '<a href="#s-domain-glycemic_platform-wechat">' in toc
    for anchor in re.findall(r'href="#(s-[^"]+)"', toc):
        assert f'id="{anchor}"' in html
    grid = (out / "tables" / "platform_domain.html").read_text(encoding="utf-8")
    assert "All exercise types" in grid and "Exercise type x domain" in grid
    svg = (out / "figures" / "domain_summary.svg").read_text(encoding="utf-8")
    assert "90% CI" in svg and "95%" not in svg


def test_platform_overview_caption_says_how_rows_were_pooled():
    """Issue 18: the overview is pooled with the multilevel model and labelled so."""
    multi = {"kind": "platform", "stratum": "platform-wechat", "reported": True, "k": 23,
             "n_trials": 8, "model": "multilevel", "rho": 0.6, "inference": "CR2",
             "method": "REML"}  # fmt: skip
    naive = {"kind": "platform", "stratum": "platform-line", "reported": True, "k": 8,
             "n_trials": 3, "model": "univariate"}  # fmt: skip
    caption = report_sections.platform_caption({"platform-wechat": multi})
    assert "Multilevel model (REML): effects nested in trials, \u03c1 = 0.6" in caption
    assert "CR2 cluster-robust CI (Satterthwaite df)" in caption
    assert "as if independent" not in caption
    caption = report_sections.platform_caption({"platform-line": naive})
    assert "platform-line: several effects per trial pooled as if independent" in caption
    assert "Multilevel" not in caption
    table = report_data.strata_table({"platform-wechat": multi, "platform-line": naive})
    assert table[["model", "n_trials"]].values.tolist() == [["multilevel", 8], ["univariate", 3]]
    assert "23 effects nested in 8 trials" in report_sections.forest_caption(
        multi, "platform-wechat"
    )


def test_tables_for_people_no_zero_p_values_and_no_negative_zero():
    df = pd.DataFrame({"stratum": ["a", "b"], "estimate": [-0.0001, -0.5], "pval": [2e-12, 0.0412]})
    html = page_html.html_table(df)
    assert "<td>&lt; 0.001</td>" in html and "<td>0.041</td>" in html
    assert "<td>0.000</td>" in html and "-0.000" not in html and "<td>-0.500</td>" in html


def test_the_page_is_rendered_once_and_a_version_fills_its_slots(tmp_path):
    """Issue 16: the working copy carries each slot once; filling them leaves no marker."""
    results = make_results(tmp_path, n_studies=4)
    page = report.build_report(results, results / "report", CONFIG).read_text(encoding="utf-8")
    for name in page_html.SLOTS:
        assert page.count(f"<!-- slot:{name} -->") == 1, name
    assert "Working copy (not yet published)" in page
    filled = page_html.fill_slots(
        page, {"version": "<p><strong>Version 2027-01-01.1</strong></p>", "news": ""}
    )
    assert "<!-- slot:" not in filled and "<!-- /slot:" not in filled
    assert "Version 2027-01-01.1" in filled and "Working copy" not in filled
    # what a version does not fill keeps the working copy's text
    assert page_html.fill_slots(page, {}).count("Software and data provenance") == 1
    with pytest.raises(ValueError, match="0 slots named 'version', not 1"):
        page_html.fill_slots(filled, {})
    with pytest.raises(ValueError, match="unknown report slot 'footer'"):
        page_html.slot("footer", "x")


def test_report_and_bundle_do_not_import_each_other():
    """Issue 16: the bundle fills slots (publish.html) instead of calling the report."""
    for module, other in (("bundle", "report"), ("report", "bundle")):
        code = (
            f"import sys, livingreview.publish.{module}; "
            f"print('livingreview.publish.{other}' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "False", module


def test_entry_point_writes_what_build_report_writes(tmp_path) -> None:
    results = make_results(tmp_path)
    built = report.build_report(results, tmp_path / "built", CONFIG).read_bytes()
    settings = report.ReportSettings.from_config(CONFIG)
    result = report.run(settings, {"effects": results / "effects" / "effects.csv", "previous": []})
    report.write(result, {"index": tmp_path / "ran" / "index.html"})
    assert (tmp_path / "ran" / "index.html").read_bytes() == built
    assert sorted(p.name for p in (tmp_path / "ran" / "tables").iterdir()) == sorted(
        p.name for p in (tmp_path / "built" / "tables").iterdir()
    )
