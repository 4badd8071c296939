"""Certainty of evidence (GRADE): a suggested rating per outcome domain, with reasons.

Each run suggests, for every outcome domain with a pooled estimate, a GRADE
rating that starts at High (randomised trials) and is rated down per GRADE
domain by rules that are written here once and stated in words beside every
judgement (Schünemann et al., GRADE Handbook 2013; Guyatt et al., J Clin
Epidemiol 2011;64:1283-1316; the minimally contextualised approach of Zeng et
al., J Clin Epidemiol 2021;137:163-175):

* risk of bias: the share of the pooled (random-effects) weight from trials
  whose RoB 2 overall judgement is high risk, or high risk or some concerns;
* inconsistency: the prediction interval against the decision threshold (the
  minimal important difference when configured, else the null), with I2 and
  the Q test as supporting facts;
* imprecision: the confidence interval against the same threshold, and the
  total number of participants against the optimal information size;
* publication bias: Egger's test where k >= ``min_k_funnel``; below it the
  small-k caveat, no downgrade;
* indirectness: a human judgement only.

A team's adjudication sheet (``<inputs.root>/grade/adjudication.csv``, see
:func:`load_adjudication`) overrides any suggestion; the rating keeps both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from ..contract import optional_input
from ..errors import InputError, raise_collected
from ..formatting import p_value
from ..io import read_json, write_csv, write_json
from ..measures import is_ratio, ratio_name
from ..sheets import ROW, load_sheet
from ..stats import dist

__all__ = [
    "CERTAINTY",
    "GRADE_DOMAINS",
    "GradeResult",
    "GradeSettings",
    "Judgement",
    "OutcomeSpec",
    "grade_review",
    "load_adjudication",
    "optimal_information_size",
    "rate_domain",
    "rate_imprecision",
    "rate_inconsistency",
    "rate_publication_bias",
    "rate_risk_of_bias",
    "run",
    "summary_of_findings",
    "write",
]

GRADE_DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
DECISIONS = {"not serious": 0, "serious": 1, "very serious": 2}
CERTAINTY = {4: "High", 3: "Moderate", 2: "Low", 1: "Very low"}
SYMBOLS = {4: "\u2295\u2295\u2295\u2295", 3: "\u2295\u2295\u2295\u25ef", 2: "\u2295\u2295\u25ef\u25ef", 1: "\u2295\u25ef\u25ef\u25ef"}  # fmt: skip


@dataclass(frozen=True)
class OutcomeSpec:
    """Per outcome domain: minimal important difference and, for binary outcomes, control risk.

    ``mid``: on the SMD scale for continuous domains; for ratio measures a
    relative change (0.25 = RR 0.75 for benefit, 1.25 for harm). ``control_risk``:
    the assumed risk without the intervention, for absolute effects per 1,000
    and the optimal information size of a binary outcome.
    """

    mid: float | None = None
    control_risk: float | None = None


@dataclass(frozen=True)
class GradeSettings:
    """The ``grade`` configuration (defaults in the config schema), parsed once."""

    rob_serious_share: float = 0.5
    rob_very_serious_share: float = 0.5
    egger_alpha: float = 0.10
    ois_alpha: float = 0.05
    ois_power: float = 0.80
    ois_relative_reduction: float = 0.25
    min_k_funnel: int = 10
    outcomes: Mapping[str, OutcomeSpec] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("rob_serious_share", "rob_very_serious_share", "egger_alpha", "ois_alpha",
                     "ois_power", "ois_relative_reduction"):  # fmt: skip
            value = getattr(self, name)
            if not 0 < float(value) < 1 and not (name.startswith("rob") and float(value) == 1):
                raise ValueError(f"grade.{name} must be between 0 and 1; got {value!r}")

    @classmethod
    def from_params(cls, params: Mapping[str, Any], *, min_k_funnel: int = 10) -> GradeSettings:
        """From the rule's ``grade`` params (the config section, defaults filled by the schema)."""
        keys = {f for f in cls.__dataclass_fields__ if f not in ("outcomes", "min_k_funnel")}
        outcomes = {
            str(d): OutcomeSpec(
                mid=None if (spec or {}).get("mid") is None else float(spec["mid"]),
                control_risk=None
                if (spec or {}).get("control_risk") is None
                else float(spec["control_risk"]),
            )
            for d, spec in (params.get("outcomes") or {}).items()
        }
        return cls(
            **{k: float(params[k]) for k in keys if k in params},
            min_k_funnel=int(min_k_funnel),
            outcomes=outcomes,
        )


