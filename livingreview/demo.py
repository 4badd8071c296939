"""Generate the shipped, SIMULATED demo review (and large synthetic reviews for benchmarks).

The demo is the instant-messaging-for-diabetes review of the protocol
(``../shared/protocol/PROTOCOL.md``) with invented data: fictional PubMed
records (PMIDs from 90000001, DOIs under Crossref's test prefix 10.5555) in two
search snapshots, an Embase RIS export with duplicates, two reviewers'
screening files with conflicts and an adjudication, and two extractors' sheets
with discrepancies and resolutions for about 25 fictional randomised trials.

Why a generator and not hand-made files: the demo must be reproducible (same
seed -> byte-identical files, gzip ``mtime=0``), and the same code produces a
large review (``--trials 2000``) with the same structure for benchmarks.

Effects are simulated from a random-effects model: each trial has a true
benefit ``theta_i ~ N(mu_d, tau_d^2)`` in SD units per domain (log RR for
complications); arm means and SDs are then drawn from their sampling
distributions (mean ~ N(mu, sigma^2/n), SD ~ sigma * sqrt(chi2_{n-1}/(n-1))),
so the data behave like real summary statistics.

Usage::

    python -m livingreview.demo --out resources/demo [--seed 2026]
    python -m livingreview.demo --out bench/out/large --trials 2000
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from lxml import etree
from rapidfuzz import fuzz, process
from scipy import stats

from .io import write_bytes, write_csv, write_json, write_text

SEED = 2026
PMID_BASE = 90000001  # clearly synthetic PMID range
DOI_PREFIX = "10.5555"  # Crossref's reserved test prefix
START = "2010-06-20"
FIRST_UNTIL = "2025-06-20"
UPDATE_UNTIL = "2026-11-01"
SOFTWARE = {"livingreview": "0.1.0", "python": "3.11.7"}  # fixed: regeneration is byte-identical
SNAPSHOT_HEADER = (  # as livingreview.pubmed writes snapshots; the real NLM DOCTYPE
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN"'
    b' "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
    b"<PubmedArticleSet>\n"
)
QUERY = (
    "(diabetes mellitus[MeSH Terms] OR diabetes[tiab] OR diabetic[tiab] OR prediabetes[tiab] "
    "OR prediabetic[tiab]) "
    'AND (WhatsApp[tiab] OR WeChat[tiab] OR LINE app[tiab] OR "LINE messenger"[tiab] '
    'OR "Facebook Messenger"[tiab] OR Facebook[tiab] OR Telegram[tiab] OR KakaoTalk[tiab] '
    'OR "Naver Band"[tiab] OR "instant messaging"[tiab] OR "social media"[tiab] '
    'OR "social networking"[tiab]) '
    "AND (randomized controlled trial[pt] OR controlled clinical trial[pt] OR randomized[tiab] "
    "OR randomised[tiab] OR placebo[tiab] OR randomly[tiab] OR trial[ti])"
)

PLATFORMS = {
    "whatsapp": "WhatsApp",
    "wechat": "WeChat",
    "line": "LINE",
    "facebook-messenger": "Facebook Messenger",
    "telegram": "Telegram",
    "kakaotalk": "KakaoTalk",
    "naver-band": "Naver Band",
}
DOMAINS = ["glycemic", "clinical-other", "knowledge", "behaviour", "attitude", "complications"]
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
CONT_FORMS = ["means", "change_sd", "change_se", "md_ci", "md_se", "md_p"]
FORM_P = [0.42, 0.15, 0.1, 0.13, 0.1, 0.1]
OUTCOME_COLUMNS = [
    "study_id", "domain", "outcome", "timepoint_weeks", "form", "favourable",
    "m1", "sd1", "se1", "n1", "m2", "sd2", "se2", "n2",
    "md", "ci_low", "ci_high", "se", "p", "events1", "events2", "note",
]  # fmt: skip
STUDY_COLUMNS = [
    "study_id", "record_id", "citation", "country", "design", "icc", "cluster_size",
    "platform", "followup_weeks", "n_total", "rob_d1", "rob_d2", "rob_d3", "rob_d4",
    "rob_d5", "rob_overall", "interactivity", "moderation", "feedback", "care_integration",
]  # fmt: skip
ROB_LEVELS = ["low", "some concerns", "high"]
FT_REASON = {
    "nonrct": "not an RCT",
    "nonextract": "non-extractable data",
    "poorq": "poor methodological quality",
}

COUNTRY_NAMES = {
    "China": ["wang", "li", "zhang", "chen", "liu", "huang", "xu", "zhou", "yang", "zhao", "wu"],
    "India": ["kumar", "sharma", "patel", "singh", "reddy", "nair"],
    "Saudi Arabia": ["alqahtani", "alharbi", "ahmed"],
    "Egypt": ["hassan", "mahmoud", "ibrahim"],
    "Iran": ["hosseini", "rezaei", "karimi"],
    "Brazil": ["silva", "santos", "oliveira"],
    "Nigeria": ["okafor", "adeyemi", "eze"],
    "Ghana": ["mensah", "owusu", "boateng"],
    "Pakistan": ["khan", "malik", "qureshi"],
    "Japan": ["tanaka", "sato", "suzuki", "takahashi"],
    "Thailand": ["srisuk", "chaiyasit", "wongsa"],
    "Taiwan": ["lin", "tsai", "hsu"],
    "South Korea": ["kim", "park", "lee", "choi", "jung"],
    "USA": ["johnson", "smith", "miller", "davis"],
    "Mexico": ["garcia", "hernandez", "lopez"],
    "Philippines": ["reyes", "cruz", "santiago"],
    "Russia": ["ivanova", "petrov", "smirnova"],
    "Uzbekistan": ["rahimov", "karimova"],
    "Germany": ["muller", "schmidt", "weber"],
    "Vietnam": ["nguyen", "tran", "pham"],
    "Malaysia": ["abdullah", "tan", "ismail"],
    "United Kingdom": ["taylor", "evans", "wilson"],
}
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
FORENAMES = [
    "Wei", "Xin", "Anil", "Priya", "Fatima", "Omar", "Reza", "Ana", "Chinedu", "Ama",
    "Yuki", "Hiroshi", "Somchai", "Min-jun", "Ji-woo", "Emily", "James", "Maria", "Carlos",
    "Olga", "Dmitri", "Anna", "Lukas", "Linh", "Siti", "Sarah", "Kwame", "Ayesha", "Jun",
]  # fmt: skip
JOURNALS = [
    ("Journal of Digital Diabetes Care", "J Digit Diabetes Care"),
    ("International Journal of Messaging in Metabolic Health", "Int J Messag Metab Health"),
    ("Telehealth and Endocrine Practice", "Telehealth Endocr Pract"),
    ("Asian Journal of Connected Chronic Care", "Asian J Connect Chronic Care"),
    ("Global Reports in Diabetes Self-Management", "Glob Rep Diabetes Self Manag"),
    ("Nursing Innovations in Chronic Disease", "Nurs Innov Chronic Dis"),
    ("Primary Care Informatics Letters", "Prim Care Inform Lett"),
]
MESH = {
    "Humans": "D006801",
    "Diabetes Mellitus, Type 2": "D003924",
    "Diabetes Mellitus, Type 1": "D003922",
    "Prediabetic State": "D011236",
    "Glycated Hemoglobin": "D006442",
    "Blood Glucose": "D001786",
    "Telemedicine": "D017216",
    "Social Media": "D061108",
    "Text Messaging": "D062110",
    "Mobile Applications": "D063731",
    "Self Care": "D012648",
    "Self Efficacy": "D020377",
    "Health Knowledge, Attitudes, Practice": "D007722",
    "Female": "D005260",
    "Male": "D008297",
    "Middle Aged": "D008875",
    "Adult": "D000328",
    "Aged": "D000368",
}
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
LANG_OTHER = ["chi", "kor", "jpn", "por", "spa", "rus"]

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
# The demo's one extraction discrepancy left unresolved: (study, domain, outcome);
# its selected effect cannot be computed until the extractors agree.
DEMO_UNRESOLVED = ("hosseini2022", "clinical-other", "BMI")


@dataclass
class Trial:
    study_id: str
    platform: str
    country: str
    year: int
    followup: int
    design: str
    domains: list[str]
    update: bool
    n_total: int = 0
    icc: float | None = None
    cluster_size: float | None = None
    rob: list[str] = field(default_factory=list)
    features: dict[str, bool] = field(default_factory=dict)
    record: Record | None = None
    outcomes: list[dict] = field(default_factory=list)


@dataclass
class Record:
    kind: str  # trial | nonrct | nonextract | poorq | ta
    snap: int  # 1 initial snapshot, 2 update
    year: int
    month: int
    title: str = ""
    pmid: str = ""
    doi: str = ""
    journal: tuple[str, str] = ("", "")
    authors: list[tuple[str, str]] = field(default_factory=list)
    abstract: list[tuple[str | None, str]] = field(default_factory=list)
    pubtypes: list[str] = field(default_factory=list)
    mesh: list[str] = field(default_factory=list)
    language: str = "eng"
    revised: tuple[int, int, int] = (2025, 1, 1)
    source: str = "pubmed"  # or the export database of a record not in PubMed
    rid: str = ""  # the record store's id: the PMID, else <source>-<8 hex>
    trial: Trial | None = None


# ---------------------------------------------------------------- helpers


def _fmt(x: float, d: int) -> str:
    s = f"{x:.{d}f}"
    return "0" if float(s) == 0 and s.startswith("-") else s


def _sig(x: float, digits: int = 3) -> str:
    """Format a p-value with ``digits`` significant digits (no exponent)."""
    if x <= 0:
        return "0"
    d = max(digits - 1 - math.floor(math.log10(x)), 0)
    return f"{x:.{d}f}"


def _choice(rng: np.random.Generator, seq, p=None):
    return seq[int(rng.choice(len(seq), p=p))]


# ---------------------------------------------------------------- trials


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


# ---------------------------------------------------------------- records

POPULATIONS = [
    "adults with type 2 diabetes",
    "patients with poorly controlled type 2 diabetes",
    "older adults with type 2 diabetes",
    "adolescents with type 1 diabetes",
    "adults with prediabetes",
    "people with type 2 diabetes in primary care",
    "insulin-treated adults with type 2 diabetes",
    "adults with newly diagnosed type 2 diabetes",
    "overweight adults at high risk of diabetes",
    "adults with metabolic syndrome",
    "rural patients with type 2 diabetes",
    "young adults with type 1 diabetes",
]
INTERVENTIONS = [
    "peer-support group",
    "self-management education programme",
    "nurse-led messaging programme",
    "health coaching programme",
    "pharmacist-led follow-up",
    "family-supported messaging intervention",
    "lifestyle counselling group",
    "dietitian-moderated chat group",
    "group education and reminder service",
    "physician-moderated support community",
]
AIMS = {
    "glycemic": "glycaemic control",
    "clinical-other": "cardiometabolic risk factors",
    "knowledge": "diabetes knowledge",
    "behaviour": "self-care behaviours",
    "attitude": "self-efficacy",
    "complications": "diabetes-related complications",
}
PLACES = [
    "Shanghai", "Chengdu", "Guangzhou", "Wuhan", "Kerala", "Chennai", "Riyadh", "Cairo",
    "Tehran", "Sao Paulo", "Lagos", "Accra", "Osaka", "Bangkok", "Seoul", "Busan",
    "Mexico City", "Texas", "Moscow", "Tashkent", "Berlin", "Hanoi", "Karachi", "Jakarta",
    "Kuala Lumpur", "Manila", "Nairobi", "Istanbul", "Madrid", "London", "Toronto",
    "Sydney", "Lima", "Bogota", "Dhaka", "Kathmandu", "Taipei", "Hong Kong", "Singapore",
    "Amman", "Lahore", "Kano", "Nagoya", "Chiang Mai", "Daegu", "Tianjin", "Pune", "Tabriz",
]  # fmt: skip
CHANNELS = [
    "WhatsApp", "WeChat", "LINE", "Facebook Messenger", "Facebook", "Telegram", "KakaoTalk",
    "Naver Band", "instant messaging", "social media", "social networking",
]  # fmt: skip
OTHER_CONDITIONS = [
    "hypertension", "heart failure", "chronic kidney disease", "asthma", "obesity in children",
    "depression", "COPD", "HIV", "tuberculosis", "breast cancer survivorship", "stroke",
]  # fmt: skip
NONRCT_DESIGNS = [
    "a quasi-experimental study",
    "a pre-post pilot study",
    "a non-randomised controlled study",
    "a retrospective cohort study",
    "a controlled before-after study",
    "a single-arm feasibility study",
    "an interrupted time-series analysis",
]
TA_TEMPLATES = [
    "{ch} interventions for {cond}: a systematic review and meta-analysis",
    "{ch}-based support for {pop}: a scoping review",
    "A {ch} {iv} for {pop} in {place}: protocol for a randomised controlled trial",
    "Text-message reminders to improve {aim} in {pop} in {place}: a randomised trial",
    "A smartphone application for {aim} in {pop}: a randomized controlled trial in {place}",
    "Diabetes information shared on {ch} in {place}: a content analysis",
    "Use of {ch} by {pop} in {place}: a cross-sectional survey",
    "Experiences of {pop} in a {ch} {iv}: a qualitative study from {place}",
    "{ch}-based follow-up for patients with {cond} in {place}: a randomised trial",
    "Instant messaging in diabetes care in {place}: promise and pitfalls",
    "Health professionals' views on {ch} for {aim} in {place}: an interview study",
    "Cost of a {ch} {iv} for {pop} in {place}: a modelling study",
    "Web portal versus clinic visits for {aim} in {pop} in {place}: a randomised trial",
]
EXPORT_ONLY_TEMPLATES = [
    "{P} groups for {aim} in {pop}: early results presented at a diabetes congress in {place}",
    "Nurses' use of {P} to follow up {pop} in {place}: a congress abstract",
    "Feasibility of {P} reminders for {pop} in {place}: a nursing practice report",
    "{P} and {aim}: an audit of a community clinic in {place}",
]
TRIAL_TEMPLATES = [
    "{P}-based {iv} for {aim} in {pop}: a {cl}randomised controlled trial",
    "Effect of a {P} {iv} on {aim} in {pop} in {place}: a {cl}randomized controlled trial",
    "A {fu}-week {P} {iv} versus usual care for {pop}: {cl}randomised trial in {place}",
    "{P} {iv} to improve {aim} among {pop} in {place}: a {cl}randomized trial",
]


def _norm_title(t: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in t.lower()).split())


class _Titles:
    """Title factory that keeps same-year titles dissimilar (token_sort_ratio < 90)
    so that de-duplication never merges two different records."""

    def __init__(self) -> None:
        self.by_year: dict[int, list[str]] = {}

    def add(self, rng, year: int, make) -> str:
        taken = self.by_year.setdefault(year, [])
        for _ in range(60):
            title = make()
            # token_sort_ratio is the ratio of the token-sorted strings: sort once
            key = " ".join(sorted(_norm_title(title).split()))
            if process.extractOne(key, taken, scorer=fuzz.ratio, score_cutoff=90) is None:
                taken.append(key)
                return title
        raise RuntimeError("could not make a distinct title")  # pragma: no cover


def _slots(rng, **extra) -> dict:
    return {
        "pop": _choice(rng, POPULATIONS),
        "iv": _choice(rng, INTERVENTIONS),
        "aim": _choice(rng, list(AIMS.values())),
        "place": _choice(rng, PLACES),
        "ch": _choice(rng, CHANNELS),
        "cond": _choice(rng, OTHER_CONDITIONS),
        **extra,
    }


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _make_records(
    rng, trials: list[Trial], counts: dict[tuple[str, int], int], export_only: dict[str, int]
) -> list[Record]:
    titles = _Titles()
    records: list[Record] = []
    for t in trials:
        month = int(rng.integers(1, 13)) if t.year < 2026 else int(rng.integers(1, 10))
        if t.update and t.year == 2025:
            month = int(rng.integers(7, 13))
        rec = Record("trial", 2 if t.update else 1, t.year, month, trial=t)
        pname = PLATFORMS.get(t.platform, "instant-messaging")
        cl = "cluster " if t.design == "cluster" else ""

        def make(t=t, pname=pname, cl=cl):
            s = _slots(rng, P=pname, cl=cl, fu=t.followup, aim=AIMS[t.domains[0]])
            return _cap(_choice(rng, TRIAL_TEMPLATES).format(**s))

        rec.title = titles.add(rng, t.year, make)
        t.record = rec
        records.append(rec)
    for (kind, snap), n in counts.items():
        for _ in range(n):
            if snap == 1:
                year = int(rng.integers(2011, 2026))
                month = int(rng.integers(1, 13)) if year < 2025 else int(rng.integers(1, 6))
            else:
                year = int(rng.integers(2025, 2027))
                month = int(rng.integers(7, 13)) if year == 2025 else int(rng.integers(1, 10))
            rec = Record(kind, snap, year, month)

            def make(kind=kind):
                s = _slots(rng, P=_choice(rng, CHANNELS[:8]), fu=int(rng.integers(4, 53)))
                if kind == "nonrct":
                    tpl = "{P} {iv} for {aim} in {pop} in {place}: " + _choice(rng, NONRCT_DESIGNS)
                elif kind in ("nonextract", "poorq"):
                    tpl = _choice(rng, TRIAL_TEMPLATES).replace("{cl}", "pilot ")
                else:
                    tpl = _choice(rng, TA_TEMPLATES)
                return _cap(tpl.format(**s))

            rec.title = titles.add(rng, year, make)
            records.append(rec)
    # PMIDs rise with publication date within each snapshot, as in PubMed.
    order = sorted(
        range(len(records)),
        key=lambda i: (records[i].snap, records[i].year, records[i].month, rng.random()),
    )
    for pos, i in enumerate(order):
        rec = records[i]
        rec.pmid = rec.rid = str(PMID_BASE + pos)
        _fill_record(rng, rec)
    out = [records[i] for i in order]
    # Records only another database has (conference abstracts, non-indexed journals).
    for source, n in export_only.items():
        for k in range(n):
            year = int(rng.integers(2012, 2025))
            rec = Record("ta", 1, year, int(rng.integers(1, 13)), source=source)

            def make():
                s = _slots(rng, P=_choice(rng, CHANNELS[:8]))
                return _cap(_choice(rng, EXPORT_ONLY_TEMPLATES).format(**s))

            rec.title = titles.add(rng, year, make)
            _fill_record(rng, rec, serial=k + 1)
            rec.pubtypes = ["Conference Abstract" if "congress" in rec.title else "Article"]
            if k % 4 == 3:
                rec.doi = ""  # no DOI: the store keys it by normalised title + year
            key = rec.doi.lower() or f"{_norm_title(rec.title)}|{rec.year}"
            rec.rid = f"{source}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
            out.append(rec)
    return out


def _fill_record(rng, rec: Record, serial: int = 0) -> None:
    if rec.pmid:
        rec.doi = f"{DOI_PREFIX}/lrdemo.{rec.year}.{int(rec.pmid) - PMID_BASE + 1:05d}"
    else:
        rec.doi = f"{DOI_PREFIX}/lrdemo-{rec.source}.{rec.year}.{serial:05d}"
    rec.journal = _choice(rng, JOURNALS)
    n_auth = int(rng.integers(2, 8))
    first = rec.trial.study_id.rstrip("0123456789-").capitalize() if rec.trial else None
    pool = sorted({n for names in COUNTRY_NAMES.values() for n in names})
    names = [first] if first else []
    while len(names) < n_auth:
        names.append(_choice(rng, pool).capitalize())
    rec.authors = [(n, _choice(rng, FORENAMES)) for n in names]
    rec.language = "eng" if rng.random() < 0.9 else _choice(rng, LANG_OTHER)
    rev_year = min(rec.year + int(rng.integers(0, 2)), 2025 if rec.snap == 1 else 2026)
    rec.revised = (
        rev_year,
        int(rng.integers(1, 6 if rev_year == 2025 else 10)),
        int(rng.integers(1, 28)),
    )
    rec.revised = max(rec.revised, (rec.year, rec.month, 1))
    kind = rec.kind
    if kind == "trial":
        t = rec.trial
        assert t is not None
        rec.pubtypes = ["Journal Article", "Randomized Controlled Trial"]
        outs = sorted({o["outcome"] for o in t.outcomes})
        pname = PLATFORMS.get(t.platform, "instant-messaging platforms")
        rec.abstract = [
            (
                "BACKGROUND",
                f"Instant-messaging platforms such as {pname} may support diabetes self-management.",
            ),
            (
                "METHODS",
                f"In this {'cluster ' if t.design == 'cluster' else ''}randomised controlled trial in "
                f"{t.country}, {t.n_total} participants were allocated to a {pname}-based programme or "
                f"usual care and followed for {t.followup} weeks.",
            ),
            ("RESULTS", f"Outcomes assessed included {', '.join(outs)}."),
            ("CONCLUSIONS", f"A {pname}-delivered programme was feasible and acceptable."),
        ]
    elif kind in ("nonextract", "poorq"):
        rec.pubtypes = ["Journal Article", "Randomized Controlled Trial"]
        rec.abstract = [
            (
                None,
                "A small randomised pilot trial of a messaging-based support programme. "
                "Results are reported graphically.",
            )  # fmt: skip
        ]
    elif kind == "nonrct":
        rec.pubtypes = [
            "Journal Article",
            _choice(rng, ["Observational Study", "Clinical Trial", "Comparative Study"]),
        ]
        rec.abstract = [
            (
                "OBJECTIVE",
                "To evaluate a messaging-based support programme for people with diabetes.",
            ),
            (
                "METHODS",
                "Participants were enrolled consecutively; outcomes were compared before and after.",
            ),
            ("RESULTS", "HbA1c and self-care scores improved over the study period."),
            ("CONCLUSION", "Controlled trials are needed."),
        ]
    else:
        low = rec.title.lower()
        if "review" in low:
            rec.pubtypes = [
                "Journal Article",
                "Systematic Review" if "systematic" in low else "Review",
            ]
        elif "protocol" in low:
            rec.pubtypes = ["Journal Article", "Clinical Trial Protocol"]
        elif "promise and pitfalls" in low:
            rec.pubtypes = ["Editorial"]
        elif "randomi" in low:
            rec.pubtypes = ["Journal Article", "Randomized Controlled Trial"]
        else:
            rec.pubtypes = ["Journal Article"]
        if rec.pubtypes == ["Editorial"]:
            rec.abstract = []
        elif rng.random() < 0.5:
            rec.abstract = [
                (
                    "BACKGROUND",
                    "Digital communication tools are increasingly used in chronic disease care.",
                ),
                ("METHODS", f"We report {rec.title[0].lower() + rec.title[1:]}."),
                ("RESULTS", "Findings are described narratively."),
                ("CONCLUSIONS", "Further research is needed."),
            ]
        else:
            rec.abstract = [(None, f"This paper reports {rec.title[0].lower() + rec.title[1:]}.")]
    if rec.snap == 2 and rng.random() < 0.7:
        rec.mesh = []  # recent records are not yet MeSH-indexed
    else:
        mesh = ["Humans", "Diabetes Mellitus, Type 2", "Telemedicine"]
        mesh += [
            m
            for m in ("Social Media", "Self Care", "Female", "Male", "Middle Aged", "Adult")
            if rng.random() < 0.5
        ]
        if "type 1" in rec.title:
            mesh[1] = "Diabetes Mellitus, Type 1"
        if "prediabetes" in rec.title:
            mesh[1] = "Prediabetic State"
        if kind == "trial" and "glycemic" in rec.trial.domains:
            mesh.append("Glycated Hemoglobin")
        rec.mesh = sorted(set(mesh))


# ---------------------------------------------------------------- XML snapshot


def _el(parent, tag, text=None, **attrs):
    e = etree.SubElement(parent, tag, {k.replace("_", ""): v for k, v in attrs.items()})
    if text is not None:
        e.text = text
    return e


def _article_xml(rec: Record) -> etree._Element:
    art = etree.Element("PubmedArticle")
    status = "MEDLINE" if rec.mesh else "In-Data-Review"
    mc = _el(art, "MedlineCitation", Status=status, Owner="NLM", IndexingMethod="Automated")
    _el(mc, "PMID", rec.pmid, Version="1")
    dr = _el(mc, "DateRevised")
    for tag, v in zip(("Year", "Month", "Day"), rec.revised, strict=True):
        _el(dr, tag, f"{v:02d}" if tag != "Year" else str(v))
    a = _el(mc, "Article", PubModel="Print-Electronic")
    j = _el(a, "Journal")
    ji = _el(j, "JournalIssue", CitedMedium="Internet")
    _el(ji, "Volume", str(rec.year - 2005))
    _el(ji, "Issue", str(rec.month))
    pd_ = _el(ji, "PubDate")
    _el(pd_, "Year", str(rec.year))
    _el(pd_, "Month", MONTHS[rec.month - 1])
    _el(j, "Title", rec.journal[0])
    _el(j, "ISOAbbreviation", rec.journal[1])
    _el(a, "ArticleTitle", rec.title + ".")
    _el(a, "ELocationID", rec.doi, EIdType="doi", ValidYN="Y")
    if rec.abstract:
        ab = _el(a, "Abstract")
        for label, text in rec.abstract:
            if label:
                _el(
                    ab,
                    "AbstractText",
                    text,
                    Label=label,
                    NlmCategory=label.rstrip("S") if label != "METHODS" else "METHODS",
                )
            else:
                _el(ab, "AbstractText", text)
    al = _el(a, "AuthorList", CompleteYN="Y")
    for last, fore in rec.authors:
        au = _el(al, "Author", ValidYN="Y")
        _el(au, "LastName", last)
        _el(au, "ForeName", fore)
        _el(au, "Initials", "".join(p[0] for p in fore.replace("-", " ").split()))
    _el(a, "Language", rec.language)
    pl = _el(a, "PublicationTypeList")
    for pt in rec.pubtypes:
        _el(pl, "PublicationType", pt)
    mj = _el(mc, "MedlineJournalInfo")
    _el(mj, "Country", "Switzerland")
    _el(mj, "MedlineTA", rec.journal[1])
    if rec.mesh:
        ml = _el(mc, "MeshHeadingList")
        for m in rec.mesh:
            mh = _el(ml, "MeshHeading")
            _el(mh, "DescriptorName", m, UI=MESH[m], MajorTopicYN="N")
    pdata = _el(art, "PubmedData")
    hist = _el(pdata, "History")
    for status_ in ("pubmed", "entrez"):
        d = _el(hist, "PubMedPubDate", PubStatus=status_)
        _el(d, "Year", str(rec.year))
        _el(d, "Month", str(rec.month))
        _el(d, "Day", "1")
    _el(pdata, "PublicationStatus", "ppublish")
    ids = _el(pdata, "ArticleIdList")
    _el(ids, "ArticleId", rec.pmid, IdType="pubmed")
    _el(ids, "ArticleId", rec.doi, IdType="doi")
    return art


def _snapshot_bytes(records: list[Record]) -> bytes:
    """The gzip of a PubmedArticleSet laid out as ``pubmed.run_search`` writes it.

    gzip with ``mtime=0`` and no file name, so regeneration is byte-identical.
    """
    parts = [SNAPSHOT_HEADER]
    for rec in records:
        parts.append(etree.tostring(_article_xml(rec), encoding="utf-8") + b"\n")
    parts.append(b"</PubmedArticleSet>\n")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(b"".join(parts))
    return buf.getvalue()


def pmids_sha256(pmids: list[str]) -> str:
    """SHA-256 of the PMIDs sorted numerically and joined by newlines (as the search stage)."""
    return hashlib.sha256("\n".join(sorted(pmids, key=int)).encode()).hexdigest()


def _write_snapshot(
    root: Path, until: str, mindate: str, records: list[Record], reported: int
) -> None:
    folder = root / "search" / "pubmed"
    gz = _snapshot_bytes(records)
    name = f"{until}.xml.gz"
    write_bytes(folder / name, gz)
    minutes = 1 + len(records) // 1000
    sidecar = {
        "query": QUERY,
        "mindate": mindate,
        "maxdate": until,
        "datetype": "edat",
        "mdat": True,
        "count_reported": reported,
        "count_fetched": len(records),
        "pmids_sha256": pmids_sha256([r.pmid for r in records]),
        "started": f"{until}T06:00:00+00:00",
        "completed": f"{until}T06:{minutes:02d}:17+00:00",
        "software": SOFTWARE,
        "file": name,
        "file_sha256": hashlib.sha256(gz).hexdigest(),
    }
    write_json(folder / f"{until}.json", sidecar)


# ---------------------------------------------------------------- exports


_SPELLING = [("randomised", "randomized"), ("programme", "program"), ("glycaemic", "glycemic")]


def _title_variant(title: str) -> str:
    """A near-identical title as another database indexes it (spelling, article, case)."""
    for brit, amer in _SPELLING:
        if brit in title:
            return title.replace(brit, amer, 1)
        if amer in title:
            return title.replace(amer, brit, 1)
    for article in (": a ", ": an "):
        if article in title:
            return title.replace(article, ": ", 1)
    return title.lower()


def _ris_writer():
    import rispy

    class RisWriter(rispy.RisWriter):
        """Embase's RIS has no numbered header line before each reference."""

        def set_header(self, count: int) -> None:
            return None

    return RisWriter


