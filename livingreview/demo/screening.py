"""Two reviewers' simulated screening files (title/abstract, full text), conflicts
and their adjudication.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .design import Record, _choice

FT_REASON = {
    "nonrct": "not an RCT",
    "nonextract": "non-extractable data",
    "poorq": "poor methodological quality",
}


@dataclass
class _Screen:
    rows: dict[str, list[dict]] = field(default_factory=dict)  # file stem -> rows
    adjudication: list[dict] = field(default_factory=list)


def _dates(rng, start: str, n: int, days: int) -> list[str]:
    base = np.datetime64(start)
    offs = np.sort(rng.integers(0, days, size=n))
    return [str(base + int(o)) for o in offs]


def _screen_stage(
    rng,
    sc: _Screen,
    stage: str,
    recs: list[Record],
    truth: dict[str, str],
    files: tuple[str, str],
    n_dis: int,
    n_unresolved: int,
    start: str,
    days: int,
    awaiting: int = 0,
) -> dict[str, str]:
    """Simulate two reviewers on ``recs``; return the final status per PMID.

    ``truth`` maps PMID -> 'pass'/'include' or an exclusion reason. Disagreements
    are resolved by the adjudicator except ``n_unresolved`` of them (never on a
    trial record), which remain conflicts.
    """
    pmids = [r.rid for r in recs]
    kinds = {r.rid: r.kind for r in recs}
    pos = lambda p: truth[p] in ("pass", "include")  # noqa: E731
    neg_pool = [p for p in pmids if not pos(p)]
    if stage == "title_abstract":
        wait = (
            [str(x) for x in rng.choice(neg_pool, size=awaiting, replace=False)] if awaiting else []
        )
    else:
        wait = []
    cand = [p for p in pmids if p not in wait]
    # title/abstract slips are mostly over-inclusive or missed includes
    up = 3.0 if stage == "title_abstract" else 1.0
    weights = np.array([up if pos(p) else 1.0 for p in cand])
    dis = [str(x) for x in rng.choice(cand, size=n_dis, replace=False, p=weights / weights.sum())]
    if stage == "full_text" and n_dis > 1 and all(not pos(p) for p in dis):
        # at least one included trial got there through the adjudicator
        dis[-1] = next(p for p in cand if pos(p))
    safe = [p for p in dis if not pos(p)]
    unresolved = set(safe[:n_unresolved])
    final: dict[str, str] = {}
    rows_a, rows_b = [], []
    dates = _dates(rng, start, 2 * len(pmids), days)
    dset = set(dis)
    maybe_both = set()
    if stage == "title_abstract":
        pos_agree = [p for p in cand if pos(p) and p not in dset and kinds[p] != "trial"]
        maybe_both = set(pos_agree[:: max(1, len(pos_agree) // 3)][:3])
    reasons = [r for r in FT_REASON.values()]
    for idx, p in enumerate(pmids):
        t = truth[p]
        if stage == "title_abstract":
            yes = "maybe" if p in maybe_both else "include"
            if pos(p):
                a = b = yes
            else:
                a = b = "exclude"
            ra = rb = ""
        else:
            if t == "include":
                a = b = "include"
                ra = rb = ""
            else:
                a = b = "exclude"
                ra = rb = t
        if p in dset:
            flip_a = rng.random() < 0.5
            if stage == "title_abstract":
                other = "exclude" if pos(p) else _choice(rng, ["include", "maybe"])
                other_r = ""
            else:
                if t == "include":
                    other, other_r = "exclude", _choice(rng, reasons[1:])
                else:
                    other, other_r = "include", ""
            if flip_a:
                a, ra = other, other_r
            else:
                b, rb = other, other_r
            if p in unresolved:
                final[p] = "conflict"
            else:
                dec = "include" if pos(p) else "exclude"
                note = (
                    "agreed after discussion" if rng.random() < 0.5 else "third reviewer decision"
                )
                sc.adjudication.append(
                    {
                        "record_id": p,
                        "stage": stage,
                        "decision": dec,
                        "reason": "" if pos(p) else (t if stage == "full_text" else ""),
                        "adjudicator": "erin",
                        "note": note,
                        "date": str(
                            np.datetime64(dates[-1]) + int(rng.integers(1, 1 + max(2, days // 5)))
                        ),
                    }
                )
                final[p] = "pass" if pos(p) else "excluded"
        else:
            final[p] = "pass" if pos(p) else "excluded"
        na = (
            "out of scope"
            if (a == "exclude" and stage == "title_abstract" and rng.random() < 0.04)
            else ""
        )
        nb = "check randomisation" if (b == "maybe" and rng.random() < 0.5) else ""
        if p not in wait:
            rows_a.append(
                {"record_id": p, "decision": a, "reason": ra, "note": na, "date": dates[2 * idx]}
            )
        else:
            final[p] = "awaiting"
        rows_b.append(
            {"record_id": p, "decision": b, "reason": rb, "note": nb, "date": dates[2 * idx + 1]}
        )
    sc.rows.setdefault(f"{stage}/{files[0]}", []).extend(rows_a)
    sc.rows.setdefault(f"{stage}/{files[1]}", []).extend(rows_b)
    return final


def _screen(rng, records: list[Record], demo: bool) -> tuple[_Screen, dict]:
    sc = _Screen()
    summary: dict = {}
    # (the update is screened between its search, 2026-11-01, and 2026-11-20)
    for snap, (fa, fb), start_ta, start_ft, days in (
        (1, ("alice", "bob"), "2025-07-01", "2025-09-01", 40),
        (2, ("alice-update", "bob-update"), "2026-11-02", "2026-11-11", 7),
    ):
        recs = [r for r in records if r.snap == snap]
        ta_truth = {r.rid: ("pass" if r.kind != "ta" else "exclude") for r in recs}
        n = len(recs)
        if demo:
            n_dis = 18 if snap == 1 else 3
            n_unres = 2 if snap == 1 else 0
            wait = 0 if snap == 1 else 3
        else:
            n_dis, n_unres = round(0.06 * n), round(0.006 * n)
            wait = round(0.05 * n) if snap == 2 else 0
        ta = _screen_stage(
            rng,
            sc,
            "title_abstract",
            recs,
            ta_truth,
            (fa, fb),
            n_dis,
            n_unres,
            start_ta,
            days,
            wait,
        )
        ft_recs = [r for r in recs if ta[r.rid] == "pass"]
        ft_truth = {
            r.rid: ("include" if r.kind == "trial" else FT_REASON.get(r.kind, "not an RCT"))
            for r in ft_recs
        }
        if demo:
            n_dis, n_unres = (4, 1) if snap == 1 else (1, 0)
        else:
            n_dis, n_unres = round(0.08 * len(ft_recs)), round(0.005 * len(ft_recs))
        ft_files = ("alice", "bob") if snap == 1 else ("alice-update", "bob-update")
        ft = _screen_stage(
            rng, sc, "full_text", ft_recs, ft_truth, ft_files, n_dis, n_unres, start_ft, days
        )
        summary[f"snapshot{snap}"] = {
            "records": n,
            "to_full_text": len(ft_recs),
            "included": sum(1 for s in ft.values() if s == "pass"),
            "ta_conflicts": sum(1 for s in ta.values() if s == "conflict"),
            "ft_conflicts": sum(1 for s in ft.values() if s == "conflict"),
            "awaiting": sum(1 for s in ta.values() if s == "awaiting"),
        }
    return sc, summary
