"""The record store: PubMed snapshots + database exports -> one de-duplicated table.

Inputs (below the input root, see docs/contracts.md):

* ``search/pubmed/<until>.xml.gz`` + ``<until>.json``: completed PubMed
  snapshots (``livingreview.search.snapshots``). The sidecar's ``file_sha256`` is checked,
  so a snapshot edited after completion stops the run.
* ``search/exports/<database>/<file>``: exports from other databases; the
  folder name is the source database. RIS, MEDLINE/nbib, Web of Science
  (tagged and tab-delimited), EndNote XML, Cochrane CENTRAL and CSV, the
  format decided by the content (``livingreview.search.exports``). The date the
  export was made is the first ``YYYY-MM-DD`` in its file name (e.g.
  ``scopus/2024-05-01.csv``), else the file's modification date.

De-duplication, in this order (Bramer et al. 2016, doi:10.3163/1536-5050.104.3.014):

1. PMID: versions of one PubMed record in several snapshots collapse; the
   newest snapshot's content wins (corrected records replace older content),
   ``first_seen`` is the oldest snapshot that had it.
2. DOI (case-insensitive, resolver prefix removed).
3. Normalised title (lower case, accents and punctuation removed) with the
   same publication year, ``rapidfuzz.fuzz.token_sort_ratio >= title_similarity``.
   Two records that carry different PMIDs or different DOIs are never merged.

Record ids are stable across a living review's runs. A record's id is its
PMID, else ``<source>-<hash of DOI or title|year>``; when it changes (a record
first seen in an export later appears in PubMed with the same DOI), the
earlier id stays valid as an alias (column ``aliases``, and ``aliases.csv``),
derived from the store alone so a clean run gives the same. A
``DeleteCitation`` in a snapshot does not remove the record (reviewers' rows
about it stay valid): unless a later snapshot returns the PMID, the record is
kept with ``withdrawn`` = the date of that snapshot (``summary.json``:
``deleted_pmids``, ``withdrawn``), and the report and ``status`` warn. PRISMA
counts: ``identified`` counts a PubMed record once however many snapshots hold
it; ``duplicates_removed = identified_total - unique``, and each row's
``duplicate_of_count`` is how many identified records were folded into it.
Every record keeps all databases that found it (``sources``); ``summary.json``
``by_source`` says, per database as CiteSource does, how many records it
returned (before de-duplication), how many distinct records they are and how
many of those no other database found.

Ordering is fully deterministic (inputs sorted by path, output by record id)
so unchanged inputs give a byte-identical ``records.csv``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
from rapidfuzz import fuzz, process

from ..contract import record_sort_key
from ..errors import InputError
from ..io import read_json, sha256_file, write_csv, write_json
from .errors import PubMedXMLError
from .export_records import SourceRecord
from .exports import export_date, load_export
from .files import completed_snapshots, export_files, orphan_snapshots
from .pubmed_xml import Deletion, PubMedRecord, parse_efetch

log = logging.getLogger(__name__)

# Bibliographic fields of a record; a merged record takes each from its best member.
FIELDS = (
    "pmid",
    "doi",
    "title",
    "abstract",
    "year",
    "journal",
    "authors",
    "publication_types",
    "mesh_terms",
    "language",
    "corrections",
)
COLUMNS = [
    "record_id",
    *FIELDS,
    "sources",
    "first_seen",
    "last_updated",
    "duplicate_of_count",
    "aliases",
    "withdrawn",
]
#: Beside ``records.csv``: every earlier record id and the id it is now.
ALIASES_CSV = "aliases.csv"
ALIAS_COLUMNS = ["old_id", "record_id"]
TEXT_COLUMNS = ["title", "abstract", "journal", "authors", "publication_types", "mesh_terms"]
LIST_SEP = "; "


def normalise_title(title: str) -> str:
    """Lower case, accents stripped, anything but letters/digits -> single spaces."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^\w]+|_", " ", text).split())