@dataclass(frozen=True)
class Judgement:
    """One GRADE domain's suggestion: levels to rate down (0-2), the reason, the facts used."""

    domain: str
    downgrade: int
    reason: str
    facts: Mapping[str, Any] = field(default_factory=dict)

    @property
    def decision(self) -> str:
        return _decision(self.downgrade)


def _decision(downgrade: int) -> str:
    return {v: k for k, v in DECISIONS.items()}[downgrade]


def _fmt(x: float | None, digits: int = 2) -> str:
    """A number for a sentence: no ``-0.00`` (two significant digits when it would round to 0)."""
    if x is None or not math.isfinite(x):
        return "NA"
    text = f"{x:.{digits}f}"
    if x != 0 and float(text) == 0:
        return f"{x:.2g}"
    return text


def format_p(p: float | None) -> str:
    """``p = 0.042`` or ``p < 0.001`` (:func:`livingreview.formatting.p_value`)."""
    text = p_value(p)
    return "p not available" if text == "NA" else f"p {text}"


def _scale(measure: str) -> tuple[str, Callable[[float], float]]:
    """How intervals are shown in reasons: ratios back-transformed (RR 0.42), others as they are."""
    if is_ratio(measure):
        return f"{ratio_name(measure)} ", math.exp
    return "", float


def thresholds(measure: str, favourable_sign: str, mid: float | None) -> tuple[float, float] | None:
    """(important benefit, important harm) on the analysis scale, or None without a MID.

    >>> thresholds("SMD", "negative", 0.2)
    (-0.2, 0.2)
    >>> [round(t, 4) for t in thresholds("logRR", "negative", 0.25)]
    [-0.2877, 0.2231]
    """
    if mid is None:
        return None
    if is_ratio(measure):
        lower, upper = math.log(1 - mid), math.log(1 + mid)
    else:
        lower, upper = -abs(mid), abs(mid)
    return (lower, upper) if favourable_sign == "negative" else (upper, lower)


def _crosses(low: float, high: float, value: float) -> bool:
    return low < value < high


def _interval_judgement(
    low: float, high: float, thr: tuple[float, float] | None, what: str, measure: str = "SMD"
) -> tuple[int, str]:
    """Rate down 1 when the interval crosses the threshold, 2 when it spans benefit and harm."""
    prefix, show = _scale(measure)
    null = "1" if is_ratio(measure) else "0"

    def interval() -> str:
        return f"the {what} ({prefix}{_fmt(show(low))} to {_fmt(show(high))})"

    if thr is None:
        if _crosses(low, high, 0.0):
            return 1, f"{interval()} includes no effect ({null})"
        return 0, f"{interval()} excludes no effect ({null})"
    benefit, harm = thr
    both = _crosses(low, high, benefit) and _crosses(low, high, harm)
    if both:
        return 2, (
            f"{interval()} includes both an important benefit "
            f"({_fmt(show(benefit))}) and an important harm ({_fmt(show(harm))})"
        )
    for name, value in (("important benefit", benefit), ("important harm", harm)):
        if _crosses(low, high, value):
            return 1, (f"{interval()} crosses the threshold of {name} ({_fmt(show(value))})")
    return 0, f"{interval()} lies on one side of both thresholds"


