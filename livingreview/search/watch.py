"""Retraction and correction watch: what PubMed says happened to a record after publication.

PubMed marks a retracted article with the publication type "Retracted
Publication" and links it (CommentsCorrections) to its retraction notice
(``RetractionIn``), errata (``ErratumIn``), expressions of concern
(``ExpressionOfConcernIn``) and updates (``UpdateIn``). The search stage keeps
those links in ``records.csv`` (``corrections``) from every snapshot, so the
watch needs no extra request in offline mode.

A retracted record is excluded at full text by the screening stage (rule
``retraction-watch``, reason ``retracted publication``) unless
``screening.retracted`` is ``flag``; errata, expressions of concern and updates
are flagged for the extractors to check, never acted on.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["NOTICES", "notices", "retracted"]

RETRACTED_TYPE = "Retracted Publication"
NOTICES = {
    "RetractionIn": "retracted",
    "ErratumIn": "erratum",
    "ExpressionOfConcernIn": "expression of concern",
    "UpdateIn": "updated",
}
LIST_SEP = "; "


def _links(value: str) -> list[tuple[str, str]]:
    out = []
    for part in str(value or "").split(LIST_SEP.strip()):
        kind, _, pmid = part.strip().partition(" ")
        if kind in NOTICES:
            out.append((kind, pmid.strip()))
    return out


def retracted(publication_types: str, corrections: str) -> bool:
    """Whether PubMed marks the record retracted (publication type or a RetractionIn link).

    >>> retracted("Journal Article; Retracted Publication", ""), retracted("", "ErratumIn 1")
    (True, False)
    """
    types = {t.strip() for t in str(publication_types or "").split(LIST_SEP.strip())}
    return RETRACTED_TYPE in types or any(k == "RetractionIn" for k, _ in _links(corrections))


def notices(records: pd.DataFrame) -> pd.DataFrame:
    """One row per notice: ``record_id, notice, notice_pmid`` (sorted; retraction first)."""
    rows = []
    for r in records.itertuples(index=False):
        types = str(getattr(r, "publication_types", "") or "")
        links = _links(str(getattr(r, "corrections", "") or ""))
        kinds = {k for k, _ in links}
        if RETRACTED_TYPE in types and "RetractionIn" not in kinds:
            rows.append({"record_id": r.record_id, "notice": "retracted", "notice_pmid": ""})
        for kind, pmid in links:
            rows.append({"record_id": r.record_id, "notice": NOTICES[kind], "notice_pmid": pmid})
    order = list(NOTICES.values())
    frame = pd.DataFrame(rows, columns=["record_id", "notice", "notice_pmid"])
    if len(frame):
        frame["_o"] = frame["notice"].map(order.index)
        frame = frame.sort_values(["record_id", "_o", "notice_pmid"]).drop(columns="_o")
    return frame.reset_index(drop=True)
