"""Effect sizes of many rows at once, giving exactly the floats of the one-row path.

Calling livingreview.stats.escalc once per row costs its input checks per call,
which dominates on thousands of rows. The same functions are therefore
called once per step for all rows, which gives the same floats (every step
is element-wise). Rows whose fields are unresolved, and rows any step
rejects, go through the one-row path :func:`~livingreview.extraction.effects.compute`,
so their status and message are exactly those it gives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .effects import Effect, _compute_one
from .forms import ARM_FORMS, _arm_sd_columns
from .merging import Unresolved


class _BadRow(Exception):
    """Row ``index`` of a batch was rejected by an effects function."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


def _plan(e: Effect) -> dict[str, Any] | None:
    """The fields :func:`~livingreview.extraction.effects.compute` reads for ``e`` and which branches it takes.

    Reads (at least) every field ``compute`` reads, so an unresolved one shows
    here; returns None then, or when a needed number is missing, leaving the
    row to the one-row path.
    """
    m, study = e.merged, e.study
    try:
        form = m.get("form")
        plan: dict[str, Any] = {"form": form, "n1": m.get("n1"), "n2": m.get("n2")}
        if form == "events":
            plan["events1"], plan["events2"] = m.get("events1"), m.get("events2")
            need_md = False
        elif form in ARM_FORMS:
            for arm in (1, 2):
                cols = _arm_sd_columns(form, arm)
                col = next((c for c in cols if m.get(c) is not None), None)
                plan[f"sd_col{arm}"] = col
                plan[f"sd_val{arm}"] = m.get(col) if col else None
            plan["m1"], plan["m2"] = m.get("m1"), m.get("m2")
            need_md = plan["sd_col1"] is None or plan["sd_col2"] is None
        else:
            plan["md"] = m.get("md")
            need_md = True
        if need_md:
            lo, hi = m.get("ci_low"), m.get("ci_high")
            if lo is not None and hi is not None:
                plan.update(md_stat="ci", ci_low=lo, ci_high=hi)
            elif m.get("se") is not None:
                plan.update(md_stat="se", se=m.get("se"))
            elif m.get("p") is not None:
                plan.update(md_stat="p", p=m.get("p"))
            else:
                return None
        plan["cluster"] = study.get("design") == "cluster"
        if plan["cluster"]:
            plan["icc"], plan["cluster_size"] = study.get("icc"), study.get("cluster_size")
        plan["favourable"] = m.get("favourable")
    except Unresolved:
        return None
    optional = ("sd_col1", "sd_val1", "sd_col2", "sd_val2")
    if any(v is None for k, v in plan.items() if k not in optional):
        return None  # compute() fails on it; let it say how
    return plan


def _compute_all(todo: Sequence[Effect]) -> None:
    """Compute every effect in ``todo`` as :func:`~livingreview.extraction.effects.compute` would, in batches."""
    plans: list[tuple[Effect, dict[str, Any]]] = []
    for e in todo:
        plan = _plan(e)
        if plan is None:
            _compute_one(e)
        else:
            plans.append((e, plan))
    while plans:
        try:
            measure, yi, vi, n, deff = _batch(
                [p for _, p in plans], [e.domain.sign for e, _ in plans]
            )
        except _BadRow as bad:
            _compute_one(plans.pop(bad.index)[0])
            continue
        for i, (e, _) in enumerate(plans):
            e.measure, e.yi, e.vi, e.n, e.design_effect = measure[i], yi[i], vi[i], n[i], deff[i]
        break


def _call(func: Callable[..., Any], rows: np.ndarray, *args: Any, **kwargs: Any) -> Any:
    """``func(*args)`` on the batch positions ``rows``; a rejected row raises :class:`_BadRow`."""
    from ..stats import escalc as effects

    try:
        return func(*args, **kwargs)
    except effects.EffectInputError as exc:
        raise _BadRow(int(rows[exc.index])) from None


def _batch(
    plans: Sequence[Mapping[str, Any]], signs: Sequence[int]
) -> tuple[list[str], list[float], list[float], list[float], list[float]]:
    """(measure, yi, vi, n, design effect) per plan, step by step as :func:`~livingreview.extraction.effects.compute`."""
    from ..stats import escalc as effects

    def col(name: str) -> np.ndarray:
        return np.array([p.get(name, math.nan) for p in plans], dtype=float)

    forms = np.array([p["form"] for p in plans], dtype=object)
    n1, n2 = col("n1"), col("n2")
    yi, vi = np.full(len(plans), math.nan), np.full(len(plans), math.nan)

    ev = np.flatnonzero(forms == "events")
    if ev.size:
        yi[ev], vi[ev] = _call(
            effects.log_risk_ratio, ev, col("events1")[ev], n1[ev], col("events2")[ev], n2[ev]
        )

    arm = np.isin(forms, ARM_FORMS)
    sd = {}
    for a, n in ((1, n1), (2, n2)):
        vals = col(f"sd_val{a}")
        from_se = np.flatnonzero([(p.get(f"sd_col{a}") or "").startswith("se") for p in plans])
        if from_se.size:
            vals[from_se] = _call(effects.sd_from_se, from_se, vals[from_se], n[from_se])
        sd[a] = vals
    both = np.flatnonzero(arm & ~np.isnan(sd[1]) & ~np.isnan(sd[2]))
    if both.size:
        m1, m2 = col("m1"), col("m2")
        yi[both], vi[both] = _call(
            effects.smd, both, m1[both], sd[1][both], n1[both], m2[both], sd[2][both], n2[both]
        )

    via_md = np.setdiff1d(np.flatnonzero(forms != "events"), both)
    if via_md.size:
        md = np.where(arm, col("m1") - col("m2"), col("md"))
        stat = np.array([p.get("md_stat") for p in plans], dtype=object)
        se = col("se")
        df = n1 + n2 - 2
        ci = np.intersect1d(via_md, np.flatnonzero(stat == "ci"))
        if ci.size:
            se[ci] = _call(
                effects.se_from_ci, ci, col("ci_low")[ci], col("ci_high")[ci], 0.95, df=df[ci]
            )
        pv = np.intersect1d(via_md, np.flatnonzero(stat == "p"))
        if pv.size:
            se[pv] = _call(effects.se_from_p, pv, md[pv], col("p")[pv], df=df[pv])
        yi[via_md], vi[via_md] = _call(
            effects.smd_from_md_se, via_md, md[via_md], se[via_md], n1[via_md], n2[via_md]
        )

    deff = np.ones(len(plans))
    cl = np.flatnonzero([p["cluster"] for p in plans])
    if cl.size:
        deff[cl] = _call(effects.design_effect, cl, col("icc")[cl], col("cluster_size")[cl])
        vi[cl] = vi[cl] * deff[cl]
    fav = np.array([p["favourable"] for p in plans], dtype=object)
    yi = _call(effects.align, np.arange(len(plans)), yi, fav) * np.asarray(signs, dtype=float)
    measure = ["logRR" if f == "events" else "SMD" for f in forms]
    return measure, yi.tolist(), vi.tolist(), (n1 + n2).tolist(), deff.tolist()
