"""The living workflow reruns only what changed (ARCHITECTURE.md, "Only what changed").

Each test runs the real Snakemake workflow on a copy of the repository's
workflow and the shipped demo review, changes one thing, runs it again and
checks which outputs were rewritten (modification times) and which jobs ran.
One full run (module fixture) is the baseline; each test works on its own
copy of it (mtimes and Snakemake's metadata preserved).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = REPO / ".venv" / "bin" / "snakemake"
COPY = ["Snakefile", "workflow", "config", "scripts", "profiles"]
JOB_LINE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$", re.M)


def run(workdir: Path, *args: str) -> str:
    proc = subprocess.run(
        [str(SNAKEMAKE), "--cores", "2", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=1800,  # a full run of the demo takes 3 minutes alone, 15 on a loaded machine
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def jobs_run(output: str) -> list[str]:
    """Names of the rules whose jobs Snakemake started (its console log)."""
    return JOB_LINE.findall(output)


def mtimes(root: Path, pattern: str) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.glob(pattern))}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> tuple[Path, Path]:
    """A complete run of the whole workflow on a copy of the demo, and a snapshot of it.

    Tests work in the same folder as the baseline run (some rules have the
    project folder as a parameter, so a copy elsewhere would rerun them).
    """
    base = tmp_path_factory.mktemp("workflow")
    work = base / "project"
    work.mkdir()
    for name in COPY:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
    shutil.copytree(REPO / "resources" / "demo", work / "resources" / "demo")
    run(work)
    shutil.copytree(work, base / "snapshot", symlinks=True)  # copy2: mtimes kept
    return work, base / "snapshot"


@pytest.fixture
def project(baseline: tuple[Path, Path]) -> Path:
    """The baseline project, restored from the snapshot (same path, same mtimes)."""
    work, snapshot = baseline
    shutil.rmtree(work)
    shutil.copytree(snapshot, work, symlinks=True)
    return work


def strata(work: Path) -> dict:
    return json.loads((work / "results/strata/strata.json").read_text())


def test_full_run_writes_every_stratum_output(project: Path) -> None:
    baseline = project
    index = strata(baseline)
    assert index, "no stratum written"
    for name, info in index.items():
        folder = baseline / "results/strata" / name
        pooled = json.loads((folder / "pooled.json").read_text())
        assert pooled["stratum"] == name and pooled["k"] == info["k"]
        # several effects per trial: multilevel model, min_k counts trials (issue 18)
        assert pooled["reported"] is (info["n_studies"] >= 3)
        assert pooled.get("model") == ("multilevel" if info["k"] > info["n_studies"] else None)
        assert (folder / "forest.svg").is_file()
        assert (folder / "egger.json").is_file() is (info["k"] >= 10)
        assert (folder / "funnel.svg").is_file() is (info["k"] >= 10)
        if not pooled["reported"]:
            assert pooled["estimate"] is None and pooled["ci_low"] is None
    domains = {i["domain"] for i in index.values() if i["kind"] == "domain"}
    assert {p.stem for p in (baseline / "results/metareg").glob("*.json")} == domains | {"overall"}
    assert json.loads((baseline / "results/design_check.json").read_text())["cov_type"] == "HC3"
    assert (baseline / "results/report/index.html").is_file()
    grade = json.loads((baseline / "results/grade/grade.json").read_text())
    reported = {i["domain"] for n, i in index.items() if i["kind"] == "domain" and i["k"] >= 3}
    assert set(grade["outcomes"]) == reported
    sof = (baseline / "results/grade/sof.csv").read_text(encoding="utf-8").splitlines()
    assert len(sof) == 1 + len(domains)  # a row per outcome domain, pooled or not
    cumul = pd.read_csv(baseline / "results/cumulative/cumulative.csv")
    assert set(cumul["domain"]) == reported
    # a figure per configured domain ("not pooled yet" where k < min_k): named outputs
    assert {p.stem for p in (baseline / "results/cumulative").glob("*.svg")} == domains


def _job_counts(out: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], re.M)}


def _r_with_metafor() -> bool:
    """R with metafor and clubSandwich (installed for reference values, never at runtime)."""
    if shutil.which("Rscript") is None:
        return False
    probe = "quit(status = !all(sapply(c('metafor', 'clubSandwich'), requireNamespace)))"
    return subprocess.run(["Rscript", "-e", probe], capture_output=True).returncode == 0


@pytest.mark.skipif(not _r_with_metafor(), reason="needs R with metafor and clubSandwich")
def test_bundle_r_script_reproduces_the_pooled_numbers(project: Path, tmp_path: Path) -> None:
    """Issue 20: metafor/reproduce.R, run by R on the published demo version, agrees to 1e-8.

    Differences are relative when |published| > 1, else absolute (the script's rule),
    over estimate, SE, CI bounds, tau^2 and the CR2 test's Satterthwaite df.
    """

    bundles = project / "results/bundles"
    bundle = bundles / (bundles / "LATEST").read_text().strip()
    out = tmp_path / "check.csv"
    proc = subprocess.run(
        ["Rscript", str(bundle / "metafor" / "reproduce.R"), str(bundle), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    check = pd.read_csv(out)
    expected = pd.read_csv(bundle / "metafor" / "expected.csv")
    assert set(check["stratum"]) == set(expected["stratum"])
    assert {"univariate", "multilevel"} <= set(check["model"])
    worst = check.groupby("model")["difference"].max()
    assert (worst <= 1e-8).all(), worst.to_dict()


def test_grade_settings_and_adjudication_rerun_only_grade_report_bundle(project: Path) -> None:
    config = project / "config/config.yaml"
    text = config.read_text()
    assert "  egger_alpha: 0.1 " in text
    config.write_text(text.replace("  egger_alpha: 0.1 ", "  egger_alpha: 0.05 ", 1))
    counts = _job_counts(run(project, "--dry-run"))
    assert set(counts) - {"all", "total"} == {"grade", "report", "bundle"}
    config.write_text(text)
    sheet = project / "resources/demo/grade/adjudication.csv"
    sheet.parent.mkdir(parents=True, exist_ok=True)
    sheet.write_text(
        "domain,grade_domain,decision,reason,adjudicator\n"
        "glycemic,indirectness,not serious,population and outcome as the question,alice\n",
        encoding="utf-8",
    )
    counts = _job_counts(run(project, "--dry-run"))
    assert set(counts) - {"all", "total"} == {"grade", "report", "bundle"}


def test_rerun_without_change_runs_nothing(project: Path) -> None:
    before = mtimes(project, "results/**/*")
    out = run(project)
    assert "Nothing to be done" in out
    assert jobs_run(out) == []
    assert mtimes(project, "results/**/*") == before


def _edit_line(path: Path, row: int, column: str, change) -> None:
    """Change one cell of spreadsheet row ``row`` (header = 1), leaving other lines as they are."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(csv.reader([lines[0]]))
    cells = next(csv.reader([lines[row - 1]]))
    cells[header.index(column)] = change(cells[header.index(column)])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    lines[row - 1] = buf.getvalue()
    path.write_text("".join(lines), encoding="utf-8")


def test_one_glycemic_number_reruns_only_its_strata(project: Path) -> None:
    root = project / "resources/demo"
    effects = pd.read_csv(project / "results/effects/effects.csv", dtype=str, keep_default_na=False)
    resolved = pd.read_csv(root / "extraction/resolutions.csv", dtype=str, keep_default_na=False)
    pick = effects[
        (effects["domain"] == "glycemic")
        & (effects["platform"] != "mixed")
        & (effects["form"] == "means")
        & ~effects["study_id"].isin(resolved["key"].str.split("|").str[0])
    ].iloc[0]
    platform = pick["platform"]
    for source in pick["source"].split("; "):
        file, row = source.rsplit(":", 1)
        _edit_line(root / file, int(row), "m1", lambda v: f"{float(v) + 0.1:.3f}")
    before = mtimes(project, "results/**/*")

    out = run(project)

    after = mtimes(project, "results/**/*")
    changed = {f for f in before if after.get(f) != before[f]}
    touched = {
        "domain-glycemic",
        f"domain-glycemic_platform-{platform}",
        f"platform-{platform}",
    }
    for name in strata(project):
        files = {f for f in before if f.startswith(f"results/strata/{name}/")}
        if name in touched:
            assert f"results/strata/{name}/data.csv" in changed
            assert f"results/strata/{name}/pooled.json" in changed
            assert f"results/strata/{name}/forest.svg" in changed
        else:
            assert not files & changed, f"{name} was rewritten: {sorted(files & changed)}"
    assert "results/metareg/glycemic.json" in changed
    assert "results/metareg/overall.json" in changed
    others = {f for f in before if f.startswith("results/metareg/")} - {
        "results/metareg/glycemic.json",
        "results/metareg/overall.json",
    }
    assert not others & changed
    assert "results/design_check.json" not in changed  # n and follow-up did not change
    assert "results/report/index.html" in changed
    ran = jobs_run(out)
    assert ran.count("stratum") + ran.count("stratum_funnel") == 3
    pooled = json.loads((project / "results/strata/domain-glycemic/pooled.json").read_text())
    data = pd.read_csv(project / "results/strata/domain-glycemic/data.csv", dtype={"study_id": str})
    new_yi = data.loc[data["study_id"] == pick["study_id"], "yi"].item()
    assert new_yi != pytest.approx(float(pick["yi"]), abs=1e-6)
    assert pooled["k"] == len(data)


def test_new_screening_file_without_new_study_reruns_no_stratum(project: Path) -> None:
    decisions = pd.read_csv(project / "results/screening/decisions.csv", dtype=str)
    excluded = decisions[
        (decisions["stage"] == "title_abstract")
        & (decisions["status"] == "excluded")
        & (decisions["rule"] == "agreement")
    ]["record_id"].head(3)
    sheet = project / "resources/demo/screening/title_abstract/zed.csv"
    rows = "".join(f"{rid},exclude,,,2026-11-20\n" for rid in excluded)
    sheet.write_text("record_id,decision,reason,note,date\n" + rows, encoding="utf-8")
    before = mtimes(project, "results/**/*")

    out = run(project)

    after = mtimes(project, "results/**/*")
    changed = {f for f in before if after.get(f) != before[f]}
    ran = jobs_run(out)
    assert "screening" in ran
    assert "results/screening/decisions.csv" in changed
    assert "zed=exclude" in (project / "results/screening/decisions.csv").read_text()
    per_stratum = {"stratum", "stratum_funnel", "metareg", "design_check"}
    assert not per_stratum & set(ran), ran
    strata_files = {f for f in before if re.match(r"results/strata/[^/]+/", f)}
    assert not strata_files & changed, sorted(strata_files & changed)


def test_changing_the_estimator_reruns_every_stratum(project: Path) -> None:
    config = project / "config/config.yaml"
    text = config.read_text()
    assert "  method: REML" in text
    config.write_text(text.replace("  method: REML", "  method: DL", 1))

    out = run(project, "--dry-run")

    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], re.M))
    n_strata = len(strata(project))
    n_funnel = sum(1 for i in strata(project).values() if i["k"] >= 10)
    assert int(counts["stratum_funnel"]) == n_funnel
    assert int(counts["stratum"]) == n_strata - n_funnel
    assert int(counts["metareg"]) == len(list((project / "results/metareg").glob("*.json")))
    assert "stratify" not in counts  # the strata themselves did not change
    assert "Params have changed" in out


