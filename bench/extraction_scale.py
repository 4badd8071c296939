"""Benchmark (run by hand): the extraction stage on a large synthetic double extraction.

    .venv/bin/python bench/extraction_scale.py [n_studies]

Writes two extractors' study and outcome sheets (8 outcome rows per study,
1% of numbers disagreeing) to a temp folder and times livingreview.extraction.stage.run.
"""

from __future__ import annotations

import random
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

from livingreview.extraction.files import input_files
from livingreview.extraction.stage import ExtractionSettings, run, write

REPO = Path(__file__).resolve().parents[1]
OUTCOMES = [
    ("glycemic", "HbA1c", "lower"),
    ("glycemic", "FBG", "lower"),
    ("clinical-other", "BMI", "lower"),
    ("knowledge", "DKQ", "higher"),
]
O_HEAD = "study_id,domain,outcome,timepoint_weeks,form,favourable,m1,sd1,n1,m2,sd2,n2"


def write_inputs(root: Path, n: int) -> None:
    rnd = random.Random(1)
    (root / "extraction" / "studies").mkdir(parents=True)
    (root / "extraction" / "outcomes").mkdir(parents=True)
    studies = [f"s{i},{1000 + i},Study {i},individual,wechat,24,100" for i in range(n)]
    outcomes = []
    for i in range(n):
        for dom, name, fav in OUTCOMES:
            for tp in (12, 24):
                m1, m2 = rnd.gauss(7, 1), rnd.gauss(7.3, 1)
                outcomes.append(
                    f"s{i},{dom},{name},{tp},means,{fav},{m1:.3f},1.1,50,{m2:.3f},1.2,50"
                )
    for who in ("alice", "bob"):
        (root / "extraction" / "studies" / f"{who}.csv").write_text(
            "study_id,record_id,citation,design,platform,followup_weeks,n_total\n"
            + "\n".join(studies)
            + "\n"
        )
        rows = list(outcomes)
        if who == "bob":
            for j in range(0, len(rows), 100):
                rows[j] = rows[j].replace(",1.1,", ",1.15,")
        (root / "extraction" / "outcomes" / f"{who}.csv").write_text(
            O_HEAD + "\n" + "\n".join(rows) + "\n"
        )
    (root / "decisions.csv").write_text(
        "record_id,stage,status\n"
        + "\n".join(f"{1000 + i},full_text,included" for i in range(n))
        + "\n"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["extraction"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_inputs(root, n)
        files = input_files(root)
        start = time.perf_counter()
        res = run(
            ExtractionSettings.from_params({"root": root, "extraction": cfg}),
            {
                **files,
                "decisions": root / "decisions.csv",
                "schemas": [REPO / "workflow" / "schemas" / "studies.schema.yaml"],
                "resolutions": [],
            },
        )
        names = ("studies", "discrepancies", "effects", "not_selected")
        write(res, {name: root / f"out{i}.csv" for i, name in enumerate(names)})
        took = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{n} studies, {2 * n * 8} outcome rows (2 extractors): {took:.2f} s, "
        f"{len(res.effects)} effects, {len(res.discrepancies)} discrepancies, max RSS {rss:.0f} MiB"
    )


if __name__ == "__main__":
    main()
