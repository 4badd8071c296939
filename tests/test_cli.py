"""`livingreview update` under cron: one run at a time, resumes after a kill, says "no change"."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from livingreview import cli, snakemake_errors, update_processes

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
    project = _project(tmp_path, sleep=12)
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

    from livingreview.publish import bundle

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

    def fake_run(cmd, cwd, log, echo, **_kw):
        seen.append(list(cmd))
        return 0, ""

    monkeypatch.setattr(cli, "_run_logged", fake_run)
    assert cli.main(["update", "-d", str(tmp_path), "--workflow-profile", "profiles/slurm"]) == 0
    assert "--cores" not in seen[-1]
    assert seen[-1][seen[-1].index("--workflow-profile") + 1] == "profiles/slurm"
    assert cli.main(["update", "-d", str(tmp_path), "--cores", "3"]) == 0
    assert seen[-1][seen[-1].index("--cores") + 1] == "3"


# --------------------------------------------------------------------------- the lock covers the whole run


def _holder(project: Path, pid: int) -> int:
    """Snakemake's pid (the child of ``livingreview update`` ``pid``), once it has started."""
    end = time.monotonic() + 30
    while not (kids := Path(f"/proc/{pid}/task/{pid}/children").read_text().split()):
        assert time.monotonic() < end, "Snakemake never started"
        time.sleep(0.1)
    return int(kids[0])


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def _wait_gone(pids, timeout: float = 90) -> None:
    end = time.monotonic() + timeout
    while any(_alive(p) for p in pids):
        assert time.monotonic() < end, f"still running: {[p for p in pids if _alive(p)]}"
        time.sleep(0.2)


def test_sigterm_of_the_update_pid_stops_snakemake_before_the_lock_is_released(tmp_path):
    project = _project(tmp_path, sleep=20)
    run = _update(project)
    _wait_for(project / "results" / "slow.txt")
    snake = _holder(project, run.pid)
    assert f"pid {run.pid} (Snakemake pid {snake})" in (project / cli.LOCK_FILE).read_text()
    os.kill(run.pid, signal.SIGTERM)  # what the lock message names: `kill <pid>`
    second = _update(project)
    out2, err2 = second.communicate(timeout=60)
    assert second.returncode == cli.EXIT_LOCKED, (out2, err2)  # not run beside it
    out, err = run.communicate(timeout=90)
    assert run.returncode == 128 + signal.SIGTERM, err
    assert "stopped by SIGTERM" in err
    assert not _alive(snake)  # livingreview waited for Snakemake
    with pytest.raises(ProcessLookupError):
        os.killpg(run.pid, 0)  # nothing of the run is left in its process group
    assert (project / "results" / "slow.txt").read_text() == "done\n"  # job finished, not cut
    again = _update(project)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0 and out.startswith("no change"), (out, err)


def test_sigkill_of_the_update_pid_keeps_the_lock_until_snakemake_ends(tmp_path):
    project = _project(tmp_path, sleep=20)
    run = _update(project)
    _wait_for(project / "results" / "slow.txt")
    snake = _holder(project, run.pid)
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=30)
    assert _alive(snake)  # Snakemake goes on: it inherited the locked file
    second = _update(project)
    out2, err2 = second.communicate(timeout=60)
    assert second.returncode == cli.EXIT_LOCKED, (out2, err2)
    assert f"Snakemake pid {snake}" in err2
    assert (project / ".snakemake" / "locks").is_dir() and any(
        (project / ".snakemake" / "locks").iterdir()
    )  # Snakemake's own lock was not removed under it
    _wait_gone([snake])
    assert (project / "results" / "slow.txt").read_text() == "done\n"
    third = _update(project)
    out, err = third.communicate(timeout=120)
    assert third.returncode == 0 and out.startswith("no change"), (out, err)


def test_no_unlock_while_a_job_of_a_killed_snakemake_still_runs(tmp_path):
    """Snakemake killed alone leaves its lock and a running job: that lock is not stale."""
    project = _project(tmp_path, sleep=20)
    snakefile = (project / "Snakefile").read_text()  # the job writes to its log, not to us
    (project / "Snakefile").write_text(snakefile.replace('shell: "', 'shell: "exec >{log} 2>&1; '))
    run = _update(project)
    _wait_for(project / "results" / "slow.txt")
    snake = _holder(project, run.pid)
    os.kill(snake, signal.SIGKILL)
    out, err = run.communicate(timeout=60)
    assert run.returncode == cli.EXIT_FAILED, err
    orphans = update_processes._run_processes(project.resolve(), exclude=os.getpid())
    assert orphans  # the job's shell and its sleep, now children of init
    second = _update(project)
    out2, err2 = second.communicate(timeout=120)
    assert second.returncode == cli.EXIT_LOCKED, (out2, err2)
    assert "processes of a previous update" in err2 and str(orphans[0]) in err2
    assert any((project / ".snakemake" / "locks").iterdir())  # kept
    _wait_gone(orphans)
    third = _update(project)
    out3, err3 = third.communicate(timeout=120)
    assert third.returncode == 0, (out3, err3)  # now the lock is stale: removed, job rerun
    assert (project / "results" / "slow.txt").read_text() == "done\n"