def test_platform_overview_is_pooled_with_the_multilevel_model(project: Path) -> None:
    """Issue 18, done when: the demo's platform overview is pooled dependence-aware, labelled so."""
    folder = project / "results/strata/platform-wechat"
    info = strata(project)["platform-wechat"]
    data = pd.read_csv(folder / "data.csv")
    pooled = json.loads((folder / "pooled.json").read_text())
    assert info["k"] > info["n_studies"]  # the demo's WeChat trials report several domains
    assert pooled["model"] == "multilevel" and pooled["inference"] == "CR2"
    assert pooled["rho"] == 0.6 and pooled["test"] == "t"
    assert (pooled["n_effects"], pooled["n_trials"]) == (len(data), data["study_id"].nunique())
    assert pooled["n_participants"] == data.groupby("study_id")["n"].max().sum()
    assert pooled["se"] == pooled["robust_se"] and pooled["robust_type"] == "CR2"
    loo = pd.read_csv(folder / "loo.csv")
    assert sorted(loo["omitted"]) == sorted(data["study_id"].unique())  # a trial at a time
    influence = pd.read_csv(folder / "influence.csv")
    assert sorted(influence["study"]) == sorted(data["study_id"].unique())
    assert json.loads((folder / "egger.json").read_text())["model"] == "multilevel"
    assert "Multilevel model" in (folder / "forest.svg").read_text(encoding="utf-8")
    html = (project / "results/report/index.html").read_text(encoding="utf-8")
    assert "Platform overview across continuous outcomes: Multilevel model" in html
    # a stratum with one effect per trial keeps the univariate model
    glycemic = json.loads((project / "results/strata/domain-glycemic/pooled.json").read_text())
    assert "model" not in glycemic and glycemic["test"] == "z"


