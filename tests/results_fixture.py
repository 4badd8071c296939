"""A small hand-made ``results/`` tree following docs/contracts.md (for report/bundle/cli tests).

Numbers in pooled.json are computed here with the DerSimonian-Laird estimator
so they are internally consistent; the report does not recompute them, it
only presents them, so their exact values do not matter to these tests.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)> javascript:alert(2)'

CONFIG = {
    "review": {"title": "Demo review <b>& friends</b>", "short_name": "demo"},
    "inputs": {"root": "resources/demo"},
    "search": {"start_date": "2010-06-20"},
    "extraction": {
        "stratifier": {
            "column": "platform",
            "label": "Platform",
            "values": {"whatsapp": "WhatsApp", "wechat": "WeChat", "line": "LINE"},
        },
        "domains": {
            "glycemic": {
                "label": "Glycemic control",
                "type": "continuous",
                "favourable_sign": "negative",
            },
            "knowledge": {
                "label": "Diabetes knowledge",
                "type": "continuous",
                "favourable_sign": "positive",
            },
            "complications": {
                "label": "Complications",
                "type": "binary",
                "favourable_sign": "negative",
            },
        },
    },
    "analysis": {"min_k": 3, "min_k_funnel": 10, "method": "REML"},
}


def _dl(yi: np.ndarray, vi: np.ndarray) -> dict:
    w = 1 / vi
    k = len(yi)
    mu_fe = np.sum(w * yi) / np.sum(w)
    q = float(np.sum(w * (yi - mu_fe) ** 2))
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    tau2 = max(0.0, (q - (k - 1)) / c) if k > 1 else 0.0
    ws = 1 / (vi + tau2)
    mu = float(np.sum(ws * yi) / np.sum(ws))
    se = float(math.sqrt(1 / np.sum(ws)))
    z = mu / se
    from scipy import stats

    return {
        "estimate": mu,
        "se": se,
        "zval": z,
        "pval": float(2 * stats.norm.sf(abs(z))),
        "ci_low": mu - 1.959964 * se,
        "ci_high": mu + 1.959964 * se,
        "pi_low": mu - 1.959964 * math.sqrt(se**2 + tau2),
        "pi_high": mu + 1.959964 * math.sqrt(se**2 + tau2),
        "tau2": tau2,
        "i2": max(0.0, 100 * (q - (k - 1)) / q) if q > 0 else 0.0,
        "q": q,
        "q_pval": float(stats.chi2.sf(q, k - 1)) if k > 1 else None,
    }


def write_stratum(results: Path, name: str, data: pd.DataFrame, meta: dict) -> dict:
    sdir = results / "strata" / name
    sdir.mkdir(parents=True, exist_ok=True)
    data.to_csv(sdir / "data.csv", index=False)
    k = len(data)
    pooled = {
        "stratum": name,
        "k": k,
        "method": "DL",
        "measure": meta["measure"],
        "label": meta["label"],
        "favourable_sign": meta["favourable_sign"],
        "level": 0.95,
        "test": "z",
        "converged": True,
        "h2": None,
        "influence_refit": None,
        "reported": k >= 3,
    }
    stats_ = _dl(data["yi"].to_numpy(float), data["vi"].to_numpy(float))
    pooled.update(stats_ if k >= 3 else {key: None for key in stats_})
    (sdir / "pooled.json").write_text(json.dumps(pooled, indent=2, sort_keys=True))
    rows = []
    for i in range(k):
        if k < 3:
            break
        keep = np.arange(k) != i
        r = _dl(data["yi"].to_numpy(float)[keep], data["vi"].to_numpy(float)[keep])
        rows.append(
            {
                "omitted": data["study_id"].iloc[i],
                **{
                    f: r[f]
                    for f in ("estimate", "se", "ci_low", "ci_high", "pval", "tau2", "i2", "q")
                },
            }
        )
    pd.DataFrame(
        rows, columns=["omitted", "estimate", "se", "ci_low", "ci_high", "pval", "tau2", "i2", "q"]
    ).to_csv(sdir / "loo.csv", index=False)
    if k >= 10:
        (sdir / "egger.json").write_text(json.dumps({"zval": 0.8, "pval": 0.42, "limit": -0.3}))
    return pooled


def make_results(
    root: Path, *, seed: int = 0, n_studies: int = 12, shift: float = 0.0, level: float = 0.95
) -> Path:
    """Write ``root/results`` and ``root/resources/demo``; returns the results folder.

    ``level``: the analysis level the design check was run with (the workflow passes
    ``analysis.level`` to it, as to every analysis rule).
    """
    rng = np.random.default_rng(seed)
    results = root / "results"
    platforms = ["whatsapp", "wechat", "line"]
    studies = pd.DataFrame(
        {
            "study_id": [f"study{i:02d}" for i in range(n_studies)],
            "record_id": [str(30000000 + i) for i in range(n_studies)],
            "citation": [f"Author{i} et al. ({2015 + i % 9})" for i in range(n_studies)],
            "platform": [platforms[i % 3] for i in range(n_studies)],
            "rob_d1": rng.choice(["low", "some concerns", "high"], n_studies),
            "rob_d2": rng.choice(["low", "some concerns"], n_studies),
            "rob_d3": rng.choice(["low", "high"], n_studies),
            "rob_d4": ["low"] * n_studies,
            "rob_d5": rng.choice(["low", "some concerns"], n_studies),
            "rob_overall": rng.choice(["low", "some concerns", "high"], n_studies),
        }
    )
    studies.loc[1, "citation"] = EVIL
    (results / "extraction").mkdir(parents=True, exist_ok=True)
    studies.to_csv(results / "extraction" / "studies.csv", index=False)

    effects = []
    for dom, mean, measure in (
        ("glycemic", -0.5, "SMD"),
        ("knowledge", 0.8, "SMD"),
        ("complications", -0.3, "logRR"),
    ):
        n_dom = n_studies if dom == "glycemic" else min(n_studies, 5 if dom == "knowledge" else 2)
        for i in range(n_dom):
            effects.append(
                {
                    "study_id": studies.study_id[i],
                    "record_id": studies.record_id[i],
                    "citation": studies.citation[i],
                    "domain": dom,
                    "platform": studies.platform[i],
                    "measure": measure,
                    "yi": float(rng.normal(mean + shift, 0.25)),
                    "vi": float(rng.uniform(0.02, 0.09)),
                    "n": 80 + i,
                }
            )
    eff = pd.DataFrame(effects)
    (results / "effects").mkdir(parents=True, exist_ok=True)
    eff.to_csv(results / "effects" / "effects.csv", index=False)

    index = {}
    labels = {d: v["label"] for d, v in CONFIG["extraction"]["domains"].items()}
    signs = {d: v["favourable_sign"] for d, v in CONFIG["extraction"]["domains"].items()}
    for dom, grp in eff.groupby("domain"):
        name = f"domain-{dom}"
        meta = {"measure": grp.measure.iloc[0], "label": labels[dom], "favourable_sign": signs[dom]}
        write_stratum(results, name, grp.reset_index(drop=True), meta)
        index[name] = {
            "k": len(grp),
            "kind": "domain",
            "domain": dom,
            "platform": None,
            "measure": meta["measure"],
        }
        for plat, g2 in grp.groupby("platform"):
            n2 = f"domain-{dom}_platform-{plat}"
            write_stratum(
                results, n2, g2.reset_index(drop=True), dict(meta, label=f"{labels[dom]}: {plat}")
            )
            index[n2] = {
                "k": len(g2),
                "kind": "domain-platform",
                "domain": dom,
                "platform": plat,
                "measure": meta["measure"],
            }
    cont = eff[eff.measure == "SMD"]
    for plat, g in cont.groupby("platform"):
        name = f"platform-{plat}"
        write_stratum(
            results,
            name,
            g.reset_index(drop=True),
            {"measure": "SMD", "label": plat, "favourable_sign": None},
        )
        index[name] = {
            "k": len(g),
            "kind": "platform",
            "domain": None,
            "platform": plat,
            "measure": "SMD",
        }
    (results / "strata" / "strata.json").write_text(json.dumps(index, indent=2, sort_keys=True))

    (results / "metareg").mkdir(parents=True, exist_ok=True)
    (results / "metareg" / "overall.json").write_text(
        json.dumps(
            {
                "k": len(cont),
                "coefficients": [
                    {
                        "term": "intrcpt",
                        "estimate": -0.2,
                        "se": 0.1,
                        "statistic": -2.0,
                        "pval": 0.045,
                        "ci_low": -0.4,
                        "ci_high": -0.005,
                    },
                    {
                        "term": "followup_weeks",
                        "estimate": 0.002,
                        "se": 0.004,
                        "statistic": 0.5,
                        "pval": 0.598,
                        "ci_low": -0.006,
                        "ci_high": 0.01,
                    },
                ],
                "tau2": 0.1,
                "i2": 50.0,
                "r2": 1.3,
                "qm": 0.25,
                "qm_pval": 0.598,
            }
        )
    )
    (results / "design_check.json").write_text(
        json.dumps(
            {
                "model": "ln_n ~ followup_weeks",
                "estimator": "OLS",
                "cov_type": "HC3",
                "test": "t",
                "n": n_studies,
                "level": level,
                "reported": True,
                "coefficients": [
                    {
                        "term": "intercept",
                        "estimate": 4.9,
                        "se": 0.29,
                        "tval": 16.9,
                        "pval": 2e-14,
                        "ci_low": 4.3,
                        "ci_high": 5.5,
                    },
                    {
                        "term": "followup_weeks",
                        "estimate": 0.01,
                        "se": 0.005,
                        "tval": 2.0,
                        "pval": 0.04,
                        "ci_low": 0.0,
                        "ci_high": 0.02,
                    },
                ],
                "r2": 0.08,
                "df_resid": n_studies - 2,
            }
        )  # fmt: skip
    )

    (results / "records").mkdir(parents=True, exist_ok=True)
    (results / "records" / "summary.json").write_text(
        json.dumps(
            {
                "identified": {"pubmed": 300, "embase": 40},
                "identified_total": 340,
                "duplicates_removed": 40,
                "unique": 300,
                "snapshots": [
                    {
                        "file": "search/pubmed/2026-11-20.xml.gz",
                        "sha256": "ab" * 32,
                        "until": "2026-11-20",
                        "count": 300,
                    }
                ],
                "exports": [],
                "latest_search": "2026-11-20",
                "new_in_latest": 3,
            }
        )
    )
    (results / "screening").mkdir(parents=True, exist_ok=True)
    (results / "screening" / "prisma.json").write_text(
        json.dumps(
            {
                "identified": {"pubmed": 300, "embase": 40},
                "identified_total": 340,
                "duplicates_removed": 40,
                "screened": 300,
                "excluded_title_abstract": 250,
                "fulltext_assessed": 50,
                "fulltext_excluded": {"not an RCT": 30, "non-extractable data": 8},
                "fulltext_excluded_total": 38,
                "awaiting": {},
                "conflicts": {},
                "included_records": n_studies,
                "included_studies": n_studies,
                "previous_included": n_studies,
                "new_included": 0,
            }
        )
    )
    (results / "screening" / "prisma.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="60"><text x="5" y="30">PRISMA</text></svg>\n'
    )
    # a tiny valid PNG (1x1)
    (results / "screening" / "prisma.png").write_bytes(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4c50000000049454e44ae426082"
        )
    )
    snap = root / "resources" / "demo" / "search" / "pubmed"
    snap.mkdir(parents=True, exist_ok=True)
    (snap / "2026-11-20.xml.gz").write_bytes(b"\x1f\x8b fake snapshot")
    (snap / "2026-11-20.json").write_text(json.dumps({"until": "2026-11-20"}))
    return results