def rate_risk_of_bias(data: pd.DataFrame, tau2: float, settings: GradeSettings) -> Judgement:
    """Share of the random-effects weight (1 / (vi + tau2)) by RoB 2 overall judgement.

    Rated down twice when the share at high risk reaches ``rob_very_serious_share``,
    once when the share at high risk or some concerns reaches ``rob_serious_share``.
    A trial without an overall judgement counts as some concerns (and is named).
    """
    w = 1.0 / (data["vi"].astype(float) + max(float(tau2), 0.0))
    rob = data.get("rob_overall", pd.Series([None] * len(data), index=data.index))
    rob = rob.fillna("").astype(str).str.strip().str.lower()
    total = float(w.sum())
    high = float(w[rob == "high"].sum()) / total
    missing = data.loc[~rob.isin(["low", "some concerns", "high"]), "study_id"].astype(str)
    concerns = float(w[rob != "low"].sum()) / total
    facts = {"weight_high": high, "weight_high_or_some_concerns": concerns,
             "not_assessed": sorted(missing)}  # fmt: skip
    text = (
        f"{high:.0%} of the weight from trials at high risk of bias, "
        f"{concerns:.0%} at high risk or some concerns"
    )
    if len(missing):
        text += f" (not assessed, counted as some concerns: {', '.join(sorted(missing))})"
    if high >= settings.rob_very_serious_share:
        return Judgement("risk_of_bias", 2, f"{text}: at least "
                         f"{settings.rob_very_serious_share:.0%} at high risk", facts)  # fmt: skip
    if concerns >= settings.rob_serious_share:
        return Judgement("risk_of_bias", 1, f"{text}: at least "
                         f"{settings.rob_serious_share:.0%} at high risk or some concerns", facts)  # fmt: skip
    return Judgement("risk_of_bias", 0, text, facts)


def rate_inconsistency(pooled: Mapping[str, Any], thr: tuple[float, float] | None) -> Judgement:
    """The prediction interval against the threshold; I2 and Q as supporting facts."""
    measure = str(pooled.get("measure") or "SMD")
    k = int(pooled.get("k") or 0)
    facts = {k_: pooled.get(k_) for k_ in ("i2", "q", "q_pval", "tau2", "pi_low", "pi_high")}
    if k < 2:
        return Judgement("inconsistency", 0, "one trial: inconsistency cannot be assessed", facts)
    low, high = pooled.get("pi_low"), pooled.get("pi_high")
    if low is None or high is None:
        return Judgement("inconsistency", 0, "no prediction interval: not assessed", facts)
    down, text = _interval_judgement(float(low), float(high), thr, "prediction interval", measure)
    i2, qp = pooled.get("i2"), pooled.get("q_pval")
    text += f"; I\u00b2 = {_fmt(i2, 0)}%, Q test {format_p(qp)}"
    return Judgement("inconsistency", down, text, facts)


def optimal_information_size(
    measure: str, spec: OutcomeSpec, settings: GradeSettings
) -> float | None:
    """Total participants a single adequately powered trial would need (two equal arms).

    Continuous: ``2 * 2 (z_a + z_b)^2 / d^2`` with d the MID in SMD units.
    Binary: ``2 (z_a + z_b)^2 [p0(1-p0) + p1(1-p1)] / (p0 - p1)^2`` with the
    control risk p0 and p1 = p0 (1 - RRR), RRR the MID or ``ois_relative_reduction``.
    None when the needed inputs are not configured.

    >>> s = GradeSettings()
    >>> round(optimal_information_size("SMD", OutcomeSpec(mid=0.5), s))
    126
    >>> round(optimal_information_size("logRR", OutcomeSpec(control_risk=0.2), s))
    1805
    """
    z = float(dist.norm_isf(settings.ois_alpha / 2) + dist.norm_isf(1 - settings.ois_power))
    if is_ratio(measure):
        p0 = spec.control_risk
        if p0 is None:
            return None
        p1 = p0 * (1 - (spec.mid if spec.mid is not None else settings.ois_relative_reduction))
        return 2 * z**2 * (p0 * (1 - p0) + p1 * (1 - p1)) / (p0 - p1) ** 2
    if spec.mid is None:
        return None
    return 2 * 2 * z**2 / spec.mid**2


def rate_imprecision(
    pooled: Mapping[str, Any], thr: tuple[float, float] | None, ois: float | None
) -> Judgement:
    """The confidence interval against the threshold; participants against the OIS."""
    low, high = float(pooled["ci_low"]), float(pooled["ci_high"])
    n = pooled.get("n_participants")
    n = None if n is None else float(n)
    measure = str(pooled.get("measure") or "SMD")
    down, text = _interval_judgement(low, high, thr, "confidence interval", measure)
    facts = {"ci_low": low, "ci_high": high, "participants": n, "ois": ois}
    if ois is None:
        text += "; optimal information size not computed (no MID or control risk configured)"
    elif n is not None and n < ois:
        text += f"; {n:.0f} participants, fewer than the optimal information size ({ois:.0f})"
        down = max(down, 1)
    elif n is not None:
        text += f"; {n:.0f} participants reach the optimal information size ({ois:.0f})"
    return Judgement("imprecision", down, text, facts)