def test_dependence_keys_rerun_exactly_the_multilevel_strata(project: Path) -> None:
    """analysis.dependence reaches the stratum rule as params, for the strata that use it."""
    _edit_config(project, "rho: 0.6", "rho: 0.5")
    _edit_config(project, "inference: CR2", "inference: model")
    planned = _planned(project)
    multi = [n for n, i in strata(project).items() if i["k"] > i["n_studies"]]
    assert multi and len(multi) < len(strata(project))
    assert planned.get("stratum", 0) + planned.get("stratum_funnel", 0) == len(multi)
    assert "metareg" not in planned and "stratify" not in planned


def test_config_typo_fails_at_start(project: Path) -> None:
    config = project / "config/config.yaml"
    config.write_text(config.read_text().replace("  min_k: 3", "  min_kk: 3", 1))
    proc = subprocess.run(
        [str(SNAKEMAKE), "--cores", "1", "--dry-run"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "min_kk" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------- settings reach every rule
# Issue 13: every rule gets the configuration it uses as params (no script reads
# snakemake.config), so a changed key reruns exactly the jobs that use it, and keys
# that only say how to run rerun nothing and publish no new version.


def _edit_config(project: Path, old: str, new: str) -> None:
    path = project / "config/config.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _planned(project: Path) -> dict[str, int]:
    """Jobs a dry run plans, per rule ({} when nothing is to be done)."""
    out = run(project, "--dry-run")
    if "Nothing to be done" in out:
        return {}
    return {k: int(v) for k, v in re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1], re.M)}


