"""Extraction queues: the included trials each extractor has not entered yet.

Screening gives each reviewer a queue; extraction had none, so an extractor
typed study ids, record ids and citations from the screening results by hand,
and two extractors could choose different study ids for one trial (a
discrepancy to resolve). ``results/extraction/queue/`` now holds, after every
run:

* ``<extractor>.csv`` for each extractor (a sheet under
  ``extraction/studies/``, a header-only file is enough): one row per trial
  included at full text that none of their study sheets names yet;
* ``_unextracted.csv``: the included trials nobody has entered.

A row carries the studies sheet's columns (the configured stratifier column
and study columns included), with ``study_id``, ``record_id`` and
``citation`` filled in: the study id another extractor already gave the
record, else one made from the first author's surname and the year
(``smith2024``, then ``smith2024b``...), the same for every extractor; the
citation as ``Smith et al. (2024)``. The extractor fills in the rest and
saves it over (or beside) their study sheet. The queue never changes an input
and is not part of a published version. Study sheets are read leniently here
(only ``study_id`` and ``record_id`` are used): a sheet whose cells the
extraction stage rejects still gets its queue, and the extraction log names
the problem.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from ..io import write_csv
from ..sheets import load_schema, person_name, read_sheet
from .selection import full_text_status

__all__ = [
    "UNEXTRACTED",
    "QueueResult",
    "QueueSettings",
    "citation",
    "queue_columns",
    "run",
    "study_id",
    "write",
]

#: queue/<UNEXTRACTED>.csv: included trials no extractor has entered (no person has this name).
UNEXTRACTED = "_unextracted"
PREFILLED = ("study_id", "record_id", "citation")
PREFILLED_SOURCES = ("record_id", "authors", "year")  # of results/records/records.csv
TEXT_COLUMNS = ("citation",)
AUTHOR_SEP = re.compile(r"[;|]| and ")  # MEDLINE "Smith J; Lee M", RIS/CSV "A and B"


def _surname(authors: str) -> str:
    """The first author's surname from ``Smith J; Lee M`` or ``Smith, J.; Lee, M.``."""
    first = AUTHOR_SEP.split(authors.strip(), maxsplit=1)[0].strip()
    if "," in first:
        return first.split(",", 1)[0].strip()
    words = first.split()
    # "Smith J" / "Smith JA" (MEDLINE) keep the first word; "John Smith" the last
    if len(words) > 1 and not re.fullmatch(r"[A-Z][A-Z.\-]*", words[-1]):
        return words[-1]
    return words[0] if words else ""


def _authors_count(authors: str) -> int:
    return len([a for a in AUTHOR_SEP.split(authors) if a.strip()])


def citation(authors: str, year: str) -> str:
    """``Smith et al. (2024)``, ``Smith (2024)``, or the record's year alone.

    >>> citation("Smith J.; Haugen K.", "2024"), citation("Brown, P.", "2023")
    ('Smith et al. (2024)', 'Brown (2023)')
    """
    name = _surname(authors)
    year = year.strip()
    when = f" ({year})" if year else ""
    if not name:
        return f"Unnamed{when}"
    return f"{name}{' et al.' if _authors_count(authors) > 1 else ''}{when}"


def study_id(authors: str, year: str, taken: set[str]) -> str:
    """``smith2024`` (ASCII, lower case), made unique against ``taken`` with b, c, ...

    >>> study_id("Smith J; Lee M", "2024", set()), study_id("Ødegård, K.", "2019", {"odegard2019"})
    ('smith2024', 'odegard2019b')
    """
    name = _surname(authors).lower().replace("ø", "o").replace("æ", "ae").replace("ß", "ss")
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]", "", name) or "study"
    base += re.sub(r"[^0-9]", "", year)[:4]
    candidate, suffix = base, ord("b")
    while candidate in taken:
        candidate, suffix = f"{base}{chr(suffix)}", suffix + 1
    return candidate


