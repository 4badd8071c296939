"""RevMan Web's study-data import set, written into every bundle (issue 20, "Out").

RevMan Web imports study data for included studies from four CSV files, as
Covidence exports them ("Study information", "Study arms", "Study results",
"Risk of bias"; https://documentation.cochrane.org/revman-kb, "Populate study
data"): one row per study, one per arm, one per arm of each result (with the
calculator's input fields) and, for RoB 2, one per result. Cochrane's
downloadable templates were not available to us, so the column names follow
RevMan's data-and-analyses terms (Mean, SD, Total, Events; "Char:" for a
study characteristic as in Covidence's export); a team maps them once in
RevMan's import dialog. The review's criteria (outcomes = our domains,
interventions = "Intervention" and "Control") must exist in RevMan first.

Numbers are the merged (agreed or resolved) extraction of each selected effect
(``results/effects/arm_data.csv``): for continuous outcomes Mean, SD and Total
per arm (a change score's SE is given as the calculator input ``SE`` with
``SD = SE * sqrt(Total)`` beside it, as RevMan's calculator derives it); for
binary outcomes Events and Total per arm; a contrast reported as a mean
difference with its CI, SE or p value goes on the intervention arm's row.
Risk of bias is judged per study in our sheets (``rob_d1``..``rob_d5``,
``rob_overall``), so each result of a study carries the study's judgements.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "ARMS_COLUMNS",
    "REVMAN_FILES",
    "ROB2_COLUMNS",
    "RESULTS_COLUMNS",
    "STUDY_COLUMNS",
    "revman_tables",
    "study_name",
    "write_revman",
]

REVMAN_DIR = "revman"
REVMAN_FILES = {
    "study_information": "study_information.csv",
    "study_arms": "study_arms.csv",
    "study_results": "study_results.csv",
    "risk_of_bias_2": "risk_of_bias_2.csv",
}
ARMS = (("1", "Intervention"), ("2", "Control"))
CHARACTERISTICS = {"Char: Country": "country", "Char: Design": "design",
                   "Char: Participants (randomised)": "n_total",
                   "Char: Follow-up (weeks)": "followup_weeks", "Char: Record ID": "record_id"}  # fmt: skip
COVARIATES = ("interactivity", "moderation", "feedback", "care_integration")
STUDY_COLUMNS = ["Study ID", "Study", "Year", *CHARACTERISTICS,
                 "Char: Intervention (stratifier)", *(f"Covariate: {c}" for c in COVARIATES)]  # fmt: skip
ARMS_COLUMNS = ["Study ID", "Study", "Arm", "Intervention", "Arm description"]
RESULTS_COLUMNS = ["Study ID", "Study", "Outcome", "Study outcome", "Time point (weeks)",
                   "Arm", "Intervention", "Data type", "Favourable direction", "Mean", "SD",
                   "SE", "Total", "Events", "Mean difference", "MD CI lower", "MD CI upper",
                   "MD SE", "MD P value", "Calculated SD", "Effect measure"]  # fmt: skip
ROB_DOMAINS = {"rob_d1": "D1: Randomisation process",
               "rob_d2": "D2: Deviations from intended interventions",
               "rob_d3": "D3: Missing outcome data", "rob_d4": "D4: Measurement of the outcome",
               "rob_d5": "D5: Selection of the reported result", "rob_overall": "Overall"}  # fmt: skip
ROB2_COLUMNS = ["Study ID", "Study", "Outcome", "Study outcome", "Time point (weeks)",
                "Result", *ROB_DOMAINS.values()]  # fmt: skip
JUDGEMENTS = {"low": "Low risk", "some concerns": "Some concerns", "high": "High risk"}
CITATION_RE = re.compile(r"^\s*([^\s,]+).*?\((\d{4})[a-z]?\)")


def study_name(citation: str, study_id: str) -> tuple[str, str]:
    """RevMan's "Author Year" study name and the year, from our citation.

    >>> study_name("Ahmed et al. (2019)", "ahmed2019")
    ('Ahmed 2019', '2019')
    >>> study_name("", "x1")
    ('x1', '')
    """
    m = CITATION_RE.match(citation or "")
    return (f"{m.group(1)} {m.group(2)}", m.group(2)) if m else (study_id, "")


def _num(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _data_type(form: str) -> str:
    if form == "events":
        return "Dichotomous"
    return "Contrast" if form.startswith("md_") else "Continuous"


def revman_tables(
    studies: pd.DataFrame,
    arm_data: pd.DataFrame,
    domain_labels: Mapping[str, str],
    stratifier: str = "platform",
) -> dict[str, pd.DataFrame]:
    """The four import tables (``REVMAN_FILES`` keys) of the included studies with a result."""
    studies = studies.fillna("").astype(str).set_index("study_id", drop=False)
    with_result = set(arm_data["study_id"].astype(str))
    info, arms, results, rob = [], [], [], []
    for sid in [s for s in studies.index if s in with_result]:
        s = studies.loc[sid]
        name, year = study_name(s.get("citation", ""), sid)
        row = {"Study ID": sid, "Study": name, "Year": year}
        row.update({col: s.get(field, "") for col, field in CHARACTERISTICS.items()})
        row["Char: Intervention (stratifier)"] = s.get(stratifier, "")
        row.update({f"Covariate: {c}": s.get(c, "") for c in COVARIATES})
        info.append(row)
        for arm, label in ARMS:
            desc = f"{label} ({s.get(stratifier, '')})" if arm == "1" else "Control"
            arms.append({"Study ID": sid, "Study": name, "Arm": arm, "Intervention": label,
                         "Arm description": desc})  # fmt: skip
    names = {r["Study ID"]: r["Study"] for r in info}
    for r in arm_data.to_dict("records"):
        sid, form = str(r["study_id"]), str(r.get("form") or "")
        if sid not in names:
            continue
        domain = domain_labels.get(str(r["domain"]), str(r["domain"]))
        tp = _num(r.get("timepoint_weeks"))
        tp_text = f"{tp:g}" if tp is not None else ""
        base = {"Study ID": sid, "Study": names[sid], "Outcome": domain,
                "Study outcome": r.get("outcome"), "Time point (weeks)": tp_text}  # fmt: skip
        for arm, label in ARMS:
            total, se = _num(r.get(f"n{arm}")), _num(r.get(f"se{arm}"))
            line = dict(base, **{"Arm": arm, "Intervention": label,
                                 "Data type": _data_type(form),
                                 "Favourable direction": r.get("favourable") or "",
                                 "Effect measure": r.get("measure") or ""})  # fmt: skip
            line["Total"] = total
            if form == "events":
                line["Events"] = _num(r.get(f"events{arm}"))
            elif form in ("means", "change_sd", "change_se"):
                line["Mean"] = _num(r.get(f"m{arm}"))
                line["SD"] = _num(r.get(f"sd{arm}"))
                if form == "change_se" and se is not None:
                    line["SE"] = se
                    line["Calculated SD"] = se * math.sqrt(total) if total else None
            elif arm == "1":  # a contrast: once, on the intervention arm
                line["Mean difference"] = _num(r.get("md"))
                line["MD CI lower"] = _num(r.get("ci_low"))
                line["MD CI upper"] = _num(r.get("ci_high"))
                line["MD SE"] = _num(r.get("se"))
                line["MD P value"] = _num(r.get("p"))
            results.append(line)
        s = studies.loc[sid]
        if any(s.get(c, "") for c in ROB_DOMAINS):
            rob.append(dict(
                {k: base[k] for k in ("Study ID", "Study", "Outcome", "Study outcome",
                                      "Time point (weeks)")},
                Result=f"{r.get('outcome')} {tp_text} wk",
                **{col: JUDGEMENTS.get(s.get(c, "").lower(), s.get(c, ""))
                   for c, col in ROB_DOMAINS.items()},
            ))  # fmt: skip
    return {
        "study_information": pd.DataFrame(info, columns=STUDY_COLUMNS),
        "study_arms": pd.DataFrame(arms, columns=ARMS_COLUMNS),
        "study_results": pd.DataFrame(results, columns=RESULTS_COLUMNS),
        "risk_of_bias_2": pd.DataFrame(rob, columns=ROB2_COLUMNS),
    }


def write_revman(results: Path, stage: Path, config: Mapping[str, Any]) -> None:
    """``revman/`` into a bundle being assembled (nothing without selected effects' numbers)."""
    arm_path, studies_path = (
        results / "effects" / "arm_data.csv",
        results / "extraction" / "studies.csv",
    )
    if not (arm_path.is_file() and studies_path.is_file()):
        return
    arm_data = pd.read_csv(arm_path, dtype={"study_id": str}, keep_default_na=False, na_values=[""])
    if not len(arm_data):
        return
    studies = pd.read_csv(studies_path, dtype=str, keep_default_na=False)
    extraction = config.get("extraction") or {}
    labels = {d: str((spec or {}).get("label") or d)
              for d, spec in (extraction.get("domains") or {}).items()}  # fmt: skip
    column = str((extraction.get("stratifier") or {}).get("column") or "platform")
    out = stage / REVMAN_DIR
    out.mkdir(parents=True, exist_ok=True)
    for key, table in revman_tables(studies, arm_data, labels, column).items():
        if key == "risk_of_bias_2" and not len(table):
            continue
        table.to_csv(
            out / REVMAN_FILES[key], index=False, lineterminator="\n", float_format="%.10g"
        )
