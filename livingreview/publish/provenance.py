"""What a published version contains and how it differs from the previous one.

Shared by the report (which shows "changes since the last version") and the
bundle (which writes ``CHANGES.md`` and decides whether anything changed at
all). A version is summarised by its studies (from ``effects.csv``) and its
strata (from ``strata/<stratum>/pooled.json``); the same layout is read from
``results/`` and from a published bundle.

Every change also says why (``causes``): the configuration keys that changed
(old -> new), the input files added, removed or changed (from the manifests'
checksums), the screening decisions that changed (from ``decisions.csv``,
with the sheet rows behind them), the effects chosen differently (with their
source rows) and the estimator or test. ``losses`` names the previously
included studies that vanished because their decisions or extraction were
lost, which holds a publication (``bundle.publish``).
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
import yaml

from ..formatting import finite

KEY_PACKAGES = (
    "livingreview",
    "snakemake",
    "pandas",
    "numpy",
    "scipy",
    "scikit-learn",
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
                "estimate": finite(p.get("estimate")),
                "ci_low": finite(p.get("ci_low")),
                "ci_high": finite(p.get("ci_high")),
                "pval": finite(p.get("pval")),
                "level": finite(p.get("level")) or 0.95,
                "measure": p.get("measure") or "SMD",
                "label": p.get("label") or pooled.parent.name,
                "method": p.get("method"),
                "test": p.get("test"),
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
    """Whether a reader sees any difference (results; the causes alone do not count)."""
    return changes["first_version"] or any(
        v for k, v in changes.items() if k not in ("first_version", "causes")
    )


# --------------------------------------------------------------------------- causes

CAUSE_KEYS = (
    "config_changed",
    "inputs_added",
    "inputs_removed",
    "inputs_changed",
    "methods_changed",
    "decisions_changed",
    "effects_changed",
)
MAX_LISTED = 50  # per section; the rest is counted
SIGNIFICANCE = "Supporting detail: p-values that crossed 1 - level (not a conclusion rule)"
OPTIONAL_SECTIONS = (
    "Why:",
    "Held back",
    "Published files changed",
    SIGNIFICANCE,
)  # left out when empty


def _flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys -> values (lists are values: ``priority`` changes as a whole)."""
    if isinstance(config, dict):
        out: dict[str, Any] = {}
        for key, value in config.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: config}


