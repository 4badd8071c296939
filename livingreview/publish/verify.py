"""Check a published version, or all of them, against manifests, zips and their chain.

``verify(bundle)`` recomputes every checksum of a version and compares it with
its zip; ``verify_all(bundles)`` also checks the chain of manifests that
``livingreview.publish.bundle`` writes.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from ..io import read_json, sha256_file
from .bundle import fingerprint
from .versions import LATEST, MANIFEST, latest, versions
from .zips import sidecar_sums


def _inside(bundle: Path, rel: str) -> bool:
    """True when ``rel`` names a file inside ``bundle``: relative, no ``..``, no symlink out."""
    pure = PurePosixPath(rel)
    if not rel or pure.is_absolute() or ".." in pure.parts or "\\" in rel or ":" in pure.parts[0]:
        return False
    root = bundle.resolve()
    return (bundle / rel).resolve().is_relative_to(root)


def _zip_problems(bundle: Path, folder: Mapping[str, str]) -> list[str]:
    """The zip beside ``bundle``: its checksum file, its own checksum, and its entries.

    ``folder`` maps every file of the folder (manifest included) to its SHA-256;
    the zip must hold exactly these files, with the same content, under ``<version>/``.
    """
    version = bundle.name
    zip_path = bundle.parent / f"{version}.zip"
    sha_path = bundle.parent / f"{version}.zip.sha256"
    kept = zip_path.is_file()
    if not kept and latest(bundle.parent) == version:
        return [f"{zip_path.name}: missing (the newest version keeps its zip)"]
    problems = []
    if not sha_path.is_file():
        problems.append(f"{sha_path.name}: missing (the zip's checksum cannot be checked)")
    else:
        sums = sidecar_sums(sha_path)
        if kept and sums.get(zip_path.name) != sha256_file(zip_path):
            problems.append(f"{zip_path.name}: sha256 does not match {sha_path.name}")
        manifest_sha = sums.get(f"{version}/{MANIFEST}")
        if manifest_sha is None:
            problems.append(f"{sha_path.name}: records no checksum of {MANIFEST}")
        elif manifest_sha != folder.get(MANIFEST):
            problems.append(f"{MANIFEST}: sha256 does not match {sha_path.name} (edited?)")
    if not kept:  # an older version: its zip is rebuilt on demand (rebuild_zip)
        return problems
    prefix = f"{version}/"
    entries: dict[str, str] = {}
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                if not info.filename.startswith(prefix):
                    problems.append(f"{zip_path.name}: entry {info.filename} outside {prefix}")
                    continue
                digest = hashlib.sha256()
                with zf.open(info) as fh:
                    for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                        digest.update(chunk)
                entries[info.filename.removeprefix(prefix)] = digest.hexdigest()
    except (zipfile.BadZipFile, OSError) as exc:
        return [*problems, f"{zip_path.name}: unreadable zip ({exc})"]
    for rel in sorted(set(entries) - set(folder)):
        problems.append(f"{zip_path.name}: {rel} is in the zip but not in the folder")
    for rel in sorted(set(folder) - set(entries)):
        problems.append(f"{zip_path.name}: {rel} is in the folder but not in the zip")
    for rel in sorted(set(folder) & set(entries)):
        if folder[rel] != entries[rel]:
            problems.append(f"{zip_path.name}: {rel} differs between the zip and the folder")
    return problems


def verify(bundle: str | Path) -> list[str]:
    """Recompute every checksum of a published version; returns the problems (empty = intact).

    Checks each file listed in ``manifest.json`` (missing or different; a
    listed path that is absolute or leaves the bundle is a problem and is not
    read), files present but not listed, the fingerprint, and the zip beside
    the folder: ``<version>.zip.sha256`` must exist and record the manifest's
    checksum; the newest version's ``<version>.zip`` must exist, match that file
    and hold exactly the folder's files with the same content. An older version
    keeps no zip (it is rebuilt on demand, :func:`rebuild_zip`); one that is
    there is checked the same way.
    """
    bundle = Path(bundle)
    problems: list[str] = []
    manifest_path = bundle / MANIFEST
    if not manifest_path.is_file():
        return [f"{manifest_path}: missing (not a published bundle?)"]
    try:
        manifest = read_json(manifest_path)
        listed = dict(manifest["files"])
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{manifest_path}: unreadable manifest ({exc})"]
    folder = {MANIFEST: sha256_file(manifest_path)}
    for rel, expected in sorted(listed.items()):
        path = bundle / rel
        if not _inside(bundle, rel):
            problems.append(f"{rel}: listed in the manifest but outside the bundle")
        elif not path.is_file():
            problems.append(f"{rel}: missing")
        else:
            folder[rel] = got = sha256_file(path)
            if got != expected:
                problems.append(f"{rel}: sha256 {got} but manifest says {expected}")
    for p in sorted(bundle.rglob("*")):
        rel = p.relative_to(bundle).as_posix()
        if p.is_symlink():
            problems.append(f"{rel}: a symbolic link (a bundle holds only files)")
        elif p.is_file() and rel != MANIFEST:
            if rel not in folder:
                folder[rel] = sha256_file(p)
            if rel not in listed:
                problems.append(f"{rel}: not listed in the manifest")
    if fingerprint(listed) != manifest.get("fingerprint"):
        problems.append("fingerprint in the manifest does not match its file list")
    problems += _zip_problems(bundle, folder)
    return problems


def verify_all(bundles: str | Path) -> list[str]:
    """Verify every version and the chain between them; problems are prefixed by version.

    The chain: each manifest names the version before it (``previous``) and
    that version's manifest checksum (``previous_manifest_sha256``), the first
    names none, and ``LATEST`` names the last. An edited, removed or inserted
    version, or an edited manifest, breaks it.
    """
    bundles = Path(bundles)
    names = versions(bundles)
    if not names:
        return [f"{bundles}: no published version"]
    problems = []
    before: str | None = None
    for name in names:
        problems += [f"{name}: {p}" for p in verify(bundles / name)]
        try:
            manifest = read_json(bundles / name / MANIFEST)
        except (OSError, ValueError):
            before = name
            continue  # reported by verify()
        if manifest.get("previous") != before:
            problems.append(
                f"{name}: manifest names {manifest.get('previous')} as the previous version, "
                f"but the version before it is {before}"
            )
        expected = sha256_file(bundles / before / MANIFEST) if before else None
        if before and "previous_manifest_sha256" not in manifest:
            problems.append(f"{name}: manifest records no checksum of {before}'s manifest")
        elif manifest.get("previous_manifest_sha256") != expected:
            problems.append(
                f"{name}: checksum of {before}'s manifest differs from the one recorded"
            )
        before = name
    if latest(bundles) != names[-1]:
        problems.append(f"{LATEST}: names {latest(bundles)}, but the last version is {names[-1]}")
    return problems
