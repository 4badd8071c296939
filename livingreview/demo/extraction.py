"""Two extractors' simulated sheets: studies, outcomes and risk of bias, with
discrepancies and their resolutions.
"""

from __future__ import annotations

from .design import DEMO_UNRESOLVED, Trial


def _study_row(t: Trial) -> dict:
    surname = t.study_id.rstrip("0123456789-").capitalize()
    yn = {True: "yes", False: "no"}
    return {
        "study_id": t.study_id,
        "record_id": t.record.pmid if t.record else "",
        "citation": f"{surname} et al. ({t.year})",
        "country": t.country,
        "design": t.design,
        "icc": "" if t.icc is None else f"{t.icc:g}",
        "cluster_size": "" if t.cluster_size is None else f"{t.cluster_size:g}",
        "platform": t.platform,
        "followup_weeks": str(t.followup),
        "n_total": str(t.n_total),
        **{f"rob_d{i + 1}": t.rob[i] for i in range(5)},
        "rob_overall": t.rob[5],
        **{k: yn[v] for k, v in t.features.items()},
    }


def _key(row: dict) -> str:
    return f"{row['study_id']}|{row['domain']}|{row['outcome']}|{row['timepoint_weeks']}"


def _perturb(value: str, ok=lambda v: True) -> str:
    """A plausible extraction slip: two digits swapped, else a mistyped last digit.

    ``ok`` rejects slips that would make the row invalid (e.g. events > n).
    """
    digits = [i for i, c in enumerate(value) if c.isdigit()]
    candidates = []
    if len(digits) >= 2:
        i, j = digits[-2], digits[-1]
        candidates.append(value[:i] + value[j] + value[i + 1 : j] + value[i] + value[j + 1 :])
    last = digits[-1]
    for step in (1, 3, 7):
        candidates.append(value[:last] + str((int(value[last]) + step) % 10) + value[last + 1 :])
    for cand in candidates:
        if cand != value and float(cand) > 0 and ok(cand):
            return cand
    raise RuntimeError(f"no slip for {value!r}")  # pragma: no cover


def _larger(value: str):
    """A slip in n_total that keeps it above the analysed n1 + n2."""
    return lambda v: int(v) > int(value)


def _extraction(rng, trials: list[Trial], demo: bool) -> dict:
    carol_s = [_study_row(t) for t in trials]
    dave_s = [dict(r) for r in carol_s]
    carol_o = [dict(o) for t in trials for o in t.outcomes]
    dave_o = [dict(o) for o in carol_o]
    resolutions: list[dict] = []
    unresolved: list[tuple[str, str, str]] = []
    sidx = {r["study_id"]: i for i, r in enumerate(carol_s)}

    def study_slip(
        sid: str, fld: str, dave_value: str, agreed: str | None = None, note: str = ""
    ) -> None:
        i = sidx[sid]
        dave_s[i][fld] = dave_value
        resolutions.append(
            {
                "sheet": "studies",
                "key": sid,
                "field": fld,
                "value": carol_s[i][fld] if agreed is None else agreed,
                "note": note,
            }
        )
        if agreed is not None:
            carol_s[i][fld] = dave_s[i][fld] = agreed  # noqa: B909

    def outcome_slip(i: int, fld: str, resolve: bool, note: str = "") -> None:
        row = carol_o[i]
        ok = (lambda v: int(v) <= int(row["n1"])) if fld == "events1" else (lambda v: True)
        dave_o[i][fld] = _perturb(row[fld], ok)
        if resolve:
            resolutions.append(
                {
                    "sheet": "outcomes",
                    "key": _key(carol_o[i]),
                    "field": fld,
                    "value": carol_o[i][fld],
                    "note": note,
                }
            )
        else:
            unresolved.append((_key(carol_o[i]), fld, carol_o[i][fld]))

    def numeric_field(row: dict) -> str:
        # never md or a CI limit: a slip there could put md outside its CI
        for fld in ("sd1", "se1", "se", "events1", "m1", "n1"):
            if row.get(fld):
                return fld
        raise RuntimeError(row)  # pragma: no cover

    if demo:
        t_by = {t.study_id: t for t in trials}
        study_slip(
            "chen2021",
            "followup_weeks",
            "26",
            note="26 weeks is the post-trial survey; follow-up 24 (Table 2)",
        )
        study_slip("kumar2020", "rob_d3", "low" if t_by["kumar2020"].rob[2] != "low" else "some concerns",
                   note="discussed with third reviewer")  # fmt: skip
        study_slip(
            "okafor2023",
            "icc",
            f"{(t_by['okafor2023'].icc or 0.03) + 0.015:g}",
            note="ICC from methods section",
        )
        study_slip(
            "tanaka2018",
            "n_total",
            _perturb(
                carol_s[sidx["tanaka2018"]]["n_total"],
                _larger(carol_s[sidx["tanaka2018"]]["n_total"]),
            ),
            note="typo",
        )
        feat = carol_s[sidx["silva2021"]]["interactivity"]
        study_slip(
            "silva2021",
            "interactivity",
            "no" if feat == "yes" else "yes",
            note="two-way chat described",
        )
        # Outcome slips: selected rows of some trials; one left unresolved.
        plan = [("wang2019", "HbA1c", True), ("li2020", None, True), ("zhang2018", "any complication", True),
                ("huang2023", None, True), ("mensah2025", None, True), (DEMO_UNRESOLVED[0], DEMO_UNRESOLVED[2], False)]  # fmt: skip
        for sid, outcome, resolve in plan:
            rows = [
                i
                for i, o in enumerate(carol_o)
                if o["study_id"] == sid and (outcome is None or o["outcome"] == outcome)
            ]
            i = max(rows, key=lambda k: float(carol_o[k]["timepoint_weeks"]))
            outcome_slip(
                i,
                numeric_field(carol_o[i]),
                resolve,
                note="re-checked against Table 3" if resolve else "",
            )
    else:
        n = len(trials)
        for k in rng.choice(n, size=max(1, round(0.03 * n)), replace=False):
            sid = carol_s[int(k)]["study_id"]
            n_total = carol_s[int(k)]["n_total"]
            study_slip(sid, "n_total", _perturb(n_total, _larger(n_total)), note="typo")
        m = len(carol_o)
        picks = rng.choice(m, size=max(2, round(0.02 * m)), replace=False)
        for j, i in enumerate(picks):
            i = int(i)
            outcome_slip(i, numeric_field(carol_o[i]), resolve=j % 10 != 0)
    return {
        "studies": (carol_s, dave_s),
        "outcomes": (carol_o, dave_o),
        "resolutions": resolutions,
        "unresolved": unresolved,
    }