def queue_columns(schema: Mapping[str, Any], extraction: Mapping[str, Any]) -> list[str]:
    """The studies sheet's columns as configured (the stratifier's and the study columns).

    ``schema``: the shipped studies schema; ``extraction``: the configuration's
    ``extraction`` keys ``stratifier`` and ``study_columns``. The stratifier's column
    stands where the shipped schema has ``platform``.
    """
    from ..stratifier import Stratifier
    from .settings import Settings

    stratifier = Stratifier.from_config(extraction)
    study_columns = {str(k): str(v) for k, v in (extraction.get("study_columns") or {}).items()}
    settings = Settings(stratifier, {}, (0.0, float("inf")), study_columns)
    columns = settings.studies_schema(schema)["properties"]
    # the stratifier's column stands where the shipped schema has the demo's platform
    return list(dict.fromkeys(stratifier.column if c == "platform" else c for c in columns))


def _entered(paths: Sequence[str | Path]) -> tuple[dict[str, set[str]], dict[str, str]]:
    """Extractor -> record ids in their study sheets; record id -> the first study id given."""
    by_extractor: dict[str, set[str]] = {}
    given: dict[str, str] = {}
    for path in sorted(paths, key=str):
        name = person_name(path, "an extractor's sheet name (e.g. alice.csv)")
        rows = read_sheet(path)
        records = by_extractor.setdefault(name, set())
        if "record_id" not in rows.columns:
            continue
        for record, study in zip(
            rows["record_id"].str.strip(),
            rows.get("study_id", pd.Series([""] * len(rows))).str.strip(),
            strict=True,
        ):
            if record:
                records.add(record)
                if study:
                    given.setdefault(record, study)
    return by_extractor, given


def build_queues(
    decisions: str | Path,
    records: str | Path,
    study_sheets: Sequence[str | Path],
    columns: Sequence[str],
) -> dict[str, pd.DataFrame]:
    """Queue name -> rows (see the module docstring)."""
    status = full_text_status(decisions)  # the extraction stage's reading of decisions.csv
    included = [record for record, st in status.items() if st == "included"]
    store = pd.read_csv(
        records, dtype=str, keep_default_na=False, usecols=lambda c: c in PREFILLED_SOURCES
    ).set_index("record_id")
    by_extractor, given = _entered(study_sheets)
    taken = set(given.values())
    rows = []
    for record in included:
        authors = store.at[record, "authors"] if record in store.index else ""
        year = store.at[record, "year"] if record in store.index else ""
        sid = given.get(record) or study_id(authors, year, taken)
        taken.add(sid)
        rows.append({"study_id": sid, "record_id": record, "citation": citation(authors, year)})
    frame = pd.DataFrame(rows, columns=list(PREFILLED), dtype=str)
    for column in columns:
        if column not in frame.columns:
            frame[column] = ""
    frame = frame[list(columns)]
    everyone = set().union(*by_extractor.values()) if by_extractor else set()
    queues = {name: frame[~frame["record_id"].isin(done)] for name, done in by_extractor.items()}
    queues[UNEXTRACTED] = frame[~frame["record_id"].isin(everyone)]
    return queues


@dataclass(frozen=True)
class QueueSettings:
    """The rule's params: the ``extraction`` keys ``stratifier`` and ``study_columns``."""

    extraction: Mapping[str, Any]

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> QueueSettings:
        return cls(dict(params["extraction"]))


class QueueResult(NamedTuple):
    """Queue name -> rows."""

    queues: dict[str, pd.DataFrame]

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in self.queues.items()}


def run(settings: QueueSettings, inputs: Mapping[str, Any]) -> QueueResult:
    """The stage's entry point (docs/contracts.md, "Stage entry points").

    ``inputs``: ``decisions`` (screening's decisions.csv), ``records``
    (records.csv), ``studies`` (the extractors' study sheets) and ``schema``
    (the shipped studies schema).
    """
    columns = queue_columns(load_schema(inputs["schema"]), settings.extraction)
    return QueueResult(
        build_queues(inputs["decisions"], inputs["records"], inputs["studies"], columns)
    )


def write(result: QueueResult, outputs: Mapping[str, str | Path]) -> None:
    """Write ``<queue>/<name>.csv`` for every queue, and remove any other CSV there."""
    out = Path(outputs["queue"])
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.csv"):
        if stale.stem not in result.queues:
            stale.unlink()
    for name, frame in result.queues.items():
        write_csv(frame, out / f"{name}.csv", text_columns=TEXT_COLUMNS)
