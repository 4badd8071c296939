"""Incremental equals clean: a property test over seeded random edit sequences (issue 13).

From one full run of the demo (shared baseline), each sequence applies three
seeded random edits (``tests/edits.py``), running the workflow in the same
folder after each, then runs the final inputs from scratch in a fresh copy
and compares results and newest bundle (``tests/incremental_check.py`` says
what is compared and what may legitimately differ). A failing seed is
replayed with ``bench/soak_incremental.py --seeds <seed>``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from incremental_check import (
    CleanRuns,
    check_sequence,
    describe,
    latest,
    make_patches,
    new_project,
    orders,
    run,
)

GROUPS = 4  # x ORDERS = 12 sequences of EDITS edits
ORDERS = 3
EDITS = 3


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> tuple[Path, Path]:
    """One full run of the demo, and a copy of it (mtimes and Snakemake metadata kept)."""
    base = tmp_path_factory.mktemp("incremental")
    work = new_project(base / "project")
    rc, out = run(work)
    assert rc == 0, out[-4000:]
    assert latest(work) is not None
    shutil.copytree(work, base / "snapshot", symlinks=True)
    return work, base / "snapshot"


def _restore(baseline: tuple[Path, Path]) -> Path:
    work, snapshot = baseline
    shutil.rmtree(work)
    shutil.copytree(snapshot, work, symlinks=True)
    return work


@pytest.mark.parametrize("group", range(GROUPS))
def test_incremental_equals_clean(group: int, baseline: tuple[Path, Path], tmp_path: Path) -> None:
    """Three edits drawn with seed ``group``, applied in three orders: each order equals clean."""
    work = _restore(baseline)
    patches = make_patches(group, work, EDITS)
    assert len(patches) == EDITS
    clean_runs = CleanRuns(tmp_path)
    report = []
    for order in orders(group, EDITS, ORDERS):
        work = _restore(baseline)
        seq = check_sequence(group, work, patches, order, clean_runs)
        report.append(describe(seq))
        assert not seq.problems, "\n".join(report)
        assert len(seq.steps) == EDITS


def test_removed_sheet_holds_the_version_until_removals_are_allowed(
    baseline: tuple[Path, Path],
) -> None:
    """Issue 14, "inputs that disappear": nothing is published until the removal is confirmed."""
    work = _restore(baseline)
    before = latest(work)
    (work / "resources/demo/screening/full_text/bob.csv").unlink()

    rc, out = run(work)

    assert rc != 0
    assert "version held:" in out and "full_text decision now awaiting" in out
    assert "file(s) removed: screening/full_text/bob.csv" in out
    assert latest(work) == before
    rc, out = run(work, "--config", "publish={allow_removals: true}")
    assert rc == 0, out[-3000:]
    after = latest(work)
    assert after != before
    changes = (work / "results/bundles" / after / "CHANGES.md").read_text(encoding="utf-8")
    assert "## Held back, published with publish.allow_removals" in changes
    assert "## Why: input files removed\n\n- screening/full_text/bob.csv" in changes
    assert "## Why: screening decisions changed" in changes
    assert "publish" not in (work / "results/bundles" / after / "config.yaml").read_text()
    rc, out = run(work)  # the flag was for one run; going back to the default publishes nothing
    assert rc == 0 and latest(work) == after, out[-3000:]
