"""Simulated trials: the hand-specified demo trials or random ones, their details and
outcomes drawn from a random-effects model (arm means, SDs, events).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .design import CONT_FORMS, COUNTRY_NAMES, DOMAINS, PLATFORMS, Trial, _choice, _fmt, _sig

CODES = dict(zip("GCKBAX", DOMAINS, strict=True))
# True mean benefit in favourable units (SMD; log RR for complications) and tau.
BENEFIT = {
    "glycemic": (0.50, 0.22),
    "clinical-other": (0.15, 0.25),
    "knowledge": (1.00, 0.55),
    "behaviour": (0.35, 0.30),
    "attitude": (0.80, 0.70),
    "complications": (math.log(0.70), 0.12),
}
# outcome -> (domain, favourable, control mean, SD, decimals, control change)
CONTINUOUS = {
    "HbA1c": ("glycemic", "lower", 8.3, 1.2, 2, -0.2),
    "FBG": ("glycemic", "lower", 8.6, 2.4, 2, -0.3),
    "FPG": ("glycemic", "lower", 8.4, 2.3, 2, -0.3),
    "2hPG": ("glycemic", "lower", 12.1, 3.4, 2, -0.4),
    "BMI": ("clinical-other", "lower", 27.8, 4.4, 2, -0.1),
    "weight": ("clinical-other", "lower", 76.5, 13.8, 1, -0.4),
    "SBP": ("clinical-other", "lower", 134.0, 15.5, 1, -1.0),
    "DBP": ("clinical-other", "lower", 81.0, 9.8, 1, -0.5),
    "TC": ("clinical-other", "lower", 4.90, 1.05, 2, -0.05),
    "LDL-C": ("clinical-other", "lower", 2.95, 0.88, 2, -0.05),
    "HDL-C": ("clinical-other", "higher", 1.18, 0.31, 2, 0.0),
    "TG": ("clinical-other", "lower", 1.92, 1.02, 2, -0.05),
    "knowledge total": ("knowledge", "higher", 58.0, 15.0, 1, 2.0),
    "DKQ": ("knowledge", "higher", 14.2, 4.1, 1, 0.5),
    "DKT": ("knowledge", "higher", 12.8, 3.9, 1, 0.4),
    "SDSCA total": ("behaviour", "higher", 3.9, 1.2, 2, 0.1),
    "total self-care": ("behaviour", "higher", 54.0, 12.5, 1, 1.0),
    "diet score": ("behaviour", "higher", 3.6, 1.5, 2, 0.1),
    "exercise score": ("behaviour", "higher", 2.8, 1.9, 2, 0.1),
    "SDSCA diet": ("behaviour", "higher", 4.1, 1.6, 2, 0.1),
    "SDSCA exercise": ("behaviour", "higher", 2.9, 1.9, 2, 0.1),
    "self-efficacy total": ("attitude", "higher", 62.0, 14.0, 1, 1.0),
    "DMSES": ("attitude", "higher", 5.9, 1.8, 2, 0.1),
    "DES": ("attitude", "higher", 3.5, 0.8, 2, 0.05),
    "attitude score": ("attitude", "higher", 3.4, 0.7, 2, 0.05),
}
BINARY = {"any complication": 0.24, "hospitalisation": 0.14, "severe hypoglycaemia": 0.07}
FORM_P = [0.42, 0.15, 0.1, 0.13, 0.1, 0.1]
ROB_LEVELS = ["low", "some concerns", "high"]
PLATFORM_COUNTRIES = {
    "wechat": ["China"],
    "whatsapp": [
        "India",
        "Saudi Arabia",
        "Egypt",
        "Iran",
        "Brazil",
        "Nigeria",
        "Ghana",
        "Pakistan",
    ],
    "line": ["Japan", "Thailand", "Taiwan"],
    "facebook-messenger": ["USA", "Mexico", "Philippines"],
    "telegram": ["Russia", "Uzbekistan", "Iran"],
    "kakaotalk": ["South Korea"],
    "naver-band": ["South Korea"],
    "mixed": ["Germany", "Vietnam", "Malaysia", "United Kingdom"],
}
# The hand-specified demo: study_id, platform, country, year, follow-up weeks,
# design, domain codes (G glycemic, C clinical-other, K knowledge, B behaviour,
# A attitude, X complications), in the update snapshot?
DEMO_TRIALS = [
    ("wang2019", "wechat", "China", 2019, 24, "individual", "GCB", False),
    ("li2020", "wechat", "China", 2020, 12, "individual", "GKA", False),
    ("zhang2018", "wechat", "China", 2018, 52, "cluster", "GCBX", False),
    ("chen2021", "wechat", "China", 2021, 24, "individual", "GKB", False),
    ("liu2022", "wechat", "China", 2022, 12, "individual", "GCA", False),
    ("huang2023", "wechat", "China", 2023, 36, "individual", "GBX", False),
    ("xu2017", "wechat", "China", 2017, 8, "individual", "KAB", False),
    ("zhou2026", "wechat", "China", 2026, 24, "individual", "GCK", True),
    ("kumar2020", "whatsapp", "India", 2020, 24, "individual", "GBK", False),
    ("ahmed2019", "whatsapp", "Saudi Arabia", 2019, 12, "individual", "GCB", False),
    ("silva2021", "whatsapp", "Brazil", 2021, 26, "individual", "GKA", False),
    ("hosseini2022", "whatsapp", "Iran", 2022, 12, "individual", "GCBK", False),
    ("okafor2023", "whatsapp", "Nigeria", 2023, 16, "cluster", "GKBX", False),
    ("mensah2025", "whatsapp", "Ghana", 2025, 24, "individual", "GCB", True),
    ("tanaka2018", "line", "Japan", 2018, 52, "individual", "GCX", False),
    ("srisuk2022", "line", "Thailand", 2022, 12, "individual", "KAB", False),
    ("sato2026", "line", "Japan", 2026, 24, "individual", "GCA", True),
    ("johnson2016", "facebook-messenger", "USA", 2016, 12, "individual", "CBA", False),
    ("garcia2021", "facebook-messenger", "Mexico", 2021, 24, "individual", "GK", False),
    ("ivanova2023", "telegram", "Russia", 2023, 8, "individual", "GB", False),
    ("rahimov2024", "telegram", "Uzbekistan", 2024, 4, "individual", "KA", False),
    ("kim2019", "kakaotalk", "South Korea", 2019, 24, "individual", "GCX", False),
    ("park2020", "naver-band", "South Korea", 2020, 12, "individual", "GBA", False),
    ("muller2022", "mixed", "Germany", 2022, 24, "individual", "GCB", False),
    ("nguyen2024", "mixed", "Vietnam", 2024, 48, "individual", "KAX", False),
]


def _demo_trials(rng: np.random.Generator) -> list[Trial]:
    trials = []
    for sid, plat, country, year, fu, design, codes, upd in DEMO_TRIALS:
        trials.append(Trial(sid, plat, country, year, fu, design, [CODES[c] for c in codes], upd))
    return trials


def _random_trials(rng: np.random.Generator, n: int) -> list[Trial]:
    plats = [*PLATFORMS, "mixed"]
    pw = np.array([0.27, 0.3, 0.1, 0.08, 0.08, 0.07, 0.05, 0.05])
    dom_p = {"G": 0.8, "C": 0.5, "K": 0.45, "B": 0.55, "A": 0.4, "X": 0.25}
    used: dict[str, int] = {}
    trials = []
    n_update = max(1, round(n * 0.1))
    for i in range(n):
        plat = _choice(rng, plats, p=pw / pw.sum())
        country = _choice(rng, PLATFORM_COUNTRIES[plat])
        upd = i >= n - n_update
        year = int(rng.integers(2025, 2027)) if upd else int(rng.integers(2012, 2026))
        name = _choice(rng, COUNTRY_NAMES[country])
        base = f"{name}{year}"
        used[base] = used.get(base, 0) + 1
        sid = base if used[base] == 1 else f"{base}-{used[base]}"
        fu = int(_choice(rng, [4, 6, 8, 12, 12, 16, 24, 24, 26, 36, 48, 52]))
        codes = [c for c, p in dom_p.items() if rng.random() < p] or ["G"]
        design = "cluster" if rng.random() < 0.08 else "individual"
        trials.append(Trial(sid, plat, country, year, fu, design, [CODES[c] for c in codes], upd))
    return trials


def _trial_details(rng: np.random.Generator, t: Trial) -> None:
    if t.design == "cluster":
        t.n_total = int(rng.integers(240, 401))
        t.icc = float(np.round(rng.uniform(0.02, 0.06), 3))
        t.cluster_size = float(np.round(rng.uniform(10, 20), 1))
    else:
        t.n_total = int(np.clip(np.round(np.exp(rng.normal(math.log(120), 0.5))), 40, 400))
    probs = [
        [0.7, 0.25, 0.05],
        [0.45, 0.45, 0.1],
        [0.65, 0.25, 0.1],
        [0.6, 0.35, 0.05],
        [0.6, 0.4, 0.0],
    ]
    t.rob = [_choice(rng, ROB_LEVELS, p=p) for p in probs]
    worst = max(ROB_LEVELS.index(r) for r in t.rob)
    t.rob.append(ROB_LEVELS[worst])
    t.features = {
        "interactivity": bool(rng.random() < 0.7),
        "moderation": bool(rng.random() < 0.5),
        "feedback": bool(rng.random() < 0.6),
        "care_integration": bool(rng.random() < 0.45),
    }


def _domain_outcomes(rng: np.random.Generator, t: Trial, domain: str) -> list[str]:
    r = rng.random
    if domain == "glycemic":
        out = []
        if r() < (0.9 if t.followup >= 12 else 0.25):
            out.append("HbA1c")
        if not out or r() < 0.6:
            out.append(_choice(rng, ["FBG", "FPG"]))
        if r() < 0.3:
            out.append("2hPG")
        return out
    if domain == "clinical-other":
        out = [o for o, p in (("BMI", 0.6), ("weight", 0.5)) if r() < p]
        if r() < 0.4:
            out += ["SBP", "DBP"]
        if r() < 0.35:
            out += list(rng.choice(["TC", "LDL-C", "HDL-C", "TG"], size=2, replace=False))
        return out or ["weight"]
    if domain == "knowledge":
        names = ["knowledge total", "DKQ", "DKT"]
        k = 2 if r() < 0.15 else 1
        return [str(x) for x in rng.choice(names, size=k, replace=False)]
    if domain == "behaviour":
        out = []
        if r() < 0.65:
            out.append(_choice(rng, ["SDSCA total", "total self-care"]))
        if not out or r() < 0.5:
            subs = _choice(
                rng, [["diet score", "exercise score"], ["SDSCA diet", "SDSCA exercise"]]
            )
            out += subs if r() < 0.7 else subs[:1]
        return out
    if domain == "attitude":
        out = []
        if r() < 0.75:
            out.append(_choice(rng, ["self-efficacy total", "DMSES", "DES"]))
        if not out or r() < 0.4:
            out.append("attitude score")
        return out
    out = [o for o, p in (("any complication", 0.6), ("hospitalisation", 0.5)) if r() < p]
    if r() < 0.35:
        out.append("severe hypoglycaemia")
    return out or ["any complication"]


def _simulate_outcomes(rng: np.random.Generator, t: Trial) -> None:
    """Outcome rows (one per outcome x time point) with simulated summary statistics."""
    late = t.followup
    mid = late // 2 if late >= 12 and rng.random() < 0.6 else None
    n1_base = int(round(t.n_total * rng.uniform(0.47, 0.53)))
    n2_base = t.n_total - n1_base
    retention = {late: rng.uniform(0.8, 0.95)}
    if mid:
        retention[mid] = min(1.0, retention[late] + rng.uniform(0.02, 0.08))
    boost = 0.1 if t.features["interactivity"] and t.features["feedback"] else -0.05
    for domain in t.domains:
        mu, tau = BENEFIT[domain]
        theta = rng.normal(mu + (boost if domain != "complications" else 0.0), tau)
        for outcome in _domain_outcomes(rng, t, domain):
            points = [late]
            if mid and (outcome in ("HbA1c",) or rng.random() < 0.5):
                points = [mid, late]
            if mid and outcome == "2hPG" and rng.random() < 0.5:
                points = [mid]
            for tp in points:
                n1 = max(2, int(round(n1_base * retention[tp])))
                n2 = max(2, int(round(n2_base * retention[tp] * rng.uniform(0.97, 1.0))))
                shrink = 0.8 if tp != late else 1.0
                delta = theta * shrink + rng.normal(0, 0.08)
                if domain == "complications":
                    row = _binary_row(rng, outcome, delta, n1, n2)
                else:
                    row = _continuous_row(rng, outcome, delta, n1, n2)
                row.update(study_id=t.study_id, domain=domain, outcome=outcome, timepoint_weeks=tp)
                t.outcomes.append(row)


def _binary_row(rng, outcome: str, log_rr: float, n1: int, n2: int) -> dict:
    p2 = BINARY[outcome] * rng.uniform(0.7, 1.3)
    p1 = min(0.95, p2 * math.exp(log_rr))
    e1 = max(1, int(rng.binomial(n1, p1)))
    e2 = max(1, int(rng.binomial(n2, p2)))
    return {
        "form": "events",
        "favourable": "lower",
        "events1": str(e1),
        "n1": str(n1),
        "events2": str(e2),
        "n2": str(n2),
    }


def _continuous_row(rng, outcome: str, benefit: float, n1: int, n2: int) -> dict:
    _, fav, mean, sd, dec, change = CONTINUOUS[outcome]
    sign = 1.0 if fav == "higher" else -1.0
    form = _choice(rng, CONT_FORMS, p=FORM_P)
    row: dict = {"form": form, "favourable": fav, "n1": str(n1), "n2": str(n2)}
    if form in ("change_sd", "change_se"):
        sigma = 0.8 * sd
        mu2 = change
    else:
        sigma = sd * rng.uniform(0.85, 1.15)
        mu2 = mean * rng.uniform(0.95, 1.05)
    mu1 = mu2 + sign * benefit * sigma
    m1 = rng.normal(mu1, sigma / math.sqrt(n1))
    m2 = rng.normal(mu2, sigma / math.sqrt(n2))
    s1 = sigma * math.sqrt(rng.chisquare(n1 - 1) / (n1 - 1))
    s2 = sigma * math.sqrt(rng.chisquare(n2 - 1) / (n2 - 1))
    sdd = dec + 1 if sd < 2 else dec
    if form in ("means", "change_sd"):
        row.update(m1=_fmt(m1, dec), sd1=_fmt(s1, sdd), m2=_fmt(m2, dec), sd2=_fmt(s2, sdd))
        return row
    if form == "change_se":
        se1, se2 = s1 / math.sqrt(n1), s2 / math.sqrt(n2)
        row.update(
            m1=_fmt(m1, dec), se1=_fmt(se1, sdd + 1), m2=_fmt(m2, dec), se2=_fmt(se2, sdd + 1)
        )
        return row
    md = m1 - m2
    se = math.sqrt(s1**2 / n1 + s2**2 / n2)
    if form == "md_p":
        p = 2 * stats.t.sf(abs(md / se), n1 + n2 - 2)
        if 0.001 <= p <= 0.98:
            row.update(md=_fmt(md, dec + 1), p=_sig(p, 3))
            return row
        row["form"] = form = "md_se"
    if form == "md_se":
        row.update(md=_fmt(md, dec + 1), se=_fmt(se, sdd + 1))
        return row
    row.update(md=_fmt(md, dec + 1), ci_low=_fmt(md - 1.96 * se, dec + 1))
    row["ci_high"] = _fmt(md + 1.96 * se, dec + 1)
    return row
