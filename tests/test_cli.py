"""`livingreview update` under cron: one run at a time, resumes after a kill, says "no change"."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livingreview import cli

SNAKEFILE = """
rule all:
    input: "results/slow.txt"

rule slow:
    output: "results/slow.txt"
    log: "results/logs/slow.log"
    shell: "echo partial > {output}; sleep {config[sleep]}; echo done > {output}"
"""


def _project(tmp_path: Path, sleep: int) -> Path:
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "config.yaml").write_text(f"sleep: {sleep}\n")
    (tmp_path / "Snakefile").write_text('configfile: "config.yaml"\n' + SNAKEFILE)
    return tmp_path


def _update(project: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "livingreview.cli",
            "update",
            "-d",
            str(project),
            "--cores",
            "1",
            "--quiet",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _wait_for(path: Path, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < end, f"{path} never appeared"
        time.sleep(0.1)


def test_second_concurrent_update_exits_75(tmp_path):
    project = _project(tmp_path, sleep=4)
    first = _update(project)
    _wait_for(project / "results" / "slow.txt")  # the first run is inside its job now
    second = _update(project)
    out2, err2 = second.communicate(timeout=60)
    assert second.returncode == cli.EXIT_LOCKED == 75
    assert "another update is running" in err2
    out1, err1 = first.communicate(timeout=120)
    assert first.returncode == 0, err1
    assert (project / "results" / "slow.txt").read_text() == "done\n"
    assert "results:" in out1
    logs = list((project / "results" / "logs").glob("*.log"))
    assert any("rule slow" in p.read_text() for p in logs)


def test_killed_run_resumes_and_then_reports_no_change(tmp_path):
    project = _project(tmp_path, sleep=30)
    run = _update(project)
    _wait_for(project / "results" / "slow.txt")
    os.killpg(run.pid, signal.SIGKILL)  # cron job killed mid-way: snakemake dies too
    run.wait(timeout=30)
    assert (project / "results" / "slow.txt").read_text() == "partial\n"
    (project / "config.yaml").write_text("sleep: 0\n")
    again = _update(project)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert (project / "results" / "slow.txt").read_text() == "done\n"  # incomplete job rerun
    third = _update(project)
    out, err = third.communicate(timeout=120)
    assert third.returncode == 0 and out.startswith("no change"), (out, err)


def test_failed_workflow_exits_1_and_names_the_log(tmp_path):
    (tmp_path / "Snakefile").write_text('rule all:\n    output: "x"\n    shell: "exit 3"\n')
    run = _update(tmp_path)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1
    assert "the workflow failed" in err and "results/logs/" in err


def test_verify_cli_exit_codes(tmp_path, capsys):
    from results_fixture import CONFIG, make_results

    from livingreview import bundle

    results = make_results(tmp_path, n_studies=3)
    b = bundle.publish(results, results / "bundles", CONFIG, date="2026-11-21").path
    assert cli.main(["verify", str(b)]) == 0
    assert "all checksums match" in capsys.readouterr().out
    (b / "effects.csv").chmod(0o644)
    (b / "effects.csv").write_text("changed\n")
    assert cli.main(["verify", str(b)]) == 1
    assert "effects.csv: sha256" in capsys.readouterr().err


def test_help_documents_examples_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "livingreview update --cores 2" in text and "75  another" in text


def test_update_with_a_profile_leaves_the_cores_to_it(tmp_path, monkeypatch):
    """On a cluster the login node's core count must not reach the cluster jobs."""
    from livingreview import cli

    (tmp_path / "Snakefile").write_text("rule all:\n    input: []\n")
    seen = []

    def fake_run(cmd, cwd, log, echo):
        seen.append(list(cmd))
        return 0, ""

    monkeypatch.setattr(cli, "_run_logged", fake_run)
    assert cli.main(["update", "-d", str(tmp_path), "--workflow-profile", "profiles/slurm"]) == 0
    assert "--cores" not in seen[-1]
    assert seen[-1][seen[-1].index("--workflow-profile") + 1] == "profiles/slurm"
    assert cli.main(["update", "-d", str(tmp_path), "--cores", "3"]) == 0
    assert seen[-1][seen[-1].index("--cores") + 1] == "3"
