"""Benchmark (run by hand): screening stage on a large synthetic review.

N records, two reviewers screening every title/abstract (10% disagreement),
full text for the included ones, an adjudicator for half of the conflicts.
Run: .venv/bin/python bench/bench_screening.py [N]
"""

import random
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from livingreview.screening import stage as screening

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
REASONS = yaml.safe_load(Path("config/config.yaml").read_text())["screening"]["exclusion_reasons"]
rng = random.Random(1)
with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    ids = [str(30000000 + i) for i in range(N)]
    pd.DataFrame(
        {
            "record_id": ids,
            "title": [f"Trial {i} of messaging for diabetes" for i in range(N)],
            "abstract": ["x" * 1200] * N,
            "first_seen": ["2026-05-01" if i < N * 0.8 else "2026-11-01" for i in range(N)],
            "sources": "pubmed",
        }
    ).to_csv(tmp / "records.csv", index=False)
    root = tmp / "review" / "screening"
    (root / "title_abstract").mkdir(parents=True)
    (root / "full_text").mkdir()
    truth = {r: rng.random() < 0.15 for r in ids}
    adjud = []
    ft = {"alice": [], "bob": []}
    for who in ("alice", "bob"):
        rows = []
        for r in ids:
            inc = truth[r] if rng.random() > 0.05 else not truth[r]
            rows.append((r, "include" if inc else "exclude"))
        pd.DataFrame(rows, columns=["record_id", "decision"]).to_csv(
            root / "title_abstract" / f"{who}.csv", index=False
        )
    a = pd.read_csv(root / "title_abstract" / "alice.csv", dtype=str)
    b = pd.read_csv(root / "title_abstract" / "bob.csv", dtype=str)
    for r, da, db in zip(a["record_id"], a["decision"], b["decision"], strict=True):
        if da != db and rng.random() < 0.5:
            adjud.append((r, "title_abstract", "include", "", "carol"))
        if (da == db == "include") or (da != db and adjud and adjud[-1][0] == r):
            for who in ("alice", "bob"):
                ft[who].append(
                    (r, "exclude", REASONS[0]) if rng.random() < 0.6 else (r, "include", "")
                )
    for who, rows in ft.items():
        pd.DataFrame(rows, columns=["record_id", "decision", "reason"]).to_csv(
            root / "full_text" / f"{who}.csv", index=False
        )
    pd.DataFrame(adjud, columns=["record_id", "stage", "decision", "reason", "adjudicator"]).to_csv(
        root / "adjudication.csv", index=False
    )
    cfg = {"exclusion_reasons": REASONS, "allow_single_reviewer": False}
    start = time.perf_counter()
    settings = screening.ScreeningSettings.from_params({"root": tmp / "review", "screening": cfg})
    result = screening.run(settings, {"records": tmp / "records.csv"})
    screening.write_outputs(result, tmp / "out")
    wall = time.perf_counter() - start
    p = result.prisma
    print(
        f"N={N} decisions={2 * N + sum(map(len, ft.values()))} wall={wall:.2f}s included={p['included_records']} conflicts={p['conflicts']}"
    )
