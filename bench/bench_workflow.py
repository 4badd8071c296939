"""Benchmark the living workflow on a large synthetic review (not a test).

Generates the 2,000-trial synthetic review (``python -m livingreview.demo
--trials 2000``), copies the workflow beside it and measures, with 2 cores:

1. the full run from nothing to report and bundle;
2. Snakemake's DAG building on the finished project (``--dry-run``);
3. a rerun after one number of one study's glycemic outcome changed;
4. a rerun with no change.

Targets (issue 6): full < 120 s, one-study rerun < 15 s, no-change rerun < 5 s.

Usage: .venv/bin/python bench/bench_workflow.py [--trials 2000] [--work DIR] [--out bench/RESULTS-workflow.md]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = REPO / ".venv" / "bin" / "snakemake"
JOB_LINE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$", re.M)


def snakemake(work: Path, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(SNAKEMAKE), "--cores", "2", *args], cwd=work, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{out[-5000:]}")
    return elapsed, out


def prepare(work: Path, trials: int) -> None:
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "config", "scripts", "profiles"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
    subprocess.run(
        [sys.executable, "-m", "livingreview.demo", "--trials", str(trials), "--out",
         str(work / "resources" / "large")],
        check=True, capture_output=True,
    )  # fmt: skip
    config = work / "config" / "config.yaml"
    text = config.read_text()
    config.write_text(text.replace("root: resources/demo", "root: resources/large", 1))


def change_one_glycemic_number(work: Path, which: int = 0) -> str:
    effects = pd.read_csv(work / "results/effects/effects.csv", dtype=str, keep_default_na=False)
    candidates = effects[
        (effects["domain"] == "glycemic")
        & (effects["platform"] != "mixed")
        & (effects["form"] == "means")
    ]
    pick = candidates.iloc[(which * 97) % len(candidates)]  # different studies and platforms
    root = work / "resources" / "large"
    for source in pick["source"].split("; "):
        file, row = source.rsplit(":", 1)
        path = root / file
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        header = next(csv.reader([lines[0]]))
        cells = next(csv.reader([lines[int(row) - 1]]))
        col = header.index("m1")
        cells[col] = f"{float(cells[col]) + 0.1:.3f}"
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        lines[int(row) - 1] = buf.getvalue()
        path.write_text("".join(lines), encoding="utf-8")
    return f"{pick['study_id']} ({pick['platform']})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "out" / "workflow")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-workflow.md")
    parser.add_argument("--reruns", type=int, default=3, help="one-study reruns (median reported)")
    args = parser.parse_args()

    prepare(args.work, args.trials)
    load_before = os.getloadavg()[0]
    full, out_full = snakemake(args.work)
    n_jobs = len(JOB_LINE.findall(out_full))
    cpu = sum(
        float(tsv.read_text().splitlines()[-1].split("\t")[-1])
        for tsv in (args.work / "results/logs/benchmarks").glob("*/*.tsv")
    )
    strata = json.loads((args.work / "results/strata/strata.json").read_text())
    dag, _ = snakemake(args.work, "--dry-run")
    reruns = []
    for which in range(args.reruns):
        study = change_one_glycemic_number(args.work, which)
        secs, out_one = snakemake(args.work)
        reruns.append((secs, study, JOB_LINE.findall(out_one)))
    one = statistics.median(secs for secs, _, _ in reruns)
    none, out_none = snakemake(args.work)
    assert "Nothing to be done" in out_none, out_none[-2000:]

    load_after = os.getloadavg()[0]
    mem = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.split("\n")[1]
    rows = [
        ("full run (records -> report + bundle)", full, 120, f"{n_jobs} jobs, {len(strata)} strata"),
        ("DAG building (`--dry-run`, finished project)", dag, None, ""),
        ("one-study rerun (median)", one, 15, "; ".join(
            f"{study}: {secs:.1f} s, {len(jobs)} jobs ({', '.join(sorted(set(jobs)))})"
            for secs, study, jobs in reruns
        )),
        ("no-change rerun", none, 5, "Nothing to be done"),
    ]  # fmt: skip
    lines = [
        "# Workflow benchmark (issue 6)",
        "",
        f"Synthetic review: {args.trials} trials (`python -m livingreview.demo --trials "
        f"{args.trials}`), {len(strata)} strata, "
        f"{sum(v['k'] >= 10 for v in strata.values())} with k >= 10. "
        "Command: `.venv/bin/python bench/bench_workflow.py`; snakemake `--cores 2`.",
        "",
        f"Machine: nproc {os.cpu_count()}, `free -g`: `{' '.join(mem.split())}`, "
        f"Python {platform.python_version()}, date {datetime.date.today()}. "
        f"1-min load average before/after: {load_before:.1f}/{load_after:.1f} "
        "(other work on the machine inflates wall times).",
        "",
        f"CPU seconds of the rules with `benchmark:` files (stratum, stratum_funnel, metareg): {cpu:.0f}.",
        "",
        "| measurement | wall time (s) | target (s) | notes |",
        "| --- | ---: | ---: | --- |",
    ]
    for name, secs, target, note in rows:
        verdict = "" if target is None else f"< {target} {'met' if secs < target else 'MISSED'}"
        lines.append(f"| {name} | {secs:.1f} | {verdict} | {note} |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