# --------------------------------------------------------------------------- messages

FAILING_JOB = """
rule all:
    output: "results/x.txt"
    log: "results/logs/x.log"
    script: "job.py"
"""
JOB = """
from livingreview.errors import InputError, InputErrors
raise InputErrors([
    InputError("resources/a.csv", "a number", row=3, column="n", got="7_69"),
    InputError("resources/b.csv", "yes or no", row=4, column="d", got="maybe"),
])
"""
MESSAGE = [
    "2 problem(s) in input files:",
    "  resources/a.csv, row 3, column 'n': expected a number, got '7_69'",
    "  resources/b.csv, row 4, column 'd': expected yes or no, got 'maybe'",
]


@pytest.mark.parametrize("quiet", [True, False])
def test_bad_input_exits_2_with_the_file_row_column_lines_last(tmp_path, quiet):
    (tmp_path / "Snakefile").write_text(FAILING_JOB)
    (tmp_path / "job.py").write_text(JOB)
    cmd = [sys.executable, "-m", "livingreview.cli", "update", "-d", str(tmp_path), "-c", "1"]
    proc = subprocess.run([*cmd, *(["--quiet"] if quiet else [])], capture_output=True, text=True)
    assert proc.returncode == cli.EXIT_USAGE == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[-3:] == MESSAGE  # what cron mails end with
    assert len(lines) == 4 and "bad input, nothing was published" in lines[0]
    assert "Traceback" not in proc.stderr
    log = next((tmp_path / "results" / "logs").glob("[0-9]*T[0-9]*.log")).read_text()
    assert "Traceback" in log and MESSAGE[1] in log  # the traceback stays in the log
    if quiet:
        assert proc.stdout == ""


def test_other_pipeline_errors_exit_1_with_their_message_last(tmp_path):
    (tmp_path / "Snakefile").write_text(FAILING_JOB)
    (tmp_path / "job.py").write_text(
        "from livingreview.search.errors import FetchFailedError\n"
        "raise FetchFailedError('efetch failed 3 times: HTTP 500')\n"
    )
    run = _update(tmp_path)
    out, err = run.communicate(timeout=120)
    assert run.returncode == cli.EXIT_FAILED
    assert err.splitlines()[-1] == "efetch failed 3 times: HTTP 500"


def test_input_error_lines_ignore_what_is_not_ours():
    text = "\n".join(
        [
            "builtins.ValueError: no",
            "livingreview.nosuchmodule.Error: no",
            "livingreview.errors.InputError: f.csv, row 2, column 'x': expected y",
            "RuleException:",
            "livingreview.errors.InputError: f.csv, row 2, column 'x': expected y",  # twice
        ]
    )
    assert snakemake_errors.input_error_lines(text) == (
        ["f.csv, row 2, column 'x': expected y"],
        True,
    )


REPO = Path(__file__).resolve().parents[1]


def test_config_error_of_the_real_workflow_exits_2_naming_the_key(tmp_path):
    for item in ("Snakefile", "workflow", "config", "scripts", "profiles"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / item)
    run = _update(tmp_path, "--config", "analysis.min_k=x")  # a dotted key, checked by the schema
    out, err = run.communicate(timeout=180)
    assert run.returncode == 2, err
    lines = err.splitlines()
    assert "config/config.yaml" in lines[1] and "does not match" in lines[1]
    assert "On instance['analysis']['min_k']:" in lines and lines[-1].strip() == "'x'"
    assert "Traceback" not in err and "File " not in err


def test_config_check_at_start_up_exits_2_with_its_message(tmp_path):
    """A check that raises InputError while Snakemake parses the workflow (common.smk):
    a duplicated key in the config file, named by file, row and column."""
    for item in ("Snakefile", "workflow", "config", "scripts", "profiles"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / item)
    shutil.copytree(REPO / "resources" / "demo", tmp_path / "resources" / "demo")
    config = tmp_path / "config" / "config.yaml"
    text = config.read_text()
    assert "\n  min_k: 3" in text
    config.write_text(text.replace("\n  min_k: 3", "\n  min_k: 3\n  min_k: 2", 1))
    run = _update(tmp_path, "--quiet")
    out, err = run.communicate(timeout=180)
    assert run.returncode == 2, err
    lines = err.splitlines()
    assert "bad input, nothing was published" in lines[0]
    assert lines[-1].startswith("config/config.yaml, row ") and "column 'min_k'" in lines[-1]
    assert "Traceback" not in err and "File " not in err


def test_start_up_errors_that_are_not_ours_are_not_bad_input():
    text = 'NameError in file "/x/common.smk", line 3:\nname \'y\' is not defined\n  File "/x"'
    assert snakemake_errors.input_error_lines(text) == ([], False)
    text = "InputError in file \"/x/common.smk\", line 3:\nc.yaml, row 2, column 'k': expected z\n"
    assert snakemake_errors.input_error_lines(text) == (
        ["c.yaml, row 2, column 'k': expected z"],
        True,
    )


