"""PRISMA 2020 counts of the review and of its latest search (``prisma.json``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd


def _flow(decisions: pd.DataFrame, ids: set[str] | None = None) -> dict[str, Any]:
    """Counts of one flow (whole review, or only the records of the latest search)."""
    d = decisions if ids is None else decisions[decisions["record_id"].isin(ids)]
    ta = d[d["stage"] == "title_abstract"]["status"].value_counts()
    ft_rows = d[d["stage"] == "full_text"]
    ft = ft_rows["status"].value_counts()
    reasons = ft_rows.loc[ft_rows["status"] == "excluded", "reason"].replace("", "reason not given")
    by_reason = {str(k): int(v) for k, v in reasons.value_counts().sort_index().items()}

    def n(counts: pd.Series, key: str) -> int:
        return int(counts.get(key, 0))

    return {
        "records": int((d["stage"] == "title_abstract").sum()),
        "screened": n(ta, "included") + n(ta, "excluded"),
        "excluded_title_abstract": n(ta, "excluded"),
        "fulltext_assessed": n(ft, "included") + n(ft, "excluded"),
        "fulltext_excluded": by_reason,
        "fulltext_excluded_total": n(ft, "excluded"),
        "included_records": n(ft, "included"),
        "awaiting": {"title_abstract": n(ta, "awaiting"), "full_text": n(ft, "awaiting")},
        "unscreened": {"title_abstract": n(ta, "unscreened"), "full_text": n(ft, "unscreened")},
        "conflicts": {"title_abstract": n(ta, "conflict"), "full_text": n(ft, "conflict")},
    }


def prisma_counts(
    decisions: pd.DataFrame,
    records: pd.DataFrame,
    summary: Mapping[str, Any],
    new: pd.Series,
    latest_search: str | None,
    studies: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """PRISMA 2020 counts (docs/contracts.md ``prisma.json``) plus the latest search's flow.

    ``screened`` counts records with a final title/abstract decision, so the
    boxes add up: records = screened + awaiting + unscreened + conflicts at
    title/abstract, and likewise at full text. Identification counts come
    from the search stage's summary. ``included_studies`` equals
    ``included_records`` unless ``studies`` maps record ids to study ids
    (further reports of an included trial are excluded as "duplicate report"
    under the default protocol). ``previous_included`` are included records
    first found before the latest search, ``new_included`` those it found;
    ``new_search`` is the flow restricted to the latest search's records, for
    the PRISMA 2020 diagram of an updated review, where identified counts new
    records per source and duplicates are those returned by several sources.
    """
    flow = _flow(decisions)
    included = set(
        decisions.loc[
            (decisions["stage"] == "full_text") & (decisions["status"] == "included"), "record_id"
        ]
    )
    new_ids = set(records.index[new.to_numpy()])
    new_flow = _flow(decisions, new_ids)
    sources: dict[str, int] = {}
    new_sorted = sorted(new_ids)
    for text in records["sources"].loc[new_sorted].tolist():
        for s in filter(None, (x.strip() for x in text.split(";"))):
            sources[s] = sources.get(s, 0) + 1
    new_flow["identified"] = dict(sorted(sources.items()))
    new_flow["identified_total"] = sum(sources.values()) if sources else len(new_ids)
    new_flow["duplicates_removed"] = new_flow["identified_total"] - len(new_ids)

    def n_studies(ids: set[str]) -> int:
        return len({studies.get(r, r) for r in ids}) if studies else len(ids)

    identified = {str(k): int(v) for k, v in (summary.get("identified") or {}).items()}
    previous = included - new_ids
    counts: dict[str, Any] = {
        "identified": dict(sorted(identified.items())),
        "identified_total": int(summary.get("identified_total", sum(identified.values()))),
        "duplicates_removed": int(summary.get("duplicates_removed", 0)),
        **flow,
        "included_studies": n_studies(included),
        "previous_included": n_studies(previous),
        "new_included": n_studies(included & new_ids),
        "previous_included_records": len(previous),
        "latest_search": latest_search,
        "update": bool(len(records)) and len(new_ids) < len(records),
        "new_search": new_flow,
    }
    return counts
