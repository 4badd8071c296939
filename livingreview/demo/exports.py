"""Database exports of the simulated search (RIS, CINAHL CSV), with the duplicates and
title variants de-duplication must find.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..io import write_csv, write_text
from .design import FIRST_UNTIL, Record

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