def test_status_with_a_broken_config_gives_one_line(tmp_path, capsys):
    config = tmp_path / "config" / "config.yaml"
    config.parent.mkdir()
    config.write_text("inputs:\n  root: [resources\nscreening: {}\n")
    assert cli.main(["status", "-d", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(config) in err and "row 3" in err
    config.write_text("- just\n- a list\n")
    assert cli.main(["status", "-d", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    records = tmp_path / "results" / "records" / "records.csv"
    records.parent.mkdir(parents=True)
    shutil.copy(Path(__file__).parent / "data" / "screening" / "records.csv", records)
    config.write_text("review: {title: x}\n")
    assert cli.main(["status", "-d", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'inputs' missing" in err
    config.write_text("inputs: 3\n")
    assert cli.main(["status", "-d", str(tmp_path)]) == 2
    assert "wrong type" in capsys.readouterr().err
    assert cli.main(["status", "-d", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_unwritable_lock_gives_one_line(tmp_path, capsys, monkeypatch):
    (tmp_path / "Snakefile").write_text("rule all:\n    input: []\n")
    (tmp_path / "results" / ".update.lock").mkdir(parents=True)  # not a file: cannot be opened
    run = _update(tmp_path)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 2 and err.count("\n") == 1, err
    assert "cannot open the project lock" in err and "Traceback" not in err

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))

    (tmp_path / "results" / ".update.lock").rmdir()
    monkeypatch.setattr(cli, "_open_lock", denied)
    assert cli.main(["update", "-d", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied" in err


# --------------------------------------------------------------------------- usability

DUMP_CONFIG = """
import json

configfile: "config/config.yaml"

rule all:
    output: "results/config.json"
    run:
        with open(output[0], "w") as fh:
            json.dump(config, fh, sort_keys=True)
"""


def test_dotted_config_keys_and_configfile_reach_snakemake_nested(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(
        "search: {mode: offline, email: a@b.org}\nanalysis: {min_k: 3, level: 0.95}\nname: x\n"
    )
    (tmp_path / "config" / "other.yaml").write_text("analysis: {level: 0.9}\n")
    (tmp_path / "Snakefile").write_text(DUMP_CONFIG)
    run = _update(
        tmp_path,
        "--configfile",
        "config/other.yaml",
        "--config",
        "search.mode=live",
        "analysis.min_k=2",
        "name=y",
    )
    out, err = run.communicate(timeout=120)
    assert run.returncode == 0, err
    got = json.loads((tmp_path / "results" / "config.json").read_text())
    assert got == {
        "search": {"mode": "live", "email": "a@b.org"},
        "analysis": {"min_k": 2, "level": 0.9},
        "name": "y",
    }


def test_usage_errors_exit_2_and_version(tmp_path, capsys):
    (tmp_path / "Snakefile").write_text("rule all:\n    input: []\n")
    for argv in (
        ["update", "-d", str(tmp_path), "--config", "search.mode"],  # no value
        ["update", "-d", str(tmp_path), "--config", "1bad=3"],
        ["update", "-d", str(tmp_path), "--configfile", "missing.yaml"],
        ["verify"],
        ["verify", str(tmp_path / "nothing")],
    ):
        assert cli.main(argv) == 2, argv
        assert capsys.readouterr().err.count("\n") == 1, argv
    for argv in (["frobnicate"], ["update", "--no-such-option"], []):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert (
        capsys.readouterr().out.strip()
        == f"livingreview {importlib.metadata.version('livingreview')}"
    )


def test_verify_all_cli_checks_every_version_and_the_chain(tmp_path, capsys):
    from results_fixture import CONFIG, make_results

    from livingreview.publish import bundle

    results = make_results(tmp_path, n_studies=3)
    bundle.publish(results, results / "bundles", CONFIG, date="2026-11-21")
    make_results(tmp_path, n_studies=4)
    second = bundle.publish(results, results / "bundles", CONFIG, date="2026-11-22").path
    assert cli.main(["verify", "--all", "-d", str(tmp_path)]) == 0
    assert "every version and the chain verify" in capsys.readouterr().out
    (results / "bundles" / "2026-11-21.1.zip.sha256").unlink()
    (second / "effects.csv").chmod(0o644)
    (second / "effects.csv").write_text("changed\n")
    assert cli.main(["verify", "--all", str(results / "bundles")]) == 1
    err = capsys.readouterr().err
    assert "2026-11-21.1: 2026-11-21.1.zip.sha256: missing" in err
    assert "2026-11-22.1: effects.csv: sha256" in err


def test_update_names_the_line_of_a_config_that_is_not_yaml(tmp_path):
    """Snakemake's own message names neither the file nor the line."""
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("search:\n  mode: [live\nx: 1\n")
    (tmp_path / "Snakefile").write_text(
        'configfile: "config/config.yaml"\nrule all:\n    input: []\n'
    )
    run = _update(tmp_path)
    out, err = run.communicate(timeout=120)
    assert run.returncode == 2, err
    last = err.splitlines()[-1]
    assert last.startswith(f"{tmp_path / 'config' / 'config.yaml'}, row 3: expected valid YAML")