def rate_publication_bias(
    k: int, egger: Mapping[str, Any] | None, settings: GradeSettings
) -> Judgement:
    """Egger's test at ``egger_alpha`` when k >= ``min_k_funnel``; the small-k caveat below."""
    if k < settings.min_k_funnel or not egger or not egger.get("reported"):
        return Judgement("publication_bias", 0, (
            f"not assessable with {k} trials (Egger's test needs at least "
            f"{settings.min_k_funnel}); small-study effects cannot be excluded"), {"k": k})  # fmt: skip
    p = float(egger["pval"])
    facts = {"k": k, "egger_pval": p}
    if p < settings.egger_alpha:
        return Judgement("publication_bias", 1, f"Egger's test {format_p(p)} "
                         f"(< {settings.egger_alpha:g}): small-study effects suspected", facts)  # fmt: skip
    return Judgement("publication_bias", 0, f"Egger's test {format_p(p)} "
                     f"(>= {settings.egger_alpha:g})", facts)  # fmt: skip


def rate_domain(
    pooled: Mapping[str, Any],
    data: pd.DataFrame,
    egger: Mapping[str, Any] | None,
    settings: GradeSettings,
) -> dict[str, Judgement]:
    """Every GRADE domain's suggestion for one pooled outcome domain (a reported stratum)."""
    domain = str(pooled["domain"])
    spec = settings.outcomes.get(domain, OutcomeSpec())
    measure = str(pooled["measure"])
    thr = thresholds(measure, str(pooled.get("favourable_sign") or "negative"), spec.mid)
    ois = optimal_information_size(measure, spec, settings)
    judgements = [
        rate_risk_of_bias(data, float(pooled.get("tau2") or 0.0), settings),
        rate_inconsistency(pooled, thr),
        Judgement("indirectness", 0, "a human judgement: not rated by the software"),
        rate_imprecision(pooled, thr, ois),
        rate_publication_bias(int(pooled.get("k") or 0), egger, settings),
    ]
    return {j.domain: j for j in judgements}


@dataclass(frozen=True)
class Adjudication:
    """A team's decision on one GRADE domain of one outcome, and where it was written."""

    downgrade: int
    reason: str
    adjudicator: str
    source: str


def load_adjudication(
    path: str | Path, schema: Mapping[str, Any] | str | Path, domains: Iterable[str]
) -> dict[tuple[str, str], Adjudication]:
    """Read ``grade/adjudication.csv``: one row per (outcome domain, GRADE domain).

    An unknown outcome domain or a second row for the same pair stops with a
    message naming file, row and column (the schema checks the other cells).
    """
    path = Path(path)
    frame = load_sheet(path, dict(schema) if isinstance(schema, Mapping) else schema)
    known = set(domains)
    out: dict[tuple[str, str], Adjudication] = {}
    first: dict[tuple[str, str], int] = {}
    errors: list[InputError] = []
    for row in frame.to_dict("records"):
        r = int(row[ROW])
        domain, gd = str(row["domain"]), str(row["grade_domain"])
        if domain not in known:
            errors.append(InputError(path, f"an outcome domain of the configuration ({', '.join(sorted(known))})", row=r, column="domain", got=domain))  # fmt: skip
            continue
        key = (domain, gd)
        if key in first:
            errors.append(InputError(path, f"one row per domain and grade_domain (first on row {first[key]})", row=r, column="grade_domain", got=gd))  # fmt: skip
            continue
        first[key] = r
        out[key] = Adjudication(
            DECISIONS[str(row["decision"]).lower()],
            str(row["reason"]),
            str(row["adjudicator"]),
            f"{path.name}:{r}",
        )
    raise_collected(errors)
    return out


