"""Run an edit sequence incrementally and compare it with a clean run (the guarantee of issue 13).

"Incremental equals clean" (ARCHITECTURE.md): after any sequence of edits,
each followed by a run in the same folder, the results and the newest bundle
must be those a from-scratch run of the final inputs gives. Shared by
``tests/test_incremental.py`` (CI: a few short sequences) and
``bench/soak_incremental.py`` (the long soak).

What is compared, and what may legitimately differ (named here, nowhere else):

- ``results/`` files that carry numbers or choices (``RESULT_GLOBS``): byte for byte;
- the set of figure files present under ``results/`` (bundles and logs aside);
- the newest bundle: every content file byte for byte (hence the same
  fingerprint); ``manifest.json`` except ``MANIFEST_PER_VERSION`` fields and
  the checksums of the per-version files; ``ro-crate-metadata.json`` except
  the version, date and per-version file entries; ``report/index.html`` with
  the version name, date, "what's new" and "changes since the last version"
  sections taken out; ``CHANGES.md`` and ``whats_new.json`` are not compared
  (they describe the way here).
  When the last incremental run published nothing (its edits changed nothing
  a reader sees), the newest bundle holds the inputs of an earlier version:
  then the input checksums (manifest ``inputs``, the report's input table)
  and the audit trail (``livingreview.publish.bundle.AUDIT``: the screening decisions
  with their notes, which are no news for a reader, and their RO-Crate
  entries) are not compared either; ``results/screening/decisions.csv`` itself
  is compared above.

Edits are drawn as patches against the baseline (``make_patches``): each
changes its own files or configuration keys, so a set of patches can be
applied in several orders. Every order must end in the same results, and the
clean run of the final inputs is made once per distinct final inputs
(``CleanRuns``), which keeps the property test affordable: each clean run is
a full run of the demo.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from edits import CONFIG, ROOT, Edit, random_edit

from livingreview.publish.bundle import AUDIT, PER_VERSION

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = REPO / ".venv" / "bin" / "snakemake"
CODE = ["Snakefile", "workflow", "config", "scripts", "profiles"]
RESULT_GLOBS = (
    "records/*",
    "screening/*.csv",
    "screening/*.json",
    "screening/queue/*",
    "extraction/*",
    "effects/*",
    "strata/*.json",
    "strata/*.csv",
    "strata/*/*.csv",
    "strata/*/*.json",
    "metareg/*.json",
    "design_check.json",
    "report/tables/*.csv",
)
FIGURE_SUFFIXES = (".svg", ".png")
MANIFEST_PER_VERSION = ("version", "date", "previous", "previous_manifest_sha256", "files")
PER_VERSION_FILES = tuple(sorted(PER_VERSION))  # CHANGES.md, whats_new.json, manifest, ...
HOLD_FLAG = "publish={allow_removals: true}"


@dataclass
class Step:
    edit: Edit
    rc: int
    seconds: float
    published: str | None  # the version published by this step's run (None: no change)
    note: str = ""


@dataclass
class Sequence:
    seed: int
    steps: list[Step] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    clean_seconds: float = 0.0
    order: tuple[int, ...] = ()


def new_project(dest: Path, inputs_from: Path | None = None) -> Path:
    """A project folder with this checkout's workflow and the demo (or another project's) inputs."""
    dest.mkdir(parents=True)
    for name in CODE:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, dest / name)
    src = inputs_from or REPO
    shutil.copytree(src / ROOT, dest / ROOT)
    if inputs_from is not None:
        shutil.copy2(inputs_from / CONFIG, dest / CONFIG)
    return dest


def run(project: Path, *args: str, timeout: int = 3600) -> tuple[int, str]:
    proc = subprocess.run(
        [str(SNAKEMAKE), "--cores", "2", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr


def latest(project: Path) -> str | None:
    path = project / "results" / "bundles" / "LATEST"
    return path.read_text(encoding="utf-8").strip() if path.is_file() else None


def _inputs_backup(project: Path) -> Path:
    backup = project.parent / f".{project.name}-inputs"
    if backup.exists():
        shutil.rmtree(backup)
    backup.mkdir()
    shutil.copytree(project / ROOT, backup / "root")
    shutil.copy2(project / CONFIG, backup / "config.yaml")
    return backup


def _restore_inputs(project: Path, backup: Path) -> None:
    shutil.rmtree(project / ROOT)
    shutil.copytree(backup / "root", project / ROOT)
    shutil.copy2(backup / "config.yaml", project / CONFIG)


def _error_lines(output: str) -> str:
    """The lines of a failed run that carry the user-facing message."""
    keep = [
        line
        for line in output.splitlines()
        if "expected" in line or "held" in line.lower() or "Error" in line or "error" in line
    ]
    return "\n".join(keep[-12:])


def clean_failure(output: str) -> str | None:
    """None if a failed run stopped the way bad input must; otherwise what is wrong with it."""
    if "Traceback" in output and not re.search(r"(InputError|InputErrors|PublicationHeld)", output):
        return "failed with a traceback that is not an input error:\n" + output[-3000:]
    if "results/" in _error_lines(output) and "resources/" not in _error_lines(output):
        return "the message blames a generated file under results/:\n" + _error_lines(output)
    return None


def run_step(project: Path, edit: Edit, backup: Path) -> tuple[Step, list[str]]:
    """Run after ``edit``; a failed run must fail cleanly, publish nothing, and is then undone."""
    before = latest(project)
    start = time.monotonic()
    rc, out = run(project)
    problems: list[str] = []
    note = ""
    if rc != 0 and "held" in out.lower() and "allow_removals" in out:
        if latest(project) != before:
            problems.append(f"{edit.kind}: a held version was published anyway")
        note = "held; rerun with publish.allow_removals"
        rc, out = run(project, "--config", HOLD_FLAG)
    if rc != 0:
        if latest(project) != before:
            problems.append(f"{edit.kind}: the run failed but published {latest(project)}")
        why = clean_failure(out)
        if not edit.may_fail:
            problems.append(f"{edit.kind} ({edit.text}): valid input, run failed:\n{out[-3000:]}")
        elif why:
            problems.append(f"{edit.kind} ({edit.text}): {why}")
        # undo the edit; the run after that must succeed and publish nothing new
        _restore_inputs(project, backup)
        rc2, out2 = run(project)
        if rc2 != 0:
            problems.append(
                f"{edit.kind}: after undoing the edit the run still fails:\n{out2[-3000:]}"
            )
        elif latest(project) != before:
            problems.append(f"{edit.kind}: undoing a failed edit published {latest(project)}")
        note = (note + "; " if note else "") + "failed cleanly, undone"
    after = latest(project)
    if after != before and after is not None:
        changes = (project / "results/bundles" / after / "CHANGES.md").read_text(encoding="utf-8")
        if not re.search(r"^- ", changes, re.M):
            problems.append(f"{edit.kind}: version {after} published, CHANGES.md lists nothing")
    step = Step(edit, rc, time.monotonic() - start, after if after != before else None, note)
    return step, problems


# --------------------------------------------------------------------------- comparison


def _result_files(project: Path) -> dict[str, Path]:
    results = project / "results"
    files = {}
    for pattern in RESULT_GLOBS:
        for p in results.glob(pattern):
            if p.is_file():
                files[p.relative_to(results).as_posix()] = p
    return files


def _figures(project: Path) -> set[str]:
    results = project / "results"
    return {
        p.relative_to(results).as_posix()
        for p in results.rglob("*")
        if p.is_file()
        and p.suffix in FIGURE_SUFFIXES
        and p.relative_to(results).parts[0] not in ("bundles", "logs")
    }


def _index_text(path: Path, version: str, date: str, with_inputs: bool) -> str:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'<h2 id="(?:whats-new|history|changes)">.*?(?=<h2)', "", text, flags=re.S)
    if not with_inputs:
        text = re.sub(r"<tr><td>[^<]*</td><td>[0-9a-f]{64}</td></tr>\n?", "", text)
    return text.replace(version, "<version>").replace(date, "<date>")


def compare_projects(inc: Path, clean: Path, last_published: bool) -> list[str]:
    """Differences between an incremental project and a clean one (empty: they agree)."""
    problems: list[str] = []
    a, b = _result_files(inc), _result_files(clean)
    for rel in sorted(set(a) ^ set(b)):
        problems.append(f"results/{rel}: only in the {'incremental' if rel in a else 'clean'} run")
    for rel in sorted(set(a) & set(b)):
        if a[rel].read_bytes() != b[rel].read_bytes():
            problems.append(f"results/{rel}: differs from the clean run")
    fa, fb = _figures(inc), _figures(clean)
    for rel in sorted(fa ^ fb):
        problems.append(
            f"figure results/{rel}: only in the {'incremental' if rel in fa else 'clean'} run"
        )
    va, vb = latest(inc), latest(clean)
    if va is None or vb is None:
        return problems + [f"newest bundle missing (incremental {va}, clean {vb})"]
    return problems + compare_bundles(
        inc / "results/bundles" / va, clean / "results/bundles" / vb, last_published
    )


def compare_bundles(a: Path, b: Path, with_inputs: bool = True) -> list[str]:
    problems: list[str] = []
    ma = json.loads((a / "manifest.json").read_text(encoding="utf-8"))
    mb = json.loads((b / "manifest.json").read_text(encoding="utf-8"))
    fa, fb = ma["files"], mb["files"]
    for rel in sorted(set(fa) ^ set(fb)):
        problems.append(
            f"bundle {rel}: only in the {'incremental' if rel in fa else 'clean'} bundle"
        )
    for rel in sorted(set(fa) & set(fb)):
        if rel in PER_VERSION_FILES or (not with_inputs and rel in AUDIT):
            continue
        if fa[rel] != fb[rel]:
            problems.append(f"bundle {rel}: differs from the clean bundle")
    skip = set(MANIFEST_PER_VERSION) | ({"inputs"} if not with_inputs else set())
    for key in sorted((set(ma) | set(mb)) - skip):
        if ma.get(key) != mb.get(key):
            problems.append(
                f"bundle manifest.json field {key!r} differs: {ma.get(key)!r} vs {mb.get(key)!r}"[
                    :600
                ]
            )
    ia = _index_text(a / "report/index.html", ma["version"], ma["date"], with_inputs)
    ib = _index_text(b / "report/index.html", mb["version"], mb["date"], with_inputs)
    if ia != ib:
        problems.append("bundle report/index.html differs beyond version, date and changes")
    ca = json.loads((a / "ro-crate-metadata.json").read_text(encoding="utf-8"))
    cb = json.loads((b / "ro-crate-metadata.json").read_text(encoding="utf-8"))

    def crate(c: dict) -> list:
        return [
            {
                k: v
                for k, v in item.items()
                if k not in ("name", "version", "datePublished", "endTime")
                and (with_inputs or k != "object")  # the run's inputs
            }
            for item in c["@graph"]
            if item.get("@id") not in PER_VERSION_FILES
            and (with_inputs or item.get("@id") not in AUDIT)
            and (with_inputs or not str(item.get("@id")).startswith("#input/"))
        ]

    if crate(ca) != crate(cb):
        problems.append("bundle ro-crate-metadata.json differs beyond version and date")
    return problems


# --------------------------------------------------------------------------- patches

DELETE = object()


@dataclass(frozen=True)
class Patch:
    """One edit as the change it made: configuration nodes set or deleted, files written or removed."""

    edit: Edit
    config: tuple[tuple[tuple[str, ...], Any], ...]  # (path, new value or DELETE)
    files: tuple[tuple[str, bytes | None], ...]  # (path under the project, content or None)

    def touches(self) -> set[str]:
        return {"/".join(p) for p, _ in self.config} | {f for f, _ in self.files}


def _tree(project: Path) -> dict[str, bytes]:
    root = project / ROOT
    return {
        p.relative_to(project).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()
    }


def _config_diff(a: Any, b: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """The shallowest nodes where ``b`` differs from ``a``."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in list(a) + [k for k in b if k not in a]:
            if key not in b:
                out.append(((*path, key), DELETE))
            elif key not in a:
                out.append(((*path, key), b[key]))
            else:
                out += _config_diff(a[key], b[key], (*path, key))
        return out
    return [] if a == b else [(path, b)]


