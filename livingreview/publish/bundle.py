"""Publish the review as immutable, checksummed, citable versions.

``publish(...)`` copies the report, tables, figures, effects, per-stratum
results and the config used into ``results/bundles/<YYYY-MM-DD.N>/``, writes
``CHANGES.md`` (against the previous version), ``manifest.json`` (software,
git commit, inputs and the SHA-256 of every file), the workflow definition
(``workflow/``) and an RO-Crate 1.2 ``ro-crate-metadata.json`` describing the
run with the Workflow Run Crate profile (``livingreview.publish.rocrate``), zips the folder reproducibly into
``results/bundles/<version>.zip`` and points ``results/bundles/LATEST`` at it.

A version is never modified: it is assembled in a hidden staging folder and
renamed into place only when complete (rename is atomic; an existing version
is never a target), and its files are made read-only. Files identical to the
previous version's are hard links to them (``_share_unchanged``), so weekly
versions cost disk in proportion to what changed; the bytes, the manifest and
the zip are the same as with copies. When the content
fingerprint (every content file's SHA-256, excluding the per-version
``index.html``, ``CHANGES.md``, manifest and crate) equals the previous
version's, nothing is published and the result says "no change".

``CHANGES.md`` says why as well as what: configuration keys changed, input
files added, removed or changed, screening decisions and chosen effects
changed, estimator or test changed (``provenance.causes``). Two publications
are refused, with one message and nothing published (``PublicationHeld``):
a version with no records after one that had records (always), and a version
from which previously included studies vanished because their screening
decisions or extraction were lost (a sheet removed, double extraction lost),
unless ``publish.allow_removals`` is true for that run (then ``CHANGES.md``
lists them under "Held back").

Only the newest version keeps its zip (a zip is a full copy; the folders share
unchanged files): an older one is rebuilt byte for byte from its folder on
demand (``rebuild_zip``, ``livingreview zip <bundle>``), and its
``<version>.zip.sha256`` stays (``livingreview.publish.zips``).

``verify(bundle)`` (``livingreview.publish.verify``) recomputes every checksum of a published version and
compares it with its zip (the newest version's, or any rebuilt one); ``verify_all(bundles)`` also checks the chain of
versions. Each manifest records the SHA-256 of the previous version's
manifest, and ``<version>.zip.sha256`` (``sha256sum -c`` format) records the
zip's and the manifest's own checksum, so an edited manifest is found too.
Version names only increase: a clock set back still gives a name after the
latest version's.

A publication killed mid-way (SIGKILL, power loss) is repaired by the next
one: hidden staging folders and temporary files it left in the bundles folder
are removed (publishing into one folder is serialised: the bundle rule is
local and Snakemake's directory lock, or ``livingreview update``'s flock,
allows one run per project), and a version folder renamed into place but not
yet announced in ``LATEST`` is completed (zip, checksum, ``LATEST``) when its
content is the one being published, instead of being published a second time
under the next number.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .. import clock
from ..contract import (
    BUNDLE_FILES,
    CUMULATIVE_DIR,
    STRATUM_FILES,
    cumulative_files,
    published_config,
)
from ..errors import InputError
from ..evidence.grade import GradeSettings
from ..io import read_json, sha256_file, write_csv, write_json, write_text
from . import interop, provenance, whats_new
from .history import HISTORY_FILES, version_history
from .html import fill_slots
from .interop import CITATION_FILES
from .metafor_export import write_metafor
from .report_settings import ReportSettings
from .revman import write_revman
from .rocrate import CRATE, WORKFLOW_DIR, ro_crate, workflow_sources
from .version_sections import version_fragments
from .versions import (
    LATEST,
    MANIFEST,
    VERSION_RE,
    latest,
    next_version,
    published_versions,
    version_key,
)
from .zips import drop_older_zips, sidecar_text, zip_from

WHATS_NEW = "whats_new.json"
# Files that differ between versions by construction; left out of the fingerprint.
# whats_new.json compares with the previous version, so it is per version as CHANGES.md is.
# The version history (livingreview.publish.history) likewise.
PER_VERSION = {
    "report/index.html",
    "CHANGES.md",
    WHATS_NEW,
    *HISTORY_FILES,
    *CITATION_FILES,
    MANIFEST,
    CRATE,
}
# The workflow definition (livingreview.publish.rocrate): like the software versions in the
# manifest, it says how a version was made, so a new pipeline alone publishes nothing.
PER_VERSION_DIRS = (f"{WORKFLOW_DIR}/",)
# Audit trail kept in each version (to explain the next one's changes) but not
# itself a reason to publish: a note or a row number in a sheet is no news for a reader.
AUDIT = {"screening/decisions.csv"}


class PublicationHeld(InputError):
    """A version that must not be published as it is (the message says why and what to do).

    An input problem (inputs lost or empty), so ``livingreview update`` exits
    with code 2 and shows the message, like any ``InputError``; the message
    names the files and decisions instead of one cell.
    """

    def __init__(self, message: str) -> None:
        self.file, self.row, self.column, self.expected, self.got = None, None, None, message, None
        ValueError.__init__(self, message)


@dataclass(frozen=True)
class PublishResult:
    changed: bool
    version: str | None  # the new version, or the unchanged latest one
    path: Path | None
    message: str


# --------------------------------------------------------------------------- assembling


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _per_version(rel: str) -> bool:
    """True for files that differ between versions by construction or only say how one was made."""
    return rel in PER_VERSION or rel.startswith(PER_VERSION_DIRS)


def _assemble(
    results: Path, stage: Path, config: Mapping[str, Any], repo: str | Path | None = None
) -> None:
    """Copy everything a reader or re-analyst needs into ``stage`` (layout in the module doc)."""
    rep = results / "report"
    if rep.is_dir():
        for p in sorted(rep.rglob("*")):
            if p.is_file() and not p.name.startswith("."):
                _copy(p, stage / "report" / p.relative_to(rep))
    for src, dst in BUNDLE_FILES.items():
        if (results / src).is_file():
            _copy(results / src, stage / dst)
    for p in sorted((results / "metareg").glob("*.json")):
        _copy(p, stage / "metareg" / p.name)
    domains = list(((config.get("extraction") or {}).get("domains")) or {})
    for name in cumulative_files(domains):  # the rule's outputs, nothing else in the folder
        if (results / Path(CUMULATIVE_DIR).name / name).is_file():
            _copy(results / Path(CUMULATIVE_DIR).name / name, stage / "cumulative" / name)
    for sdir in sorted(p for p in (results / "strata").glob("*") if p.is_dir()):
        for name in STRATUM_FILES:
            if (sdir / name).is_file():
                _copy(sdir / name, stage / "strata" / sdir.name / name)
    interop.write_content(results, stage)  # PRISMA2020 CSV, RIS of the included studies
    write_metafor(results / "strata", stage)  # metafor-ready strata and reproduce.R
    write_revman(results, stage, config)  # RevMan Web's study-data import set
    config = published_config(config)  # run keys (search.email, ...) are not the review's
    text = yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=True, allow_unicode=True)
    write_text(stage / "config.yaml", text)
    for rel, src in workflow_sources(repo).items():  # the workflow the crate describes
        _copy(src, stage / rel)


def _files(folder: Path) -> dict[str, str]:
    """relative path -> SHA-256 for every file under ``folder`` (sorted, POSIX separators)."""
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _rehash(folder: Path, files: Mapping[str, str], written: Iterable[str]) -> dict[str, str]:
    """``files`` with the checksums of ``written`` (rewritten since) recomputed.

    Hashing the whole bundle is a third of a second on a large review; only a
    few per-version files are written after the content checksums are taken,
    so only those are hashed again. The folder's file list must match, so a
    file written without being named here cannot go unlisted.
    """
    out = dict(files)
    for rel in written:
        if (folder / rel).is_file():
            out[rel] = sha256_file(folder / rel)
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    if present != set(out):
        raise RuntimeError(f"unlisted or missing bundle files: {sorted(present ^ set(out))}")
    return dict(sorted(out.items()))


def fingerprint(files: Mapping[str, str]) -> str:
    """SHA-256 over (path, checksum) of the content files (per-version files left out)."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        if not _per_version(rel) and rel not in AUDIT:
            digest.update(f"{rel}\t{files[rel]}\n".encode())
    return digest.hexdigest()