# --------------------------------------------------------------------------- reading


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _from_pubmed(rec: PubMedRecord, **kw: Any) -> SourceRecord:
    return SourceRecord(
        pmid=rec.pmid,
        doi=rec.doi,
        title=rec.title,
        abstract=rec.abstract,
        year=str(rec.year) if rec.year else "",
        journal=rec.journal,
        authors=rec.authors,
        publication_types=rec.publication_types,
        mesh_terms=rec.mesh_terms,
        language=rec.language,
        corrections=rec.corrections,
        **kw,
    )


def read_snapshot(
    gz: Path, sidecar: Path, root: Path, until: str, order: int
) -> tuple[list[SourceRecord], list[str]]:
    """Records and deleted PMIDs of one completed snapshot (checksum verified)."""
    meta = read_json(sidecar)
    want = meta.get("file_sha256")
    if want and sha256_file(gz) != want:
        raise InputError(
            gz,
            f"the SHA-256 recorded in {sidecar.name} (a completed snapshot is never modified; "
            "restore it from version control or backup)",
        )
    records, deleted = [], []
    origin = _rel(gz, root)
    try:
        for item in parse_efetch(gz):
            if isinstance(item, Deletion):
                deleted.append(item.pmid)
            else:
                records.append(
                    _from_pubmed(
                        item,
                        source="pubmed",
                        origin=origin,
                        seen=until,
                        order=order,
                        from_snapshot=True,
                    )
                )
    except PubMedXMLError as exc:
        # The checksum matched, so the snapshot was written like this: say which one.
        raise InputError(
            gz, f"a well-formed PubmedArticleSet in this completed snapshot ({exc})"
        ) from None
    return records, deleted


# --------------------------------------------------------------------------- de-duplication


class _Groups:
    """Union-find over source records that refuses to join conflicting PMIDs/DOIs."""

    def __init__(self, records: list[SourceRecord]) -> None:
        self.parent = list(range(len(records)))
        self.pmids = [{r.pmid} - {""} for r in records]
        self.dois = [{r.doi} - {""} for r in records]

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> bool:
        a, b = self.find(a), self.find(b)
        if a == b:
            return True
        if len(self.pmids[a] | self.pmids[b]) > 1 or len(self.dois[a] | self.dois[b]) > 1:
            return False
        a, b = min(a, b), max(a, b)  # the earlier input is the representative
        self.parent[b] = a
        self.pmids[a] |= self.pmids[b]
        self.dois[a] |= self.dois[b]
        return True


def deduplicate(records: list[SourceRecord], title_similarity: float = 95) -> list[list[int]]:
    """Groups of indices into ``records`` that are the same record (see module doc)."""
    g = _Groups(records)
    by_pmid: dict[str, int] = {}
    by_doi: dict[str, int] = {}
    for i, r in enumerate(records):
        if r.pmid:
            g.union(by_pmid.setdefault(r.pmid, i), i)
    for i, r in enumerate(records):
        if r.doi:
            if r.doi in by_doi:
                g.union(by_doi[r.doi], i)
            else:
                by_doi[r.doi] = i
    # Fuzzy titles: only a group without a PMID can join another one, so compare
    # those against every group of the same year. A group joined by DOI stands
    # in the block of each of its members' (year, title): databases date one
    # article differently (online first vs issue), and a copy without a DOI
    # must still meet the member that has its year.
    reps: dict[int, list[int]] = {}
    for i in range(len(records)):
        reps.setdefault(g.find(i), []).append(i)
    blocks: dict[str, list[tuple[int, str]]] = {}
    for rep in sorted(reps):
        keys = {}
        for i in reps[rep]:
            title = normalise_title(records[i].title)
            if title:
                keys.setdefault((records[i].year, title), None)
        for year, title in keys:
            blocks.setdefault(year, []).append((rep, title))
    for block in blocks.values():
        titles = [t for _, t in block]
        for rep, title in block:
            if g.pmids[g.find(rep)]:
                continue
            hits = process.extract(
                title,
                titles,
                scorer=fuzz.token_sort_ratio,
                score_cutoff=title_similarity,
                limit=None,
            )
            # Prefer a record with a PMID, then the best score, then the earliest input.
            hits = sorted(
                ((not g.pmids[g.find(block[j][0])], -score, block[j][0]) for _, score, j in hits),
            )
            for _, _, other in hits:
                if other != rep and g.find(other) != g.find(rep) and g.union(other, rep):
                    break
    groups: dict[int, list[int]] = {}
    for i in range(len(records)):
        groups.setdefault(g.find(i), []).append(i)
    return list(groups.values())


