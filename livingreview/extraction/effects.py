"""Effect sizes of merged outcome rows, one row at a time (the reference path).

Effect sizes (``livingreview.stats.escalc``, metafor's ``escalc`` conventions)
    Continuous domains: Hedges' g with the large-sample variance
    (``vtype="LS"``). ``means``/``change_sd``/``change_se`` use per-arm SDs
    (an arm's SD may come from its SE: sd = se sqrt(n)); if an arm has
    neither, the row's mean-difference CI, SE or p gives the SE of m1 - m2.
    ``md_ci``, ``md_se``, ``md_p`` use :func:`~livingreview.stats.escalc.smd_from_md_se`
    with the SE from the 95% CI or two-sided p, both with the t distribution on
    df = n1 + n2 - 2 (the two-sample t test the CI/p came from; Cochrane
    Handbook 6.5.2.3 recommends t for small trials, and it converges to z).
    Binary domains: log risk ratio from 2x2 counts (0.5 added to all cells of
    a table with a zero cell). Cluster trials: the variance is multiplied by
    the design effect DE = 1 + (m - 1) ICC (Cochrane Handbook 23.1.4); yi and
    n are left as reported (``ln_n`` is ln of the arms' total n).
    Alignment: intervention minus control, sign flipped when the scale's
    ``favourable`` is ``lower`` (positive = favourable), then multiplied by
    -1 when the domain's ``favourable_sign`` is negative.

:mod:`livingreview.extraction.batch_effects` computes the same numbers for all
rows at once; rows it cannot take come here.
"""

from __future__ import annotations

from dataclasses import dataclass

from .forms import ARM_FORMS, _arm_sd_columns
from .merging import Merged, Unresolved
from .settings import Domain
from .values import fmt

# livingreview.stats.escalc (with scipy.special, ~0.2 s to import) is imported inside the
# functions that compute effects: a module that lists the rule's inputs must not pay for it.


@dataclass
class Effect:
    """One merged outcome row and what became of it."""

    merged: Merged
    study: Merged
    domain: Domain
    status: str = ""  # candidate | not-computable | unresolved | not-included | outside
    why: str = ""
    yi: float | None = None
    vi: float | None = None
    n: float | None = None
    measure: str = ""
    design_effect: float | None = None

    @property
    def outcome(self) -> str:
        return self.merged.key[2]

    @property
    def timepoint(self) -> float:
        return self.merged.key[3]

    def label(self) -> str:
        return f"{self.outcome} {fmt(self.timepoint)} wk"


def _arm_sd(m: Merged, form: str, arm: int) -> float | None:
    from ..stats import escalc as effects

    primary, other = _arm_sd_columns(form, arm)
    n = m.get(f"n{arm}")
    for col in (primary, other):
        value = m.get(col)
        if value is not None:
            return value if col.startswith("sd") else float(effects.sd_from_se(value, n)[0])
    return None


def _md_se(m: Merged, md: float, n1: float, n2: float) -> float | None:
    from ..stats import escalc as effects

    df = n1 + n2 - 2
    lo, hi = m.get("ci_low"), m.get("ci_high")
    if lo is not None and hi is not None:
        return float(effects.se_from_ci(lo, hi, 0.95, df=df)[0])
    if m.get("se") is not None:
        return m.get("se")
    if m.get("p") is not None:
        return float(effects.se_from_p(md, m.get("p"), df=df)[0])
    return None


def compute(m: Merged, study: Merged, domain: Domain) -> tuple[str, float, float, float, float]:
    """(measure, yi, vi, n, design effect) of a merged outcome row, aligned per domain.

    Raises :class:`~livingreview.extraction.merging.Unresolved` when a needed field is unresolved and
    ``effects.EffectInputError`` when the numbers cannot give an effect.
    """
    from ..stats import escalc as effects

    form = m.get("form")
    n1, n2 = m.get("n1"), m.get("n2")
    if form == "events":
        measure = "logRR"
        yi, vi = effects.log_risk_ratio(m.get("events1"), n1, m.get("events2"), n2)
    else:
        measure = "SMD"
        if form in ARM_FORMS:
            sd1, sd2 = _arm_sd(m, form, 1), _arm_sd(m, form, 2)
            m1, m2 = m.get("m1"), m.get("m2")
            if sd1 is not None and sd2 is not None:
                func = effects.smd if form == "means" else effects.smd_from_change
                yi, vi = func(m1, sd1, n1, m2, sd2, n2)
            else:
                se = _md_se(m, m1 - m2, n1, n2)
                yi, vi = effects.smd_from_md_se(m1 - m2, se, n1, n2)
        else:
            md = m.get("md")
            se = _md_se(m, md, n1, n2)
            yi, vi = effects.smd_from_md_se(md, se, n1, n2)
    yi, vi = float(yi[0]), float(vi[0])
    deff = 1.0
    if study.get("design") == "cluster":
        deff = float(effects.design_effect(study.get("icc"), study.get("cluster_size"))[0])
        vi *= deff
    yi = float(effects.align(yi, m.get("favourable"))[0]) * domain.sign
    return measure, yi, vi, float(n1 + n2), deff


# livingreview.stats.escalc argument names -> sheet columns, for messages
_EFFECT_FIELDS = {
    "estimate": "md",
    "ai": "events1",
    "ci": "events2",
    "n1i": "n1",
    "n2i": "n2",
    "lower": "ci_low",
    "upper": "ci_high",
}


def _compute_one(e: Effect) -> None:
    """Fill ``e`` from :func:`compute`, or set status and why when it cannot be computed."""
    from ..stats import escalc as effects

    try:
        e.measure, e.yi, e.vi, e.n, e.design_effect = compute(e.merged, e.study, e.domain)
    except Unresolved as exc:
        e.status, e.why = "unresolved", str(exc)
    except effects.EffectInputError as exc:
        e.status = "not-computable"
        column = _EFFECT_FIELDS.get(exc.field, exc.field)
        e.why = f"effect size not computable: {column} {exc.expected} (got {fmt(exc.value)})"
