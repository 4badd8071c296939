"""One date per run: ``LIVINGREVIEW_TODAY`` is read once and reaches every job."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from livingreview import clock
from livingreview.errors import LivingReviewError

SNAKEFILE = """
rule all:
    input: "results/date.txt"

rule date:
    output: "results/date.txt"
    shell: "printf '%s' \\"$LIVINGREVIEW_TODAY\\" > {output}"
"""


def test_unset_is_the_machine_date(monkeypatch) -> None:
    monkeypatch.delenv(clock.ENV, raising=False)
    before = dt.date.today()
    assert clock.today() in {before, dt.date.today()}  # midnight may pass in between


def test_a_pinned_earlier_date_is_used(monkeypatch) -> None:
    monkeypatch.setenv(clock.ENV, " 2024-02-29 ")
    assert clock.today() == dt.date(2024, 2, 29)


@pytest.mark.parametrize(
    ("value", "says"),
    [("29/02/2024", "expected a date YYYY-MM-DD"), ("2024-02-30", "expected a date")],
)
def test_a_value_that_is_not_a_date_is_refused(monkeypatch, value, says) -> None:
    monkeypatch.setenv(clock.ENV, value)
    with pytest.raises(LivingReviewError, match=f"{clock.ENV}='{value}': {says}"):
        clock.today()


def test_a_future_date_is_refused(monkeypatch) -> None:
    future = dt.date.today() + dt.timedelta(days=2)
    monkeypatch.setenv(clock.ENV, future.isoformat())
    with pytest.raises(LivingReviewError, match="cannot be dated in the future"):
        clock.today()


def _update(project: Path, value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != clock.ENV}
    if value is not None:
        env[clock.ENV] = value
    cmd = [sys.executable, "-m", "livingreview.cli", "update", "-d", str(project)]
    return subprocess.run(
        [*cmd, "--cores", "1", "--quiet"], env=env, capture_output=True, text=True, timeout=300
    )


def test_update_gives_every_job_the_date_it_read_once(tmp_path) -> None:
    (tmp_path / "Snakefile").write_text('configfile: "config.yaml"\n' + SNAKEFILE)
    (tmp_path / "config.yaml").write_text("{}\n")
    out = tmp_path / "results/date.txt"

    before = dt.date.today().isoformat()
    unset = _update(tmp_path, None)
    assert unset.returncode == 0, unset.stderr
    date = out.read_text()
    assert date in {before, dt.date.today().isoformat()}  # the run may cross midnight
    log = sorted((tmp_path / "results/logs").glob("2*.log"))[-1].read_text()
    assert f"run date {date} ({clock.ENV})" in log

    out.unlink()
    pinned = _update(tmp_path, "2025-01-31")
    assert pinned.returncode == 0, pinned.stderr
    assert out.read_text() == "2025-01-31"


def test_update_with_a_bad_date_exits_2_before_snakemake_runs(tmp_path) -> None:
    (tmp_path / "Snakefile").write_text('configfile: "config.yaml"\n' + SNAKEFILE)
    (tmp_path / "config.yaml").write_text("{}\n")
    bad = _update(tmp_path, "tomorrow")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        f"livingreview update: environment variable {clock.ENV}='tomorrow': "
        "expected a date YYYY-MM-DD"
    )
    assert not (tmp_path / "results").exists()
