"""What the report reads of the analysis outputs: strata, Table 2, meta-regression, studies.

Plain tables (no HTML): the report's tables and figures are made from these,
and the CSV downloads are these tables as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..contract import parse_stratum
from ..io import read_json
from ..measures import display, is_ratio
from .report_settings import ReportSettings


def as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_json_or_none(path: Path) -> Any:
    return read_json(path) if path.is_file() else None


def read_strata(results: Path) -> dict[str, dict[str, Any]]:
    """``strata.json`` entries merged with each stratum's ``pooled.json``, sorted by name."""
    results = Path(results)
    index = read_json_or_none(results / "strata" / "strata.json") or {}
    out: dict[str, dict[str, Any]] = {}
    names = set(index) | {p.parent.name for p in (results / "strata").glob("*/pooled.json")}
    for name in sorted(names):
        pooled = read_json_or_none(results / "strata" / name / "pooled.json") or {}
        info = dict(index.get(name, {}))
        info.update(pooled)
        info["stratum"] = name
        info.setdefault("kind", _kind(name))
        out[name] = info
    return out


def _parsed(name: str) -> Mapping[str, Any]:
    try:
        return parse_stratum(name)
    except ValueError:
        return {"kind": "domain" if name.startswith("domain-") else "platform"}


def _kind(name: str) -> str:
    return str(_parsed(name)["kind"])


def domain_of(info: Mapping[str, Any]) -> str | None:
    if info.get("domain"):
        return str(info["domain"])
    return _parsed(info["stratum"]).get("domain")


def platform_of(info: Mapping[str, Any]) -> str | None:
    """The stratifier value of a stratum (``platform`` in strata.json, whatever the stratifier)."""
    if info.get("platform"):
        return str(info["platform"])
    return _parsed(info["stratum"]).get("platform")


def _shown(info: Mapping[str, Any], field: str) -> float:
    return display(info.get(field), info.get("measure"))


def _cell(info: Mapping[str, Any]) -> str:
    k = int(as_float(info.get("k"))) if math.isfinite(as_float(info.get("k"))) else 0
    if not info.get("reported") or not math.isfinite(as_float(info.get("estimate"))):
        return f"NE (k = {k})"
    name = "RR" if is_ratio(info.get("measure")) else "SMD"
    return (
        f"k = {k}; {name} {_shown(info, 'estimate'):.2f} "
        f"[{_shown(info, 'ci_low'):.2f}, {_shown(info, 'ci_high'):.2f}]; "
        f"I\u00b2 = {as_float(info.get('i2')):.0f}%"
    )


def strata_table(strata: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One row per stratum with the numbers a reader looks for (ratios back-transformed too)."""
    rows = []
    for name, s in strata.items():
        ratio = is_ratio(s.get("measure"))
        rows.append(
            {
                "stratum": name,
                "kind": s.get("kind"),
                "domain": domain_of(s),
                "platform": platform_of(s),
                "label": s.get("label"),
                "measure": s.get("measure"),
                "k": s.get("k"),
                "reported": bool(s.get("reported")),
                "estimate": s.get("estimate"),
                "ci_low": s.get("ci_low"),
                "ci_high": s.get("ci_high"),
                "pval": s.get("pval"),
                "tau2": s.get("tau2"),
                "i2": s.get("i2"),
                "q": s.get("q"),
                "q_pval": s.get("q_pval"),
                "pi_low": s.get("pi_low"),
                "pi_high": s.get("pi_high"),
                "model": s.get("model") or "univariate",
                "n_trials": s.get("n_trials", s.get("n_studies")),
                "inference": s.get("inference"),
                "rho": s.get("rho"),
                "exp_estimate": _shown(s, "estimate") if ratio else None,
                "exp_ci_low": _shown(s, "ci_low") if ratio else None,
                "exp_ci_high": _shown(s, "ci_high") if ratio else None,
                "favourable_sign": s.get("favourable_sign"),
            }
        )
    return pd.DataFrame(rows)


def platform_domain_table(
    strata: Mapping[str, Mapping[str, Any]], settings: ReportSettings
) -> pd.DataFrame:
    """Table 2: one row per platform x domain (platform "all" = the domain stratum).

    Columns: ``platform, domain, stratum, k, measure, estimate, ci_low, ci_high,
    i2, reported, cell``; ratios are shown back-transformed in ``cell`` only.
    Combinations with no stratum are listed with k = 0 and NE.
    """
    domains = list(settings.domain_labels)
    platforms = list(settings.platform_labels)
    for s in strata.values():
        d, p = domain_of(s), platform_of(s)
        if d and d not in domains:
            domains.append(d)
        if s.get("kind") == "domain-platform" and p and p not in platforms:
            platforms.append(p)
    by_key = {}
    for s in strata.values():
        kind = s.get("kind")
        if kind == "domain":
            by_key[("all", domain_of(s))] = s
        elif kind == "domain-platform":
            by_key[(platform_of(s), domain_of(s))] = s
    rows = []
    for p in ["all", *platforms]:
        for d in domains:
            s = by_key.get((p, d))
            if s is None:
                rows.append(
                    {"platform": p, "domain": d, "stratum": "", "k": 0, "reported": False}
                    | {"cell": "NE (k = 0)"}
                )
                continue
            rows.append(
                {
                    "platform": p,
                    "domain": d,
                    "stratum": s["stratum"],
                    "k": s.get("k"),
                    "measure": s.get("measure"),
                    "estimate": s.get("estimate") if s.get("reported") else None,
                    "ci_low": s.get("ci_low") if s.get("reported") else None,
                    "ci_high": s.get("ci_high") if s.get("reported") else None,
                    "i2": s.get("i2") if s.get("reported") else None,
                    "reported": bool(s.get("reported")),
                    "cell": _cell(s),
                }
            )
    cols = [
        "platform",
        "domain",
        "stratum",
        "k",
        "measure",
        "estimate",
        "ci_low",
        "ci_high",
        "i2",
        "reported",
        "cell",
    ]
    return pd.DataFrame(rows).reindex(columns=cols)


def metaregression_table(results: Path) -> pd.DataFrame:
    """Flatten ``results/metareg/*.json`` into one row per model x coefficient.

    The coefficient table may be a list of records (with ``term``) or a mapping
    ``term -> {estimate, se, ...}``; model-level numbers (k, tau2, i2, r2, qm,
    qm_pval) are repeated on each row.
    """
    rows = []
    for path in sorted((Path(results) / "metareg").glob("*.json")):
        model = read_json(path)
        if not isinstance(model, dict):
            continue
        coefs = model.get("coefficients") or model.get("coef") or []
        if isinstance(coefs, dict):
            coefs = [
                {"term": t, **(v if isinstance(v, dict) else {"estimate": v})}
                for t, v in coefs.items()
            ]
        level = {
            f: model.get(f)
            for f in ("k", "tau2", "i2", "r2", "qm", "qm_pval", "method", "reported")
            if f in model and not isinstance(model.get(f), dict | list)
        }
        if not coefs:
            rows.append({"model": path.stem, "term": None, **level})
        for c in coefs:
            c = dict(c)
            row = {"model": path.stem, "term": c.pop("term", c.pop("name", None))}
            row.update({k: v for k, v in c.items() if not isinstance(v, dict | list)})
            row.update(level)
            rows.append(row)
    return pd.DataFrame(rows)


def load_studies(results: Path) -> pd.DataFrame | None:
    path = Path(results) / "extraction" / "studies.csv"
    return pd.read_csv(path, dtype=str, keep_default_na=False) if path.is_file() else None
