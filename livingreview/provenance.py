"""What a published version contains and how it differs from the previous one.

Shared by the report (which shows "changes since the last version") and the
bundle (which writes ``CHANGES.md`` and decides whether anything changed at
all). A version is summarised by its studies (from ``effects.csv``) and its
strata (from ``strata/<stratum>/pooled.json``); the same layout is read from
``results/`` and from a published bundle.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

KEY_PACKAGES = (
    "livingreview",
    "snakemake",
    "pandas",
    "numpy",
    "scipy",
    "statsmodels",
    "matplotlib",
    "requests",
    "biopython",
    "lxml",
    "rispy",
    "rapidfuzz",
    "openpyxl",
    "PyYAML",
    "jsonschema",
)
EPS = 1e-9  # estimates closer than this are the same number (files are written with 10 digits)


def software_versions() -> dict[str, Any]:
    """Python and the versions of the packages that produce or shape the numbers."""
    packages = {}
    for name in KEY_PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": sys.platform,
        "packages": packages,
    }


def git_commit(repo: str | Path) -> dict[str, Any]:
    """Commit of the pipeline checkout and whether it had uncommitted changes (None outside git)."""

    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=20
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    status = run("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


# --------------------------------------------------------------------------- summaries


def _num(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def summarise(effects_csv: str | Path | None, strata_dir: str | Path | None) -> dict[str, Any]:
    """Studies and per-stratum results of one version (missing files give empty parts)."""
    studies: dict[str, str] = {}
    if effects_csv is not None and Path(effects_csv).is_file():
        eff = pd.read_csv(effects_csv, dtype=str, keep_default_na=False)
        for sid, cit in zip(
            eff.get("study_id", []), eff.get("citation", [""] * len(eff)), strict=False
        ):
            studies.setdefault(sid, cit)
    strata: dict[str, dict[str, Any]] = {}
    if strata_dir is not None and Path(strata_dir).is_dir():
        for pooled in sorted(Path(strata_dir).glob("*/pooled.json")):
            with open(pooled, encoding="utf-8") as fh:
                p = json.load(fh)
            strata[pooled.parent.name] = {
                "k": int(p.get("k") or 0),
                "reported": bool(p.get("reported")),
                "estimate": _num(p.get("estimate")),
                "ci_low": _num(p.get("ci_low")),
                "ci_high": _num(p.get("ci_high")),
                "pval": _num(p.get("pval")),
                "level": _num(p.get("level")) or 0.95,
                "measure": p.get("measure") or "SMD",
                "label": p.get("label") or pooled.parent.name,
            }
    return {"studies": studies, "strata": strata}


def _significant(s: dict[str, Any]) -> bool | None:
    if not s["reported"] or s["pval"] is None:
        return None
    return s["pval"] < 1 - s["level"]


def _direction(s: dict[str, Any]) -> int | None:
    if not s["reported"] or s["estimate"] is None:
        return None
    return 0 if s["estimate"] == 0 else (1 if s["estimate"] > 0 else -1)


def compare(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """Differences between two summaries; ``old=None`` means this is the first version.

    Significance is two-sided ``p < 1 - level`` (0.05 by default); direction is
    the sign of the pooled estimate on the analysis scale (SMD or log RR).
    """
    out: dict[str, Any] = {
        "first_version": old is None,
        "studies_added": [],
        "studies_removed": [],
        "strata_added": [],
        "strata_removed": [],
        "estimate_changed": [],
        "significance_changed": [],
        "direction_changed": [],
        "became_reportable": [],
        "no_longer_reportable": [],
    }
    if old is None:
        out["studies_added"] = [[k, v] for k, v in sorted(new["studies"].items())]
        out["strata_added"] = sorted(new["strata"])
        return out
    out["studies_added"] = [
        [k, v] for k, v in sorted(new["studies"].items()) if k not in old["studies"]
    ]
    out["studies_removed"] = [
        [k, v] for k, v in sorted(old["studies"].items()) if k not in new["studies"]
    ]
    out["strata_added"] = sorted(set(new["strata"]) - set(old["strata"]))
    out["strata_removed"] = sorted(set(old["strata"]) - set(new["strata"]))
    for name in sorted(set(new["strata"]) & set(old["strata"])):
        a, b = old["strata"][name], new["strata"][name]
        if not a["reported"] and b["reported"]:
            out["became_reportable"].append({"stratum": name, "k_old": a["k"], "k_new": b["k"]})
        if a["reported"] and not b["reported"]:
            out["no_longer_reportable"].append({"stratum": name, "k_old": a["k"], "k_new": b["k"]})
        if a["reported"] and b["reported"]:
            moved = any(
                (x is None) != (y is None) or (x is not None and abs(x - y) > EPS)
                for x, y in ((a[f], b[f]) for f in ("estimate", "ci_low", "ci_high"))
            )
            if moved or a["k"] != b["k"]:
                out["estimate_changed"].append(
                    {
                        "stratum": name,
                        "measure": b["measure"],
                        "k_old": a["k"],
                        "k_new": b["k"],
                        "old": [a["estimate"], a["ci_low"], a["ci_high"]],
                        "new": [b["estimate"], b["ci_low"], b["ci_high"]],
                    }
                )
            if _significant(a) != _significant(b):
                out["significance_changed"].append(
                    {"stratum": name, "old": _significant(a), "new": _significant(b)}
                )
            if _direction(a) != _direction(b):
                out["direction_changed"].append(
                    {"stratum": name, "old": _direction(a), "new": _direction(b)}
                )
    return out


def has_changes(changes: dict[str, Any]) -> bool:
    return changes["first_version"] or any(v for k, v in changes.items() if k != "first_version")


def _fmt(x: float | None, measure: str) -> str:
    if x is None:
        return "NA"
    if str(measure).upper() in ("LOGRR", "LOGOR"):
        return f"{math.exp(x):.3f}"
    return f"{x:.3f}"


def _triple(v: list, measure: str) -> str:
    return f"{_fmt(v[0], measure)} [{_fmt(v[1], measure)}, {_fmt(v[2], measure)}]"


def change_lines(changes: dict[str, Any]) -> dict[str, list[str]]:
    """Plain-text lines per section (used for Markdown and, escaped, for HTML)."""
    sig = {True: "significant", False: "not significant", None: "not estimated"}
    dirn = {1: "positive", -1: "negative", 0: "zero", None: "not estimated"}
    sections = {
        "Studies added": [f"{sid}: {cit}" if cit else sid for sid, cit in changes["studies_added"]],
        "Studies removed": [
            f"{sid}: {cit}" if cit else sid for sid, cit in changes["studies_removed"]
        ],
        "Strata whose estimate changed (old -> new)": [
            f"{c['stratum']} ({'RR' if c['measure'].upper() == 'LOGRR' else c['measure']}): "
            f"{_triple(c['old'], c['measure'])} (k = {c['k_old']}) -> "
            f"{_triple(c['new'], c['measure'])} (k = {c['k_new']})"
            for c in changes["estimate_changed"]
        ],
        "Changes of statistical significance": [
            f"{c['stratum']}: {sig[c['old']]} -> {sig[c['new']]}"
            for c in changes["significance_changed"]
        ],
        "Changes of direction": [
            f"{c['stratum']}: {dirn[c['old']]} -> {dirn[c['new']]}"
            for c in changes["direction_changed"]
        ],
        "Strata that became reportable": [
            f"{c['stratum']}: k = {c['k_old']} -> {c['k_new']}"
            for c in changes["became_reportable"]
        ],
        "Strata no longer reportable": [
            f"{c['stratum']}: k = {c['k_old']} -> {c['k_new']}"
            for c in changes["no_longer_reportable"]
        ],
        "New strata": list(changes["strata_added"]),
        "Strata removed": list(changes["strata_removed"]),
    }
    return sections


def changes_markdown(changes: dict[str, Any], version: str, previous: str | None, date: str) -> str:
    """CHANGES.md of a bundle. Text from sheets is kept on one line per item."""
    head = f"# Changes in version {version} ({date})\n\n"
    if changes["first_version"] or previous is None:
        head += "First published version: everything below is new.\n\n"
    else:
        head += f"Compared with version {previous}.\n\n"
    body = []
    for title, lines in change_lines(changes).items():
        if changes["first_version"] and title not in ("Studies added", "New strata"):
            continue
        body.append(f"## {title}\n")
        if lines:
            body.extend(f"- {' '.join(line.split())}" for line in lines)
        else:
            body.append("None.")
        body.append("")
    return head + "\n".join(body)
