"""Benchmark (run by hand): prioritised screening replayed on three real SYNERGY reviews.

Run from the repository root (one simulation process at a time: ASReview runs
are subprocesses that this script waits for):

    nice -n 15 .venv/bin/python bench/bench_prioritise.py [--seeds 10] [--no-asreview]

What it measures (issue 19), on ``../shared/fixtures/screening/synergy/*.csv.gz``:

1. Active replay. Per dataset and seed, a seeded random prior of one include
   and one exclude; then a simulated reviewer screens one record at a time,
   always the top of our ranking (``livingreview.screening.prioritise``: same features
   and classifier as the pipeline), the model retrained after every decision
   (as ASReview's simulate does with its default ``--n-query 1``). Reported:
   WSS@95 (Cohen 2006: share of records not screened when 95% of the includes
   are found, minus 0.05) and recall after screening 10%, 20%, 30% of the
   records; the two prior records count as screened for both tools.
2. ASReview LAB side by side: installed by this script into a separate venv
   (``--asreview-venv``, default ``/work/asreview-venv``) with ``pip install
   asreview``; ``asreview simulate <data.csv> --prior-idx <i> <j> --seed
   <seed>`` with the very same two prior rows and its default model (ELAS u4
   in ASReview 3: TF-IDF 1-2-grams + linear SVM, balanced sampling, max
   query); the screening order is read from the project's ``results.db``.
3. Living scenario. Records published up to a cut-off year (the last year
   with at most 2/3 of the records) are the earlier rounds, fully decided;
   later records are the update batch. Ours: a model trained on every
   earlier decision ranks the batch once (what the pipeline does for a
   queue), and also re-ranked after each decision in the batch. ASReview
   cannot add records to a running project, so it is emulated two ways:
   (a) native, a new project per update (batch only, one include + one
   exclude of the batch as prior, 10 seeds), and (b) carry-over, a project
   on earlier + batch records with every earlier record given as prior
   knowledge (``--prior-idx`` of all earlier rows), then its order over the
   batch. WSS@95 is computed over the batch.
4. Stopping estimate: in each active replay of ours, after screening 20%,
   30% and 50% in ranked order, a random sample of 10% of the records is
   drawn from the remainder and ``stopping_estimate`` compared with the true
   number of includes left (coverage of its 95% interval; how often it
   advised stopping and whether recall was then >= 95%).
5. Timing: rank 10,000 new synthetic records with a model trained on 50,000
   decisions (vectorise + fit + score, wall clock).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from livingreview.screening import prioritise as pr
from livingreview.screening import relevance as rel
from livingreview.screening import stopping as st

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "fixtures" / "screening" / "synergy"
DATASETS = ("Donners_2021", "Sep_2021", "Meijboom_2021")
SHARES = (0.1, 0.2, 0.3)
CHECKPOINTS = (0.2, 0.3, 0.5)
SETTINGS = pr.PrioritiseSettings(min_includes=1, min_excludes=1)
MODELS_RUN: tuple[str, ...] = tuple(pr.MODELS)
#: Living scenario, re-ranked after each decision: row key -> settings.
LIVING_VARIANTS = {
    "equal_weights": {},
    "balanced_rounds": {"balance_rounds": True},
    "batch_model": {"batch_model": True},
    "batch_prequential": {"batch_model": True},  # weighted by a relevance.Prequential
}
PREQUENTIAL = {"batch_prequential"}
LIVING_ROWS: tuple[str, ...] = ("static", *LIVING_VARIANTS)


def load(name: str) -> pd.DataFrame:
    d = pd.read_csv(DATA / f"{name}.csv.gz")
    d["title"] = d["title"].fillna("")
    d["abstract"] = d["abstract"].fillna("")
    d["record_id"] = [str(i) for i in range(len(d))]
    return d


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --------------------------------------------------------------------------- metrics


def wss_at(order: list[int], labels: np.ndarray, recall: float = 0.95) -> float:
    """WSS@recall of a screening order over ``len(labels)`` records (order may stop early)."""
    n, k = len(labels), int(labels.sum())
    need = math.ceil(recall * k)
    found = np.cumsum(labels[np.asarray(order)])
    screened = int(np.searchsorted(found, need) + 1)
    return (n - screened) / n - (1 - recall)


def recall_at(order: list[int], labels: np.ndarray, share: float) -> float:
    m = math.ceil(share * len(labels))
    return float(labels[np.asarray(order[:m])].sum() / labels.sum())


def prior_pair(labels: np.ndarray, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return [
        int(rng.choice(np.flatnonzero(labels == 1))),
        int(rng.choice(np.flatnonzero(labels == 0))),
    ]


# --------------------------------------------------------------------------- ours


def replay_ours(
    X,
    labels: np.ndarray,
    prior: list[int],
    rows: np.ndarray | None = None,
    settings: pr.PrioritiseSettings | None = None,
    prequential: bool = False,
) -> list[int]:
    """Screen ``rows`` (default all) one at a time in our order, retraining after each decision.

    Rows in ``prior`` are decided first. Stops once every include among
    ``rows`` is found (the rest of the order cannot change WSS or recall).
    Decisions on ``rows`` are the newest round (``balance_rounds``). With
    ``prequential`` the ``batch_model`` pair is weighted by each model's
    record on the decisions so far (:class:`~livingreview.screening.relevance.Prequential`).
    """
    settings = settings or SETTINGS
    rows = np.arange(len(labels)) if rows is None else np.asarray(rows)
    is_row = np.zeros(len(labels), dtype=bool)
    is_row[rows] = True
    in_rows = set(rows.tolist())
    todo = in_rows - set(prior)
    train = list(prior)
    order: list[int] = [p for p in prior if p in in_rows]
    left = int(labels[rows].sum()) - int(labels[order].sum()) if order else int(labels[rows].sum())
    evidence = rel.Prequential() if prequential else None
    while todo and left > 0:
        y = labels[train]
        if len(np.unique(y)) < 2:  # cannot train yet: next record in the current order
            pick = min(todo)
        else:
            cand = np.fromiter(todo, dtype=int)
            cand.sort()
            t = np.array(train)
            score = pr.relevance_scores(X, t, y, settings, is_row[t], evidence)[cand]
            pick = int(cand[np.argmax(score)])
            if evidence:  # each model's probability for this decision, made before it
                evidence.observe(pick, int(labels[pick]))
        todo.discard(pick)
        train.append(pick)
        order.append(pick)
        left -= int(labels[pick])
    return order


def stopping_check(order: list[int], labels: np.ndarray, seed: int) -> list[dict]:
    n = len(labels)
    out = []
    for share in CHECKPOINTS:
        m = math.ceil(share * n)
        screened = order[:m]
        rest = sorted(set(range(n)) - set(screened))
        found = int(labels[screened].sum())
        size = min(len(rest), math.ceil(0.1 * n))
        sample = [int(s) for s in st.stopping_sample(rest, size, seed=seed)]
        k = int(labels[sample].sum())
        est = st.stopping_estimate(found, len(rest), size, k, SETTINGS)
        truth = int(labels[rest].sum()) - k
        out.append(
            {
                "share": share,
                "found": found,
                "true_remaining": truth,
                "estimate": est.remaining,
                "low": est.remaining_low,
                "high": est.remaining_high,
                "covered": est.remaining_low <= truth <= est.remaining_high,
                "can_stop": est.can_stop,
                "recall_at_stop": (found + k) / int(labels.sum()),
            }
        )
    return out


# --------------------------------------------------------------------------- ASReview


def ensure_asreview(venv: Path) -> Path:
    exe = venv / "bin" / "asreview"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "asreview"], check=True)
    return exe


def asreview_order(exe: Path, csv: Path, prior: list[int], seed: int, work: Path) -> list[int]:
    """Dataset rows in the order ``asreview simulate`` screened them (priors first)."""
    out = work / f"sim-{csv.stem}-{seed}-{len(prior)}.asreview"
    for stale in (out, out.with_suffix(".asreview.tmp")):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(
            missing_ok=True
        )
    cmd = [str(exe), "simulate", str(csv), "--seed", str(seed), "-o", str(out), "--prior-idx"]
    cmd += [str(p) for p in prior]
    subprocess.run(cmd, check=True, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    unpacked = work / "unpacked"
    shutil.rmtree(unpacked, ignore_errors=True)
    with zipfile.ZipFile(out) as z:
        z.extract("results.db", unpacked)
    con = sqlite3.connect(unpacked / "results.db")
    row_of = dict(con.execute("select record_id, dataset_row from record").fetchall())
    ids = [r for (r,) in con.execute("select record_id from results order by rowid")]
    con.close()
    out.unlink()
    return [int(row_of[r]) for r in ids]


# --------------------------------------------------------------------------- runs


def summary(values: list[float]) -> dict:
    a = np.asarray(values, dtype=float)
    return {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max()), "n": len(a)}


def variant(name: str, **kw) -> pr.PrioritiseSettings:
    """``logistic``, ``svm``, ``ensemble``, optionally ``:<hash_bits>`` (``svm:64``)."""
    model, _, bits = name.partition(":")
    return dataclasses.replace(
        SETTINGS, model=model, hash_bits=int(bits or SETTINGS.hash_bits), **kw
    )


def features(d: pd.DataFrame, name: str):
    return pr.vectorise(pr.record_text(d).tolist(), variant(name))


def active(name: str, seeds: int, exe: Path | None, work: Path) -> dict:
    d = load(name)
    labels = d["label_included"].to_numpy(dtype=int)
    Xs = {m: features(d, m) for m in MODELS_RUN}
    csv = work / f"{name}.csv"
    d[["title", "abstract", "label_included"]].to_csv(csv, index=False)
    res: dict = {"records": len(d), "includes": int(labels.sum())}
    rows: dict[str, list] = {f"ours-{m}": [] for m in MODELS_RUN} | {"asreview": []}
    stops = []
    seconds = dict.fromkeys(rows, 0.0)
    for seed in range(seeds):
        prior = prior_pair(labels, seed)
        for m in MODELS_RUN:
            t = time.perf_counter()
            order = replay_ours(Xs[m], labels, prior, settings=variant(m))
            seconds[f"ours-{m}"] += time.perf_counter() - t
            rows[f"ours-{m}"].append(order)
            if m == MODELS_RUN[0]:
                stops += [dict(s, seed=seed) for s in stopping_check(order, labels, seed)]
        if exe is not None:
            t = time.perf_counter()
            a_order = asreview_order(exe, csv, prior, seed, work)
            seconds["asreview"] += time.perf_counter() - t
            assert a_order[:2] == prior or set(a_order[:2]) == set(prior), a_order[:2]
            rows["asreview"].append(a_order)
    for tool, orders in rows.items():
        if not orders:
            continue
        res[tool] = {
            "wss95": summary([wss_at(o, labels) for o in orders]),
            **{
                f"recall{int(s * 100)}": summary([recall_at(o, labels, s) for o in orders])
                for s in SHARES
            },
        }
    res["seconds"] = seconds
    res["stopping"] = stops
    return res


def cutoff_year(d: pd.DataFrame) -> int:
    counts = d["year"].value_counts().sort_index().cumsum()
    return int(counts[counts <= len(d) * 2 / 3].index.max())


def living(name: str, seeds: int, exe: Path | None, work: Path) -> dict:
    d = load(name)
    labels = d["label_included"].to_numpy(dtype=int)
    year = cutoff_year(d)
    early = np.flatnonzero(d["year"].to_numpy() <= year)
    batch = np.flatnonzero(d["year"].to_numpy() > year)
    yb = labels[batch]
    res: dict = {
        "cutoff": year,
        "earlier": len(early),
        "earlier_includes": int(labels[early].sum()),
        "batch": len(batch),
        "batch_includes": int(yb.sum()),
    }
    pos = {r: i for i, r in enumerate(d["record_id"].iloc[batch])}
    for m in MODELS_RUN:
        X = features(d, m)
        r = res.setdefault(f"ours-{m}", {})
        if "static" in LIVING_ROWS:
            # Static: rank() trained on every earlier decision, as the pipeline ranks a queue.
            ranked = pr.rank(
                d,
                pd.Series(labels[early], index=d["record_id"].iloc[early]),
                d["record_id"].iloc[batch].tolist(),
                variant(m),
            )
            r["static_wss95"] = wss_at([pos[x] for x in ranked["record_id"]], yb)
        for key, kw in LIVING_VARIANTS.items():
            if key not in LIVING_ROWS:
                continue
            s = variant(m, **kw)
            # Re-ranked after each decision within the batch, from the earlier decisions alone.
            pq = key in PREQUENTIAL
            order = replay_ours(X, labels, list(early), rows=batch, settings=s, prequential=pq)
            r[f"active_{key}_wss95"] = wss_at([pos[d["record_id"].iloc[i]] for i in order], yb)
            if key == "equal_weights":
                continue
            # The same, plus the very 1 + 1 batch prior that ASReview's new project gets.
            with_prior = []
            for seed in range(seeds):
                p = [int(batch[i]) for i in prior_pair(yb, seed)]
                order = replay_ours(
                    X, labels, list(early) + p, rows=batch, settings=s, prequential=pq
                )
                # the prior rows first, in the order ASReview lists them
                order = p + [i for i in order if i not in p]
                with_prior.append(wss_at([pos[d["record_id"].iloc[i]] for i in order], yb))
            r[f"active_{key}_batch_prior_wss95"] = summary(with_prior)
    if exe is None:
        return res
    # ASReview (a): a new project on the batch alone, 1 + 1 random prior from the batch.
    sub = d.iloc[batch].reset_index(drop=True)
    csv = work / f"{name}-batch.csv"
    sub[["title", "abstract", "label_included"]].to_csv(csv, index=False)
    native = []
    for seed in range(seeds):
        native.append(wss_at(asreview_order(exe, csv, prior_pair(yb, seed), seed, work), yb))
    res["asreview_new_project_wss95"] = summary(native)
    # ASReview (b): earlier + batch, every earlier record as prior knowledge.
    both = pd.concat([d.iloc[early], d.iloc[batch]], ignore_index=True)
    csv = work / f"{name}-carry.csv"
    both[["title", "abstract", "label_included"]].to_csv(csv, index=False)
    carry = []
    for seed in range(min(seeds, 3)):
        o = asreview_order(exe, csv, list(range(len(early))), seed, work)
        carry.append(wss_at([i - len(early) for i in o if i >= len(early)], yb))
    res["asreview_carry_over_wss95"] = summary(carry)
    # ASReview (c): as (b) plus the same 1 + 1 batch prior as (a).
    both_prior = []
    for seed in range(seeds):
        p = [len(early) + i for i in prior_pair(yb, seed)]
        o = asreview_order(exe, csv, list(range(len(early))) + p, seed, work)
        both_prior.append(wss_at([i - len(early) for i in o if i >= len(early)], yb))
    res["asreview_carry_over_batch_prior_wss95"] = summary(both_prior)
    return res


def timing(n_train: int = 50_000, n_new: int = 10_000, seed: int = 0, n_jobs: int = 1) -> dict:
    """Wall time of rank(): 50,000 decided + 10,000 new synthetic records (title + abstract)."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(20_000)])
    zipf = 1 / np.arange(1, len(vocab) + 1)
    zipf /= zipf.sum()
    n = n_train + n_new
    topical = rng.random(n) < 0.1
    words = rng.choice(len(vocab), size=(n, 180), p=zipf)
    words[topical, :20] = rng.integers(0, 200, size=(int(topical.sum()), 20))  # topical words
    text = [" ".join(vocab[w]) for w in words]
    recs = pd.DataFrame(
        {"record_id": [str(i) for i in range(n)], "title": [t[:80] for t in text], "abstract": text}
    )
    labelled = pd.Series(topical[:n_train].astype(int), index=recs["record_id"][:n_train])
    settings = pr.PrioritiseSettings(
        ngram_max=SETTINGS.ngram_max, C=SETTINGS.C, model=SETTINGS.model, n_jobs=n_jobs
    )
    t, cpu = time.perf_counter(), time.process_time()
    out = pr.rank(recs, labelled, recs["record_id"][n_train:].tolist(), settings)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    hit = topical[n_train:][out["record_id"].astype(int).to_numpy() - n_train]
    # Where the time goes: the same steps one by one (wall clock).
    parts = {}
    t = time.perf_counter()
    text = pr.record_text(recs).tolist()
    parts["record_text"] = time.perf_counter() - t
    t = time.perf_counter()
    X = pr.vectorise(text, settings)
    parts["vectorise"] = time.perf_counter() - t
    t = time.perf_counter()
    pr.relevance_scores(X, np.arange(n_train), labelled.to_numpy(), settings)
    parts["fit_and_score"] = time.perf_counter() - t
    return {
        "train": n_train,
        "new": n_new,
        "words_per_record": 180,
        "model": settings.model,
        "n_jobs": n_jobs,
        "seconds": seconds,
        "cpu_seconds_main_process": cpu,
        "seconds_by_step": parts,
        "ngram_max": settings.ngram_max,
        "features": out.attrs["provenance"]["n_features"],
        "top_1000_topical_share": float(hit[:1000].mean()),
        "load_after": load_avg(),
    }


