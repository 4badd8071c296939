"""Benchmark: generate the large synthetic review and time the stages before the DAG.

Run by hand (not a test):

    .venv/bin/python bench/demo_stages.py --trials 2000 --out bench/out/large

Prints wall times of the generator and of the records, screening and extraction
stages called as library functions, and the k of every stratum the effects
give (domains, domain x platform, platform overview).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import yaml

from livingreview import demo
from livingreview.extraction import stage as extraction
from livingreview.screening import stage as screening
from livingreview.search import records

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--out", default=str(REPO / "bench/out/large"))
    ap.add_argument("--seed", type=int, default=demo.SEED)
    args = ap.parse_args()
    root, work = Path(args.out), Path(args.out + "-results")
    config = yaml.safe_load((REPO / "config/config.yaml").read_text())
    schemas = REPO / "workflow/schemas"
    times = {}

    t = time.perf_counter()
    summary = demo.generate(root, seed=args.seed, trials=args.trials)
    times["generate"] = time.perf_counter() - t

    t = time.perf_counter()
    table, rsum = records.build_records(root)
    records.write_records(table, rsum, work / "records.csv", work / "summary.json")
    times["records"] = time.perf_counter() - t

    t = time.perf_counter()
    res = screening.run(
        screening.ScreeningSettings.from_params({"root": root, "screening": config["screening"]}),
        {"records": work / "records.csv", "summary": work / "summary.json",
         "schemas": [schemas / "screening.schema.yaml"]},
    )  # fmt: skip
    screening.write_outputs(res, work / "screening")
    times["screening"] = time.perf_counter() - t

    t = time.perf_counter()
    ex = extraction.run(
        extraction.ExtractionSettings.from_params({"root": root, **config}),
        {"studies": sorted((root / "extraction/studies").glob("*.csv")),
         "outcomes": sorted((root / "extraction/outcomes").glob("*.csv")),
         "decisions": work / "screening/decisions.csv",
         "schemas": [schemas / "studies.schema.yaml"],
         "resolutions": root / "extraction/resolutions.csv"},
    )  # fmt: skip
    times["extraction"] = time.perf_counter() - t

    e = ex.effects
    strata = {f"domain-{d}": int(k) for d, k in e.groupby("domain").size().items()}
    cells = e[e.platform != "mixed"].groupby(["domain", "platform"]).size()
    strata |= {f"domain-{d}_platform-{p}": int(k) for (d, p), k in cells.items()}
    smd = e[(e.measure == "SMD") & (e.platform != "mixed")].groupby("platform").size()
    strata |= {f"platform-{p}": int(k) for p, k in smd.items()}
    print(
        json.dumps(
            {
                "trials": summary["trials"],
                "unique_records": rsum["unique"],
                "identified_total": rsum["identified_total"],
                "included": res.prisma["included_records"],
                "effects": len(e),
                "strata": len(strata),
                "strata_k_ge_10": sum(k >= 10 for k in strata.values()),
                "seconds": {k: round(v, 1) for k, v in times.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
