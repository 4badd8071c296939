"""The files of the search stage: the snapshot store's layout, the exports, the job's marker.

Snakemake calls these when it parses the workflow, on every run
(``workflow/rules/search.smk``): this module imports no pandas, numpy, requests
or lxml, so a rerun with nothing to do starts fast.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from pathlib import Path

from ..errors import InputError

#: File name endings accepted below ``search/exports/`` (the content decides the format).
EXPORT_SUFFIXES = (".ris", ".nbib", ".txt", ".ciw", ".csv", ".tsv", ".tab", ".xml")
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def search_marker(until: str) -> str:
    """The search job's output: a marker under ``results/``, never the snapshot itself."""
    return f"results/records/search-{until}.json"


def pending_marker(folder: str | Path, until: dt.date | str) -> Path:
    """The sidecar of a snapshot being committed (see :func:`~livingreview.search.snapshots.write_snapshot`)."""
    day = until if isinstance(until, str) else until.isoformat()
    return Path(folder) / f".{day}.json.pending"


def completed_snapshots(snapshot_dir: str | Path) -> list[tuple[dt.date, Path, Path]]:
    """``(until, xml.gz, sidecar)`` of every completed snapshot, oldest first."""
    out = []
    folder = Path(snapshot_dir)
    if not folder.is_dir():
        return out
    for gz in sorted(folder.glob("*.xml.gz")):
        stem = gz.name[: -len(".xml.gz")]
        sidecar = gz.with_name(stem + ".json")
        with contextlib.suppress(ValueError):
            until = dt.date.fromisoformat(stem)
            if sidecar.exists():
                out.append((until, gz, sidecar))
    return out


def orphan_snapshots(snapshot_dir: str | Path) -> list[Path]:
    """``*.xml.gz`` files without a sidecar that are not being committed right now.

    The pending marker is looked at before the sidecar: the commit renames the
    one into the other, so a gz seen without both is really an orphan.
    """
    folder = Path(snapshot_dir)
    out = []
    for gz in sorted(folder.glob("*.xml.gz")) if folder.is_dir() else []:
        stem = gz.name[: -len(".xml.gz")]
        if pending_marker(folder, stem).exists() or gz.with_name(stem + ".json").exists():
            continue
        out.append(gz)
    return out


def export_files(root: Path) -> list[tuple[str, Path]]:
    """``(database, file)`` for every export under ``<root>/search/exports/``."""
    base = root / "search" / "exports"
    out = []
    if not base.is_dir():
        return out
    for path in sorted(base.rglob("*")):
        if not path.is_file() or any(p.startswith(".") for p in path.relative_to(base).parts):
            continue
        if path.name.lower().startswith("readme"):
            continue
        parts = path.relative_to(base).parts
        if len(parts) < 2:
            raise InputError(
                path, "exports inside a folder named after the database, e.g. exports/scopus/"
            )
        source = parts[0].lower()
        if not _SOURCE.match(source):
            raise InputError(path, "a database folder name of a-z, 0-9 and '-'", got=parts[0])
        if path.suffix.lower() not in EXPORT_SUFFIXES:
            raise InputError(
                path,
                "a database export named " + ", ".join(EXPORT_SUFFIXES) + " (RIS, MEDLINE/nbib, "
                "Web of Science, Cochrane, EndNote XML or CSV; the content decides the format)",
            )
        out.append((source, path))
    return out


def input_files(root: str | Path, live_until: str | None = None) -> list[str]:
    """Every file ``build_records`` reads, sorted (the Snakemake rule's input).

    In live mode (``live_until``: today) the search job's marker under
    ``results/`` stands for today's snapshot, which the job adds to the store
    itself: the marker makes the search run first, and leaving today's files
    out keeps the input set the same before and after the search (else a
    same-day rerun would rebuild the records). A snapshot still being
    committed is left out; an orphan ``.xml.gz`` is listed (and refused).
    """
    root = Path(root)
    folder = root / "search" / "pubmed"
    files = {str(p) for snap in completed_snapshots(folder) for p in snap[1:]}
    files |= {str(gz) for gz in orphan_snapshots(folder)}
    if live_until:
        files -= {str(folder / f"{live_until}.xml.gz"), str(folder / f"{live_until}.json")}
        files.add(search_marker(live_until))
    return sorted(files | {str(p) for _, p in export_files(root)})