def _pick_duplicates(rng, records: list[Record], n: int) -> list[Record]:
    """PubMed records of the first search that another database also returns
    (trials and near-misses more often, as subject databases index them better)."""
    old = [r for r in records if r.snap == 1 and r.source == "pubmed"]
    weights = np.array([4.0 if r.kind != "ta" else 1.0 for r in old])
    picks = rng.choice(len(old), size=min(n, len(old)), replace=False, p=weights / weights.sum())
    return [old[int(i)] for i in sorted(picks, key=int)]


def _write_exports(rng, root: Path, records: list[Record], n_dup: dict[str, int]) -> dict:
    """An Embase RIS and a CINAHL CSV export: duplicates of PubMed records (by DOI,
    written differently, or only by a near-identical title) plus records only they have."""
    import rispy

    summary: dict[str, int] = {}
    entries = []
    for j, rec in enumerate(_pick_duplicates(rng, records, n_dup["embase"])):
        entry = {"type_of_reference": "JOUR"}
        title_only = j % 3 == 2  # no DOI in this database: only the title can match
        entry["title"] = _title_variant(rec.title) if title_only else rec.title + "."
        entry["authors"] = [f"{last}, {fore}" for last, fore in rec.authors]
        entry["year"] = str(rec.year)
        entry["secondary_title"] = rec.journal[0]
        if not title_only:
            entry["doi"] = rec.doi.upper() if j % 3 == 1 else f"https://doi.org/{rec.doi}"
        entries.append(entry)
        abstract = " ".join(text for _, text in rec.abstract)
        if abstract:
            entry["abstract"] = abstract
        entry["keywords"] = ["diabetes mellitus", "instant messaging"]
        entry["language"] = "English" if rec.language == "eng" else rec.language
        summary["embase_title" if title_only else "embase_doi"] = (
            summary.get("embase_title" if title_only else "embase_doi", 0) + 1
        )
    for rec in (r for r in records if r.source == "embase"):
        entry = {
            "type_of_reference": "CONF" if rec.pubtypes == ["Conference Abstract"] else "JOUR",
            "title": rec.title + ".",
            "authors": [f"{last}, {fore}" for last, fore in rec.authors],
            "year": str(rec.year),
            "secondary_title": rec.journal[0],
        }
        if rec.doi:
            entry["doi"] = rec.doi
        entry["abstract"] = " ".join(text for _, text in rec.abstract)
        entries.append(entry)
    summary["embase_only"] = sum(1 for r in records if r.source == "embase")
    summary["embase"] = len(entries)
    text = rispy.dumps(entries, implementation=_ris_writer())
    write_text(root / "search" / "exports" / "embase" / f"embase-{FIRST_UNTIL}.ris", text)

    rows = []
    for j, rec in enumerate(_pick_duplicates(rng, records, n_dup["cinahl"])):
        title_only = j % 4 == 3
        rows.append(
            _cinahl_row(rec, _title_variant(rec.title) if title_only else rec.title, not title_only)
        )
        summary["cinahl_title" if title_only else "cinahl_doi"] = (
            summary.get("cinahl_title" if title_only else "cinahl_doi", 0) + 1
        )
    rows += [_cinahl_row(r, r.title, True) for r in records if r.source == "cinahl"]
    summary["cinahl_only"] = sum(1 for r in records if r.source == "cinahl")
    summary["cinahl"] = len(rows)
    rows.sort(key=lambda r: (r["Publication Year"], r["Article Title"]))
    write_csv(
        pd.DataFrame(rows, dtype=object),
        root / "search" / "exports" / "cinahl" / f"cinahl-{FIRST_UNTIL}.csv",
        text_columns=["Article Title", "Abstract", "Author", "Journal"],
    )
    return summary


