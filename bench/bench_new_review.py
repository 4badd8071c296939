"""Benchmark a new team's start (issue 15; not a test): what it types, and a no-change rerun.

Replays ``docs/new-review.md`` (the blocks ``tests/test_new_review.py`` executes)
up to the first version with a pooled analysis (the fourth ``livingreview
update``: 2 reviewers, 3 studies) in a fresh folder, counting what a person
writes by hand:

- files: every sheet block and the configuration edit; the database export is
  downloaded, not typed, so it is counted apart;
- commands: every ``$`` line;
- characters: of those files and commands, less what is copied: a sheet starts
  from a template or a queue (screening queues hold the record ids, extraction
  queues the study ids, record ids and citations), so only what it inserts or
  overwrites is typed (``typed_part``). A sheet's separators and line ends
  count: they are keystrokes in a spreadsheet too. Typing time is characters
  / (words per minute x 5), the usual 5 characters per word; ``--wpm`` sets
  the speed (default 30, a slow typist copying numbers from papers). Each
  reviewer types their own sheets, so the team's typing time is also given per
  person: the configuration and the commands are counted for the first
  reviewer (who sets the project up).

It then times ``livingreview update -d my-review --cores 2 --quiet`` with no
change ``--runs`` times (median, after one warm-up run) and states the load.
Target: only decisions and extracted numbers typed, < 15 min of typing; a
no-change rerun < 3 s.

Usage: .venv/bin/python bench/bench_new_review.py [--runs 7] [--wpm 30] [--work DIR]
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from test_new_review import edit_keys, steps  # noqa: E402 - the steps the test runs

VENV_BIN = REPO / ".venv" / "bin"
FIRST_POOLED = 4  # the fourth update publishes the first pooled analysis (docs/new-review.md, 5.)


def kind_of(path: str) -> str:
    """What a written file holds: decisions, extracted numbers, configuration, or an export."""
    if "/search/exports/" in path:
        return "export"
    if "/screening/" in path:
        return "decisions"
    if "/extraction/" in path:
        return "extraction"
    if path.endswith("config.yaml"):
        return "configuration"
    return "other"


def typed_part(text: str, sources: list[str]) -> int:
    """Characters of a hand-written sheet that are typed, not copied.

    A sheet starts from a file the team has: a template (``templates/``) or a
    queue (``results/screening/queue/``, ``results/extraction/queue/``). Cell by
    cell: a cell equal to the same column's cell of the source's row with the same
    ``record_id`` is copied; any other cell is typed in full, with its separator.
    A header column the source has is copied, any other is typed. Columns or rows
    left out cost nothing (a deletion is a selection and one key). The count is the smallest over the possible sources, and over
    typing the whole file.
    """
    final = list(csv.reader(io.StringIO(text)))
    if not final:
        return 0

    def typed(source: str) -> int:
        rows = list(csv.reader(io.StringIO(source)))
        if not rows:
            return len(text)
        header = rows[0]
        count = sum(len(c) + 1 for c in final[0] if c not in header)
        key = "record_id"
        by_id = {dict(zip(header, r, strict=False)).get(key): r for r in rows[1:]}
        for row in final[1:]:
            cells = dict(zip(final[0], row, strict=False))
            start = dict(zip(header, by_id.get(cells.get(key), []), strict=False))
            count += sum(len(v) + 1 for c, v in cells.items() if v and start.get(c) != v)
        return count

    return min([len(text), *(typed(source) for source in sources)])


def _sources(review: Path) -> list[str]:
    """Templates and queue files a person may start a sheet from, as they are now."""
    folders = ["templates", "results/screening/queue", "results/extraction/queue"]
    return [
        p.read_text(encoding="utf-8") for f in folders for p in sorted((review / f).glob("*.csv"))
    ]


def replay(work: Path, wpm: float) -> dict:
    """Run the walkthrough up to the first pooled version; count what was typed by hand."""
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    files: list[tuple[str, str, int, int]] = []  # (kind, path, characters, typed)
    commands: list[str] = []
    updates = 0
    for kind, path, text in steps():
        if kind == "edit":
            edit_keys(work / path, text)
            files.append(("configuration", path, len(text), len(text)))
        elif kind == "file":
            typed = typed_part(text, _sources(work / "my-review"))
            files.append((kind_of(path), path, len(text), typed))
            target = work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        else:
            commands.append(text)
            subprocess.run(text, shell=True, cwd=work, env=env, check=True, capture_output=True)
            updates += " update " in text
            if updates == FIRST_POOLED:
                break
    typed = [f for f in files if f[0] != "export"]
    keys = sum(len(c) + 1 for c in commands)
    people: dict[str, int] = {}
    for kind, path, _, count in typed:
        if kind in ("decisions", "extraction"):
            who = Path(path).stem.split("-")[0]
            people[who] = people.get(who, 0) + count
    lead = min(people) if people else "lead"
    chars = sum(t for *_, t in typed) + keys
    people[lead] = people.get(lead, 0) + (chars - sum(people.values()))
    return {
        "people": people,
        "files": files,
        "typed_files": typed,
        "commands": commands,
        "whole_text": sum(c for _, _, c, _ in typed) + keys,
        "characters": chars,
        "minutes": chars / (wpm * 5),
        "wpm": wpm,
    }


def rerun_times(review: Path, runs: int) -> list[float]:
    """Wall time of ``livingreview update`` with nothing changed (one warm-up first)."""
    command = [str(VENV_BIN / "livingreview"), "update", "-d", str(review), "--cores", "2"]
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        subprocess.run([*command, "--quiet"], check=True, capture_output=True)
        if i:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--wpm", type=float, default=30.0)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-new-review-"))
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    load_before = os.getloadavg()
    typed = replay(work, args.wpm)
    times = rerun_times(work / "my-review", args.runs)
    load_after = os.getloadavg()
    by_kind: dict[str, int] = {}
    for kind, *_ in typed["typed_files"]:
        by_kind[kind] = by_kind.get(kind, 0) + 1
    print(f"date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"load average before/after (1/5/15 min): {load_before} / {load_after}")
    print(f"files written by hand: {len(typed['typed_files'])} {by_kind}")
    exports = [p for k, p, *_ in typed["files"] if k == "export"]
    print(f"downloaded, not typed: {len(exports)} ({', '.join(exports)})")
    print(f"commands typed: {len(typed['commands'])}")
    for command in typed["commands"]:
        print(f"  $ {command}")
    print(
        f"characters of the hand-written files and commands: {typed['whole_text']} "
        f"({typed['whole_text'] / (typed['wpm'] * 5):.1f} min if every one were typed)"
    )
    print(
        f"characters typed (what the files add to the templates and queues they start"
        f" from, and the commands): {typed['characters']} = {typed['minutes']:.1f} min at "
        f"{typed['wpm']:g} words per minute (5 characters a word)"
    )
    for who, count in sorted(typed["people"].items()):
        print(f"  {who}: {count} characters = {count / (typed['wpm'] * 5):.1f} min")
    print(
        f"no-change rerun, {len(times)} runs: median {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f})"
    )


if __name__ == "__main__":
    main()