def fmt(x: dict, pct: bool = True) -> str:
    f = (lambda v: f"{100 * v:.1f}") if pct else (lambda v: f"{v:.2f}")
    return f"{f(x['mean'])} ({f(x['min'])}-{f(x['max'])})"


def markdown(report: dict) -> str:
    """The tables of bench/RESULTS.md from a results JSON."""
    lines = [
        "| dataset | tool | WSS@95 | recall@10% | recall@20% | recall@30% |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in report.get("active", {}).items():
        for tool in [k for k in r if k.startswith("ours")] + ["asreview"]:
            if r.get(tool):
                t = r[tool]
                lines.append(
                    f"| {name} ({r['records']}, {r['includes']} incl.) | {tool} | {fmt(t['wss95'])} | "
                    f"{fmt(t['recall10'])} | {fmt(t['recall20'])} | {fmt(t['recall30'])} |"
                )
    living = report.get("living", {})
    names = list(living)
    lines += [
        "",
        "| living scenario: WSS@95 over the update batch | " + " | ".join(names) + " |",
        "| --- | " + " | ".join("---" for _ in names) + " |",
        "| cut-off; earlier (incl.); batch (incl.) | "
        + " | ".join(
            f"<= {r['cutoff']}; {r['earlier']} ({r['earlier_includes']}); {r['batch']} ({r['batch_includes']})"
            for r in living.values()
        )
        + " |",
    ]

    def cell(v: object) -> str:
        if v is None:
            return "-"
        return fmt(v) if isinstance(v, dict) else f"{100 * v:.1f}"

    rows = []
    tools = [k for k in (living[names[0]] if names else {}) if k.startswith("ours")]
    for tool in tools:
        for key, label in (
            ("static_wss95", "ranked once"),
            ("active_equal_weights_wss95", "re-ranked each decision, equal weights"),
            ("active_balanced_rounds_wss95", "re-ranked each decision, balance_rounds"),
            (
                "active_balanced_rounds_batch_prior_wss95",
                "re-ranked each decision, balance_rounds, + ASReview's 1+1 batch prior",
            ),
            ("active_batch_model_wss95", "re-ranked each decision, batch_model"),
            (
                "active_batch_model_batch_prior_wss95",
                "re-ranked each decision, batch_model, + ASReview's 1+1 batch prior",
            ),
            (
                "active_batch_prequential_wss95",
                "re-ranked each decision, batch_model, prequential weights",
            ),
            (
                "active_batch_prequential_batch_prior_wss95",
                "re-ranked each decision, batch_model, prequential weights, + ASReview's 1+1 batch prior",
            ),
        ):
            rows.append((f"{tool}: {label}", [living[n][tool].get(key) for n in names]))
    for key, label in (
        ("asreview_new_project_wss95", "ASReview: new project on the batch, 1+1 batch prior"),
        ("asreview_carry_over_wss95", "ASReview: earlier records as prior"),
        ("asreview_carry_over_batch_prior_wss95", "ASReview: earlier records + 1+1 batch prior"),
    ):
        rows.append((label, [living[n].get(key) for n in names]))
    lines += [f"| {label} | " + " | ".join(cell(v) for v in vals) + " |" for label, vals in rows]
    lines += [
        "",
        "| dataset | screened in rank order | true includes left (mean) | estimate (mean) | 95% upper bound (mean) | 95% interval covers truth | advised to stop | recall when advised |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in report.get("active", {}).items():
        if not r.get("stopping"):
            continue
        rows = pd.DataFrame(r["stopping"])
        for share, g in rows.groupby("share"):
            stop = g[g["can_stop"]]
            lines.append(
                f"| {name} | {100 * share:.0f}% + 10% random sample | {g['true_remaining'].mean():.1f} | "
                f"{g['estimate'].mean():.1f} | {g['high'].mean():.1f} | {int(g['covered'].sum())}/{len(g)} | {len(stop)}/{len(g)} | "
                + (
                    f"{100 * stop['recall_at_stop'].min():.0f}-{100 * stop['recall_at_stop'].max():.0f}%"
                    if len(stop)
                    else "-"
                )
                + " |"
            )
    return "\n".join(lines)


def main() -> None:
    global SETTINGS, MODELS_RUN, LIVING_ROWS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--datasets", nargs="*", default=list(DATASETS))
    ap.add_argument("--no-asreview", action="store_true")
    ap.add_argument("--asreview-venv", type=Path, default=Path("/work/asreview-venv"))
    ap.add_argument("--skip", nargs="*", default=[], choices=["active", "living", "timing"])
    ap.add_argument("--ngram-max", type=int, default=SETTINGS.ngram_max, choices=[1, 2])
    ap.add_argument("--C", type=float, default=SETTINGS.C, help="the classifier's C")
    ap.add_argument(
        "--models",
        nargs="*",
        default=["logistic", "svm:64", "ensemble:64"],
        help="model[:hash_bits]; the first also gets the stopping check",
    )
    ap.add_argument(
        "--model", default=SETTINGS.model, choices=list(pr.MODELS), help="stopping + timing"
    )
    ap.add_argument(
        "--living-rows",
        nargs="*",
        default=list(LIVING_ROWS),
        choices=list(LIVING_ROWS),
        help="which of our living-scenario rows to run (static = ranked once)",
    )
    ap.add_argument("--markdown", type=Path, help="print the tables of a results JSON and exit")
    ap.add_argument("--out", type=Path, default=Path("bench/prioritise-results.json"))
    args = ap.parse_args()
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return
    SETTINGS = pr.PrioritiseSettings(
        min_includes=1, min_excludes=1, ngram_max=args.ngram_max, C=args.C, model=args.model
    )
    MODELS_RUN = tuple(args.models)
    LIVING_ROWS = tuple(args.living_rows)
    exe = None if args.no_asreview else ensure_asreview(args.asreview_venv)
    report: dict = {
        "load_start": load_avg(),
        "seeds": args.seeds,
        "settings": SETTINGS.as_dict(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    import sklearn

    report["scikit_learn"] = sklearn.__version__
    with tempfile.TemporaryDirectory(prefix="bench-prio-") as tmp:
        work = Path(tmp)
        if exe is not None:  # asreview writes a cache into its working folder
            report["asreview"] = subprocess.run(
                [str(exe), "--version"], capture_output=True, text=True, check=True, cwd=work
            ).stdout.strip()
        for name in args.datasets:
            if "active" not in args.skip:
                report.setdefault("active", {})[name] = r = active(name, args.seeds, exe, work)
                print(
                    name,
                    "active",
                    json.dumps({k: v for k, v in r.items() if k != "stopping"}),
                    flush=True,
                )
            if "living" not in args.skip:
                report.setdefault("living", {})[name] = r = living(name, args.seeds, exe, work)
                print(name, "living", json.dumps(r), flush=True)
    if "timing" not in args.skip:
        report["load_before_timing"] = load_avg()
        report["timing"] = [timing(n_jobs=1), timing(n_jobs=2)]
        print("timing", json.dumps(report["timing"]), flush=True)
    report["load_end"] = load_avg()
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print("load average start/end:", report["load_start"], "/", report["load_end"])


if __name__ == "__main__":
    main()
