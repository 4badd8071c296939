"""What's new: conclusions judged by pre-specified rules, on hand-built version folders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from livingreview.evidence.grade import GradeSettings
from livingreview.publish import whats_new

S = GradeSettings()


def version(folder: Path, outcomes: dict, certainty: dict | None = None, effects: str = "") -> Path:
    """A version folder with domain strata (pooled.json), grade.json and effects.csv."""
    index = {}
    for domain, p in outcomes.items():
        name = f"domain-{domain}"
        index[name] = {"kind": "domain", "domain": domain, "k": p["k"], "measure": p.get("measure", "SMD"),
                       "favourable_sign": p.get("sign", "negative"), "label": domain.title()}  # fmt: skip
        pooled = {"k": p["k"], "reported": p["k"] >= 3, "estimate": p.get("est"),
                  "ci_low": p.get("ci", (None, None))[0], "ci_high": p.get("ci", (None, None))[1],
                  "pi_low": p.get("pi", (None, None))[0], "pi_high": p.get("pi", (None, None))[1]}  # fmt: skip
        (folder / "strata" / name).mkdir(parents=True)
        (folder / "strata" / name / "pooled.json").write_text(json.dumps(pooled))
    (folder / "strata" / "strata.json").write_text(json.dumps(index))
    if certainty is not None:
        (folder / "grade").mkdir()
        grade = {"outcomes": {d: {"certainty": c} for d, c in certainty.items()}}
        (folder / "grade" / "grade.json").write_text(json.dumps(grade))
    (folder / "effects.csv").write_text("study_id,record_id\n" + effects)
    return folder


@pytest.mark.parametrize(
    ("low", "high", "threshold", "sign", "expected"),
    [
        (-0.6, -0.3, 0.0, "negative", "favours the intervention"),
        (0.1, 0.3, 0.0, "negative", "favours control"),
        (-0.6, 0.1, 0.0, "negative", "includes the threshold"),
        (0.3, 0.9, 0.0, "positive", "favours the intervention"),
        (-0.6, -0.3, -0.2, "negative", "beyond the threshold (favours the intervention)"),
        (-0.6, -0.1, -0.2, "negative", "includes the threshold"),
        (
            math.log(0.5),
            math.log(0.7),
            math.log(0.75),
            "negative",
            "beyond the threshold (favours the intervention)",
        ),  # fmt: skip
        (None, 0.3, 0.0, "negative", None),
    ],
)
def test_interval_position(low, high, threshold, sign, expected):
    assert whats_new.interval_position(low, high, threshold, sign) == expected


def test_conclusion_changes_when_the_ci_leaves_the_threshold(tmp_path):
    old = version(tmp_path / "v1", {"glycemic": dict(k=8, est=-0.2, ci=(-0.5, 0.05), pi=(-0.9, 0.4)),
                                    "knowledge": dict(k=5, est=0.5, ci=(0.2, 0.8), pi=(-0.2, 1.2), sign="positive")},
                  {"glycemic": "Moderate", "knowledge": "Low"}, "s9,r9\n")  # fmt: skip
    new = version(tmp_path / "v2", {"glycemic": dict(k=9, est=-0.3, ci=(-0.55, -0.05), pi=(-0.9, 0.3)),
                                    "knowledge": dict(k=5, est=0.5, ci=(0.2, 0.8), pi=(-0.2, 1.2), sign="positive")},
                  {"glycemic": "Moderate", "knowledge": "Low"})  # fmt: skip
    changes = {
        "studies_added": [["s10", "Ten et al."]],
        "studies_removed": [["s9", "Nine et al."]],
        "causes": {
            "decisions_changed": [
                {"record_id": "r9", "stage": "full_text", "old": "include", "new": "exclude"}
            ],
            "config_changed": [],
            "methods_changed": [],
        },  # fmt: skip
    }
    news = whats_new.whats_new(old, new, changes, S, version="v2", date="2026-12-02")
    glyc, know = news["outcomes"]
    assert glyc["conclusion_changed"] and news["conclusions_changed"] == ["glycemic"]
    assert glyc["reasons"] == [
        "confidence interval against the decision threshold: includes the threshold -> favours the intervention"
    ]
    assert glyc["old"]["ci"] == [-0.5, 0.05] and glyc["new"]["k"] == 9
    assert not know["conclusion_changed"] and know["reasons"] == []
    assert news["studies_removed"] == [{"study_id": "s9", "citation": "Nine et al.",
                                        "why": "screening decision changed (full_text: include -> exclude)"}]  # fmt: skip
    assert news["change_types"] == ["new studies", "studies removed", "conclusions changed"]
    text = whats_new.markdown(news)
    assert (
        "- Glycemic: **conclusion changed**" in text and "- Knowledge: conclusion unchanged" in text
    )


def test_certainty_and_mid_threshold_rules(tmp_path):
    settings = GradeSettings.from_params({"outcomes": {"glycemic": {"mid": 0.2}}})
    same = dict(k=8, est=-0.4, ci=(-0.6, -0.25), pi=(-0.9, 0.1))
    old = version(tmp_path / "v1", {"glycemic": same}, {"glycemic": "Moderate"})
    new = version(tmp_path / "v2", {"glycemic": same}, {"glycemic": "Low"})
    news = whats_new.whats_new(old, new, {"causes": {}}, settings, version="v2", date="d")
    (glyc,) = news["outcomes"]
    assert glyc["new"]["threshold"] == pytest.approx(-0.2)
    assert glyc["new"]["threshold_kind"] == "minimal important difference"
    assert glyc["new"]["ci_position"] == "beyond the threshold (favours the intervention)"
    assert glyc["reasons"] == ["certainty of evidence (GRADE, final rating): Moderate -> Low"]


def test_first_version_and_reportability(tmp_path):
    new = version(tmp_path / "v1", {"glycemic": dict(k=2)})
    news = whats_new.whats_new(
        None, new, {"studies_added": [["s1", ""]]}, S, version="v1", date="d"
    )
    assert news["change_types"] == ["first version"] and news["outcomes"][0]["reasons"] == []
    newer = version(
        tmp_path / "v2", {"glycemic": dict(k=3, est=-0.3, ci=(-0.5, -0.1), pi=(-0.8, 0.2))}
    )
    news = whats_new.whats_new(new, newer, {"causes": {}}, S, version="v2", date="d")
    assert news["outcomes"][0]["reasons"] == ["pooled estimate now reported (k = 2 -> 3)"]