def _input_checksums(inputs_root: Path | None) -> dict[str, str]:
    if inputs_root is None or not Path(inputs_root).is_dir():
        return {}
    root = Path(inputs_root)
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            out[rel.as_posix()] = sha256_file(p)
    return out


def _snapshots(results: Path, inputs_root: Path | None) -> list[dict[str, Any]]:
    summary = (
        read_json(results / "records" / "summary.json")
        if (results / "records" / "summary.json").is_file()
        else {}
    )
    out = []
    for kind in ("snapshots", "exports"):
        for item in summary.get(kind) or []:
            entry = dict(item, kind=kind[:-1])
            if inputs_root is not None and item.get("file"):
                path = Path(inputs_root) / item["file"]
                if path.is_file():
                    entry["sha256_now"] = sha256_file(path)
            out.append(entry)
    return out


def _remove_leftovers(bundles: Path) -> None:
    """Delete what a killed publication left: ``.staging-*`` folders and hidden temp files."""
    for p in sorted(bundles.glob(".*")):
        if p.is_dir() and p.name.startswith(".staging-"):
            shutil.rmtree(p, ignore_errors=True)
        elif p.is_file() and p.name.endswith((".tmp", ".zip.staging")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def _unannounced(bundles: Path, prev: str | None, fp: str) -> str | None:
    """A version renamed into place after ``prev`` but never announced, with fingerprint ``fp``."""
    floor = version_key(prev) if prev else ("", 0)
    for p in sorted(bundles.iterdir(), key=lambda p: version_key(p.name)):
        if not (p.is_dir() and VERSION_RE.match(p.name) and version_key(p.name) > floor):
            continue
        with contextlib.suppress(OSError, ValueError):
            manifest = read_json(p / MANIFEST)
            if manifest.get("fingerprint") == fp and manifest.get("previous") == prev:
                return p.name
    return None


def _announce(bundles: Path, version: str, date: str, folder: Path) -> None:
    """Zip ``folder`` (if not yet), write the zip's checksum and point LATEST at ``version``."""
    target = bundles / f"{version}.zip"
    if not target.is_file():
        zip_stage = bundles / f".{version}.zip.staging"
        zip_from(folder, zip_stage, version, date)
        os.replace(zip_stage, target)
    write_text(bundles / f"{version}.zip.sha256", sidecar_text(bundles, version))
    write_text(bundles / LATEST, version + "\n")
    drop_older_zips(bundles, version)


def _read_only(folder: Path) -> None:
    for p in folder.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


def _share_unchanged(
    stage: Path, files: Mapping[str, str], prev: Path | None, prev_files: Mapping[str, str]
) -> int:
    """Replace each staged file identical to the previous version's by a hard link to it.

    Weekly versions then cost disk in proportion to what changed. A file is
    shared only when the previous version's manifest records the same SHA-256,
    its file there is a regular, read-only file of the same size and its bytes
    hash to that SHA-256 now (an edited earlier version is never spread). A
    link is made under a hidden name and renamed over the staged copy, so the
    staged bytes are the same either way; where links fail (another file
    system, a link-count limit, no link support) the copy stays. Both
    versions' files are read-only and nothing in a version folder is written
    in place afterwards (the zip, its checksum and ``LATEST`` live beside the
    folders and are written to temporary files and renamed), so a shared file
    never changes. Returns the number of files shared.
    """
    if prev is None:
        return 0
    shared = 0
    for rel, sha in files.items():
        if prev_files.get(rel) != sha or rel == MANIFEST:
            continue
        old, new = prev / rel, stage / rel
        with contextlib.suppress(OSError):
            st = os.lstat(old)
            if (
                not stat.S_ISREG(st.st_mode)
                or st.st_mode & 0o222
                or st.st_size != new.stat().st_size
                or st.st_ino == new.stat().st_ino
                or sha256_file(old) != sha
            ):
                continue
            tmp = new.with_name(f".{new.name}.link.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            os.link(old, tmp)
            try:
                os.replace(tmp, new)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            shared += 1
    return shared


def _flag(value: Any) -> bool:
    """A yes/no setting that ``--config`` may pass as the text ``"true"``."""
    return value is True or str(value).lower() == "true"


def publish(
    results: str | Path,
    bundles: str | Path,
    config: Mapping[str, Any],
    *,
    inputs_root: str | Path | None = None,
    repo: str | Path = ".",
    date: str | None = None,
    allow_removals: bool | str | None = None,
) -> PublishResult:
    """Publish a new version if anything changed since ``LATEST``; otherwise say so.

    Raises ``PublicationHeld`` (nothing published) for a version without
    records after one with records, and for one that loses previously
    included studies through lost decisions or extraction unless
    ``allow_removals`` (default: ``config["publish"]["allow_removals"]``).
    """
    if allow_removals is None:
        allow_removals = (config.get("publish") or {}).get("allow_removals")
    allow_removals = _flag(allow_removals)
    results, bundles = Path(results), Path(bundles)
    bundles.mkdir(parents=True, exist_ok=True)
    date = date or clock.today().isoformat()
    _remove_leftovers(bundles)
    if (announced := latest(bundles)) is not None:  # a run killed before it dropped them
        drop_older_zips(bundles, announced)
    stage = Path(tempfile.mkdtemp(prefix=".staging-", dir=bundles))
    try:
        _assemble(results, stage, config, repo)
        shown = ReportSettings.from_config(config)  # what the report renders of it
        content = _files(stage)
        fp = fingerprint(content)
        prev = latest(bundles)
        prev_manifest = read_json(bundles / prev / MANIFEST) if prev else None
        if prev_manifest and prev_manifest.get("fingerprint") == fp:
            shutil.rmtree(stage)
            return PublishResult(False, prev, bundles / prev, f"no change since version {prev}")
        interrupted = _unannounced(bundles, prev, fp)
        if interrupted is not None:  # renamed into place, then killed before LATEST
            shutil.rmtree(stage)
            done = read_json(bundles / interrupted / MANIFEST)
            _announce(bundles, interrupted, done["date"], bundles / interrupted)
            return PublishResult(
                True,
                interrupted,
                bundles / interrupted,
                f"published version {interrupted} (completed an interrupted publication)",
            )
        inputs = _input_checksums(Path(inputs_root) if inputs_root else None)
        changes = _changes(bundles / prev if prev else None, prev_manifest, stage, content, inputs)
        _check_publishable(
            bundles / prev if prev else None, stage, results, changes, allow_removals
        )
        version = next_version(bundles, date)
        news = whats_new.whats_new(
            bundles / prev if prev else None,
            stage,
            changes,
            GradeSettings.from_params(config.get("grade") or {}),
            version=version,
            date=date,
        )
        write_json(stage / WHATS_NEW, news)
        _write_history(bundles, stage, version, date)
        interop.write_versioned(stage, config.get("review") or {}, version, date, prev)
        write_text(
            stage / "CHANGES.md",
            provenance.changes_markdown(
                changes, version, prev, date, preface=whats_new.markdown(news)
            ),
        )
        git = provenance.git_commit(repo)
        manifest: dict[str, Any] = {
            "version": version,
            "date": date,
            "previous": prev,
            "previous_manifest_sha256": sha256_file(bundles / prev / MANIFEST) if prev else None,
            "title": (config.get("review") or {}).get("title"),
            "pipeline": {
                "name": "livingreview",
                "git_commit": git["commit"],
                "git_dirty": git["dirty"],
            },
            "software": provenance.software_versions(),
            "search_snapshots": _snapshots(results, Path(inputs_root) if inputs_root else None),
            "inputs": inputs,
            "fingerprint": fp,
        }
        index = stage / "report" / "index.html"
        if index.is_file():  # the report rule's page; this version fills its slots
            fragments = version_fragments(
                version=version,
                date=date,
                news=news,
                history=stage / "history" / "history.csv",
                changes=changes,
                previous=prev,
                manifest=manifest,
            )
            write_text(index, fill_slots(index.read_text(encoding="utf-8"), fragments))
        title = shown.title
        files = _rehash(
            stage,
            content,
            ("CHANGES.md", WHATS_NEW, *HISTORY_FILES, *CITATION_FILES, "report/index.html"),
        )
        crate = ro_crate(
            stage,
            files,
            version=version,
            date=date,
            title=title,
            license_id=str((config.get("review") or {}).get("license") or "CC-BY-4.0"),
            inputs=inputs,
            snakemake_version=manifest["software"]["packages"].get("snakemake"),
        )
        write_json(stage / CRATE, crate)
        manifest["files"] = _rehash(stage, files, (CRATE,))
        write_json(stage / MANIFEST, manifest)
        os.chmod(stage, 0o755)
        _read_only(stage)
        _share_unchanged(
            stage, manifest["files"], bundles / prev if prev else None,
            (prev_manifest or {}).get("files") or {},
        )  # fmt: skip
        final = bundles / version
        if final.exists():  # never a target: another writer got here first
            raise FileExistsError(f"{final} already exists; a published version is never replaced")
        zip_stage = bundles / f".{version}.zip.staging"
        zip_from(stage, zip_stage, version, date)
        os.rename(stage, final)
        os.replace(zip_stage, bundles / f"{version}.zip")
        _announce(bundles, version, date, final)
        return PublishResult(True, version, final, f"published version {version}")
    finally:
        if stage.exists():
            with contextlib.suppress(OSError):
                shutil.rmtree(stage)


def _write_history(bundles: Path, stage: Path, version: str, date: str) -> None:
    """``history/``: every domain's estimate in each published version and in this one."""
    from .plots import history_plot  # matplotlib: only when a version is published

    table = version_history(bundles, published_versions(bundles), stage, version, date)
    if not len(table):
        return
    out = stage / Path(HISTORY_FILES[0]).parent
    out.mkdir(parents=True, exist_ok=True)
    write_csv(table, stage / HISTORY_FILES[0], text_columns=["version", "date", "domain", "label"])
    history_plot(table, out / "history")


def _changes(
    prev: Path | None,
    prev_manifest: Mapping[str, Any] | None,
    stage: Path,
    content: Mapping[str, str],
    inputs: Mapping[str, str],
) -> dict[str, Any]:
    """What changed since ``prev`` (a published version folder) and why (``provenance``)."""
    changes = provenance.explain(
        prev,
        effects=stage / "effects.csv",
        strata=stage / "strata",
        config=yaml.safe_load((stage / "config.yaml").read_text(encoding="utf-8")),
        decisions=stage / "screening" / "decisions.csv",
        inputs=dict(inputs),
    )
    if prev is None:
        return changes
    before = {
        k: v
        for k, v in ((prev_manifest or {}).get("files") or {}).items()
        if not _per_version(k) and k not in AUDIT
    }
    now = {k: v for k, v in content.items() if not _per_version(k) and k not in AUDIT}
    changes["files_changed"] = [
        f"{rel} ({'added' if rel not in before else 'removed' if rel not in now else 'changed'})"
        for rel in sorted(set(before) | set(now))
        if before.get(rel) != now.get(rel)
    ]
    changes["losses"] = provenance.losses(
        changes,
        decisions=stage / "screening" / "decisions.csv",
        studies=stage / "studies.csv",
        old_effects=prev / "effects.csv",
        old_decisions=prev / "screening" / "decisions.csv",
    )
    return changes


def _unique_records(summary: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(read_json(summary).get("unique") or 0)
    return None


def _check_publishable(
    prev: Path | None, stage: Path, results: Path, changes: Mapping[str, Any], allow_removals: bool
) -> None:
    """Raise ``PublicationHeld`` for a version that must not go out as it is (module doc)."""
    if prev is None:
        return
    had = _unique_records(prev / "records" / "summary.json")
    has = _unique_records(stage / "records" / "summary.json")
    if had and not has:
        raise PublicationHeld(
            f"refusing to publish a version with no records after version {prev.name} "
            f"had {had}: {results / 'records' / 'summary.json'} lists none. Check that "
            "inputs.root points at the review's inputs and that its search/ folder holds "
            "the snapshots and exports; nothing was published"
        )
    lost = changes.get("losses") or []
    if lost and not allow_removals:
        shown = "\n  ".join(lost[:25]) + (
            f"\n  ... and {len(lost) - 25} more" if len(lost) > 25 else ""
        )
        raise PublicationHeld(
            f"version held: {len(lost)} previously included "
            f"stud{'y' if len(lost) == 1 else 'ies'} of version {prev.name} would disappear "
            f"because their decisions or extraction were lost:\n  {shown}\n"
            "Restore the files or rows if this was a mistake; if the removal is intended, "
            "publish it with `livingreview update --config 'publish={allow_removals: true}'` "
            "(config key publish.allow_removals). Nothing was published"
        )


# --------------------------------------------------------------------------- the rule's entry point


@dataclass(frozen=True)
class BundleSettings:
    """The ``bundle`` rule's params, parsed once, and the pipeline's own checkout."""

    config: Mapping[str, Any]  # the published configuration (copied into the bundle)
    bundles: Path
    inputs_root: Path | None
    allow_removals: bool
    repo: Path  # for its git commit, wherever the project was moved

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], *, bundles: str | Path, repo: str | Path
    ) -> BundleSettings:
        """``allow_removals`` may come as ``"true"`` from ``--config``.

        ``bundles``: the folder of the rule's marker (where the versions go);
        ``repo``: the pipeline's checkout.
        """
        root = params.get("inputs_root")
        return cls(
            config=params["config"],
            bundles=Path(bundles),
            inputs_root=Path(root) if root is not None else None,
            allow_removals=_flag(params["allow_removals"]),
            repo=Path(repo),
        )


def run(settings: BundleSettings, inputs: Mapping[str, Any]) -> PublishResult:
    """Publish a new version if anything changed (:func:`publish`, atomic: it writes as it runs).

    ``inputs``: the rule's inputs; ``effects`` (``results/effects/effects.csv``)
    locates the results folder.
    """
    return publish(
        Path(inputs["effects"]).parents[1],
        settings.bundles,
        settings.config,
        inputs_root=settings.inputs_root,
        allow_removals=settings.allow_removals,
        repo=settings.repo,
    )


def write(result: PublishResult, outputs: Mapping[str, Any]) -> None:
    """The rule's ``published`` marker: whether a version went out, which, and why."""
    write_json(
        outputs["published"],
        {"changed": result.changed, "version": result.version, "message": result.message},
    )
