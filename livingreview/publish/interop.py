"""Files for the tools that come after us, written into every bundle (issue 20, "Out").

* ``prisma/PRISMA2020.csv``: the counts in the template of the PRISMA2020 R
  package and Shiny app (Haddaway et al., Campbell Syst Rev 2022;18:e1230),
  the "updated review" boxes filled when the review has a previous version;
* ``included.ris``: the included studies' records as RIS (``rispy``), for
  reference managers, RevMan and GRADEpro;
* ``CITATION.cff`` and ``.zenodo.json``: how to cite this version (authors,
  licence and keywords from ``review`` in the configuration; the previous
  version as a related identifier). They name the version, so they are
  per-version files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import rispy
import yaml

__all__ = ["CITATION_FILES", "citation_cff", "included_ris", "prisma2020_csv", "zenodo_json"]

CITATION_FILES = ("CITATION.cff", ".zenodo.json")  # per version: they name it

PRISMA_COLUMNS = ["data", "node", "box", "description", "boxtext", "tooltips", "url", "n"]
# (data name, box, description) of the PRISMA2020 template rows we fill, in its order.
PRISMA_ROWS = (
    ("previous_studies", "box1", "Studies included in previous version of review"),
    ("previous_reports", "box1", "Reports of studies included in previous version of review"),
    ("database_results", "box2", "Records identified from: Databases"),
    ("database_specific_results", "box2", "Records identified from each database"),
    ("register_results", "box2", "Records identified from: Registers"),
    ("website_results", "box11", "Records identified from: Websites"),
    ("organisation_results", "box11", "Records identified from: Organisations"),
    ("citations_results", "box11", "Records identified from: Citation searching"),
    ("duplicates", "box3", "Duplicate records"),
    ("excluded_automatic", "box3", "Records marked as ineligible by automation tools"),
    ("excluded_other", "box3", "Records removed for other reasons"),
    ("records_screened", "box4", "Records screened (databases and registers)"),
    ("records_excluded", "box5", "Records excluded (databases and registers)"),
    ("dbr_sought_reports", "box6", "Reports sought for retrieval (databases and registers)"),
    ("dbr_notretrieved_reports", "box7", "Reports not retrieved (databases and registers)"),
    ("dbr_assessed", "box8", "Reports assessed for eligibility (databases and registers)"),
    ("dbr_excluded", "box9", "Reports excluded (databases and registers)"),
    ("new_studies", "box10", "New studies included in review"),
    ("new_reports", "box10", "Reports of new included studies"),
    ("total_studies", "box16", "Total studies included in review"),
    ("total_reports", "box16", "Reports of total included studies"),
)


def prisma2020_csv(prisma: Mapping[str, Any]) -> pd.DataFrame:
    """Our ``prisma.json`` in the PRISMA2020 package's CSV template.

    For an update (``prisma["update"]``) the identification and screening
    boxes count the latest search (``new_search``) and the "previous version"
    boxes the studies included before it, as the updated-review flow diagram
    asks; otherwise everything counts the whole review. Reasons for exclusion
    are written "reason, n; reason, n" as the template expects.
    """
    update = bool(prisma.get("update")) and isinstance(prisma.get("new_search"), Mapping)
    part = prisma["new_search"] if update else prisma
    excluded = part.get("fulltext_excluded") or {}
    identified = part.get("identified") or {}
    total = int(prisma.get("included_studies") or 0)
    values = {
        "previous_studies": int(prisma.get("previous_included") or 0) if update else 0,
        "previous_reports": int(prisma.get("previous_included_records") or 0) if update else 0,
        "database_results": int(part.get("identified_total") or 0),
        "database_specific_results": "; ".join(
            f"{db}, {n}" for db, n in sorted(identified.items())
        ),
        "register_results": 0,
        "website_results": 0,
        "organisation_results": 0,
        "citations_results": 0,
        "duplicates": int(part.get("duplicates_removed") or 0),
        "excluded_automatic": 0,
        "excluded_other": 0,
        "records_screened": int(part.get("screened") or 0),
        "records_excluded": int(part.get("excluded_title_abstract") or 0),
        "dbr_sought_reports": int(part.get("fulltext_assessed") or 0),
        "dbr_notretrieved_reports": 0,
        "dbr_assessed": int(part.get("fulltext_assessed") or 0),
        "dbr_excluded": "; ".join(f"{reason}, {n}" for reason, n in sorted(excluded.items())),
        "new_studies": int(prisma.get("new_included") or 0) if update else total,
        "new_reports": int(part.get("included_records") or 0),
        "total_studies": total,
        "total_reports": int(prisma.get("included_records") or 0),
    }
    rows = [
        {
            "data": name,
            "node": "NA",
            "box": box,
            "description": text,
            "boxtext": text,
            "tooltips": "NA",
            "url": "NA",
            "n": values[name],
        }  # fmt: skip
        for name, box, text in PRISMA_ROWS
    ]
    return pd.DataFrame(rows, columns=PRISMA_COLUMNS)


def _split(value: Any) -> list[str]:
    return [x.strip() for x in str(value or "").split(";") if x.strip()]


class _RisWriter(rispy.RisWriter):
    """RIS without rispy's "1." counter line before each reference (not part of RIS)."""

    def set_header(self, count: int) -> None:
        return None