def _overlaps(a: set[str], b: set[str]) -> bool:
    return any(x == y or x.startswith(y + "/") or y.startswith(x + "/") for x in a for y in b)


def make_patches(seed: int, project: Path, n: int) -> list[Patch]:
    """``n`` seeded edits of ``project`` (at its baseline), as patches touching disjoint things.

    Each edit is drawn against the baseline, recorded, and undone, so the
    project is left as it was.
    """
    rng = random.Random(seed)
    config0 = yaml.safe_load((project / CONFIG).read_text(encoding="utf-8"))
    tree0 = _tree(project)
    backup = _inputs_backup(project)
    patches: list[Patch] = []
    try:
        for _ in range(50 * n):
            if len(patches) == n:
                break
            edit = random_edit(rng, project)
            config = yaml.safe_load((project / CONFIG).read_text(encoding="utf-8"))
            tree = _tree(project)
            files = tuple(
                (f, tree.get(f))
                for f in sorted(set(tree0) | set(tree))
                if tree0.get(f) != tree.get(f)
            )
            patch = Patch(edit, tuple(_config_diff(config0, config)), files)
            _restore_inputs(project, backup)
            if patch.touches() and not any(
                _overlaps(patch.touches(), p.touches()) for p in patches
            ):
                patches.append(patch)
    finally:
        _restore_inputs(project, backup)
        shutil.rmtree(backup)
    return patches