def _cinahl_row(rec: Record, title: str, with_doi: bool) -> dict[str, str]:
    return {
        "Article Title": title,
        "Author": "; ".join(f"{last}, {fore}" for last, fore in rec.authors),
        "Journal": rec.journal[0],
        "Publication Year": str(rec.year),
        "DOI": rec.doi if with_doi else "",
        "Abstract": " ".join(text for _, text in rec.abstract),
        "Language": "English" if rec.language == "eng" else rec.language,
        "Document Type": "Journal Article" if rec.source == "pubmed" else rec.pubtypes[0],
    }


# ---------------------------------------------------------------- screening


@dataclass
class _Screen:
    rows: dict[str, list[dict]] = field(default_factory=dict)  # file stem -> rows
    adjudication: list[dict] = field(default_factory=list)


def _dates(rng, start: str, n: int, days: int) -> list[str]:
    base = np.datetime64(start)
    offs = np.sort(rng.integers(0, days, size=n))
    return [str(base + int(o)) for o in offs]


def _screen_stage(
    rng,
    sc: _Screen,
    stage: str,
    recs: list[Record],
    truth: dict[str, str],
    files: tuple[str, str],
    n_dis: int,
    n_unresolved: int,
    start: str,
    days: int,
    awaiting: int = 0,
) -> dict[str, str]:
    """Simulate two reviewers on ``recs``; return the final status per PMID.

    ``truth`` maps PMID -> 'pass'/'include' or an exclusion reason. Disagreements
    are resolved by the adjudicator except ``n_unresolved`` of them (never on a
    trial record), which remain conflicts.
    """
    pmids = [r.rid for r in recs]
    kinds = {r.rid: r.kind for r in recs}
    pos = lambda p: truth[p] in ("pass", "include")  # noqa: E731
    neg_pool = [p for p in pmids if not pos(p)]
    if stage == "title_abstract":
        wait = (
            [str(x) for x in rng.choice(neg_pool, size=awaiting, replace=False)] if awaiting else []
        )
    else:
        wait = []
    cand = [p for p in pmids if p not in wait]
    # title/abstract slips are mostly over-inclusive or missed includes
    up = 3.0 if stage == "title_abstract" else 1.0
    weights = np.array([up if pos(p) else 1.0 for p in cand])
    dis = [str(x) for x in rng.choice(cand, size=n_dis, replace=False, p=weights / weights.sum())]
    if stage == "full_text" and n_dis > 1 and all(not pos(p) for p in dis):
        # at least one included trial got there through the adjudicator
        dis[-1] = next(p for p in cand if pos(p))
    safe = [p for p in dis if not pos(p)]
    unresolved = set(safe[:n_unresolved])
    final: dict[str, str] = {}
    rows_a, rows_b = [], []
    dates = _dates(rng, start, 2 * len(pmids), days)
    dset = set(dis)
    maybe_both = set()
    if stage == "title_abstract":
        pos_agree = [p for p in cand if pos(p) and p not in dset and kinds[p] != "trial"]
        maybe_both = set(pos_agree[:: max(1, len(pos_agree) // 3)][:3])
    reasons = [r for r in FT_REASON.values()]
    for idx, p in enumerate(pmids):
        t = truth[p]
        if stage == "title_abstract":
            yes = "maybe" if p in maybe_both else "include"
            if pos(p):
                a = b = yes
            else:
                a = b = "exclude"
            ra = rb = ""
        else:
            if t == "include":
                a = b = "include"
                ra = rb = ""
            else:
                a = b = "exclude"
                ra = rb = t
        if p in dset:
            flip_a = rng.random() < 0.5
            if stage == "title_abstract":
                other = "exclude" if pos(p) else _choice(rng, ["include", "maybe"])
                other_r = ""
            else:
                if t == "include":
                    other, other_r = "exclude", _choice(rng, reasons[1:])
                else:
                    other, other_r = "include", ""
            if flip_a:
                a, ra = other, other_r
            else:
                b, rb = other, other_r
            if p in unresolved:
                final[p] = "conflict"
            else:
                dec = "include" if pos(p) else "exclude"
                note = (
                    "agreed after discussion" if rng.random() < 0.5 else "third reviewer decision"
                )
                sc.adjudication.append(
                    {
                        "record_id": p,
                        "stage": stage,
                        "decision": dec,
                        "reason": "" if pos(p) else (t if stage == "full_text" else ""),
                        "adjudicator": "erin",
                        "note": note,
                        "date": str(
                            np.datetime64(dates[-1]) + int(rng.integers(1, 1 + max(2, days // 5)))
                        ),
                    }
                )
                final[p] = "pass" if pos(p) else "excluded"
        else:
            final[p] = "pass" if pos(p) else "excluded"
        na = (
            "out of scope"
            if (a == "exclude" and stage == "title_abstract" and rng.random() < 0.04)
            else ""
        )
        nb = "check randomisation" if (b == "maybe" and rng.random() < 0.5) else ""
        if p not in wait:
            rows_a.append(
                {"record_id": p, "decision": a, "reason": ra, "note": na, "date": dates[2 * idx]}
            )
        else:
            final[p] = "awaiting"
        rows_b.append(
            {"record_id": p, "decision": b, "reason": rb, "note": nb, "date": dates[2 * idx + 1]}
        )
    sc.rows.setdefault(f"{stage}/{files[0]}", []).extend(rows_a)
    sc.rows.setdefault(f"{stage}/{files[1]}", []).extend(rows_b)
    return final


def _screen(rng, records: list[Record], demo: bool) -> tuple[_Screen, dict]:
    sc = _Screen()
    summary: dict = {}
    # (the update is screened between its search, 2026-11-01, and 2026-11-20)
    for snap, (fa, fb), start_ta, start_ft, days in (
        (1, ("alice", "bob"), "2025-07-01", "2025-09-01", 40),
        (2, ("alice-update", "bob-update"), "2026-11-02", "2026-11-11", 7),
    ):
        recs = [r for r in records if r.snap == snap]
        ta_truth = {r.rid: ("pass" if r.kind != "ta" else "exclude") for r in recs}
        n = len(recs)
        if demo:
            n_dis = 18 if snap == 1 else 3
            n_unres = 2 if snap == 1 else 0
            wait = 0 if snap == 1 else 3
        else:
            n_dis, n_unres = round(0.06 * n), round(0.006 * n)
            wait = round(0.05 * n) if snap == 2 else 0
        ta = _screen_stage(
            rng,
            sc,
            "title_abstract",
            recs,
            ta_truth,
            (fa, fb),
            n_dis,
            n_unres,
            start_ta,
            days,
            wait,
        )
        ft_recs = [r for r in recs if ta[r.rid] == "pass"]
        ft_truth = {
            r.rid: ("include" if r.kind == "trial" else FT_REASON.get(r.kind, "not an RCT"))
            for r in ft_recs
        }
        if demo:
            n_dis, n_unres = (4, 1) if snap == 1 else (1, 0)
        else:
            n_dis, n_unres = round(0.08 * len(ft_recs)), round(0.005 * len(ft_recs))
        ft_files = ("alice", "bob") if snap == 1 else ("alice-update", "bob-update")
        ft = _screen_stage(
            rng, sc, "full_text", ft_recs, ft_truth, ft_files, n_dis, n_unres, start_ft, days
        )
        summary[f"snapshot{snap}"] = {
            "records": n,
            "to_full_text": len(ft_recs),
            "included": sum(1 for s in ft.values() if s == "pass"),
            "ta_conflicts": sum(1 for s in ta.values() if s == "conflict"),
            "ft_conflicts": sum(1 for s in ft.values() if s == "conflict"),
            "awaiting": sum(1 for s in ta.values() if s == "awaiting"),
        }
    return sc, summary


# ---------------------------------------------------------------- extraction


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


# ---------------------------------------------------------------- main entry


def _frame(rows: list[dict], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [{c: r.get(c, "") for c in columns} for r in rows], columns=columns, dtype=object
    )


def generate(out: str | Path, seed: int = SEED, trials: int | None = None) -> dict:
    """Write a complete synthetic review under ``out``; return a summary dict.

    ``trials=None`` writes the hand-specified demo (25 trials); an integer writes
    a large random review with that many trials (about 3 records per trial).
    """
    out = Path(out)
    rng = np.random.default_rng(seed)
    demo = trials is None
    tr = _demo_trials(rng) if demo else _random_trials(rng, int(trials))
    for t in tr:
        _trial_details(rng, t)
        _simulate_outcomes(rng, t)
    if demo:
        _ensure_demo_properties(tr)
    n = len(tr)
    if demo:
        counts = {("nonrct", 1): 34, ("nonextract", 1): 3, ("poorq", 1): 1, ("ta", 1): 200,
                  ("nonrct", 2): 4, ("nonextract", 2): 1, ("ta", 2): 32}  # fmt: skip
    else:
        n1 = sum(1 for t in tr if not t.update)
        n2 = n - n1
        counts = {("nonrct", 1): round(0.45 * n1), ("nonextract", 1): round(0.04 * n1),
                  ("poorq", 1): max(1, round(0.01 * n1)), ("ta", 1): round(1.5 * n1),
                  ("nonrct", 2): round(0.45 * n2), ("nonextract", 2): round(0.04 * n2), ("ta", 2): round(1.5 * n2)}  # fmt: skip
    only = (
        {"embase": 6, "cinahl": 3}
        if demo
        else {"embase": round(0.01 * n), "cinahl": round(0.005 * n)}
    )
    records = _make_records(rng, tr, counts, only)
    snap1 = [r for r in records if r.snap == 1 and r.source == "pubmed"]
    snap2 = [r for r in records if r.snap == 2]
    # The update (mdat) search also returns a few old records revised since.
    n_rev = 2 if demo else max(2, round(0.01 * len(snap1)))
    trial_old = [r for r in snap1 if r.kind == "trial"]
    other_old = [r for r in snap1 if r.kind != "trial"]
    revised = [trial_old[int(rng.integers(len(trial_old)))]]
    revised += [
        other_old[int(i)] for i in rng.choice(len(other_old), size=n_rev - 1, replace=False)
    ]
    # count_reported sums the publication-date (edat) and modification-date
    # (mdat) searches, as the search stage does; the first search finds every
    # record by both, the update finds the revised old records by mdat only.
    _write_snapshot(out, FIRST_UNTIL, START, snap1, reported=2 * len(snap1))
    upd = sorted(snap2 + _revised_copies(revised), key=lambda r: int(r.pmid))
    _write_snapshot(out, UPDATE_UNTIL, FIRST_UNTIL, upd, reported=2 * len(snap2) + n_rev)
    n_dup = (
        {"embase": 36, "cinahl": 16}
        if demo
        else {"embase": round(0.1 * len(records)), "cinahl": round(0.05 * len(records))}
    )
    exp = _write_exports(rng, out, records, n_dup)

    sc, scr = _screen(rng, records, demo)
    for name, rows in sc.rows.items():
        write_csv(_frame(rows, ["record_id", "decision", "reason", "note", "date"]),
                  out / "screening" / f"{name}.csv", text_columns=["note"])  # fmt: skip
    adj_cols = ["record_id", "stage", "decision", "reason", "adjudicator", "note", "date"]
    write_csv(
        _frame(sc.adjudication, adj_cols),
        out / "screening" / "adjudication.csv",
        text_columns=["note"],
    )

    ex = _extraction(rng, tr, demo)
    for who, srows, orows in zip(("carol", "dave"), ex["studies"], ex["outcomes"], strict=True):
        write_csv(
            _frame(srows, STUDY_COLUMNS),
            out / "extraction" / "studies" / f"{who}.csv",
            text_columns=["citation"],
        )
        write_csv(
            _frame(orows, OUTCOME_COLUMNS),
            out / "extraction" / "outcomes" / f"{who}.csv",
            text_columns=["note"],
        )
    write_csv(
        _frame(ex["resolutions"], ["sheet", "key", "field", "value", "note"]),
        out / "extraction" / "resolutions.csv",
        text_columns=["note", "value"],
    )
    summary = {
        "seed": seed,
        "trials": n,
        "records_snapshot1": len(snap1),
        "records_snapshot2": len(upd),
        "records_revised_in_update": n_rev,
        "exports": exp,
        "screening": scr,
        "outcome_rows": sum(len(t.outcomes) for t in tr),
        "resolutions": len(ex["resolutions"]),
        "unresolved": [list(u) for u in ex["unresolved"]],
        "platforms": {p: sum(1 for t in tr if t.platform == p) for p in [*PLATFORMS, "mixed"]},
        "domains": {d: sum(1 for t in tr if d in t.domains) for d in DOMAINS},
    }
    if demo:
        write_text(out / "README.md", _readme(summary))
    return summary


def _revised_copies(revised: list[Record]) -> list[Record]:
    """Old records as the update search returns them: same PMID, newer DateRevised."""
    out = []
    for r in revised:
        c = Record(**{**r.__dict__})
        c.revised = (2026, 3, 15)
        out.append(c)
    return out


def _ensure_demo_properties(trials: list[Trial]) -> None:
    """Fail loudly if a seed does not give the demo what its README promises."""
    rows = [o for t in trials for o in t.outcomes if o["form"] != "events"]
    have = {o["form"] for o in rows}
    missing = [f for f in CONT_FORMS if f not in have]
    if missing:
        raise RuntimeError(f"demo seed gives no outcome in form(s) {missing}; pick another seed")
    sid, domain, outcome = DEMO_UNRESOLVED
    t = next(t for t in trials if t.study_id == sid)
    if not any(o["domain"] == domain and o["outcome"] == outcome for o in t.outcomes):
        raise RuntimeError(f"demo seed gives {sid} no {outcome} outcome; pick another seed")


def _readme(s: dict) -> str:
    s1, s2 = s["screening"]["snapshot1"], s["screening"]["snapshot2"]
    e = s["exports"]
    return f"""# Demo review: instant messaging for diabetes (SIMULATED DATA)

**Every record, decision and number in this folder is simulated.** None of it
describes a real publication, trial or person. PMIDs are in the fictional range
{PMID_BASE}+ and DOIs use Crossref's test prefix `{DOI_PREFIX}`; journal names
are invented. The data only exercise the pipeline with the structure of the
review protocol encoded in `config/config.yaml`: do not cite any result
computed from them.

## Regenerate

The files are written by `livingreview/demo.py` with a fixed seed; running it
again gives byte-identical files:

```
.venv/bin/python -m livingreview.demo --out resources/demo --seed {s["seed"]}
```

A large review with the same structure for benchmarks (not committed):
`python -m livingreview.demo --out bench/out/large --trials 2000`.

## What is here

| path | content |
| --- | --- |
| `search/pubmed/{FIRST_UNTIL}.xml.gz` + `.json` | initial PubMed search snapshot ({START} to {FIRST_UNTIL}): {s["records_snapshot1"]} records as a PubmedArticleSet (efetch XML), with its sidecar |
| `search/pubmed/{UPDATE_UNTIL}.xml.gz` + `.json` | update search ({FIRST_UNTIL} to {UPDATE_UNTIL}, by publication and modification date): {s["records_snapshot2"]} records, of which {s["records_revised_in_update"]} were already in the first snapshot (revised since) |
| `search/exports/embase/*.ris` | an Embase export of {e["embase"]} records: {e["embase_doi"]} duplicate PubMed records by DOI (written differently), {e["embase_title"]} only by a near-identical title, {e["embase_only"]} are not in PubMed |
| `search/exports/cinahl/*.csv` | a CINAHL export of {e["cinahl"]} records: {e["cinahl_doi"]} duplicates by DOI, {e["cinahl_title"]} by title only, {e["cinahl_only"]} not in PubMed |
| `screening/title_abstract/alice.csv`, `bob.csv` | two reviewers' title/abstract decisions on the first search (PubMed and exports); disagreements, most adjudicated, {s1["ta_conflicts"]} left as conflicts |
| `screening/title_abstract/*-update.csv` | decisions on the update records; alice has not yet screened {s2["awaiting"]} of them (awaiting) |
| `screening/full_text/*.csv` | full-text decisions with exclusion reasons (mostly "not an RCT", some "non-extractable data", one "poor methodological quality"); {s1["ft_conflicts"] + s2["ft_conflicts"]} conflict left |
| `screening/adjudication.csv` | the adjudicator's (erin) decisions on conflicts |
| `extraction/studies/carol.csv`, `dave.csv` | two extractors' study sheets: {s["trials"]} fictional RCTs over seven platforms (+ `mixed`), follow-up 4-52 weeks, RoB 2 judgements, design features |
| `extraction/outcomes/carol.csv`, `dave.csv` | outcome rows ({s["outcome_rows"]} per extractor) in every supported form (means, change_sd, change_se, md_ci, md_se, md_p, events), several outcomes and time points per trial |
| `extraction/resolutions.csv` | {s["resolutions"]} resolved extraction discrepancies; one discrepancy ({s["unresolved"][0][0]}, field `{s["unresolved"][0][1]}`) is deliberately left unresolved |

Included trials: {s1["included"]} from the first search and {s2["included"]} from the update.
Effects were simulated from random-effects models with true SMDs near the
published review's (glycemic -0.5, knowledge +1, behaviour +0.35, attitude
+0.8, other clinical -0.15; complications RR 0.7).
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m livingreview.demo",
        description="Write the simulated demo review (or a large synthetic review with --trials).",
        epilog="Example: python -m livingreview.demo --out resources/demo --seed 2026",
    )
    parser.add_argument("--out", required=True, help="folder to write (the input root)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.add_argument(
        "--trials", type=int, default=None, help="write a large random review with N trials"
    )
    args = parser.parse_args(argv)
    summary = generate(args.out, seed=args.seed, trials=args.trials)
    print(
        json.dumps(
            {
                k: summary[k]
                for k in ("trials", "records_snapshot1", "records_snapshot2", "screening")
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
