"""The PubMed snapshot store: incremental search, resumable download, append-only commit.

Why it is built this way:

* ``esearch`` lists the PMIDs of a date window (``retmax`` 9,999); ``efetch``
  then fetches them by PMID in batches. ESearch cannot list past the first
  9,999 PubMed UIDs, so a date window whose ``Count`` exceeds that is cut in
  halves (recursively) until every slice fits.
* What arrives is checked against what was asked for: the PMIDs of each
  batch (articles and ``DeleteCitation``), again per slice. Missing ones are
  asked for again, and if they do not come the search fails naming them: a
  short efetch page never becomes a snapshot with a gap.
* Each run searches the window since the newest completed snapshot (its
  ``maxdate``, inclusive: the overlap day is de-duplicated by PMID) up to today,
  by Entrez date (``edat``) and optionally by modification date (``mdat``, to
  pick up corrected records).
* Batches land in ``<snapshots>/.partial/`` as they arrive, so a run that dies
  (network, SIGKILL) resumes without fetching them again; only when every batch
  is there is the snapshot assembled and committed: the gz and its sidecar
  become visible together (:func:`write_snapshot`). A completed snapshot
  (``<until>.xml.gz`` + ``<until>.json``) is never rewritten, and Snakemake
  never owns one: the search job's output is a marker
  (:func:`~livingreview.search.files.search_marker`).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from .. import __version__, clock
from ..io import atomic_write, read_json, sha256_file, write_json
from .errors import PubMedError
from .files import completed_snapshots, pending_marker
from .pubmed import MAX_UIDS
from .pubmed_xml import element_pmids, iter_efetch_elements

if TYPE_CHECKING:
    from .pubmed import PubMedClient

log = logging.getLogger(__name__)


#: How often the PMIDs missing from an efetch answer are asked for again.
REFETCH_ROUNDS = 2
SNAPSHOT_HEADER = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN"'
    b' "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n'
    b"<PubmedArticleSet>\n"
)
SNAPSHOT_FOOTER = b"</PubmedArticleSet>\n"
PARTIAL = ".partial"


@dataclass
class Slice:
    """A date window small enough for esearch to page through (count <= MAX_UIDS)."""

    datetype: str
    mindate: dt.date
    maxdate: dt.date
    count: int
    webenv: str = field(default="", repr=False)
    query_key: str = field(default="", repr=False)
    ids: tuple[str, ...] = field(default=(), repr=False)

    @property
    def key(self) -> str:
        return f"{self.datetype}-{self.mindate:%Y%m%d}-{self.maxdate:%Y%m%d}"


def plan_slices(
    client: PubMedClient, term: str, datetype: str, mindate: dt.date, maxdate: dt.date
) -> list[Slice]:
    """Cut ``[mindate, maxdate]`` (inclusive days) in halves until each count fits.

    Each slice carries the PMIDs esearch listed for it: they are what the
    download must deliver, batch by batch.
    """
    res = client.esearch(term, mindate=mindate, maxdate=maxdate, datetype=datetype, retmax=MAX_UIDS)
    if res.count <= MAX_UIDS:
        return [Slice(datetype, mindate, maxdate, res.count, res.webenv, res.query_key, res.ids)]
    if mindate >= maxdate:
        raise PubMedError(
            f"{res.count} records have {datetype} {mindate:%Y-%m-%d}; esearch cannot page "
            f"past {MAX_UIDS} on one day: narrow the query"
        )
    mid = mindate + (maxdate - mindate) // 2
    log.info("%s %s..%s: %d hits > %d, splitting", datetype, mindate, maxdate, res.count, MAX_UIDS)
    return plan_slices(client, term, datetype, mindate, mid) + plan_slices(
        client, term, datetype, mid + dt.timedelta(days=1), maxdate
    )


def write_search_marker(path: str | Path, snapshot: str | Path) -> None:
    """Record which completed snapshot today's search job left in the store.

    Only the snapshot's name and checksum: the sidecar's timestamps would make
    a resumed run's marker differ from a clean run's.
    """
    snapshot = Path(snapshot)
    sidecar = snapshot.with_name(snapshot.name[: -len(".xml.gz")] + ".json")
    write_json(path, {"snapshot": snapshot.name, "sha256": read_json(sidecar)["file_sha256"]})


def finish_commits(snapshot_dir: str | Path) -> None:
    """Complete (or undo) a snapshot commit that a killed process left half done.

    Only the searching process calls this: readers just ignore a snapshot
    whose pending marker exists.
    """
    folder = Path(snapshot_dir)
    for marker in sorted(folder.glob(".*.json.pending")) if folder.is_dir() else []:
        day = marker.name[1 : -len(".json.pending")]
        final, hidden = folder / f"{day}.xml.gz", folder / f".{day}.xml.gz.new"
        sidecar = folder / f"{day}.json"
        want = read_json(marker).get("file_sha256")
        if not final.exists() and hidden.exists() and sha256_file(hidden) == want:
            os.replace(hidden, final)
        if final.exists() and sha256_file(final) == want and not sidecar.exists():
            os.replace(marker, sidecar)
            log.info("completed the commit of snapshot %s left by a killed run", final.name)
        else:
            marker.unlink()
            hidden.unlink(missing_ok=True)
            log.warning("discarded an unfinished commit of snapshot %s", final.name)
        _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha_lines(items: Iterable[str]) -> str:
    return hashlib.sha256("\n".join(items).encode()).hexdigest()


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()


def _batch_pmids(path: Path) -> set[str]:
    got: set[str] = set()
    for el in iter_efetch_elements(path):
        got.update(element_pmids(el))
    return got


def _save_batch(path: Path, body: bytes) -> None:
    with atomic_write(path, "wb") as fh:
        fh.write(gzip.compress(body, compresslevel=1, mtime=0))


def _fill_gaps(
    client: PubMedClient, missing: list[str], stem: Path, files: list[Path]
) -> tuple[set[str], list[str]]:
    """Ask again for PMIDs an answer lacked; return (received, still missing).

    Each answer is kept as ``<stem>-r<n>.xml.gz``: a resumed run reads those
    first, then asks up to :data:`REFETCH_ROUNDS` more times.
    """
    received: set[str] = set()
    kept = sorted(
        stem.parent.glob(f"{stem.name}-r*.xml.gz"),
        key=lambda p: int(p.name[len(stem.name) + 2 : -len(".xml.gz")]),
    )
    for path in kept:
        files.append(path)
        received |= _batch_pmids(path)
    missing = [p for p in missing if p not in received]
    for n in range(len(kept) + 1, len(kept) + 1 + REFETCH_ROUNDS):
        if not missing:
            break
        log.warning("refetching %d PMID(s) missing from an efetch answer", len(missing))
        body, got = client.efetch_ids(missing)
        path = stem.with_name(f"{stem.name}-r{n}.xml.gz")
        _save_batch(path, body)
        files.append(path)
        received |= got
        missing = [p for p in missing if p not in got]
    return received, missing


def _missing_error(where: str, missing: list[str], asked: int) -> PubMedError:
    shown = ", ".join(missing[:20]) + (
        f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    )
    return PubMedError(
        f"PubMed did not return {len(missing)} of the {asked} records esearch listed for "
        f"{where}, also when asked again {REFETCH_ROUNDS} times: PMIDs {shown}. No snapshot "
        "was written; the batches already fetched are kept and the next run asks again"
    )


def run_search(
    client: PubMedClient,
    snapshot_dir: str | Path,
    query: str,
    *,
    start_date: dt.date,
    until: dt.date | None = None,
    use_mdat: bool = True,
    batch_size: int = 200,
    after_batch: Callable[[int], None] | None = None,
) -> Path:
    """Fetch everything new since the last completed snapshot into ``<until>.xml.gz``.

    Returns the snapshot path. If a completed snapshot for ``until`` already
    exists, nothing is fetched. Batches are kept under ``.partial/`` (one
    gzip file per batch, written atomically) so a failed run resumes where it
    stopped; ``after_batch(n_batches_fetched)`` is a hook for progress/tests.

    Every batch asks for PMIDs by id (those esearch listed) and its answer
    is compared with them: missing PMIDs are asked for again, and if they
    still do not come the search fails naming them; a snapshot is only ever
    completed without a gap.
    """
    folder = Path(snapshot_dir)
    until = until or clock.today()
    final = folder / f"{until.isoformat()}.xml.gz"
    sidecar = folder / f"{until.isoformat()}.json"
    finish_commits(folder)
    if sidecar.exists():
        log.info("snapshot %s is already complete; nothing to fetch", final.name)
        if " ".join(str(read_json(sidecar).get("query", "")).split()) != " ".join(query.split()):
            log.warning(
                "the query differs from the one %s was made with; it runs tomorrow", final.name
            )
        return final
    done = [s for s in completed_snapshots(folder) if s[0] < until]
    mindate = start_date
    if done:
        last = read_json(done[-1][2])
        if " ".join(str(last.get("query", "")).split()) == " ".join(query.split()):
            mindate = dt.date.fromisoformat(last.get("maxdate") or done[-1][0].isoformat())
        else:  # a changed query must be run over the whole period, not just the new days
            log.warning(
                "the query differs from %s's; searching from %s", done[-1][1].name, start_date
            )
    if mindate > until:
        raise PubMedError(f"search window starts {mindate} after it ends {until}")
    datetypes = ["edat"] + (["mdat"] if use_mdat else [])

    partial = folder / PARTIAL
    plan_file = partial / "plan.json"
    wanted = {"query": query, "mindate": mindate.isoformat(), "datetypes": datetypes}
    plan: dict[str, Any] = read_json(plan_file) if plan_file.exists() else {}
    if {k: plan.get(k) for k in wanted} != wanted:
        if partial.exists():
            log.info("discarding an unfinished download of a different search in %s", partial)
            shutil.rmtree(partial)
        plan = {**wanted, "started": _now(), "slices": {}}
    else:
        log.info("resuming the unfinished download in %s", partial)
    partial.mkdir(parents=True, exist_ok=True)

    # Resuming on a later day: keep the windows already planned (their batches
    # stay valid) and add one for the new days (overlap day de-duplicated).
    start = mindate
    old_windows: dict[str, list[tuple[dt.date, dt.date]]] = {d: [] for d in datetypes}
    if plan.get("until") and plan["until"] < until.isoformat():
        start = dt.date.fromisoformat(plan["until"])
        for key in plan["slices"]:
            datetype, lo, hi = key.split("-")
            old_windows[datetype].append(
                (
                    dt.datetime.strptime(lo, "%Y%m%d").date(),
                    dt.datetime.strptime(hi, "%Y%m%d").date(),
                )
            )
    slices: list[Slice] = []
    for datetype in datetypes:
        for lo, hi in sorted(old_windows[datetype]):
            slices += plan_slices(client, query, datetype, lo, hi)
        first = start if old_windows[datetype] else mindate
        slices += plan_slices(client, query, datetype, first, until)
    total = sum(s.count for s in slices)
    # Record every slice before fetching anything, so a resume knows them all.
    old_slices, plan["slices"] = plan["slices"], {}
    for sl in slices:
        entry = {"count": sl.count, "batch_size": batch_size, "ids_sha256": _sha_lines(sl.ids)}
        old = old_slices.get(sl.key)
        if old is not None and old != entry:
            log.info(
                "%s: result set changed (%s -> %d); refetching it", sl.key, old["count"], sl.count
            )
            for f in partial.glob(f"{sl.key}-*.xml.gz"):
                f.unlink()
        plan["slices"][sl.key] = entry
    plan["until"] = until.isoformat()
    write_json(plan_file, plan)
    log.info("%d records reported in %d slice(s) for %s..%s", total, len(slices), mindate, until)

    fetched = 0
    batches_fetched = 0
    batch_files: list[Path] = []
    for sl in slices:
        received: set[str] = set()
        for retstart in range(0, len(sl.ids), batch_size):
            asked = list(sl.ids[retstart : retstart + batch_size])
            stem = partial / f"{sl.key}-{retstart:06d}"
            path = stem.with_name(stem.name + ".xml.gz")
            if path.exists():
                got = _batch_pmids(path)
            else:
                body, got = client.efetch_ids(asked)
                _save_batch(path, body)
                batches_fetched += 1
                if after_batch is not None:
                    after_batch(batches_fetched)
            batch_files.append(path)
            missing = [p for p in asked if p not in got]
            if missing:
                log.warning(
                    "%s: efetch returned %d of the %d records asked for",
                    path.name,
                    len(asked) - len(missing),
                    len(asked),
                )
                more, missing = _fill_gaps(client, missing, stem, batch_files)
                got |= more
                if missing:
                    raise _missing_error(f"{sl.key} from {retstart}", missing, len(asked))
            received |= got
            fetched += len(asked)
            log.info("fetched %d/%d records", fetched, total)
        gap = [p for p in sl.ids if p not in received]
        if gap:  # never complete a snapshot with a gap
            raise _missing_error(sl.key, gap, sl.count)

    return _assemble(batch_files, final, sidecar, plan, until, total, partial)


def _assemble(
    batch_files: list[Path],
    final: Path,
    sidecar: Path,
    plan: dict[str, Any],
    until: dt.date,
    total: int,
    partial: Path,
) -> Path:
    """Merge the batches (first copy of each PMID wins) into the snapshot, then drop .partial."""
    deleted: list[str] = []

    def articles() -> Iterator[tuple[str, bytes]]:
        seen: set[str] = set()
        for path in batch_files:
            for el in iter_efetch_elements(path):
                pmids = element_pmids(el)
                if el.tag == "DeleteCitation":
                    deleted.extend(pmids)
                    continue
                if pmids[0] not in seen:
                    seen.add(pmids[0])
                    el.tail = "\n"
                    yield pmids[0], etree.tostring(el, encoding="utf-8")

    write_snapshot(
        final.parent,
        until,
        articles(),
        query=plan["query"],
        mindate=dt.date.fromisoformat(plan["mindate"]),
        mdat="mdat" in plan["datetypes"],
        count_reported=total,
        started=plan["started"],
        deleted=deleted,
    )
    shutil.rmtree(partial)
    return final


def write_snapshot(
    folder: str | Path,
    until: dt.date,
    articles: Iterable[tuple[str, bytes]],
    *,
    query: str,
    mindate: dt.date,
    mdat: bool = False,
    count_reported: int | None = None,
    started: str | None = None,
    completed: str | None = None,
    software: Mapping[str, str] | None = None,
    deleted: Iterable[str] = (),
) -> Path:
    """Write a completed snapshot: ``<until>.xml.gz`` and its ``<until>.json`` sidecar.

    ``articles`` yields ``(pmid, PubmedArticle/PubmedBookArticle XML bytes)``;
    ``deleted`` PMIDs are written as one ``DeleteCitation`` after the articles
    (it is consumed after ``articles``, so a generator may fill it). The gzip
    header has no name or time, so equal content gives equal bytes. Refuses to
    overwrite a completed snapshot. ``started``, ``completed`` and ``software``
    default to now and this run's versions; the demo simulator passes fixed
    values so that regenerating it is byte-identical.

    The pair becomes visible together: both are written under hidden names,
    the sidecar as ``.<until>.json.pending``; the gz is renamed into place,
    then the pending sidecar (the commit). Readers ignore a gz whose pending
    marker exists (:func:`~livingreview.search.files.orphan_snapshots`, :func:`~livingreview.search.files.completed_snapshots`), and
    :func:`finish_commits` completes a commit a kill interrupted.
    """
    folder = Path(folder)
    final = folder / f"{until.isoformat()}.xml.gz"
    sidecar = folder / f"{until.isoformat()}.json"
    hidden = folder / f".{until.isoformat()}.xml.gz.new"
    marker = pending_marker(folder, until)
    if sidecar.exists() or marker.exists():
        raise PubMedError(f"{sidecar} exists: a completed snapshot is never rewritten")
    started = started or _now()
    pmids: list[str] = []
    with atomic_write(hidden, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0, filename="") as gz:
            gz.write(SNAPSHOT_HEADER)
            for pmid, xml in articles:
                pmids.append(pmid)
                gz.write(xml if xml.endswith(b"\n") else xml + b"\n")
            gone = sorted(set(deleted), key=int)
            if gone:
                gz.write(b"<DeleteCitation>")
                for pmid in gone:
                    gz.write(f'<PMID Version="1">{pmid}</PMID>'.encode())
                gz.write(b"</DeleteCitation>\n")
            gz.write(SNAPSHOT_FOOTER)
    meta = {
        "query": query,
        "mindate": mindate.isoformat(),
        "maxdate": until.isoformat(),
        "datetype": "edat",
        "mdat": mdat,
        "count_reported": len(pmids) if count_reported is None else count_reported,
        "count_fetched": len(pmids),
        "pmids_sha256": _sha_lines(sorted(pmids, key=int)),
        "started": started,
        "completed": completed or _now(),
        "software": dict(
            software or {"livingreview": __version__, "python": sys.version.split()[0]}
        ),
        "file": final.name,
        "file_sha256": sha256_file(hidden),
    }
    write_json(marker, meta)
    os.replace(hidden, final)
    os.replace(marker, sidecar)  # the commit: from here on the pair is visible
    _fsync_dir(folder)
    log.info("snapshot %s complete: %d records", final.name, len(pmids))
    return final
