"""Inter-rater agreement: Cohen's kappa per stage and reviewer pair."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np

from ..contract import record_sort_key
from .files import STAGES
from .reading import Decision

DECISIONS = ("include", "exclude", "maybe")


KAPPA_ALPHA = 0.05  # statsmodels' default: 95% confidence interval


def _agree_value(decision: str, stage: str) -> str:
    """At title/abstract a maybe sends the record on, i.e. it counts as include."""
    return "include" if stage == "title_abstract" and decision == "maybe" else decision


def kappa(a: Sequence[str], b: Sequence[str], categories: Sequence[str]) -> dict[str, Any]:
    """Cohen's kappa of two raters' paired answers, with its 95% confidence interval.

    kappa = (p_o - p_e) / (1 - p_e), p_o the observed and p_e the chance
    agreement from the margins (Cohen 1960). Computed by
    ``statsmodels.stats.inter_rater.cohens_kappa``; its CI is kappa +/- 1.96 SE
    with the large-sample variance of Fleiss, Cohen & Everitt (1969), clipped
    to kappa's range [-1, 1] (the normal approximation can cross 1). When
    p_e = 1 (both raters gave one and the same answer throughout) kappa is
    undefined and reported as null; percent agreement is always given.
    """
    from statsmodels.stats.inter_rater import cohens_kappa

    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)), dtype=int)
    for x, y in zip(a, b, strict=True):
        table[index[x], index[y]] += 1
    n = int(table.sum())
    result: dict[str, Any] = {
        "n": n,
        "agreed": int(np.trace(table)),
        "percent_agreement": float(np.trace(table) / n) if n else None,
        "categories": list(categories),
        "table": table.tolist(),
        "kappa": None,
        "se": None,
        "ci_low": None,
        "ci_high": None,
    }
    expected = (table.sum(1) * table.sum(0)).sum() / n**2 if n else 1.0
    if n < 2 or expected >= 1.0:
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = cohens_kappa(table, return_results=True)  # 95% CI (alpha = 0.05)
    result.update(
        kappa=float(res.kappa),
        se=float(res.std_kappa),
        ci_low=max(-1.0, float(res.kappa_low)),
        ci_high=min(1.0, float(res.kappa_upp)),
    )
    return result


def agreement(rows: Sequence[Decision]) -> dict[str, Any]:
    """Kappa per stage and reviewer pair over the records both screened.

    At title/abstract answers are compared as they act (maybe = include, two
    categories); at full text as given (include, exclude, maybe).
    """
    stages: dict[str, Any] = {}
    for stage in STAGES:
        answers: dict[str, dict[str, str]] = {}
        for d in rows:
            if d.stage == stage:
                answers.setdefault(d.reviewer, {})[d.record_id] = _agree_value(d.decision, stage)
        cats = ("include", "exclude") if stage == "title_abstract" else DECISIONS
        pairs = {}
        for r1, r2 in combinations(sorted(answers), 2):
            both = sorted(set(answers[r1]) & set(answers[r2]), key=record_sort_key)
            if not both:
                continue
            entry = kappa([answers[r1][x] for x in both], [answers[r2][x] for x in both], cats)
            pairs[f"{r1}-{r2}"] = {"reviewers": [r1, r2], **entry}
        stages[stage] = pairs
    note = {}
    if not any(stages.values()):
        note = {"note": "no record screened by two reviewers yet" if rows else "no decisions yet"}
    return {
        "method": "Cohen's kappa (statsmodels.stats.inter_rater.cohens_kappa); "
        "CI = kappa +/- z * SE, large-sample SE of Fleiss, Cohen & Everitt (1969), clipped to [-1, 1]; "
        "over records both reviewers screened; title/abstract: maybe counted as include",
        "level": 1 - KAPPA_ALPHA,
        "stages": stages,
        **note,
    }