EXTRACTION_EDITS = {
    "timepoint_weeks": (
        "timepoint_weeks: {min: 1, max: 520}",
        "timepoint_weeks: {min: 1, max: 12}",
    ),
    "priority": (
        "priority: [[HbA1c], [FBG, FPG], [2hPG]]",
        "priority: [[FBG, FPG], [HbA1c], [2hPG]]",
    ),
    "favourable_sign": (
        "label: Diabetes knowledge\n      type: continuous\n      favourable_sign: positive",
        "label: Diabetes knowledge\n      type: continuous\n      favourable_sign: negative",
    ),
    "platforms": (
        "      naver-band: Naver Band\n",
        "      naver-band: Naver Band\n      signal: Signal\n",
    ),
}


@pytest.mark.parametrize("key", sorted(EXTRACTION_EDITS))
def test_every_extraction_key_reruns_extraction(project: Path, key: str) -> None:
    """Regression (defect 1): extraction read snakemake.config, so these edits reran nothing."""
    _edit_config(project, *EXTRACTION_EDITS[key])
    assert "extraction" in _planned(project)


def test_a_domain_label_reruns_strata_not_extraction(project: Path) -> None:
    _edit_config(project, "label: Diabetes knowledge", "label: Knowledge of diabetes")
    planned = _planned(project)
    # the report (params: the labels) is below the checkpoint, planned once stratify ran
    assert "stratify" in planned
    assert "extraction" not in planned  # extraction does not use labels


def test_keys_that_say_how_to_run_rerun_nothing(project: Path) -> None:
    """A new e-mail address, tool name, URL, time-out or batch size is no new version."""
    for old, new in [
        ('email: "livingreview@example.org"', 'email: "someone.else@example.org"'),
        ("tool: livingreview", "tool: livingreview-nightly"),
        (
            'eutils_url: "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"',
            'eutils_url: "http://127.0.0.1:9/"',
        ),
        ("batch_size: 200", "batch_size: 50"),
        ("max_retries: 6", "max_retries: 2"),
        ("timeout_s: 60", "timeout_s: 5"),
    ]:
        _edit_config(project, old, new)
    assert _planned(project) == {}
    bundles = project / "results/bundles"
    published = (bundles / (bundles / "LATEST").read_text().strip() / "config.yaml").read_text()
    assert "email" not in published and "timeout_s" not in published
    assert "start_date" in published and "query" in published