def config_changes(old: Any, new: Any) -> list[list[Any]]:
    """``[key, old, new]`` for every dotted key whose value differs (None: absent)."""
    a, b = _flatten(old or {}), _flatten(new or {})
    return [[k, a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def input_changes(old: dict[str, str] | None, new: dict[str, str] | None) -> dict[str, list[str]]:
    """Input files (relative to the input root) added, removed or changed, from their checksums."""
    a, b = old or {}, new or {}
    return {
        "inputs_added": sorted(set(b) - set(a)),
        "inputs_removed": sorted(set(a) - set(b)),
        "inputs_changed": sorted(k for k in set(a) & set(b) if a[k] != b[k]),
    }


def read_decisions(path: str | Path | None) -> dict[tuple[str, str], dict[str, str]]:
    """(record_id, stage) -> row of ``decisions.csv`` (empty when the file is absent)."""
    if path is None or not Path(path).is_file():
        return {}
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {(r["record_id"], r["stage"]): r for r in frame.to_dict("records")}


def decision_changes(
    old: dict[tuple[str, str], dict[str, str]], new: dict[tuple[str, str], dict[str, str]]
) -> list[dict[str, str]]:
    """Records whose status (or deciding rule) at a stage changed, with the rows behind them.

    A record that is new and unscreened is not a changed decision (the search
    added it); one that disappears is reported with status ``absent``.
    """
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        sa = (a["status"], a.get("rule", "")) if a else ("absent", "")
        sb = (b["status"], b.get("rule", "")) if b else ("absent", "")
        if sa == sb or (a is None and sb[0] == "unscreened"):
            continue
        out.append(
            {
                "record_id": key[0],
                "stage": key[1],
                "old": sa[0],
                "new": sb[0],
                "rule": sb[1],
                "sources": (b or a or {}).get("sources", ""),
            }
        )
    return out


def _effects(path: str | Path | None) -> dict[tuple[str, str], dict[str, str]]:
    if path is None or not Path(path).is_file():
        return {}
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {(r["study_id"], r["domain"]): r for r in frame.to_dict("records")}


def _chosen(r: dict[str, str] | None) -> str:
    if not r:
        return "none"
    return f"{r.get('outcome', '')} at {r.get('timepoint_weeks', '')} wk".strip()


EFFECT_FIELDS = ("outcome", "timepoint_weeks", "yi", "vi", "source")


def effect_changes(old_csv: str | Path | None, new_csv: str | Path | None) -> list[dict[str, str]]:
    """Per trial and domain: the effect chosen, its numbers or its source rows that changed."""
    a, b = _effects(old_csv), _effects(new_csv)
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if x and y and all(x.get(f) == y.get(f) for f in EFFECT_FIELDS):
            continue
        if x and y and _chosen(x) == _chosen(y):
            moved = x.get("yi") != y.get("yi") or x.get("vi") != y.get("vi")
            why = "same outcome, new numbers" if moved else "same numbers, other source rows"
        elif y:
            why = y.get("rule", "")
        else:
            why = "no effect selected any more"
        out.append(
            {
                "study_id": key[0],
                "domain": key[1],
                "old": _chosen(x),
                "new": _chosen(y),
                "why": why,
                "sources": (y or x or {}).get("source", ""),
            }
        )
    return out


def method_changes(old: dict[str, Any] | None, new: dict[str, Any]) -> list[list[str]]:
    """``[what, old, new]`` when the strata were pooled with another estimator or test."""
    if old is None:
        return []
    out = []
    for field in ("method", "test"):
        a = sorted({str(s.get(field)) for s in old["strata"].values() if s.get(field)})
        b = sorted({str(s.get(field)) for s in new["strata"].values() if s.get(field)})
        if a and b and a != b:
            name = "estimator (tau^2)" if field == "method" else "test"
            out.append([name, ", ".join(a), ", ".join(b)])
    return out


def causes(
    *,
    old_summary: dict[str, Any] | None,
    new_summary: dict[str, Any],
    old_config: Any = None,
    new_config: Any = None,
    old_inputs: dict[str, str] | None = None,
    new_inputs: dict[str, str] | None = None,
    old_decisions: str | Path | None = None,
    new_decisions: str | Path | None = None,
    old_effects: str | Path | None = None,
    new_effects: str | Path | None = None,
) -> dict[str, Any]:
    """Why a version differs from the previous one (empty lists for the first version).

    ``*_inputs`` are {path relative to the input root: SHA-256} (None: unknown,
    e.g. in the report's working copy, and then not compared).
    """
    out: dict[str, Any] = {k: [] for k in CAUSE_KEYS}
    if old_summary is None:
        return out
    if new_config is not None:
        out["config_changed"] = config_changes(old_config, new_config)
    if old_inputs is not None and new_inputs is not None:
        out.update(input_changes(old_inputs, new_inputs))
    out["methods_changed"] = method_changes(old_summary, new_summary)
    if old_decisions is not None and Path(old_decisions).is_file():
        out["decisions_changed"] = decision_changes(
            read_decisions(old_decisions), read_decisions(new_decisions)
        )
    out["effects_changed"] = effect_changes(old_effects, new_effects)
    return out


def explain(
    previous: str | Path | None,
    *,
    effects: str | Path,
    strata: str | Path,
    config: Any,
    decisions: str | Path | None,
    inputs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``compare`` of a new version with the published version folder ``previous``, plus ``causes``.

    The new version is given by its files (``results/`` or a staging folder);
    ``inputs`` (checksums of the input files) is compared with the previous
    manifest's when given.
    """
    prev = Path(previous) if previous is not None else None
    old = summarise(prev / "effects.csv", prev / "strata") if prev else None
    new = summarise(effects, strata)
    changes = compare(old, new)
    if prev is None:
        return changes
    old_config, old_inputs = None, None
    if (prev / "config.yaml").is_file():
        old_config = yaml.safe_load((prev / "config.yaml").read_text(encoding="utf-8"))
    if inputs is not None and (prev / "manifest.json").is_file():
        with open(prev / "manifest.json", encoding="utf-8") as fh:
            old_inputs = json.load(fh).get("inputs") or {}
    changes["causes"] = causes(
        old_summary=old,
        new_summary=new,
        old_config=old_config,
        new_config=config,
        old_inputs=old_inputs,
        new_inputs=inputs,
        old_decisions=prev / "screening" / "decisions.csv",
        new_decisions=decisions,
        old_effects=prev / "effects.csv",
        new_effects=effects,
    )
    return changes


def losses(
    changes: dict[str, Any],
    *,
    decisions: str | Path | None,
    studies: str | Path | None,
    old_effects: str | Path | None,
    old_decisions: str | Path | None = None,
) -> list[str]:
    """Previously included studies that vanished because decisions or extraction were lost.

    A study removed by a reviewer's explicit decision (its record now
    ``excluded``) or by a configuration change is not a loss. It is one when
    its record is no longer decided (``awaiting``, ``unscreened``,
    ``conflict`` or gone), when its extraction rows are gone, when it lost
    double extraction, or when an input file under ``screening/`` or
    ``extraction/`` was removed. One line per study, naming the files and
    decisions behind it.
    """
    removed = [sid for sid, _ in changes.get("studies_removed", [])]
    cause = changes.get("causes") or {}
    gone = [
        f for f in cause.get("inputs_removed", []) if f.split("/")[0] in ("screening", "extraction")
    ]
    if not removed:
        return []
    now, then = read_decisions(decisions), read_decisions(old_decisions)
    merged: dict[str, dict[str, str]] = {}
    if studies is not None and Path(studies).is_file():
        frame = pd.read_csv(studies, dtype=str, keep_default_na=False)
        merged = {r["study_id"]: r for r in frame.to_dict("records")}
    before = _effects(old_effects)
    out = []
    for sid in removed:
        rows = [r for (s, _), r in before.items() if s == sid]
        record = rows[0].get("record_id", "") if rows else ""
        files = {
            part.strip().rsplit(":", 1)[0]
            for r in rows
            for part in r.get("source", "").split(";")
            if part.strip()
        }
        for stage in ("title_abstract", "full_text"):
            for part in then.get((record, stage), {}).get("sources", "").split(";"):
                if "=" in part:
                    files.add("screening/" + part.split("=", 1)[1].strip().rsplit(":", 1)[0])
        extractors_then = {
            Path(f).stem.split("-")[0].split("_")[0] for f in files if f.startswith("extraction/")
        }
        why = []
        for stage in ("title_abstract", "full_text"):
            d = now.get((record, stage))
            if d is None or d["status"] in ("awaiting", "unscreened", "conflict"):
                state = d["status"] if d else "missing"
                why.append(f"record {record}: {stage} decision now {state}")
                break
        if not why:
            if sid not in merged:
                why.append("its extraction rows are gone")
            else:
                names = {e.strip() for e in merged[sid].get("extractors", "").split(";")}
                names.discard("")
                if len(names) < min(2, len(extractors_then)):
                    why.append(
                        f"double extraction lost (now {', '.join(sorted(names)) or 'nobody'}, "
                        f"was {', '.join(sorted(extractors_then))})"
                    )
        lost = sorted(f for f in gone if f in files)
        if lost:
            why.append("file(s) removed: " + ", ".join(lost))
        elif gone and not why:
            why.append("input file(s) removed: " + ", ".join(gone))
        elif gone:
            why.append("file(s) removed: " + ", ".join(gone))
        if why:
            out.append(f"{sid}: " + "; ".join(why))
    return out


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
        "Published files changed": list(changes.get("files_changed", [])),
    }
    cause = changes.get("causes") or {}

    def value(x: Any) -> str:
        return "(absent)" if x is None else json.dumps(x, ensure_ascii=False)

    def decided(c: dict[str, str]) -> str:
        rule = f" ({c['rule']})" if c["rule"] and c["rule"] != "none" else ""
        rows = f"; rows: {c['sources']}" if c["sources"] else ""
        return f"{c['record_id']} {c['stage']}: {c['old']} -> {c['new']}{rule}{rows}"

    def chosen(c: dict[str, str]) -> str:
        rows = f"; rows: {c['sources']}" if c["sources"] else ""
        return f"{c['study_id']} {c['domain']}: {c['old']} -> {c['new']} ({c['why']}){rows}"

    why = {
        "Why: configuration changed (old -> new)": [
            f"{k}: {value(a)} -> {value(b)}" for k, a, b in cause.get("config_changed", [])
        ],
        "Why: estimator or test changed": [
            f"{w}: {a} -> {b}" for w, a, b in cause.get("methods_changed", [])
        ],
        "Why: input files added": list(cause.get("inputs_added", [])),
        "Why: input files removed": list(cause.get("inputs_removed", [])),
        "Why: input files changed": list(cause.get("inputs_changed", [])),
        "Why: screening decisions changed": [
            decided(c) for c in cause.get("decisions_changed", [])
        ],
        "Why: effects chosen or computed differently": [
            chosen(c) for c in cause.get("effects_changed", [])
        ],
        "Held back, published with publish.allow_removals": list(changes.get("losses", [])),
        # supporting detail only: repeated testing makes p-value flips no conclusion (whats_new)
        SIGNIFICANCE: [
            f"{c['stratum']}: {sig[c['old']]} -> {sig[c['new']]}"
            for c in changes["significance_changed"]
        ],
    }
    sections.update(why)
    for lines in sections.values():
        if len(lines) > MAX_LISTED:
            lines[MAX_LISTED:] = [f"... and {len(lines) - MAX_LISTED} more"]
    return sections


def changes_markdown(
    changes: dict[str, Any], version: str, previous: str | None, date: str, *, preface: str = ""
) -> str:
    """CHANGES.md of a bundle. Text from sheets is kept on one line per item.

    ``preface``: the "What's new" block (:func:`livingreview.publish.whats_new.markdown`), first.
    """
    head = f"# Changes in version {version} ({date})\n\n"
    if changes["first_version"] or previous is None:
        head += "First published version: everything below is new.\n\n"
    else:
        head += f"Compared with version {previous}.\n\n"
    head += preface
    body = []
    for title, lines in change_lines(changes).items():
        if changes["first_version"] and title not in ("Studies added", "New strata"):
            continue
        if not lines and title.startswith(OPTIONAL_SECTIONS):
            continue
        body.append(f"## {title}\n")
        if lines:
            body.extend(f"- {' '.join(line.split())}" for line in lines)
        else:
            body.append("None.")
        body.append("")
    return head + "\n".join(body)
