"""What's new in a version, the way living reviews report it: changes of conclusions, not p-values.

Cochrane's living-review guidance warns against headlining "statistical
significance changed" on every update (repeated testing). A version's
``whats_new.json`` instead says what kind of change it is (new or removed
studies and why, new analyses, methods or protocol changed) and, per outcome
domain, whether the conclusion changed under pre-specified rules:

* the confidence interval moved to another side of the decision threshold
  (the minimal important difference of ``grade.outcomes`` when set, else no
  effect): e.g. from "includes the threshold" to "beyond it";
* the same for the prediction interval;
* the certainty of evidence (GRADE, final rating) changed;
* the direction of the pooled estimate changed.

Estimates and intervals are always reported, old and new.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..evidence.grade import GradeSettings, OutcomeSpec, thresholds
from ..formatting import finite
from ..io import read_json
from ..measures import display, ratio_name

__all__ = ["interval_position", "markdown", "outcome_states", "state_text", "whats_new"]

RULES = (
    "confidence interval against the decision threshold",
    "prediction interval against the decision threshold",
    "certainty of evidence (GRADE, final rating)",
    "direction of the pooled estimate",
)


def interval_position(
    low: float | None, high: float | None, threshold: float, favourable_sign: str
) -> str | None:
    """Where an interval lies against the decision threshold, in the reader's words.

    >>> interval_position(-0.6, -0.3, 0.0, "negative")
    'favours the intervention'
    >>> interval_position(-0.6, 0.1, 0.0, "negative")
    'includes the threshold'
    >>> interval_position(0.2, 0.5, -0.2, "positive")
    'beyond the threshold (favours the intervention)'
    """
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    if low <= threshold <= high:
        return "includes the threshold"
    favourable_side = high < threshold if favourable_sign == "negative" else low > threshold
    if threshold == 0:
        return "favours the intervention" if favourable_side else "favours control"
    return f"beyond the threshold (favours {'the intervention' if favourable_side else 'control'})"


def outcome_states(version_dir: Path, settings: GradeSettings) -> dict[str, dict[str, Any]]:
    """Per outcome domain of a version folder (bundle or staging): numbers and their positions."""
    index_path = version_dir / "strata" / "strata.json"
    if not index_path.is_file():
        return {}
    index = read_json(index_path)
    grade_path = version_dir / "grade" / "grade.json"
    ratings = (read_json(grade_path) if grade_path.is_file() else {}).get("outcomes") or {}
    out: dict[str, dict[str, Any]] = {}
    for name, info in sorted(index.items()):
        if (
            info.get("kind") != "domain"
            or not (version_dir / "strata" / name / "pooled.json").is_file()
        ):
            continue
        p = {**info, **read_json(version_dir / "strata" / name / "pooled.json")}
        domain, sign, measure = (
            str(p["domain"]),
            str(p.get("favourable_sign") or "negative"),
            str(p["measure"]),
        )
        spec = settings.outcomes.get(domain, OutcomeSpec())
        thr = thresholds(measure, sign, spec.mid)
        t = thr[0] if thr else 0.0  # the important-benefit threshold, or no effect
        est = finite(p.get("estimate")) if p.get("reported") else None
        state = {
            "label": p.get("label") or domain,
            "measure": measure,
            "k": int(p.get("k") or 0),
            "reported": bool(p.get("reported")),
            "estimate": est,
            "ci": [finite(p.get("ci_low")), finite(p.get("ci_high"))] if est is not None else None,
            "pi": [finite(p.get("pi_low")), finite(p.get("pi_high"))] if est is not None else None,
            "threshold": t,
            "threshold_kind": "minimal important difference" if thr else "no effect",
            "certainty": (ratings.get(domain) or {}).get("certainty"),
        }
        state["ci_position"] = interval_position(*(state["ci"] or (None, None)), t, sign)
        state["pi_position"] = interval_position(*(state["pi"] or (None, None)), t, sign)
        state["direction"] = _direction(est, sign)
        out[domain] = state
    return out


def _direction(estimate: float | None, favourable_sign: str) -> str | None:
    if estimate is None:
        return None
    if estimate == 0:
        return "none"
    return "favourable" if (estimate < 0) == (favourable_sign == "negative") else "unfavourable"


def _reasons(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[str]:
    if old is None or new is None:
        return ["outcome added" if old is None else "outcome removed"]
    if old["reported"] != new["reported"]:
        return [f"pooled estimate {'now' if new['reported'] else 'no longer'} reported (k = {old['k']} -> {new['k']})"]  # fmt: skip
    reasons = []
    for key, rule in zip(
        ("ci_position", "pi_position", "certainty", "direction"), RULES, strict=True
    ):
        if old.get(key) is not None and new.get(key) is not None and old[key] != new[key]:
            reasons.append(f"{rule}: {old[key]} -> {new[key]}")
    return reasons


def whats_new(
    previous: Path | None,
    stage: Path,
    changes: Mapping[str, Any],
    settings: GradeSettings,
    *,
    version: str,
    date: str,
) -> dict[str, Any]:
    """``whats_new.json`` of a version being published (``stage``) against ``previous``.

    ``changes``: :func:`livingreview.publish.provenance.explain`'s result for the same pair.
    """
    new = outcome_states(stage, settings)
    old = outcome_states(previous, settings) if previous is not None else None
    causes = changes.get("causes") or {}
    decided = {c["record_id"]: c for c in causes.get("decisions_changed", [])}
    records = _record_ids(previous)
    removed = []
    for sid, citation in changes.get("studies_removed", []):
        change = decided.get(records.get(sid, ""))
        if change and change.get("rule") == "retraction-watch":
            why = "removal of a retracted study (PubMed marks it retracted)"
        elif change:
            why = f"screening decision changed ({change['stage']}: {change['old']} -> {change['new']})"
        else:
            why = "no longer in the extracted data"
        removed.append({"study_id": sid, "citation": citation, "why": why})
    outcomes = []
    for domain in sorted(set(new) | set(old or {})):
        a = None if old is None else old.get(domain)
        b = new.get(domain)
        reasons = [] if old is None else _reasons(a, b)
        outcomes.append({"domain": domain, "old": a, "new": b, "conclusion_changed": bool(reasons),
                         "reasons": reasons})  # fmt: skip
    methods = [{"key": k, "old": a, "new": b} for k, a, b in causes.get("config_changed", [])] + [
        {"key": w, "old": a, "new": b} for w, a, b in causes.get("methods_changed", [])
    ]
    kinds = [
        label
        for label, present in (
            ("first version", previous is None),
            ("new studies", changes.get("studies_added") and previous is not None),
            ("studies removed", removed),
            ("new analyses", changes.get("strata_added") and previous is not None),
            ("analyses removed", changes.get("strata_removed")),
            ("methods or protocol changed", methods),
            ("conclusions changed", any(o["conclusion_changed"] for o in outcomes)),
        )
        if present
    ]
    return {
        "version": version,
        "date": date,
        "previous": previous.name if previous is not None else None,
        "change_types": kinds,
        "conclusion_rules": list(RULES),
        "conclusions_changed": [o["domain"] for o in outcomes if o["conclusion_changed"]],
        "outcomes": outcomes,
        "studies_added": [
            {"study_id": s, "citation": c} for s, c in changes.get("studies_added", [])
        ],
        "studies_removed": removed,
        "analyses_added": list(changes.get("strata_added", [])) if previous is not None else [],
        "analyses_removed": list(changes.get("strata_removed", [])),
        "methods_changed": methods,
    }


def _record_ids(version_dir: Path | None) -> dict[str, str]:
    """study_id -> record_id from a version's ``effects.csv`` (for why a study left)."""
    path = None if version_dir is None else version_dir / "effects.csv"
    if path is None or not path.is_file():
        return {}
    with open(path, encoding="utf-8", newline="") as fh:
        return {r["study_id"]: r.get("record_id", "") for r in csv.DictReader(fh)}


