"""Soak: many seeded edit sequences, each checked against a clean run (issue 13).

The long form of ``tests/test_incremental.py``: one full run of the demo is
the baseline; each sequence restores it, applies ``--edits`` seeded random
edits in ``--orders`` orders (running the workflow after each) and compares
each with a clean run of the final inputs. Stops at ``--minutes`` and reports how many
sequences ran; the figures go to bench/RESULTS.md by hand.

    .venv/bin/python bench/soak_incremental.py --sequences 100 --minutes 60
    .venv/bin/python bench/soak_incremental.py --seeds 1007 1013   # replay
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from incremental_check import (  # noqa: E402
    CleanRuns,
    check_sequence,
    describe,
    latest,
    make_patches,
    new_project,
    orders,
    run,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sequences", type=int, default=100)
    ap.add_argument("--edits", type=int, default=3)
    ap.add_argument("--orders", type=int, default=3, help="orders tried per drawn edit set")
    ap.add_argument("--first-seed", type=int, default=1000)
    ap.add_argument("--seeds", type=int, nargs="*", help="replay these seeds only")
    ap.add_argument("--minutes", type=float, default=60.0, help="stop starting new sequences after")
    ap.add_argument("--workdir", type=Path, help="keep projects here (default: a temp folder)")
    ap.add_argument("--json", type=Path, help="write the per-sequence results here")
    args = ap.parse_args(argv)
    seeds = args.seeds or list(range(args.first_seed, args.first_seed + args.sequences))
    args.sequences = len(seeds) * args.orders if args.seeds else args.sequences
    base = args.workdir or Path(tempfile.mkdtemp(prefix="soak-"))
    base.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    work, snapshot = base / "project", base / "snapshot"
    if not snapshot.is_dir():
        new_project(work)
        rc, out = run(work)
        if rc != 0 or latest(work) is None:
            print(out[-4000:], file=sys.stderr)
            return 1
        shutil.copytree(work, snapshot, symlinks=True)
    print(f"baseline: {time.monotonic() - start:.0f} s", flush=True)
    done, failed, rows = 0, [], []
    for seed in seeds:
        if time.monotonic() - start > args.minutes * 60 or done >= args.sequences:
            break
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(snapshot, work, symlinks=True)
        patches = make_patches(seed, work, args.edits)
        clean_runs = CleanRuns(base / f"clean-{seed}")
        for order in orders(seed, len(patches), args.orders):
            if time.monotonic() - start > args.minutes * 60 or done >= args.sequences:
                break
            t0 = time.monotonic()
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(snapshot, work, symlinks=True)
            seq = check_sequence(seed, work, patches, order, clean_runs)
            done += 1
            print(describe(seq), f"({time.monotonic() - t0:.0f} s)", flush=True)
            if seq.problems:
                failed.append([seed, list(order)])
            rows.append({"seed": seed, "order": list(order), "problems": seq.problems,
                         "steps": [[s.edit.kind, s.edit.text, s.published, s.note] for s in seq.steps],
                         "seconds": round(time.monotonic() - t0, 1),
                         "clean_seconds": round(seq.clean_seconds, 1)})  # fmt: skip
        shutil.rmtree(base / f"clean-{seed}", ignore_errors=True)
    summary = {
        "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
        "sequences": done,
        "edits_per_sequence": args.edits,
        "failed_seeds": failed,
        "minutes": round((time.monotonic() - start) / 60, 1),
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "sequences": rows}, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
