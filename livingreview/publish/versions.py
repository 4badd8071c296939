"""Version names of published bundles: ``<YYYY-MM-DD>.<n>`` folders and ``LATEST``.

Names only increase (``next_version``), so :func:`version_key` sorts them in
publication order; ``LATEST`` names the newest complete version and each
version folder holds its ``manifest.json`` (``livingreview.publish.bundle``).
"""

from __future__ import annotations

import re
from pathlib import Path

VERSION_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(\d+)$")
LATEST = "LATEST"
MANIFEST = "manifest.json"


def latest(bundles: str | Path) -> str | None:
    """The version named in ``LATEST`` (None before the first publication)."""
    path = Path(bundles) / LATEST
    if not path.is_file():
        return None
    name = path.read_text(encoding="utf-8").strip()
    return name if VERSION_RE.match(name) and (Path(bundles) / name).is_dir() else None


def published_versions(bundles: str | Path) -> list[str]:
    """Published versions, oldest first: the version folders up to the one ``LATEST`` names."""
    bundles = Path(bundles)
    newest = latest(bundles)
    if newest is None:
        return []

    def key(name: str) -> tuple[str, int]:
        day, n = VERSION_RE.match(name).groups()  # type: ignore[union-attr]
        return day, int(n)

    names = [p.name for p in bundles.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
    return [n for n in sorted(names, key=key) if key(n) <= key(newest)]


def next_version(bundles: str | Path, date: str) -> str:
    """``<date>.<n>``, always after every existing version (folder or zip).

    n is one more than any existing version of that date. When the clock went
    back (``date`` before the latest version's date), the latest version's date
    is used instead, so version names keep increasing and sort in publication
    order.

    >>> next_version("/nonexistent", "2026-11-21")
    '2026-11-21.1'
    """
    existing = []
    if Path(bundles).is_dir():
        existing = [
            version_key(p.name.removesuffix(".zip"))
            for p in Path(bundles).iterdir()
            if VERSION_RE.match(p.name.removesuffix(".zip"))
        ]
    date = max([date, *(d for d, _n in existing)])
    return f"{date}.{max([0, *(n for d, n in existing if d == date)]) + 1}"


def version_key(name: str) -> tuple[str, int]:
    m = VERSION_RE.match(name)
    return (m.group(1), int(m.group(2))) if m else ("", 0)


def versions(bundles: str | Path) -> list[str]:
    """The version folders under ``bundles``, oldest first."""
    found = [p.name for p in Path(bundles).iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
    return sorted(found, key=version_key)
