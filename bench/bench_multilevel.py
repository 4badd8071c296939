"""Benchmark: multilevel REML fit + CR2 test, livingreview vs metafor rma.mv + clubSandwich.

    .venv/bin/python bench/bench_multilevel.py                 # 1,000 x 5 and 10,000 x 5; R if installed
    .venv/bin/python bench/bench_multilevel.py --no-r          # Python only
    .venv/bin/python bench/bench_multilevel.py --trials 1000 --r-sparse 0

Simulated data (seeded): m trials with 5 effects each, y = 0.2 + u_i + w_ij +
e_ij, sigma2_trial = 0.04, sigma2_effect = 0.01, v_ij ~ U(0.01, 0.1). The
Python side (``multilevel.fit`` then ``robust.cr2``) is timed as the best of
3 runs after a warm-up on 20 effects; the R side (bench/bench_multilevel.R:
``rma.mv(yi, vi, random = ~ 1 | trial/effect)`` with metafor's default
convergence, then ``coef_test(res, vcov = "CR2", test = "Satterthwaite")``)
once, on the same CSV, in the same run. Wall and CPU seconds are reported
(the machine is shared: CPU time is the fairer ratio under load). The
estimates are compared. R at 10,000 x 5 is not practical (``rma.mv`` with
``sparse = TRUE`` held 10.6 GB after 38 minutes); run it with ``--trials 1000``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from livingreview.stats import multilevel, robust  # noqa: E402


def simulate(m: int, n: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(20261202 + m)
    trial = np.repeat(np.arange(1, m + 1), n)
    v = rng.uniform(0.01, 0.1, m * n)
    y = (
        0.2
        + rng.normal(0, 0.2, m)[trial - 1]
        + rng.normal(0, 0.1, m * n)
        + rng.normal(0, np.sqrt(v))
    )
    return pd.DataFrame(
        {"trial": trial, "effect": np.tile(np.arange(1, n + 1), m), "yi": y, "vi": v}
    )


def run_python(d: pd.DataFrame) -> dict[str, float]:
    warm = simulate(4)
    robust.cr2(multilevel.fit(warm.yi, warm.vi, warm.trial))
    best = dict.fromkeys(("fit_seconds", "cr2_seconds", "fit_cpu", "cr2_cpu"), float("inf"))
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        res = multilevel.fit(d.yi.to_numpy(), d.vi.to_numpy(), d.trial.to_numpy())
        t1, c1 = time.perf_counter(), time.process_time()
        rb = robust.cr2(res)
        t2, c2 = time.perf_counter(), time.process_time()
        for key, val in (("fit_seconds", t1 - t0), ("cr2_seconds", t2 - t1),
                         ("fit_cpu", c1 - c0), ("cr2_cpu", c2 - c1)):  # fmt: skip
            best[key] = min(best[key], val)
    return {
        **best,
        "estimate": res.estimate,
        "se": res.se,
        "sigma2_trial": res.sigma2["trial"],
        "sigma2_effect": res.sigma2["effect"],
        "cr2_se": rb.se,
        "cr2_df": rb.df,
        "cr2_pval": rb.pval,
        "iterations": res.iterations,
    }


def run_r(d: pd.DataFrame, sparse: bool) -> dict[str, float] | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        csv, out = Path(tmp) / "d.csv", Path(tmp) / "out.txt"
        d.to_csv(csv, index=False)
        subprocess.run(
            [
                "Rscript",
                str(HERE / "bench_multilevel.R"),
                str(csv),
                "1" if sparse else "0",
                str(out),
            ],
            check=True,
            capture_output=True,
        )
        return {line.split()[0]: float(line.split()[1]) for line in out.read_text().splitlines()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument(
        "--r-sparse", type=int, default=1, help="rma.mv(sparse = TRUE) (1) or dense (0)"
    )
    args = ap.parse_args()
    keys = ("estimate", "se", "sigma2_trial", "sigma2_effect", "cr2_se", "cr2_df", "cr2_pval")
    for m in args.trials:
        d = simulate(m)
        py = run_python(d)
        print(f"\n## {m} trials x 5 = {len(d)} effects (load average {os.getloadavg()[0]:.1f})")
        py_wall = py["fit_seconds"] + py["cr2_seconds"]
        py_cpu = py["fit_cpu"] + py["cr2_cpu"]
        print(
            f"python: fit {py['fit_seconds']:.3f} s ({py['iterations']} iterations), "
            f"CR2 {py['cr2_seconds']:.3f} s, total {py_wall:.3f} s (CPU {py_cpu:.3f} s)"
        )
        r = None if args.no_r else run_r(d, bool(args.r_sparse))
        if r is None:
            continue
        r_wall = r["fit_seconds"] + r["cr2_seconds"]
        r_cpu = r["fit_cpu"] + r["cr2_cpu"]
        print(
            f"R (sparse={bool(args.r_sparse)}): fit {r['fit_seconds']:.2f} s, "
            f"CR2 {r['cr2_seconds']:.2f} s, total {r_wall:.2f} s (CPU {r_cpu:.2f} s)"
        )
        print(
            f"ratio R/python: fit {r['fit_seconds'] / py['fit_seconds']:.0f}x, "
            f"CR2 {r['cr2_seconds'] / py['cr2_seconds']:.0f}x, total {r_wall / py_wall:.0f}x; "
            f"CPU fit {r['fit_cpu'] / py['fit_cpu']:.0f}x, total {r_cpu / py_cpu:.0f}x"
        )
        for k in keys:
            rel = abs(py[k] - r[k]) / abs(r[k])
            print(f"  {k:14s} python {py[k]:.10g}  R {r[k]:.10g}  rel. diff {rel:.1e}")


if __name__ == "__main__":
    main()