def markdown(news: Mapping[str, Any]) -> str:
    """The "What's new" block that heads ``CHANGES.md``."""
    lines = ["## What's new", ""]
    lines.append("Type of change: " + (", ".join(news["change_types"]) or "none") + ".")
    lines.append("")
    lines.append(
        "Conclusions, judged by pre-specified rules (" + "; ".join(news["conclusion_rules"]) + "):"
    )
    lines.append("")
    for o in news["outcomes"]:
        b = o["new"] or o["old"]
        label = b["label"] if b else o["domain"]
        now = state_text(o["new"])
        if news["previous"] is None:
            lines.append(f"- {label}: {now}")
        elif o["conclusion_changed"]:
            lines.append(f"- {label}: **conclusion changed** ({'; '.join(o['reasons'])}); was {state_text(o['old'])}; now {now}")  # fmt: skip
        else:
            lines.append(f"- {label}: conclusion unchanged; now {now}")
    for s in news["studies_removed"]:
        lines.append(f"- Study removed: {s['study_id']} ({s['why']})")
    return "\n".join(lines) + "\n\n"


def state_text(s: Mapping[str, Any] | None) -> str:
    if s is None:
        return "not analysed"
    if not s["reported"]:
        return f"not pooled (k = {s['k']})"

    def f(x: float) -> str:
        return f"{display(x, s['measure']):.2f}"

    name = ratio_name(s["measure"])
    text = f"{name} {f(s['estimate'])} (CI {f(s['ci'][0])} to {f(s['ci'][1])}; k = {s['k']}); CI {s['ci_position']}"
    if s.get("certainty"):
        text += f"; certainty {s['certainty']}"
    return text
