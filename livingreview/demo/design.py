"""The simulated review's design: its dates and PMID range, platforms and domains,
the trial and record types every part of the generator shares, and number formats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

SEED = 2026
PMID_BASE = 90000001  # clearly synthetic PMID range
DOI_PREFIX = "10.5555"  # Crossref's reserved test prefix
START = "2010-06-20"
FIRST_UNTIL = "2025-06-20"
UPDATE_UNTIL = "2026-11-01"
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
CONT_FORMS = ["means", "change_sd", "change_se", "md_ci", "md_se", "md_p"]
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
