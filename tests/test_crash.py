"""SIGKILL the real workflow at seeded points of a full run; the resumed run must equal a clean one.

The subject is the live-mode demo project of tests/hostile_project.py (the
shipped demo plus a live PubMed search against the fake E-utilities server),
run with ``livingreview update`` (the cron entry point). Its one clean run is
shared with test_hostile.py and is the reference here.

To stay within CI's budget the kills are chained on one copy of the project:
start ``livingreview update``, SIGKILL its whole process group (the CLI,
Snakemake and every running job, as an OOM kill or power cut would) at the
next kill point, start it again from the state the kill left, and so on; a
last uninterrupted run then completes. Kill points (seeded, :data:`SEED`):

* :data:`N_PROGRESS` at job-progress targets spread evenly (with jitter) over
  the clean run's job count, each followed by a random delay so that the kill
  lands inside a job rather than between jobs;
* :data:`N_STARTUP` during start-up (the CLI taking its lock, Snakemake
  parsing, removing the lock a previous kill left, building the DAG);
* :data:`N_PUBLISH` inside the publishing step (after ``rule bundle`` starts).

Then:

* the published bundle equals the clean run's: same version, the same SHA-256
  for every file listed in ``manifest.json``; the manifest itself equal except
  for the checksum of today's search sidecar ``<today>.json``, whose
  ``started``/``completed`` timestamps are the only legitimately different
  content (the sidecar is an input, listed under ``inputs``). The zip and its
  ``.sha256`` contain/derive from that manifest and are checked by
  ``livingreview.publish.verify`` instead;
* every other file under ``results/`` (except ``results/logs/``, which records
  each run, and ``results/.update.lock``, which holds the pid and start time
  of the last update) has the clean run's checksum: nothing partial, stale or
  extra was left, and the same set of files exists;
* no temporary file (``.<name>.*.tmp``) or publishing staging folder is left
  anywhere under ``results/``; Snakemake's own incomplete markers live in
  ``.snakemake/`` and are not affected.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hostile_project import Run, clean_run, env, server, update_cmd
from results_fixture import CONFIG, make_results

from livingreview.io import write_json
from livingreview.publish import bundle, verify, versions

SEED = 20261121
N_PROGRESS = 16
N_STARTUP = 3
N_PUBLISH = 3
BLOCK = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):\n((?:    .*\n)*)", re.M)
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)", re.M)
PARTIAL = re.compile(r"(^\..*\.tmp$)|(^\.staging-)|(\.staging$)")
NOT_COMPARED = ("logs/", ".update.lock")


@dataclass
class Kill:
    kind: str
    target: float
    after_s: float
    running: list[str]
    partial: list[str] = field(default_factory=list)


def _jobs(text: str) -> tuple[set[str], list[str]]:
    """(finished jobs as 'rule output', rules still running) in one Snakemake console log."""
    started: dict[str, tuple[str, str]] = {}
    for rule, body in BLOCK.findall(text):
        jobid = re.search(r"^    jobid: (\d+)$", body, re.M)
        output = re.search(r"^    output: (.*)$", body, re.M)
        if jobid:
            started[jobid.group(1)] = (rule, output.group(1) if output else "")
    done = {jobid for jobid, rule in FINISHED.findall(text) if rule != "all"}
    finished = {f"{started[j][0]} {started[j][1]}" for j in done if j in started}
    running = sorted(rule for j, (rule, _o) in started.items() if j not in done)
    return finished, running


def _partial_files(results: Path) -> list[str]:
    if not results.is_dir():
        return []
    return sorted(str(p.relative_to(results)) for p in results.rglob("*") if PARTIAL.search(p.name))


def _checksums(results: Path) -> dict[str, str]:
    return {
        p.relative_to(results).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(results.rglob("*"))
        if p.is_file() and not p.relative_to(results).as_posix().startswith(NOT_COMPARED)
    }


def _publish_seconds(project: Path, tmp: Path) -> float:
    """How long publishing the clean run's results takes on this machine (fresh version).

    The publish kills are fractions of it: a fixed window would miss the step
    on a fast machine (publishing the demo takes a few tenths of a second).
    """
    import yaml

    results = tmp / "results"
    shutil.copytree(project / "results", results, ignore=shutil.ignore_patterns("bundles"))
    config = yaml.safe_load((project / "config" / "config.yaml").read_text(encoding="utf-8"))
    start = time.monotonic()
    bundle.publish(results, tmp / "bundles", config, inputs_root=project / config["inputs"]["root"])
    return time.monotonic() - start


def _plan(rng: random.Random, jobs: int, publish_s: float) -> list[tuple[str, float]]:
    """Kill points in order: (kind, target).

    progress: the number of distinct jobs finished (over all runs so far) after
    which to kill, spread with jitter over the jobs before the report; startup:
    seconds after starting; publish: seconds after publishing began (within the
    first 60% of ``publish_s``, which the staging folder's appearance starts).
    """
    last = jobs - 8  # the report and bundle come after; the publish kills cover them
    step = last / N_PROGRESS
    plan: list[tuple[str, float]] = [
        ("progress", max(1, int((i + rng.random()) * step))) for i in range(N_PROGRESS)
    ]
    for _ in range(N_STARTUP):
        plan.insert(rng.randrange(len(plan) + 1), ("startup", round(rng.uniform(0.2, 3.0), 2)))
    plan += [("publish", round(rng.uniform(0.0, 0.6) * publish_s, 3)) for _ in range(N_PUBLISH)]
    return plan


def _segment(
    project: Path, out: Path, kind: str, target: float, done: set[str], rng: random.Random
) -> Kill | None:
    """Start an update, SIGKILL its process group at the kill point; None if it finished first."""
    bundles = project / "results" / "bundles"
    stale = set(bundles.glob(".staging-*")) if bundles.is_dir() else set()
    target = max(target, len(done) + 1) if kind == "progress" else target
    with open(out, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(
            update_cmd(project)[:-1],  # not --quiet: Snakemake's progress comes to `out`
            env=env(),
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        start = time.monotonic()
        fired_at: float | None = start if kind == "startup" else None
        delay = target if kind in ("startup", "publish") else rng.uniform(0.0, 0.8)
        while time.monotonic() < start + 900:
            if proc.poll() is not None:
                return None
            now = time.monotonic()
            if fired_at is None:
                if kind == "progress":
                    finished, _ = _jobs(out.read_text(encoding="utf-8", errors="replace"))
                    if len(done | finished) >= target:
                        fired_at = now
                elif bundles.is_dir() and set(bundles.glob(".staging-*")) - stale:
                    fired_at = now  # this run's publication has begun
            if fired_at is not None and now >= fired_at + delay:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                _, running = _jobs(out.read_text(encoding="utf-8", errors="replace"))
                return Kill(kind, target, round(now - start, 2), running)
            time.sleep(0.005 if kind == "publish" else 0.02)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"no kill point reached in 900 s ({kind} {target})")


def _normalised(path: Path, volatile: dict[str, str]) -> str:
    text = path.read_text(encoding="utf-8")
    for sha, name in volatile.items():
        text = text.replace(sha, f"<sha256 of {name}>")
    return text


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return clean_run(tmp_path_factory.mktemp("hostile"))


def test_killed_anywhere_resumes_to_the_clean_bundle(clean: Run, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    logs = sorted((clean.project / "results" / "logs").glob("2*.log"))
    jobs = len(_jobs(logs[-1].read_text(encoding="utf-8"))[0])
    assert jobs > 50, jobs
    project = tmp_path / "killed"
    shutil.copytree(clean.project.parent / "pristine", project, symlinks=True)
    assert server().base_url in (project / "config/config.yaml").read_text()
    results = project / "results"

    kills: list[Kill | None] = []
    done: set[str] = set()
    publish_s = _publish_seconds(clean.project, tmp_path / "timing")
    for i, (kind, target) in enumerate(_plan(rng, jobs, publish_s)):
        out = tmp_path / f"segment-{i:02d}.log"
        kill = _segment(project, out, kind, target, done, rng)
        done |= _jobs(out.read_text(encoding="utf-8", errors="replace"))[0]
        if kill is not None:
            kill.partial = _partial_files(results)
        kills.append(kill)
    final = subprocess.run(
        update_cmd(project), env=env(), capture_output=True, text=True, timeout=900
    )
    report = "\n".join(
        f"{k.kind:8} target={k.target:<5} killed after {k.after_s:>5}s running={k.running} "
        f"left={k.partial}"
        if k
        else "(finished before its kill point)"
        for k in kills
    )
    print(f"\n{len(kills)} kill points, {jobs} jobs in a clean run, publish {publish_s:.2f} s:")
    print(report)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    assert all(kills) and len(kills) >= 20, report
    assert sum(bool(k.running) for k in kills if k) >= 15, report  # kills inside running jobs
    assert sum(k.running == ["bundle"] for k in kills if k) == N_PUBLISH, report

    # 1. nothing partial left anywhere under results/
    assert _partial_files(results) == []

    # 2. the same bundles folder and the same published version, which verifies
    ref_results = clean.project / "results"
    ref_bundles, bundles = ref_results / "bundles", results / "bundles"
    assert sorted(p.name for p in bundles.iterdir()) == sorted(
        p.name for p in ref_bundles.iterdir()
    )
    version = versions.latest(bundles)
    assert version is not None and version == versions.latest(ref_bundles)
    assert verify.verify(bundles / version) == []

    # 3. every file under results/ is the clean run's, byte for byte, except in the bundle
    #    those that show the checksum of today's search sidecar (timestamps): compared with
    #    that checksum (and the checksums derived from it) replaced by a placeholder.
    ref, got = _checksums(ref_results), _checksums(results)
    assert sorted(set(got) ^ set(ref)) == []
    sidecar = f"search/pubmed/{version.split('.')[0]}.json"
    derived = ["report/index.html", "ro-crate-metadata.json", "manifest.json"]
    volatile = [f"bundles/{version}/{name}" for name in derived]
    volatile += [f"bundles/{version}.zip", f"bundles/{version}.zip.sha256"]
    assert sorted(k for k in ref if got[k] != ref[k]) in ([], sorted(volatile))
    for name in derived:
        texts = []
        for tree in (ref_results, results):
            manifest = json.loads((tree / "bundles" / version / "manifest.json").read_text())
            shas = {manifest["inputs"][sidecar]: sidecar}
            shas |= {manifest["files"][n]: n for n in derived if n in manifest["files"]}
            texts.append(_normalised(tree / "bundles" / version / name, shas))
        assert texts[0] == texts[1], name


# --------------------------------------------------------------------------- publishing windows
# The random kills above land anywhere in the bundle job; these two place a kill exactly in
# the windows of ``bundle.publish`` that leave something behind, without a workflow run.


def _publish(results: Path):  # type: ignore[no-untyped-def]
    return bundle.publish(results, results / "bundles", CONFIG, date="2026-11-21")


def test_publication_killed_after_the_rename_is_completed_not_duplicated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = make_results(tmp_path, n_studies=4)
    real_replace = os.replace

    def killed_here(src, dst):  # type: ignore[no-untyped-def]
        if str(dst).endswith(".zip"):  # the folder is renamed into place; zip and LATEST not yet
            raise KeyboardInterrupt  # like SIGKILL here: publish's cleanup has nothing to undo
        return real_replace(src, dst)

    monkeypatch.setattr(bundle.os, "replace", killed_here)
    with pytest.raises(KeyboardInterrupt):
        _publish(results)
    monkeypatch.setattr(bundle.os, "replace", real_replace)
    bundles = results / "bundles"
    assert (bundles / "2026-11-21.1").is_dir() and versions.latest(bundles) is None
    res = _publish(results)
    assert res.changed and res.version == "2026-11-21.1", res
    assert sorted(p.name for p in bundles.iterdir()) == [
        "2026-11-21.1",
        "2026-11-21.1.zip",
        "2026-11-21.1.zip.sha256",
        "LATEST",
    ]
    assert (
        versions.latest(bundles) == "2026-11-21.1" and verify.verify(bundles / "2026-11-21.1") == []
    )
    assert not _publish(results).changed  # and from now on: no change


def test_leftovers_of_a_killed_publication_are_removed(tmp_path: Path) -> None:
    results = make_results(tmp_path, n_studies=4)
    bundles = results / "bundles"
    (bundles / ".staging-k1ll3d" / "strata").mkdir(parents=True)
    (bundles / ".staging-k1ll3d" / "strata" / "pooled.json").write_text("{")
    (bundles / ".2026-11-21.1.zip.staging").write_bytes(b"PK")
    (bundles / "..2026-11-21.1.zip.staging.abc123.tmp").write_bytes(b"P")
    (bundles / ".LATEST.x9.tmp").write_text("2026-11")
    res = _publish(results)
    assert res.version == "2026-11-21.1"
    assert sorted(p.name for p in bundles.iterdir()) == [
        "2026-11-21.1",
        "2026-11-21.1.zip",
        "2026-11-21.1.zip.sha256",
        "LATEST",
    ]


def test_temporary_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path: Path) -> None:
    """SIGKILL inside ``atomic_write`` leaves ``.<name>.<pid>.*.tmp``; rewriting the file removes it."""
    target = tmp_path / "pooled.json"
    child = (
        "import sys, time\n"
        "from livingreview.io import atomic_write\n"
        "with atomic_write(sys.argv[1]) as fh:\n"
        "    fh.write('{\"partial\": ')\n"
        "    fh.flush()\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", child, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (left,) = tmp_path.glob(".pooled.json.*.tmp")
    assert left.name.startswith(f".pooled.json.{proc.pid}.") and not target.exists()
    live = tmp_path / f".pooled.json.{os.getpid()}.live.tmp"  # a writer still running: kept
    live.write_text("{")
    write_json(target, {"k": 1})
    assert json.loads(target.read_text()) == {"k": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "pooled.json"]