def included_ris(records: pd.DataFrame, studies: pd.DataFrame) -> str:
    """RIS of the records of the included studies (one entry per study, in study order)."""
    by_id = records.set_index("record_id")
    entries = []
    for row in studies.itertuples(index=False):
        rid = str(row.record_id)
        if rid not in by_id.index:
            continue
        r = by_id.loc[rid]
        entry = {"type_of_reference": "JOUR", "title": str(r.get("title") or ""),
                 "authors": _split(r.get("authors")), "year": str(r.get("year") or ""),
                 "journal_name": str(r.get("journal") or ""), "doi": str(r.get("doi") or ""),
                 "abstract": str(r.get("abstract") or ""), "id": str(row.study_id),
                 "notes": [f"record_id {rid}"] + ([f"PMID {r['pmid']}"] if r.get("pmid") else [])}  # fmt: skip
        entries.append({k: v for k, v in entry.items() if v not in ("", [])})
    return rispy.dumps(entries, implementation=_RisWriter)


def _authors(review: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for a in review.get("authors") or []:
        family, _, given = str(a["name"]).partition(", ")
        person = {"family-names": family, "given-names": given} if given else {"name": a["name"]}
        if a.get("orcid"):
            person["orcid"] = f"https://orcid.org/{a['orcid']}"
        if a.get("affiliation"):
            person["affiliation"] = a["affiliation"]
        out.append(person)
    return out or [{"name": "The review team"}]


def citation_cff(review: Mapping[str, Any], version: str, date: str, previous: str | None) -> str:
    """``CITATION.cff`` (Citation File Format 1.2.0) for one version of the review."""
    cff: dict[str, Any] = {
        "cff-version": "1.2.0",
        "message": "If you use these results, please cite this version of the living review.",
        "type": "dataset",
        "title": str(review["title"]),
        "version": version,
        "date-released": date,
        "authors": _authors(review),
        "license": str(review.get("license") or "CC-BY-4.0"),
    }
    if review.get("keywords"):
        cff["keywords"] = [str(k) for k in review["keywords"]]
    if previous:
        cff["identifiers"] = [{"type": "other", "value": f"previous version: {previous}",
                               "description": "The version this one updates"}]  # fmt: skip
    return yaml.safe_dump(cff, sort_keys=False, allow_unicode=True)


def zenodo_json(
    review: Mapping[str, Any], version: str, date: str, previous: str | None
) -> dict[str, Any]:
    """``.zenodo.json``: Zenodo's deposit metadata for one version."""
    creators = []
    for a in review.get("authors") or [{"name": "The review team"}]:
        c = {"name": str(a["name"])}
        if a.get("orcid"):
            c["orcid"] = str(a["orcid"])
        if a.get("affiliation"):
            c["affiliation"] = str(a["affiliation"])
        creators.append(c)
    meta: dict[str, Any] = {
        "title": f"{review['title']} (version {version})",
        "upload_type": "dataset",
        "publication_date": date,
        "version": version,
        "creators": creators,
        "license": str(review.get("license") or "CC-BY-4.0").lower(),
        "description": "Results bundle of a living systematic review produced by livingreview: "
        "analyses, report, summary of findings and what changed since the previous version.",
        "keywords": [str(k) for k in review.get("keywords") or []] + ["living systematic review"],
    }
    if previous:
        meta["related_identifiers"] = [
            {"identifier": f"version {previous}", "relation": "isNewVersionOf", "scheme": "other"}
        ]
    return meta


def write_versioned(stage: Path, review: Mapping[str, Any], version: str, date: str,
                    previous: str | None) -> list[str]:  # fmt: skip
    """Write the per-version citation files into ``stage``; their relative paths."""
    (stage / "CITATION.cff").write_text(
        citation_cff(review, version, date, previous), encoding="utf-8"
    )
    text = json.dumps(zenodo_json(review, version, date, previous), indent=2, ensure_ascii=False)
    (stage / ".zenodo.json").write_text(text + "\n", encoding="utf-8")
    return list(CITATION_FILES)


def write_content(results: Path, stage: Path, records_columns: Sequence[str] | None = None) -> None:
    """Write the content exports (PRISMA2020 CSV, included RIS) from ``results`` into ``stage``."""
    prisma = results / "screening" / "prisma.json"
    if prisma.is_file():
        (stage / "prisma").mkdir(parents=True, exist_ok=True)
        table = prisma2020_csv(json.loads(prisma.read_text(encoding="utf-8")))
        table.to_csv(stage / "prisma" / "PRISMA2020.csv", index=False, lineterminator="\n")
    records, studies = results / "records" / "records.csv", results / "extraction" / "studies.csv"
    if records.is_file() and studies.is_file():
        rec = pd.read_csv(records, dtype=str, keep_default_na=False, usecols=records_columns)
        stu = pd.read_csv(
            studies, dtype=str, keep_default_na=False, usecols=["study_id", "record_id"]
        )
        (stage / "included.ris").write_text(included_ris(rec, stu), encoding="utf-8")
