"""Benchmark: the 2,000-trial synthetic review on a local single-node SLURM cluster.

Runs the whole workflow twice, one after the other, on identical copies of
the project: locally (``--cores 2``, profiles/default's settings) and through
``profiles/slurm`` (grouped per-stratum jobs), then reports the wall time of
both, the number of rule jobs and the number of cluster jobs submitted, and
checks that every stratum's pooled.json is the same. Targets (issue 8):
cluster wall time <= 2 x local, submitted jobs <= 1/10 of rule jobs.

Needs root (it installs and starts munge + SLURM with
``tests/cluster/local_slurm.sh`` and stops them again, by PID, at the end).

    sudo .venv/bin/python bench/bench_cluster.py [--trials 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SLURM = REPO / "tests" / "cluster" / "local_slurm.sh"


def _load_checker():
    spec = importlib.util.spec_from_file_location(
        "check_cluster", REPO / "tests" / "cluster" / "check_cluster.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_cluster"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--target", default="all")
    ap.add_argument("--timeout", type=float, default=3600, help="per run, seconds")
    ap.add_argument("--init-seconds", type=int, default=5)
    ap.add_argument("--json", type=Path, help="write the summary here")
    args = ap.parse_args(argv)

    checker = _load_checker()
    with tempfile.TemporaryDirectory(prefix="livingreview-bench-cluster-") as tmp:
        tmp = Path(tmp)
        inputs = tmp / "inputs"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "livingreview.demo",
                "--trials",
                str(args.trials),
                "--out",
                str(inputs),
            ],
            check=True,
            cwd=REPO,
        )
        env = {**os.environ, "LR_SLURM_STATE": str(tmp / "slurm")}
        subprocess.run([str(SLURM), "install"], check=True, env=env)
        try:
            subprocess.run(["timeout", "-s", "KILL", "120", str(SLURM), "up"], check=True, env=env)
            out = tmp / "summary.json"
            rc = checker.main(
                [
                    "--work", str(tmp / "runs"),
                    "--repo", str(REPO),
                    "--inputs", str(inputs),
                    "--target", args.target,
                    "--timeout", str(args.timeout),
                    "--init-seconds", str(args.init_seconds),
                    "--sequential",
                    "--json", str(out),
                ]
            )  # fmt: skip
            summary = json.loads(out.read_text())
        finally:
            subprocess.run([str(SLURM), "down"], check=False, env=env)
    summary["trials"] = args.trials
    summary["ratio_wall"] = round(summary["cluster_seconds"] / summary["local_seconds"], 2)
    summary["ratio_jobs"] = round(summary["slurm_submitted"] / summary["rule_jobs"], 3)
    summary["targets_met"] = {
        "wall <= 2x local": summary["ratio_wall"] <= 2,
        "submitted <= rule jobs / 10": summary["ratio_jobs"] <= 0.1,
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return rc


if __name__ == "__main__":
    sys.exit(main())
