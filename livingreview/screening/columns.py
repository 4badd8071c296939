"""The columns of the screening stage's output tables (docs/contracts.md), one copy."""

from __future__ import annotations

DECISION_COLUMNS = [
    "record_id",
    "stage",
    "decisions",
    "n_reviewers",
    "adjudication",
    "status",
    "rule",
    "reason",
    "reasons",
    "note",
    "sources",
]
CONFLICT_COLUMNS = ["record_id", "stage", "decisions", "reasons", "notes", "year", "title"]
QUEUE_COLUMNS = [
    "record_id",
    "stage",
    "decision",
    "reason",
    "note",
    "date",
    "new_since_last_search",
    "first_seen",
    "year",
    "title",
    "abstract",
    "journal",
    "authors",
    "doi",
    "rank",  # position in the order of predicted relevance (livingreview.screening.prioritise)
    "relevance",  # the model's log-odds of inclusion; empty when not ranked
]
QUEUE_FILL_IN = ("decision", "reason", "note", "date")
#: queue/<UNSCREENED>.csv: records nobody has screened yet (a name no reviewer can have).
UNSCREENED = "_unscreened"
TEXT_COLUMNS = ("title", "abstract", "journal", "authors", "note", "notes", "reasons", "reason")


WATCH_COLUMNS = ["record_id", "title", "stage", "status", "rule", "notice", "notice_pmid"]