def apply_patch(project: Path, patch: Patch) -> None:
    if patch.config:
        config = yaml.safe_load((project / CONFIG).read_text(encoding="utf-8"))
        for path, value in patch.config:
            node = config
            for key in path[:-1]:
                node = node[key]
            if value is DELETE:
                del node[path[-1]]
            else:
                node[path[-1]] = value
        text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
        (project / CONFIG).write_text(text, encoding="utf-8")
    for rel, content in patch.files:
        if content is None:
            (project / rel).unlink()
        else:
            (project / rel).parent.mkdir(parents=True, exist_ok=True)
            (project / rel).write_bytes(content)


def inputs_digest(project: Path) -> str:
    """What a clean run depends on: the configuration (parsed) and every input file."""
    digest = hashlib.sha256()
    config = yaml.safe_load((project / CONFIG).read_text(encoding="utf-8"))
    digest.update(json.dumps(config, sort_keys=True).encode())
    for rel, content in sorted(_tree(project).items()):
        digest.update(f"{rel}\t{hashlib.sha256(content).hexdigest()}\n".encode())
    return digest.hexdigest()


class CleanRuns:
    """Clean runs of final inputs, each made once (keyed by ``inputs_digest``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.done: dict[str, tuple[Path, str | None, float]] = {}

    def get(self, project: Path) -> tuple[Path, str | None, float]:
        """(clean project, failure output or None, seconds it took)."""
        key = inputs_digest(project)
        if key not in self.done:
            clean = new_project(self.folder / f"clean-{len(self.done)}", inputs_from=project)
            start = time.monotonic()
            rc, out = run(clean)
            self.done[key] = (clean, out[-3000:] if rc != 0 else None, time.monotonic() - start)
        return self.done[key]


def check_sequence(
    seed: int, project: Path, patches: list[Patch], order: tuple[int, ...], clean_runs: CleanRuns
) -> Sequence:
    """Apply ``patches`` in ``order`` (running after each), then compare with the clean run."""
    seq = Sequence(seed)
    seq.order = order
    for i in order:
        backup = _inputs_backup(project)
        apply_patch(project, patches[i])
        step, problems = run_step(project, patches[i].edit, backup)
        seq.steps.append(step)
        seq.problems += problems
        shutil.rmtree(backup)
    if seq.problems:
        return seq
    clean, failure, seconds = clean_runs.get(project)
    seq.clean_seconds = seconds
    if failure is not None:
        seq.problems.append(f"the clean run failed:\n{failure}")
        return seq
    last_published = bool(seq.steps) and seq.steps[-1].published is not None
    seq.problems += compare_projects(project, clean, last_published)
    return seq


def orders(seed: int, n_edits: int, n_orders: int) -> list[tuple[int, ...]]:
    """``n_orders`` distinct orders of ``n_edits`` patches (seeded; the first is the drawn order)."""
    every = list(itertools.permutations(range(n_edits)))
    rest = every[1:]
    random.Random(seed).shuffle(rest)
    return [every[0], *rest][:n_orders]


def describe(seq: Sequence) -> str:
    lines = [f"seed {seq.seed}, order {seq.order}:"]
    for s in seq.steps:
        pub = f"published {s.published}" if s.published else "no new version"
        extra = f"; {s.note}" if s.note else ""
        lines.append(f"  {s.edit.kind}: {s.edit.text} -> {pub} ({s.seconds:.0f} s{extra})")
    lines += [f"  PROBLEM {p}" for p in seq.problems]
    return "\n".join(lines)
