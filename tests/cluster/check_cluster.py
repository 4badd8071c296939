"""Run the review locally and through the SLURM profile, and prove both agree.

Used by ``tests/cluster/run_cluster_check.sh`` (which starts and stops the
single-node cluster) and by ``bench/bench_cluster.py``. It is not a pytest
module: it needs root, a running SLURM cluster and minutes, so CI runs it as
its own stage.

What "proved" means here:
- every stratum folder of the local run exists in the cluster run and its
  ``pooled.json`` has the same keys and the same numbers (relative tolerance
  1e-12: same code, same machine, so the numbers should in fact be identical);
- SLURM really ran the jobs: the cluster run's Snakemake log names a SLURM job
  id for each submission, the SLURM log of each id exists under
  ``results/logs/slurm/``, ``squeue`` (no accounting needed: MinJobAge keeps
  finished jobs listed) reports every one of them COMPLETED, and every stratum
  appears in the SLURM log of a group job;
- local rules (``bundle``, the target rules) were not submitted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What a review project is made of (results/, .snakemake/ and tests are not copied).
PROJECT_ITEMS = ("Snakefile", "workflow", "config", "scripts", "resources", "profiles")
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: (.+?)\)")
STEPS_DONE = re.compile(r"(\d+) of (\d+) steps \(100%\) done")
# Rules that must never go through SLURM (workflow/rules/bundle.smk, search.smk).
LOCAL_ONLY = ("bundle", "search_pubmed", "stratify", "report")
REL_TOL = 1e-12


@dataclass
class Run:
    """One Snakemake invocation: where, how long, what it printed."""

    name: str
    workdir: Path
    seconds: float
    returncode: int
    log: Path
    jobs_done: int | None = None
    slurm_jobs: dict[str, Path] = field(default_factory=dict)  # SLURM job id -> its log


def snakemake_exe() -> str:
    exe = Path(sys.executable).parent / "snakemake"
    return str(exe) if exe.exists() else "snakemake"


def copy_project(src: Path, dst: Path, inputs_root: Path | None = None) -> Path:
    """A fresh project folder (code + config + inputs) so runs never share results/."""
    dst.mkdir(parents=True)
    for item in PROJECT_ITEMS:
        path = src / item
        if path.is_dir():
            shutil.copytree(path, dst / item, ignore=shutil.ignore_patterns("__pycache__"))
        elif path.exists():
            shutil.copy2(path, dst / item)
    if inputs_root is not None:
        # A generated review (e.g. --trials 2000) replaces the demo inputs.
        shutil.rmtree(dst / "resources" / "demo")
        shutil.copytree(inputs_root, dst / "resources" / "demo")
    return dst


def start_snakemake(workdir: Path, args: list[str], log: Path) -> subprocess.Popen:
    """Start Snakemake in its own process group, so a timeout can kill all of it."""
    fh = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed by wait_snakemake
    env = dict(os.environ)
    env.pop("SLURM_JOB_ID", None)
    proc = subprocess.Popen(
        [snakemake_exe(), *args],
        cwd=workdir,
        stdout=fh,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        env=env,
    )
    proc._lr_log = fh  # type: ignore[attr-defined]
    proc._lr_start = time.monotonic()  # type: ignore[attr-defined]
    return proc


def wait_snakemake(
    name: str, proc: subprocess.Popen, workdir: Path, log: Path, timeout: float
) -> Run:
    """Wait; on timeout SIGKILL the whole process group (the SLURM plugin ignores SIGTERM)."""
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        rc = -9
    seconds = time.monotonic() - proc._lr_start  # type: ignore[attr-defined]
    proc._lr_log.close()  # type: ignore[attr-defined]
    text = log.read_text(encoding="utf-8", errors="replace")
    done = STEPS_DONE.findall(text)
    run = Run(name, workdir, seconds, rc, log, jobs_done=int(done[-1][1]) if done else None)
    for jobid, slurm_log in SUBMITTED.findall(text):
        run.slurm_jobs[jobid] = Path(slurm_log)
    if rc != 0:
        tail = "\n".join(text.splitlines()[-40:])
        raise SystemExit(
            f"{name} run failed (exit {rc}{', killed after timeout' if rc == -9 else ''}) "
            f"after {seconds:.0f}s; log {log}; last lines:\n{tail}"
        )
    return run


def local_args(target: str, cores: int) -> list[str]:
    return ["--cores", str(cores), "--nocolor", target]


def cluster_args(target: str, init_seconds: int) -> list[str]:
    # --workflow-profile replaces profiles/default (see profiles/slurm/config.yaml).
    return [
        "--workflow-profile",
        "profiles/slurm",
        "--slurm-init-seconds-before-status-checks",
        str(init_seconds),
        "--nocolor",
        target,
    ]


def _numbers_equal(a: object, b: object) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) and math.isnan(b):
            return True
        return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-300)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_numbers_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_numbers_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def compare_pooled(local: Path, cluster: Path) -> tuple[int, list[str]]:
    """(strata compared, problems): every local stratum's pooled.json equals the cluster's."""
    problems: list[str] = []
    local_strata = sorted(p.parent.name for p in (local / "results/strata").glob("*/pooled.json"))
    cluster_strata = sorted(
        p.parent.name for p in (cluster / "results/strata").glob("*/pooled.json")
    )
    if not local_strata:
        problems.append("the local run wrote no results/strata/*/pooled.json")
    if local_strata != cluster_strata:
        problems.append(
            "strata differ: only local "
            f"{sorted(set(local_strata) - set(cluster_strata))}, only cluster "
            f"{sorted(set(cluster_strata) - set(local_strata))}"
        )
    for name in sorted(set(local_strata) & set(cluster_strata)):
        a = json.loads((local / "results/strata" / name / "pooled.json").read_text())
        b = json.loads((cluster / "results/strata" / name / "pooled.json").read_text())
        if not _numbers_equal(a, b):
            diff = sorted(k for k in a.keys() | b.keys() if not _numbers_equal(a.get(k), b.get(k)))
            problems.append(f"{name}/pooled.json differs in {diff}")
    return len(local_strata), problems


def squeue_states(jobids: list[str]) -> dict[str, str]:
    """State of each job as squeue reports it (finished jobs stay listed for MinJobAge)."""
    out = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T", "--jobs", ",".join(jobids)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    ).stdout
    return dict(line.split("|", 1) for line in out.split() if "|" in line)


def slurm_evidence(run: Run) -> tuple[dict, list[str]]:
    """Facts showing the jobs went through SLURM, and anything that contradicts it."""
    problems: list[str] = []
    if not run.slurm_jobs:
        problems.append(f"no 'submitted with SLURM jobid' line in {run.log}")
        return {}, problems
    states = squeue_states(sorted(run.slurm_jobs))
    by_kind: dict[str, int] = {}
    strata_in_groups: set[str] = set()
    for jobid, slurm_log in sorted(run.slurm_jobs.items(), key=lambda kv: int(kv[0])):
        kind = slurm_log.parent.name  # rule_<name> or group_<group>_<rules>
        by_kind[kind] = by_kind.get(kind, 0) + 1
        if not slurm_log.is_file():
            problems.append(f"SLURM job {jobid}: its log {slurm_log} is missing")
            continue
        if slurm_log.name != f"{jobid}.log":
            problems.append(f"SLURM job {jobid}: log {slurm_log} is not named by the job id")
        if states.get(jobid) != "COMPLETED":
            problems.append(f"SLURM job {jobid}: squeue state {states.get(jobid)!r}, not COMPLETED")
        if kind.startswith("group_"):
            strata_in_groups |= set(
                re.findall(r"wildcards: stratum=(\S+)", slurm_log.read_text(errors="replace"))
            )
        for rule in LOCAL_ONLY:
            if kind == f"rule_{rule}":
                problems.append(f"local rule {rule} was submitted to SLURM (job {jobid})")
    strata = sorted(p.parent.name for p in (run.workdir / "results/strata").glob("*/pooled.json"))
    missing = sorted(set(strata) - strata_in_groups)
    if missing:
        problems.append(f"strata not seen in any SLURM group job log: {missing}")
    facts = {
        "submitted": len(run.slurm_jobs),
        "by_kind": by_kind,
        "squeue_states": sorted(set(states.values())),
        "strata_in_group_logs": len(strata_in_groups),
    }
    return facts, problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="empty scratch folder")
    ap.add_argument("--repo", type=Path, default=REPO)
    ap.add_argument("--inputs", type=Path, help="input root to use instead of resources/demo")
    ap.add_argument("--target", default="all", help="Snakemake target (default: all)")
    ap.add_argument("--cores", type=int, default=2, help="cores of the local run")
    ap.add_argument("--init-seconds", type=int, default=5, help="first SLURM status check after")
    ap.add_argument("--timeout", type=float, default=900, help="per run, seconds (then SIGKILL)")
    ap.add_argument(
        "--sequential",
        action="store_true",
        help="run local then cluster (timings); default runs both at once (faster check)",
    )
    ap.add_argument("--json", type=Path, help="write the summary here")
    args = ap.parse_args(argv)

    local_dir = copy_project(args.repo, args.work / "local", args.inputs)
    cluster_dir = copy_project(args.repo, args.work / "cluster", args.inputs)
    print(f"[check] project copies in {args.work}", flush=True)

    plans = [
        ("local", local_dir, local_args(args.target, args.cores)),
        ("cluster", cluster_dir, cluster_args(args.target, args.init_seconds)),
    ]
    runs: dict[str, Run] = {}
    if args.sequential:
        for name, wd, sargs in plans:
            print(f"[check] {name} run: snakemake {' '.join(sargs)}", flush=True)
            proc = start_snakemake(wd, sargs, args.work / f"{name}.log")
            runs[name] = wait_snakemake(name, proc, wd, args.work / f"{name}.log", args.timeout)
            print(f"[check] {name} run done in {runs[name].seconds:.1f}s", flush=True)
    else:
        procs = {}
        for name, wd, sargs in plans:
            print(f"[check] {name} run: snakemake {' '.join(sargs)}", flush=True)
            procs[name] = (start_snakemake(wd, sargs, args.work / f"{name}.log"), wd)
        deadline = time.monotonic() + args.timeout
        for name, (proc, wd) in procs.items():
            left = max(1.0, deadline - time.monotonic())
            runs[name] = wait_snakemake(name, proc, wd, args.work / f"{name}.log", left)
            print(f"[check] {name} run done in {runs[name].seconds:.1f}s", flush=True)

    n_strata, problems = compare_pooled(local_dir, cluster_dir)
    facts, slurm_problems = slurm_evidence(runs["cluster"])
    problems += slurm_problems
    summary = {
        "target": args.target,
        "strata_compared": n_strata,
        "rule_jobs": runs["local"].jobs_done,
        "local_seconds": round(runs["local"].seconds, 1),
        "cluster_seconds": round(runs["cluster"].seconds, 1),
        "sequential": args.sequential,
        **{f"slurm_{k}": v for k, v in facts.items()},
        "problems": problems,
    }
    print(json.dumps(summary, indent=2), flush=True)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if problems:
        print("[check] FAILED:\n  " + "\n  ".join(problems), flush=True)
        return 1
    print(
        f"[check] OK: {n_strata} strata, pooled.json equal; "
        f"{facts['submitted']} SLURM jobs all COMPLETED",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
