"""PubMed search snapshots of the simulated records: ``<until>.xml.gz`` and its sidecar,
written by :func:`livingreview.search.snapshots.write_snapshot` itself.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from lxml import etree

from ..search.snapshots import write_snapshot
from .design import Record

SOFTWARE = {"livingreview": "0.1.0", "python": "3.11.7"}  # fixed: regeneration is byte-identical
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


def _write_snapshot(
    root: Path, until: str, mindate: str, records: list[Record], reported: int
) -> None:
    """Write one snapshot with the search stage's own writer, fixed times and versions.

    A regeneration replaces the pair it wrote before (the writer itself never
    rewrites a completed snapshot).
    """
    folder = root / "search" / "pubmed"
    for old in (folder / f"{until}.xml.gz", folder / f"{until}.json"):
        old.unlink(missing_ok=True)
    minutes = 1 + len(records) // 1000
    articles = (
        (r.pmid, etree.tostring(_article_xml(r), encoding="utf-8") + b"\n") for r in records
    )
    write_snapshot(
        folder,
        dt.date.fromisoformat(until),
        articles,
        query=QUERY,
        mindate=dt.date.fromisoformat(mindate),
        mdat=True,
        count_reported=reported,
        started=f"{until}T06:00:00+00:00",
        completed=f"{until}T06:{minutes:02d}:17+00:00",
        software=SOFTWARE,
    )