def _priority(r: SourceRecord) -> tuple:
    # PubMed snapshots (newest first), then exports carrying a PMID (PubMed-derived
    # content), then the other exports (newest first); input order breaks ties.
    return (not r.from_snapshot, not r.pmid, -int(r.seen.replace("-", "")), r.order)


def _record_id(primary: SourceRecord, pmid: str, doi: str, title: str, year: str) -> str:
    if pmid:
        return pmid
    key = doi or f"{normalise_title(title)}|{year}"
    return f"{primary.source}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def _group_id(members: list[SourceRecord]) -> str:
    """The record id these members get together (the rule :func:`merge_group` applies)."""
    ordered = sorted(members, key=_priority)

    def pick(attr: str) -> str:
        return next((getattr(m, attr) for m in ordered if getattr(m, attr)), "")

    first = min(members, key=lambda m: (m.seen, m.order))
    return _record_id(first, pick("pmid"), pick("doi"), pick("title"), pick("year"))


def earlier_ids(members: list[SourceRecord], record_id: str) -> list[str]:
    """Ids this record had before, derived from the store alone (so a clean run agrees).

    The id of the members known on each earlier date (snapshot until, export
    date), and each member's own id: a record first imported from an export
    that later appears in PubMed (same DOI) was ``<source>-<hash>`` and is now
    its PMID.
    """
    ids = {_group_id([m]) for m in members}
    for day in sorted({m.seen for m in members}):
        ids.add(_group_id([m for m in members if m.seen <= day]))
    ids.discard(record_id)
    return sorted(ids, key=record_sort_key)


def merge_group(members: list[SourceRecord]) -> dict[str, Any]:
    """One output row: newest PubMed content first, gaps filled from the other sources."""
    ordered = sorted(members, key=_priority)
    primary = ordered[0]

    def pick(attr: str) -> Any:
        for m in ordered:
            if getattr(m, attr):
                return getattr(m, attr)
        return getattr(primary, attr)

    row = {a: pick(a) for a in FIELDS}
    first = min(members, key=lambda m: (m.seen, m.order))
    same = [m for m in members if m.source == primary.source and m.content() == primary.content()]
    # PubMed versions of one PMID count once (a record re-seen in a later search
    # run is not a duplicate from another source).
    identified = len({m.pmid if m.from_snapshot else f"#{id(m)}" for m in members})
    row.update(
        record_id=_group_id(members),
        sources=LIST_SEP.join(sorted({m.source for m in members})),
        first_seen=first.seen,
        last_updated=min(m.seen for m in same),
        duplicate_of_count=identified - 1,
    )
    for a in ("authors", "publication_types", "mesh_terms", "corrections"):
        row[a] = LIST_SEP.join(row[a])
    return row


# --------------------------------------------------------------------------- build


