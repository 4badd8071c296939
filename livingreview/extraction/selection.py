"""Selection: one effect per trial and domain, and why every other row was not chosen.

Selection (per trial x domain)
    Only trials whose ``record_id`` is ``included`` at stage ``full_text`` in
    ``results/screening/decisions.csv`` enter. Candidates are the computable
    and the unresolved rows whose time point lies in the configured window.
    Each outcome is represented by its latest time point in the window; the
    best priority tier wins, within a tier the larger n (n1 + n2 at that
    time point), then the configured order. If the winner is unresolved, the
    trial has no effect in that domain until it is resolved (picking the
    next-best would silently change once resolved). ``rule`` says why the
    winner was chosen, ``beat`` lists the candidates it was preferred over,
    and every other row is listed in ``not_selected.csv`` with why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from ..errors import InputError
from ..sheets import read_rows
from .batch_effects import _compute_all
from .effects import Effect
from .merging import Merged, Unresolved
from .settings import Settings
from .values import fmt


def full_text_status(decisions: str | Path) -> dict[str, str]:
    """record_id -> screening status at stage full_text."""
    names, data, _ = read_rows(decisions)
    for col in ("record_id", "stage", "status"):
        if col not in names:
            raise InputError(decisions, "this column in the header", row=1, column=col)
    record, stage, status = (names.index(c) for c in ("record_id", "stage", "status"))
    return {r[record]: r[status] for r in data if r[stage] == "full_text"}


def _evaluate(
    outcomes: Mapping[tuple, Merged],
    studies: Mapping[tuple, Merged],
    settings: Settings,
    screening: Mapping[str, str],
    decisions_name: str,
) -> list[Effect]:
    lo, hi = settings.window
    out = []
    todo: list[Effect] = []
    for key, m in outcomes.items():
        study = studies[(key[0],)]
        e = Effect(m, study, settings.domains[key[1]])
        out.append(e)
        try:
            record = study.get("record_id")
            status = screening.get(record)
            if status != "included":
                e.status = "not-included"
                e.why = (
                    f"record {record} is not included at full text (screening status: {status})"
                    if status
                    else f"record {record} has no full-text decision in {decisions_name}"
                )
                continue
            for name in (settings.stratifier.column, "followup_weeks"):
                study.get(name)
        except Unresolved as exc:
            e.status, e.why = "unresolved", str(exc)
            continue
        todo.append(e)
    _compute_all(todo)
    for e in todo:
        if e.status:
            continue
        if not lo <= e.timepoint <= hi:
            e.status = "outside"
            e.why = f"time point {fmt(e.timepoint)} wk outside the window {fmt(lo)}-{fmt(hi)} wk"
        else:
            e.status = "candidate"
    return out


def _rank_n(e: Effect) -> float:
    if e.n is not None:
        return e.n
    try:
        return float(e.merged.get("n1") + e.merged.get("n2"))
    except (Unresolved, TypeError):
        return math.inf  # unknown: it might win


def _select(
    group: list[Effect], settings: Settings
) -> tuple[Effect | None, dict[int, str], str, str]:
    """Pick the effect of one trial x domain. Returns (winner, why per id(effect), rule, beat)."""
    dom = group[0].domain
    lo, hi = settings.window
    pool = [e for e in group if e.status in ("candidate", "unresolved") and lo <= e.timepoint <= hi]
    why: dict[int, str] = {}
    if not pool:
        return None, why, "", ""
    latest: dict[str, Effect] = {}
    for e in pool:
        if e.outcome not in latest or e.timepoint > latest[e.outcome].timepoint:
            latest[e.outcome] = e
    reps = sorted(
        latest.values(), key=lambda e: (dom.tier(e.outcome), -_rank_n(e), dom.order(e.outcome))
    )
    win = reps[0]
    others = sorted(
        (e for e in pool if e is not win),
        key=lambda e: (dom.tier(e.outcome), dom.order(e.outcome), -e.timepoint),
    )
    if win.status == "unresolved":
        for e in others:
            if e.status != "unresolved":
                why[id(e)] = (
                    f"the preferred effect {win.label()} is unresolved; the selection waits for its "
                    "resolution"
                )
        return None, why, "", ""
    wt, wn = dom.tier(win.outcome), _rank_n(win)
    parts = [f"{win.outcome}: priority tier {wt + 1} of {len(dom.tiers)} ({dom.describe()})"]
    rivals = [e for e in reps[1:] if dom.tier(e.outcome) == wt]
    if rivals:
        if any(_rank_n(e) == wn for e in rivals):
            parts.append("within the tier the larger n, then the configured order")
        else:
            parts.append(f"within the tier the larger n ({fmt(wn)})")
    times = sorted(e.timepoint for e in pool if e.outcome == win.outcome)
    parts.append(
        f"latest time point in {fmt(lo)}-{fmt(hi)} wk: {fmt(win.timepoint)} wk"
        + (f" (of {', '.join(fmt(t) for t in times)})" if len(times) > 1 else "")
    )
    skipped = [
        e
        for e in group
        if e.status == "not-computable" and dom.tier(e.outcome) <= wt and lo <= e.timepoint <= hi
    ]
    if skipped:
        parts.append("not computable: " + ", ".join(e.label() for e in skipped))
    for e in others:
        t = dom.tier(e.outcome)
        if e.status == "unresolved":
            why[id(e)] = e.why + " (lower ranked: not selected even once resolved)"
        elif e.outcome == win.outcome:
            why[id(e)] = f"earlier time point than the selected {win.label()}"
        elif t > wt:
            why[id(e)] = (
                f"lower priority tier ({e.outcome}: tier {t + 1}) than the selected "
                f"{win.label()} (tier {wt + 1})"
            )
        elif latest[e.outcome] is not e:
            why[id(e)] = (
                f"not the latest time point of {e.outcome}; and the selected {win.label()} "
                "is preferred within the tier"
            )
        elif _rank_n(e) < wn:
            why[id(e)] = (
                f"same tier as the selected {win.label()}, smaller n ({fmt(_rank_n(e))} < {fmt(wn)})"
            )
        else:
            why[id(e)] = (
                f"same tier and n as the selected {win.label()}, later in the configured order"
            )
    return win, why, "; ".join(parts), "; ".join(e.label() for e in others)