def test_removing_a_domain_names_the_users_sheet(project: Path) -> None:
    """Regression (defect 1): the error blamed results/effects/effects.csv, a generated file."""
    text = (project / "config/config.yaml").read_text(encoding="utf-8")
    block = re.search(r"\n    attitude:\n(?:      .*\n)+", text)
    (project / "config/config.yaml").write_text(text.replace(block[0], "\n"), encoding="utf-8")
    proc = subprocess.run(
        [str(SNAKEMAKE), "--cores", "2"], cwd=project, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode != 0
    log = (project / "results/logs/extraction.log").read_text(encoding="utf-8")
    assert "resources/demo/extraction/outcomes/" in log
    assert "a configured domain" in log and "got 'attitude'" in log
    assert "effects.csv" not in log


# --------------------------------------------------------------------------- .test configurations


TEST_CONFIGS = ["config_knha_fe", "config_no_overview", "config_no_binary"]


@pytest.mark.testconfig
@pytest.mark.parametrize("name", TEST_CONFIGS)
def test_test_configuration_runs_end_to_end(tmp_path: Path, name: str) -> None:
    """The `.test/` configurations (as the catalog workflows run in CI) on a small review.

    Each publishes a bundle whose config and pooled.json files carry its settings. A
    configuration that names its own domains (config_no_binary) is the project's whole
    config/config.yaml, and the review's rows of other domains are left out.
    """
    import pandas as pd
    import yaml
    from scipy import stats

    from livingreview.demo import generate

    work = tmp_path / "project"
    work.mkdir()
    for item in [*COPY, ".test"]:
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / item)
    generate(work / "resources/small", seed=3, trials=6)
    overlay = yaml.safe_load((REPO / ".test" / name / "config.yaml").read_text())
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    if "domains" in (overlay.get("extraction") or {}):  # a whole configuration: other domains
        shutil.copy2(REPO / ".test" / name / "config.yaml", work / "config/config.yaml")
        config = overlay
        for sheet in (work / "resources/small/extraction/outcomes").glob("*.csv"):
            rows = pd.read_csv(sheet, dtype=str, keep_default_na=False)
            rows[rows["domain"].isin(list(config["extraction"]["domains"]))].to_csv(
                sheet, index=False
            )
    run(work, "--configfile", "config/config.yaml", f".test/{name}/config.yaml")

    analysis = {**config["analysis"], **overlay["analysis"]}
    stratifier = {
        **config["extraction"]["stratifier"],
        **((overlay.get("extraction") or {}).get("stratifier") or {}),
    }
    index = strata(work)
    assert any(i["kind"] == "platform" for i in index.values()) is stratifier["overview"]
    domains = {i["domain"] for i in index.values() if i.get("domain")}
    assert domains <= set(config["extraction"]["domains"])
    reported, measures = 0, set()
    for stratum in index:
        pooled = json.loads((work / "results/strata" / stratum / "pooled.json").read_text())
        measures.add(pooled["measure"])
        if pooled.get("model") == "multilevel":  # several effects per trial (issue 18):
            # the CR2 t test with Satterthwaite df whatever analysis.test says (test_multilevel)
            assert (pooled["test"], pooled["inference"]) == ("t", "CR2")
            assert pooled["level"] == analysis["level"]
            continue
        assert (pooled["method"], pooled["test"], pooled["level"]) == (
            analysis["method"],
            analysis["test"],
            analysis["level"],
        )
        if not pooled["reported"]:
            continue
        reported += 1
        if analysis["method"] == "FE":
            assert pooled["tau2"] == 0 and pooled["pi_low"] is None
        q = 0.5 + analysis["level"] / 2
        crit = stats.t.ppf(q, pooled["k"] - 1) if analysis["test"] == "knha" else stats.norm.ppf(q)
        assert pooled["ci_high"] - pooled["estimate"] == pytest.approx(
            crit * pooled["se"], rel=1e-6
        )
    assert reported >= 3
    binary = any(d["type"] == "binary" for d in config["extraction"]["domains"].values())
    assert ("logRR" in measures) is binary and "SMD" in measures
    html = (work / "results/report/index.html").read_text(encoding="utf-8")
    pct = f"{analysis['level'] * 100:g}% CI"
    assert f"pooled estimate [{pct}]" in html and f"Pooled SMD, {pct}" in html
    assert ("95% CI" in html) is (pct == "95% CI")
    bundles = work / "results/bundles"
    latest = (bundles / "LATEST").read_text().strip()
    assert (bundles / latest / "manifest.json").is_file()
    published = yaml.safe_load((bundles / latest / "config.yaml").read_text())
    assert {k: published["analysis"][k] for k in analysis} == analysis
    assert sorted(published["extraction"]["domains"]) == sorted(config["extraction"]["domains"])
    assert published["inputs"]["root"] == "resources/small"
