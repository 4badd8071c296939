"""Disk use of 52 weekly versions of a review's bundle (issue 20; not a test).

Runs the workflow once on the demo review (or a ``--trials N`` synthetic one),
then publishes ``--weeks`` versions from a copy of its results, one week
apart, with one small change between them: one new extraction row in
``extraction/studies.csv`` and one new screening decision in
``screening/decisions.csv`` per week. Reports ``du`` of the bundles folder
(hard links counted once), of the version folders alone and of the zips,
beside what the same versions would take as copies (``du --count-links``),
and checks ``verify_all``.

Usage: .venv/bin/python bench/bench_bundle_storage.py [--trials 2000] [--weeks 52] [--work DIR] [--reuse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from livingreview.publish.bundle import publish
from livingreview.publish.verify import verify_all
from livingreview.publish.versions import latest

REPO = Path(__file__).resolve().parents[1]


def run_workflow(work: Path, trials: int | None, reuse: bool) -> None:
    if reuse and latest(work / "results" / "bundles"):
        return
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "config", "scripts", "profiles"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, work / name)
    if trials:
        subprocess.run(
            [sys.executable, "-m", "livingreview.demo", "--trials", str(trials), "--out",
             str(work / "resources" / "large")],
            check=True, capture_output=True,
        )  # fmt: skip
        config = work / "config" / "config.yaml"
        text = config.read_text()
        config.write_text(text.replace("root: resources/demo", "root: resources/large", 1))
    else:
        shutil.copytree(REPO / "resources" / "demo", work / "resources" / "demo")
    snakemake = REPO / ".venv" / "bin" / "snakemake"
    subprocess.run([str(snakemake), "--cores", "2"], cwd=work, check=True, capture_output=True)


def du(*paths: Path, count_links: bool = False) -> int:
    """Bytes on disk of ``paths`` together (``du -s -c -B1``; hard links once unless asked)."""
    args = ["du", "-s", "-c", "-B1", *(["-l"] if count_links else []), *map(str, paths)]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1].split()[0])


def add_week(results: Path, week: int) -> None:
    """One new extraction row and one new screening decision (copies of the last ones)."""
    for rel, key in (("extraction/studies.csv", "study_id"), ("screening/decisions.csv", "")):
        path = results / rel
        lines = path.read_text(encoding="utf-8").splitlines()
        head, last = lines[0].split(","), lines[-1].split(",")
        if key:
            last[head.index(key)] = f"bench{week:03d}"
        else:
            last[0] = str(99000000 + week)
        path.write_text("\n".join([*lines, ",".join(last)]) + "\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=None, help="synthetic review of N trials")
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--reuse", action="store_true", help="reuse a finished workflow run in --work")
    args = ap.parse_args()
    work = args.work or Path("/tmp") / f"bench-bundle-storage-{args.trials or 'demo'}"
    t0 = time.perf_counter()
    run_workflow(work, args.trials, args.reuse)
    run_s = time.perf_counter() - t0
    config = yaml.safe_load(
        (
            work / "results" / "bundles" / latest(work / "results" / "bundles") / "config.yaml"
        ).read_text(encoding="utf-8")
    )
    results = work / "bench-results"
    if results.exists():
        shutil.rmtree(results, onerror=lambda f, p, e: (os.chmod(p, 0o755), f(p)))
    shutil.copytree(work / "results", results, ignore=shutil.ignore_patterns("bundles"))
    bundles = results / "bundles"
    start = dt.date(2027, 1, 4)
    times = []
    for week in range(args.weeks):
        if week:
            add_week(results, week)
        t = time.perf_counter()
        res = publish(results, bundles, config, date=(start + dt.timedelta(weeks=week)).isoformat())
        times.append(time.perf_counter() - t)
        if not res.changed:
            sys.exit(f"week {week}: nothing published ({res.message})")
    problems = verify_all(bundles)
    folders = sorted(p for p in bundles.iterdir() if p.is_dir())
    zips = sorted(bundles.glob("*.zip"))
    one = du(folders[0])
    total, as_copies = du(bundles), du(bundles, count_links=True)
    folders_du, folders_copies = du(*folders), du(*folders, count_links=True)
    zips_du = du(*zips)
    mib = 1 << 20
    print(f"date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}; machine: "
          f"{os.cpu_count()} cores, {platform.platform()}, Python {platform.python_version()}; "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"review: {'demo' if not args.trials else f'{args.trials} trials'}; workflow run "
          f"{run_s:.0f} s; {len(folders)} versions, verify_all problems: {len(problems)}")  # fmt: skip
    print(
        f"one version folder: {one / mib:.1f} MiB; its zip {zips[0].stat().st_size / mib:.1f} MiB"
    )
    print(f"version folders: {folders_du / mib:.1f} MiB shared "
          f"(as copies {folders_copies / mib:.1f} MiB); "
          f"per later version {(folders_du - one) / max(1, len(folders) - 1) / 1024:.0f} KiB")  # fmt: skip
    print(f"zips: {zips_du / mib:.1f} MiB ({zips_du / max(1, total) * 100:.0f}% of the total)")
    print(f"bundles folder: {total / mib:.1f} MiB (as copies {as_copies / mib:.1f} MiB)")
    print(f"publish: median {sorted(times)[len(times) // 2]:.2f} s, max {max(times):.2f} s")
    if problems:
        sys.exit("\n".join(problems[:20]))


if __name__ == "__main__":
    main()
