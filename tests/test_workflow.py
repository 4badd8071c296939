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
        timeout=900,
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
        assert pooled["reported"] is (info["k"] >= 3)
        assert (folder / "forest.svg").is_file()
        assert (folder / "egger.json").is_file() is (info["k"] >= 10)
        assert (folder / "funnel.svg").is_file() is (info["k"] >= 10)
        if not pooled["reported"]:
            assert pooled["estimate"] is None and pooled["ci_low"] is None
    domains = {i["domain"] for i in index.values() if i["kind"] == "domain"}
    assert {p.stem for p in (baseline / "results/metareg").glob("*.json")} == domains | {"overall"}
    assert json.loads((baseline / "results/design_check.json").read_text())["cov_type"] == "HC3"
    assert (baseline / "results/report/index.html").is_file()


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
