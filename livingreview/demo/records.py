"""Simulated bibliographic records: titles (kept dissimilar within a year, so that
de-duplication never merges two records), authors, abstracts, PubMed fields.
"""

from __future__ import annotations

import hashlib

from rapidfuzz import fuzz, process

from ..search.records import normalise_title
from .design import COUNTRY_NAMES, DOI_PREFIX, PLATFORMS, PMID_BASE, Record, Trial, _choice

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
LANG_OTHER = ["chi", "kor", "jpn", "por", "spa", "rus"]
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
            key = " ".join(sorted(normalise_title(title).split()))
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
            key = rec.doi.lower() or f"{normalise_title(rec.title)}|{rec.year}"
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
