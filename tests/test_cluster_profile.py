"""profiles/slurm stays consistent with the workflow and with the plugin's rules.

The real proof runs on a SLURM cluster (tests/cluster/run_cluster_check.sh, a
CI stage); these fast checks catch the drift that would only show there:
a renamed rule that the profile still groups, a status setting that makes the
plugin fall back to `sacct` (which hangs without accounting), a local rule
that lost its `localrules:` declaration, or a profile key Snakemake rejects.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

SLURM_DEFAULT_MIN_JOB_AGE = 300  # seconds; slurm.conf(5)


def _profile(repo: Path) -> dict:
    return yaml.safe_load((repo / "profiles/slurm/config.yaml").read_text(encoding="utf-8"))


def _rule_names(repo: Path) -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in (repo / "workflow/rules").glob("*.smk"))
    text += (repo / "Snakefile").read_text(encoding="utf-8")
    plain = re.findall(r"^\s*(?:rule|checkpoint)\s+(\w+)\s*:", text, flags=re.M)
    derived = re.findall(r"^\s*use rule \w+ as (\w+)", text, flags=re.M)
    return set(plain) | set(derived)


def test_profile_uses_slurm_with_squeue_status_that_the_plugin_keeps(repo):
    prof = _profile(repo)
    assert prof["executor"] == "slurm"
    assert prof["slurm-status-command"] == "squeue"
    # The plugin switches squeue back to sacct when MinJobAge < 3 x this delay.
    assert 3 * prof["slurm-init-seconds-before-status-checks"] <= SLURM_DEFAULT_MIN_JOB_AGE
    # Group jobs run their jobs one at a time: a wider group would hold idle CPUs.
    assert prof["cores"] == 1


def test_every_rule_the_profile_names_exists(repo):
    prof = _profile(repo)
    rules = _rule_names(repo)
    named = set(prof.get("set-resources", {})) | set(prof.get("groups", {}))
    assert named, "the profile names no rule"
    assert named <= rules, f"profile names unknown rules: {sorted(named - rules)}"
    groups = set(prof["groups"].values())
    text = (repo / "workflow/rules/analysis.smk").read_text(encoding="utf-8")
    groups |= set(re.findall(r'group:\s*\n\s*"(\w+)"', text))
    assert set(prof["group-components"]) <= groups


def test_network_and_publishing_rules_are_local(repo):
    text = "\n".join(p.read_text(encoding="utf-8") for p in (repo / "workflow/rules").glob("*.smk"))
    local = set()
    for block in re.findall(r"localrules:\s*\n((?:\s+\w+,?\s*\n)+)", text):
        local |= set(re.findall(r"\w+", block))
    assert {"search_pubmed", "bundle", "stratify", "report"} <= local


def test_snakemake_accepts_the_profile(repo, tmp_path):
    pytest.importorskip(
        "snakemake_executor_plugin_slurm", reason="the SLURM plugin is the `cluster` extra"
    )
    for item in ("Snakefile", "workflow", "config", "scripts", "resources", "profiles"):
        src = repo / item
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp_path / item)
    exe = Path(sys.executable).parent / "snakemake"
    proc = subprocess.run(
        [str(exe), "--workflow-profile", "profiles/slurm", "-n", "--nocolor", "all"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "workflow specific profile profiles/slurm" in out
    assert "rule build_records:" in out


def test_both_profiles_limit_ncbi_calls_to_one_job(repo):
    """The NCBI rate limit holds across the workflow only if the pool is capped at 1."""
    default = yaml.safe_load((repo / "profiles/default/config.yaml").read_text(encoding="utf-8"))
    assert "ncbi=1" in default["resources"]
    assert _profile(repo)["resources"]["ncbi"] == 1
    search = (repo / "workflow/rules/search.smk").read_text(encoding="utf-8")
    assert re.search(r"rule search_pubmed:(?:\n .*)*\n\s+resources:\s*\n\s+ncbi=1", search)
