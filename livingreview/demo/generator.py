"""The generator's entry point: :func:`generate` writes a whole review, :func:`main`
is ``python -m livingreview.demo``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import write_csv, write_text
from .design import (
    CONT_FORMS,
    DEMO_UNRESOLVED,
    DOI_PREFIX,
    DOMAINS,
    FIRST_UNTIL,
    OUTCOME_COLUMNS,
    PLATFORMS,
    PMID_BASE,
    SEED,
    START,
    STUDY_COLUMNS,
    UPDATE_UNTIL,
    Record,
    Trial,
)
from .exports import _write_exports
from .extraction import _extraction
from .records import _make_records
from .screening import _screen
from .snapshot import _write_snapshot
from .trials import _demo_trials, _random_trials, _simulate_outcomes, _trial_details


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{c: r.get(c, "") for c in columns} for r in rows], columns=columns, dtype=object
    )


def generate(out: str | Path, seed: int = SEED, trials: int | None = None) -> dict:
    """Write a complete synthetic review under ``out``; return a summary dict.

    ``trials=None`` writes the hand-specified demo (25 trials); an integer writes
    a large random review with that many trials (about 3 records per trial).
    """
    out = Path(out)
    rng = np.random.default_rng(seed)
    demo = trials is None
    tr = _demo_trials(rng) if demo else _random_trials(rng, int(trials))
    for t in tr:
        _trial_details(rng, t)
        _simulate_outcomes(rng, t)
    if demo:
        _ensure_demo_properties(tr)
    n = len(tr)
    if demo:
        counts = {("nonrct", 1): 34, ("nonextract", 1): 3, ("poorq", 1): 1, ("ta", 1): 200,
                  ("nonrct", 2): 4, ("nonextract", 2): 1, ("ta", 2): 32}  # fmt: skip
    else:
        n1 = sum(1 for t in tr if not t.update)
        n2 = n - n1
        counts = {("nonrct", 1): round(0.45 * n1), ("nonextract", 1): round(0.04 * n1),
                  ("poorq", 1): max(1, round(0.01 * n1)), ("ta", 1): round(1.5 * n1),
                  ("nonrct", 2): round(0.45 * n2), ("nonextract", 2): round(0.04 * n2), ("ta", 2): round(1.5 * n2)}  # fmt: skip
    only = (
        {"embase": 6, "cinahl": 3}
        if demo
        else {"embase": round(0.01 * n), "cinahl": round(0.005 * n)}
    )
    records = _make_records(rng, tr, counts, only)
    snap1 = [r for r in records if r.snap == 1 and r.source == "pubmed"]
    snap2 = [r for r in records if r.snap == 2]
    # The update (mdat) search also returns a few old records revised since.
    n_rev = 2 if demo else max(2, round(0.01 * len(snap1)))
    trial_old = [r for r in snap1 if r.kind == "trial"]
    other_old = [r for r in snap1 if r.kind != "trial"]
    revised = [trial_old[int(rng.integers(len(trial_old)))]]
    revised += [
        other_old[int(i)] for i in rng.choice(len(other_old), size=n_rev - 1, replace=False)
    ]
    # count_reported sums the publication-date (edat) and modification-date
    # (mdat) searches, as the search stage does; the first search finds every
    # record by both, the update finds the revised old records by mdat only.
    _write_snapshot(out, FIRST_UNTIL, START, snap1, reported=2 * len(snap1))
    upd = sorted(snap2 + _revised_copies(revised), key=lambda r: int(r.pmid))
    _write_snapshot(out, UPDATE_UNTIL, FIRST_UNTIL, upd, reported=2 * len(snap2) + n_rev)
    n_dup = (
        {"embase": 36, "cinahl": 16}
        if demo
        else {"embase": round(0.1 * len(records)), "cinahl": round(0.05 * len(records))}
    )
    exp = _write_exports(rng, out, records, n_dup)

    sc, scr = _screen(rng, records, demo)
    for name, rows in sc.rows.items():
        write_csv(_frame(rows, ["record_id", "decision", "reason", "note", "date"]),
                  out / "screening" / f"{name}.csv", text_columns=["note"])  # fmt: skip
    adj_cols = ["record_id", "stage", "decision", "reason", "adjudicator", "note", "date"]
    write_csv(
        _frame(sc.adjudication, adj_cols),
        out / "screening" / "adjudication.csv",
        text_columns=["note"],
    )

    ex = _extraction(rng, tr, demo)
    for who, srows, orows in zip(("carol", "dave"), ex["studies"], ex["outcomes"], strict=True):
        write_csv(
            _frame(srows, STUDY_COLUMNS),
            out / "extraction" / "studies" / f"{who}.csv",
            text_columns=["citation"],
        )
        write_csv(
            _frame(orows, OUTCOME_COLUMNS),
            out / "extraction" / "outcomes" / f"{who}.csv",
            text_columns=["note"],
        )
    write_csv(
        _frame(ex["resolutions"], ["sheet", "key", "field", "value", "note"]),
        out / "extraction" / "resolutions.csv",
        text_columns=["note", "value"],
    )
    summary = {
        "seed": seed,
        "trials": n,
        "records_snapshot1": len(snap1),
        "records_snapshot2": len(upd),
        "records_revised_in_update": n_rev,
        "exports": exp,
        "screening": scr,
        "outcome_rows": sum(len(t.outcomes) for t in tr),
        "resolutions": len(ex["resolutions"]),
        "unresolved": [list(u) for u in ex["unresolved"]],
        "platforms": {p: sum(1 for t in tr if t.platform == p) for p in [*PLATFORMS, "mixed"]},
        "domains": {d: sum(1 for t in tr if d in t.domains) for d in DOMAINS},
    }
    if demo:
        write_text(out / "README.md", _readme(summary))
    return summary


def _revised_copies(revised: list[Record]) -> list[Record]:
    """Old records as the update search returns them: same PMID, newer DateRevised."""
    out = []
    for r in revised:
        c = Record(**{**r.__dict__})
        c.revised = (2026, 3, 15)
        out.append(c)
    return out


def _ensure_demo_properties(trials: list[Trial]) -> None:
    """Fail loudly if a seed does not give the demo what its README promises."""
    rows = [o for t in trials for o in t.outcomes if o["form"] != "events"]
    have = {o["form"] for o in rows}
    missing = [f for f in CONT_FORMS if f not in have]
    if missing:
        raise RuntimeError(f"demo seed gives no outcome in form(s) {missing}; pick another seed")
    sid, domain, outcome = DEMO_UNRESOLVED
    t = next(t for t in trials if t.study_id == sid)
    if not any(o["domain"] == domain and o["outcome"] == outcome for o in t.outcomes):
        raise RuntimeError(f"demo seed gives {sid} no {outcome} outcome; pick another seed")


def _readme(s: dict) -> str:
    s1, s2 = s["screening"]["snapshot1"], s["screening"]["snapshot2"]
    e = s["exports"]
    return f"""# Demo review: instant messaging for diabetes (SIMULATED DATA)

