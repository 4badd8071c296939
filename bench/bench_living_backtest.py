"""Benchmark (run by hand): can a living review pick its ranking strategy from its own past?

Issue 19's living scenario misses its target on Sep_2021: every strategy that
carries the earlier rounds over ranks the update batch worse than a model of
the batch alone. A living review could choose per review, using only what it
knows at the time of the update: replay the *previous* update (the earlier
records split again at their own cut-off year, by the rule of
``bench_prioritise.cutoff_year``) with each strategy, and use the best one for
the real update. This script measures whether that backtest predicts the
real update's ranking of the strategies. Ours only, no ASReview, no seeds (the
replays are deterministic: no batch prior, the earlier decisions only).

Strategies: ``logistic`` and ``svm:64`` (see ``bench_prioritise``), each
re-ranked after every decision with equal weights, ``balance_rounds`` or
``batch_model``, and a *handover*: the earlier rounds' model until the batch
has an include and an exclude, then a model of the batch's decisions alone
(the knowledge of ASReview's new project, with its first include found by the
earlier model instead of a random prior).

    nice -n 15 .venv/bin/python bench/bench_living_backtest.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_prioritise as b  # noqa: E402

MODELS = ("logistic", "svm:64")
KEYS = ("equal_weights", "balanced_rounds", "batch_model", "handover")


def handover(X, labels: np.ndarray, early: np.ndarray, batch: np.ndarray, settings) -> list[int]:
    """Screen ``batch`` in order; earlier rounds' model until the batch has both classes."""
    todo, decided, order = set(batch.tolist()), [], []
    left = int(labels[batch].sum())
    while todo and left > 0:
        both = len(np.unique(labels[decided])) == 2 if decided else False
        train = np.array(decided if both else [*early, *decided])
        cand = np.array(sorted(todo))
        pick = int(cand[np.argmax(b.pr.relevance_scores(X, train, labels[train], settings)[cand])])
        todo.discard(pick)
        decided.append(pick)
        order.append(pick)
        left -= int(labels[pick])
    return order


def wss(X, labels: np.ndarray, early: np.ndarray, batch: np.ndarray, model: str, key: str) -> float:
    if key == "handover":
        order = handover(X, labels, early, batch, b.variant(model))
    else:
        s = b.variant(model, **b.LIVING_VARIANTS[key])
        order = b.replay_ours(X, labels, list(early), rows=batch, settings=s)
    pos = {r: i for i, r in enumerate(batch.tolist())}
    return b.wss_at([pos[i] for i in order], labels[batch])


def main() -> None:
    print("| dataset | previous update: cut-off; earlier (incl.); batch (incl.) | strategy "
          "| WSS@95 previous update | WSS@95 real update |")  # fmt: skip
    print("| --- | --- | --- | --- | --- |")
    for name in b.DATASETS:
        d = b.load(name)
        labels = d["label_included"].to_numpy(dtype=int)
        years = d["year"].to_numpy()
        cut = b.cutoff_year(d)
        early, batch = np.flatnonzero(years <= cut), np.flatnonzero(years > cut)
        prev_cut = b.cutoff_year(d.iloc[early])
        p_early, p_batch = early[years[early] <= prev_cut], early[years[early] > prev_cut]
        where = (
            f"<= {prev_cut}; {len(p_early)} ({labels[p_early].sum()}); "
            f"{len(p_batch)} ({labels[p_batch].sum()})"
        )
        for model in MODELS:
            X = b.features(d, model)
            for key in KEYS:
                back = wss(X, labels, p_early, p_batch, model, key)
                real = wss(X, labels, early, batch, model, key)
                print(f"| {name} | {where} | {model} {key} | {back * 100:.1f} | {real * 100:.1f} |",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