def build_records(
    root: str | Path, *, title_similarity: float = 95
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read every snapshot and export below ``root``; return (records table, summary)."""
    root = Path(root)
    records: list[SourceRecord] = []
    deleted: dict[str, str] = {}  # pmid -> date of the snapshot that deleted it
    snapshots, exports = [], []
    order = 0
    pubmed_dir = root / "search" / "pubmed"
    for gz in orphan_snapshots(pubmed_dir):
        raise InputError(
            gz,
            "a completed snapshot <YYYY-MM-DD>.xml.gz with its <YYYY-MM-DD>.json sidecar "
            "(this one has none: an interrupted search? rerun it, or remove the file)",
        )
    for until, gz, side in completed_snapshots(pubmed_dir):
        day = until.isoformat()
        recs, dels = read_snapshot(gz, side, root, day, order)
        order += 1
        log.info("%s: %d records, %d deletions", gz.name, len(recs), len(dels))
        for pmid in dels:
            deleted[pmid] = day
        records += recs
        snapshots.append(
            {"file": _rel(gz, root), "sha256": sha256_file(gz), "until": day, "count": len(recs)}
        )
    for source, path in export_files(root):
        export = load_export(
            path, source, origin=_rel(path, root), seen=export_date(path), order=order
        )
        recs = export.records
        order += 1
        log.info("%s: %d records (%s, %s)", _rel(path, root), len(recs), source, export.format)
        records += recs
        exports.append(
            {
                "file": _rel(path, root),
                "sha256": sha256_file(path),
                "source": source,
                "count": len(recs),
                "format": export.format,
                "encoding": export.encoding,
            }
        )
    # A DeleteCitation removes a PMID unless a later snapshot brought it back.
    latest_seen: dict[str, str] = {}
    for r in records:
        if r.from_snapshot:
            latest_seen[r.pmid] = max(latest_seen.get(r.pmid, ""), r.seen)
    # It stays in the review (reviewers' rows about it remain valid), flagged.
    gone = {p for p, day in deleted.items() if latest_seen.get(p, "") <= day}

    identified: dict[str, int] = {}
    pubmed_pmids = set()
    for r in records:
        if r.from_snapshot:
            pubmed_pmids.add(r.pmid)
        else:
            identified[r.source] = identified.get(r.source, 0) + 1
    if snapshots:
        identified["pubmed"] = identified.get("pubmed", 0) + len(pubmed_pmids)

    rows = []
    by_source: dict[str, dict[str, int]] = {
        s: {"identified": n, "records": 0, "only_this_source": 0} for s, n in identified.items()
    }
    for grp in deduplicate(records, title_similarity):
        members = [records[i] for i in grp]
        found_by = {m.source for m in members}
        for s in found_by:
            by_source[s]["records"] += 1
            by_source[s]["only_this_source"] += len(found_by) == 1
        row = merge_group(members)
        row["aliases"] = earlier_ids(members, row["record_id"])
        row["withdrawn"] = deleted[row["pmid"]] if row["pmid"] in gone else ""
        rows.append(row)
    _drop_ambiguous_aliases(rows)
    rows.sort(key=lambda r: record_sort_key(r["record_id"]))
    table = pd.DataFrame(rows, columns=COLUMNS)
    latest = snapshots[-1]["until"] if snapshots else None
    total = sum(identified.values())
    summary = {
        "identified": dict(sorted(identified.items())),
        "identified_total": total,
        "duplicates_removed": total - len(table),
        "unique": len(table),
        "by_source": dict(sorted(by_source.items())),
        "snapshots": snapshots,
        "exports": exports,
        "latest_search": latest,
        "new_in_latest": int(
            sum(
                1 for r in rows if latest and r["first_seen"] == latest and "pubmed" in r["sources"]
            )
        ),
        "deleted_pmids": sorted(gone, key=int),
        "withdrawn": [
            {"record_id": r["record_id"], "date": r["withdrawn"]} for r in rows if r["withdrawn"]
        ],
        "earlier_ids": sum(len(r["aliases"].split(LIST_SEP)) for r in rows if r["aliases"]),
        "title_similarity": title_similarity,
    }
    return table, summary


def _drop_ambiguous_aliases(rows: list[dict[str, Any]]) -> None:
    """Join each row's earlier ids; an id that is (or was) another record's is not an alias."""
    current = {r["record_id"] for r in rows}
    claims: dict[str, int] = {}
    for r in rows:
        for old in r["aliases"]:
            claims[old] = claims.get(old, 0) + 1
    for r in rows:
        keep = [a for a in r["aliases"] if a not in current and claims[a] == 1]
        if len(keep) < len(r["aliases"]):
            log.warning(
                "record %s: earlier id(s) %s also name another record; not used as aliases",
                r["record_id"],
                ", ".join(a for a in r["aliases"] if a not in keep),
            )
        r["aliases"] = LIST_SEP.join(keep)


def alias_map(records: pd.DataFrame) -> dict[str, str]:
    """``{earlier id: record id}`` from the ``aliases`` column of the record store."""
    if "aliases" not in records.columns:
        return {}
    return {
        old: new
        for new, cell in zip(records["record_id"], records["aliases"], strict=True)
        for old in str(cell).split(LIST_SEP)
        if old
    }


def read_aliases(path: str | Path | None) -> dict[str, str]:
    """``{earlier id: record id}`` from ``aliases.csv`` (none if ``path`` is None)."""
    if path is None:
        return {}
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return dict(zip(frame["old_id"], frame["record_id"], strict=True))


def withdrawal_warnings(summary: dict[str, Any] | str | Path) -> list[str]:
    """One line per record PubMed withdrew (for the report and ``livingreview status``).

    ``summary`` is the ``summary.json`` content or its path (none if it does not exist).
    """
    if not isinstance(summary, dict):
        summary = read_json(summary) if Path(summary).is_file() else {}
    return [
        f"record {w['record_id']} was withdrawn from PubMed on {w['date']} (DeleteCitation); "
        "it stays in the review, flagged: check its screening and extraction rows"
        for w in summary.get("withdrawn") or []
    ]


def write_records(
    table: pd.DataFrame,
    summary: dict[str, Any],
    csv_path: str | Path,
    json_path: str | Path,
    aliases_path: str | Path | None = None,
) -> None:
    """Write ``records.csv`` (formulas neutralised), ``summary.json`` and ``aliases.csv``.

    ``aliases.csv`` (beside ``records.csv`` unless ``aliases_path`` says
    otherwise) lists each earlier record id with the id it is now, so sheets
    that use an earlier id keep working.
    """
    write_csv(table.astype(str), csv_path, text_columns=TEXT_COLUMNS)
    write_json(json_path, summary)
    pairs = sorted(alias_map(table.astype(str)).items(), key=lambda kv: record_sort_key(kv[0]))
    write_csv(
        pd.DataFrame(pairs, columns=ALIAS_COLUMNS),
        aliases_path or Path(csv_path).with_name(ALIASES_CSV),
    )


@dataclass(frozen=True)
class RecordsSettings:
    """The rule's params: the input root and ``dedup.title_similarity``."""

    root: Path
    title_similarity: float = 95

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RecordsSettings:
        return cls(Path(params["root"]), float(params["title_similarity"]))


class RecordsResult(NamedTuple):
    """The de-duplicated table and ``summary.json``."""

    table: pd.DataFrame
    summary: dict[str, Any]


def run(settings: RecordsSettings, inputs: Mapping[str, Any] | None = None) -> RecordsResult:
    """The stage's entry point (docs/contracts.md, "Stage entry points").

    ``inputs`` is unused: the files read are those below ``settings.root``
    (the rule lists the same ones, ``search.files.input_files``).
    """
    return RecordsResult(*build_records(settings.root, title_similarity=settings.title_similarity))


def write(result: RecordsResult, outputs: Mapping[str, str | Path]) -> None:
    """Write to the rule's ``csv``, ``summary`` and ``aliases`` outputs."""
    write_records(*result, outputs["csv"], outputs["summary"], outputs["aliases"])


def read_records(path: str | Path) -> pd.DataFrame:
    """Read ``records.csv`` back as text (ids stay strings, empty cells are '')."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)