def rating(
    suggested: Mapping[str, Judgement], adjudicated: Mapping[tuple[str, str], Adjudication],
    domain: str,
) -> dict[str, Any]:  # fmt: skip
    """Suggested and final certainty of one outcome, per GRADE domain and overall."""
    rows = {}
    for gd in GRADE_DOMAINS:
        j = suggested[gd]
        adj = adjudicated.get((domain, gd))
        rows[gd] = {
            "suggested": j.decision,
            "suggested_reason": j.reason,
            "facts": dict(j.facts),
            "final": _decision(adj.downgrade) if adj else j.decision,
            "final_reason": adj.reason if adj else j.reason,
            "decided_by": f"{adj.adjudicator} ({adj.source})"
            if adj
            else "suggested (not adjudicated)",
        }
    sug = max(1, 4 - sum(suggested[gd].downgrade for gd in GRADE_DOMAINS))
    fin = max(1, 4 - sum(DECISIONS[rows[gd]["final"]] for gd in GRADE_DOMAINS))
    return {
        "domains": rows,
        "suggested_certainty": CERTAINTY[sug],
        "certainty": CERTAINTY[fin],
        "symbols": SYMBOLS[fin],
        "adjudicated": any((domain, gd) in adjudicated for gd in GRADE_DOMAINS),
    }


def interpret_smd(estimate: float, favourable_sign: str) -> str:
    """Cohen's rule of thumb (Cochrane Handbook 15.5.3.1) in the favourable direction."""
    size = abs(estimate)
    word = "small" if size < 0.5 else "moderate" if size < 0.8 else "large"
    if size < 0.2:
        return "little or no difference"
    favours = (estimate < 0) == (favourable_sign == "negative")
    return f"{word} effect {'favouring the intervention' if favours else 'favouring control'}"


def _per_1000(ratio: float, p0: float, measure: str) -> float:
    if measure == "logOR":
        return 1000 * ratio * p0 / (1 - p0 + ratio * p0)
    return 1000 * min(ratio * p0, 1.0)