**Every record, decision and number in this folder is simulated.** None of it
describes a real publication, trial or person. PMIDs are in the fictional range
{PMID_BASE}+ and DOIs use Crossref's test prefix `{DOI_PREFIX}`; journal names
are invented. The data only exercise the pipeline with the structure of the
review protocol encoded in `config/config.yaml`: do not cite any result
computed from them.

## Regenerate

The files are written by `livingreview/demo.py` with a fixed seed; running it
again gives byte-identical files:

```
.venv/bin/python -m livingreview.demo --out resources/demo --seed {s["seed"]}
```

A large review with the same structure for benchmarks (not committed):
`python -m livingreview.demo --out bench/out/large --trials 2000`.

## What is here

| path | content |
| --- | --- |
| `search/pubmed/{FIRST_UNTIL}.xml.gz` + `.json` | initial PubMed search snapshot ({START} to {FIRST_UNTIL}): {s["records_snapshot1"]} records as a PubmedArticleSet (efetch XML), with its sidecar |
| `search/pubmed/{UPDATE_UNTIL}.xml.gz` + `.json` | update search ({FIRST_UNTIL} to {UPDATE_UNTIL}, by publication and modification date): {s["records_snapshot2"]} records, of which {s["records_revised_in_update"]} were already in the first snapshot (revised since) |
| `search/exports/embase/*.ris` | an Embase export of {e["embase"]} records: {e["embase_doi"]} duplicate PubMed records by DOI (written differently), {e["embase_title"]} only by a near-identical title, {e["embase_only"]} are not in PubMed |
| `search/exports/cinahl/*.csv` | a CINAHL export of {e["cinahl"]} records: {e["cinahl_doi"]} duplicates by DOI, {e["cinahl_title"]} by title only, {e["cinahl_only"]} not in PubMed |
| `screening/title_abstract/alice.csv`, `bob.csv` | two reviewers' title/abstract decisions on the first search (PubMed and exports); disagreements, most adjudicated, {s1["ta_conflicts"]} left as conflicts |
| `screening/title_abstract/*-update.csv` | decisions on the update records; alice has not yet screened {s2["awaiting"]} of them (awaiting) |
| `screening/full_text/*.csv` | full-text decisions with exclusion reasons (mostly "not an RCT", some "non-extractable data", one "poor methodological quality"); {s1["ft_conflicts"] + s2["ft_conflicts"]} conflict left |
| `screening/adjudication.csv` | the adjudicator's (erin) decisions on conflicts |
| `extraction/studies/carol.csv`, `dave.csv` | two extractors' study sheets: {s["trials"]} fictional RCTs over seven platforms (+ `mixed`), follow-up 4-52 weeks, RoB 2 judgements, design features |
| `extraction/outcomes/carol.csv`, `dave.csv` | outcome rows ({s["outcome_rows"]} per extractor) in every supported form (means, change_sd, change_se, md_ci, md_se, md_p, events), several outcomes and time points per trial |
| `extraction/resolutions.csv` | {s["resolutions"]} resolved extraction discrepancies; one discrepancy ({s["unresolved"][0][0]}, field `{s["unresolved"][0][1]}`) is deliberately left unresolved |

Included trials: {s1["included"]} from the first search and {s2["included"]} from the update.
Effects were simulated from random-effects models with true SMDs near the
published review's (glycemic -0.5, knowledge +1, behaviour +0.35, attitude
+0.8, other clinical -0.15; complications RR 0.7).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m livingreview.demo",
        description="Write the simulated demo review (or a large synthetic review with --trials).",
        epilog="Example: python -m livingreview.demo --out resources/demo --seed 2026",
    )
    parser.add_argument("--out", required=True, help="folder to write (the input root)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.add_argument(
        "--trials", type=int, default=None, help="write a large random review with N trials"
    )
    args = parser.parse_args(argv)
    summary = generate(args.out, seed=args.seed, trials=args.trials)
    print(
        json.dumps(
            {
                k: summary[k]
                for k in ("trials", "records_snapshot1", "records_snapshot2", "screening")
            }
        )
    )
    return 0