def summary_of_findings(
    outcomes: Iterable[Mapping[str, Any]],
    ratings: Mapping[str, Mapping[str, Any]],
    settings: GradeSettings,
) -> pd.DataFrame:
    """The summary-of-findings table: one row per outcome domain, footnotes with reasons.

    ``outcomes``: the domains' pooled.json contents (unreported ones included);
    ``ratings``: :func:`rating` per domain.
    """
    rows = []
    for p in outcomes:
        domain = str(p["domain"])
        reported = bool(p.get("reported"))
        measure = str(p["measure"])
        spec = settings.outcomes.get(domain, OutcomeSpec())
        row: dict[str, Any] = {
            "domain": domain,
            "outcome": p.get("label") or domain,
            "studies": int(p.get("n_studies") or p.get("k") or 0),
            "participants": None if p.get("n_participants") is None else int(p["n_participants"]),
            "measure": measure,
        }
        level = f"{float(p.get('level') or 0.95) * 100:g}% CI"
        if not reported:
            row.update(effect=f"not pooled (k = {p.get('k')} < min_k)", certainty="not rated",
                       symbols="", footnotes="")  # fmt: skip
            rows.append(row)
            continue
        est, lo, hi = float(p["estimate"]), float(p["ci_low"]), float(p["ci_high"])
        if is_ratio(measure):
            name = ratio_name(measure)
            r, rl, rh = math.exp(est), math.exp(lo), math.exp(hi)
            row["effect"] = f"{name} {r:.2f} ({level} {rl:.2f} to {rh:.2f})"
            if spec.control_risk is not None:
                p0 = spec.control_risk
                base, with_i = 1000 * p0, _per_1000(r, p0, measure)
                d_lo, d_hi = _per_1000(rl, p0, measure) - base, _per_1000(rh, p0, measure) - base
                row["absolute"] = (
                    f"{base:.0f} per 1,000 without, {with_i:.0f} per 1,000 with the intervention "
                    f"({with_i - base:+.0f} per 1,000, {level} {d_lo:+.0f} to {d_hi:+.0f})"
                )
            else:
                row["absolute"] = "not computed: no control risk configured"
        else:
            row["effect"] = f"SMD {est:.2f} ({level} {lo:.2f} to {hi:.2f})"
            row["absolute"] = interpret_smd(est, str(p.get("favourable_sign") or "negative"))
        rt = ratings[domain]
        row["certainty"] = rt["certainty"]
        row["symbols"] = rt["symbols"]
        row["footnotes"] = "; ".join(
            f"{gd.replace('_', ' ')}: {d['final']} ({d['final_reason']})"
            for gd, d in rt["domains"].items()
            if d["final"] != "not serious"
        )
        rows.append(row)
    columns = ["domain", "outcome", "studies", "participants", "measure", "effect", "absolute",
               "certainty", "symbols", "footnotes"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


#: sof.csv's free-text columns, neutralised for spreadsheets.
SOF_TEXT_COLUMNS = ("domain", "outcome", "measure", "effect", "absolute", "certainty", "symbols",
                    "footnotes")  # fmt: skip


class GradeResult(NamedTuple):
    """``grade.json`` (per outcome domain: suggestions, decisions, certainty) and the SoF table."""

    ratings: dict[str, Any]
    sof: pd.DataFrame


def grade_review(
    strata_dir: str | Path,
    settings: GradeSettings,
    *,
    adjudication: str | Path | None = None,
    schema: str | Path | None = None,
) -> GradeResult:
    """Rate every outcome domain of ``strata.json``; build the SoF table.

    Reads each ``domain-<d>`` stratum's ``pooled.json``, ``data.csv`` (weights
    and RoB 2 overall judgements) and ``egger.json`` where it exists.
    """
    strata_dir = Path(strata_dir)
    index = read_json(strata_dir / "strata.json")
    names = sorted(n for n, v in index.items() if v["kind"] == "domain")
    # strata.json says what a stratum is (domain, measure, label, sign); pooled.json its numbers
    pooled = {
        str(index[n]["domain"]): {**index[n], **read_json(strata_dir / n / "pooled.json")}
        for n in names
    }
    adjudicated = {}
    if adjudication is not None:
        if schema is None:
            raise ValueError("the adjudication sheet needs its schema")
        adjudicated = load_adjudication(adjudication, schema, pooled)
    ratings: dict[str, Any] = {}
    for name in names:
        p = pooled[str(index[name]["domain"])]
        if not p.get("reported"):
            continue
        data = pd.read_csv(strata_dir / name / "data.csv", keep_default_na=False, na_values=[""])
        egger_path = strata_dir / name / "egger.json"
        egger = read_json(egger_path) if egger_path.is_file() else None
        suggested = rate_domain(p, data, egger, settings)
        ratings[str(p["domain"])] = {
            "label": p.get("label") or p["domain"],
            **rating(suggested, adjudicated, str(p["domain"])),
        }
    unused = sorted({d for d, _ in adjudicated} - set(ratings))
    out = {
        "rules": {
            "start": "High (randomised trials)",
            **{
                k: getattr(settings, k)
                for k in (
                    "rob_serious_share",
                    "rob_very_serious_share",
                    "egger_alpha",
                    "ois_alpha",
                    "ois_power",
                    "ois_relative_reduction",
                    "min_k_funnel",
                )
            },
        },  # fmt: skip
        "outcomes": ratings,
        "adjudications_for_unpooled_domains": unused,
    }
    return GradeResult(out, summary_of_findings(pooled.values(), ratings, settings))


def run(settings: GradeSettings, inputs: Mapping[str, Any]) -> GradeResult:
    """The stage's entry point (docs/contracts.md, "Stage entry points").

    ``inputs``: ``strata`` (``strata.json`` first, then the domain strata's
    files beside it), ``adjudication`` (the team's sheet: a path, or a list of
    none or one) and ``schema`` (its schema).
    """
    return grade_review(
        Path(inputs["strata"][0]).parent,
        settings,
        adjudication=optional_input(inputs.get("adjudication")),
        schema=inputs.get("schema"),
    )


def write(result: GradeResult, outputs: Mapping[str, str | Path]) -> None:
    """Write the rule's ``ratings`` (grade.json) and ``sof`` (sof.csv) outputs."""
    write_json(outputs["ratings"], result.ratings)
    write_csv(result.sof, outputs["sof"], text_columns=SOF_TEXT_COLUMNS)
