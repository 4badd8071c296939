"""The file contract (livingreview.contract) is light and is the one list everybody reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from livingreview import contract
from livingreview.analysis import strata
from livingreview.publish import bundle

REPO = Path(__file__).resolve().parents[1]


def test_contract_imports_nothing_heavy() -> None:
    """Snakemake imports it while building the DAG: no pandas, numpy or matplotlib."""
    code = (
        "import sys, livingreview.contract; "
        "print(sorted({'pandas', 'numpy', 'matplotlib', 'scipy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_per_stratum_files_with_and_without_funnel() -> None:
    small = contract.stratum_files(9, min_k_funnel=10)
    large = contract.stratum_files(10, min_k_funnel=10)
    assert set(large) - set(small) == {"egger.json", "funnel.svg", "funnel.png"}
    assert set(large) == set(contract.STRATUM_FILES)
    assert "data.csv" in small and "forest.png" in small


def test_strata_and_bundle_read_the_contract() -> None:
    """One copy: the names strata and bundle use are the contract's objects."""
    assert strata.STRATUM_PATTERN is contract.STRATUM_PATTERN
    assert strata.parse_stratum is contract.parse_stratum
    assert bundle.STRATUM_FILES is contract.STRATUM_FILES
    assert bundle.BUNDLE_FILES is contract.BUNDLE_FILES


def test_no_rule_or_script_lists_stratum_files_itself() -> None:
    """The per-stratum file names appear in the rules and adapters only through the contract."""
    names = ("pooled.json", "loo.csv", "influence.csv", "egger.json", "funnel.png", "funnel.svg")
    for path in [*(REPO / "workflow" / "rules").glob("*.smk"), *(REPO / "scripts").glob("*.py")]:
        text = path.read_text(encoding="utf-8")
        assert not [n for n in names if f"/{n}" in text or f'"{n}"' in text], path


def test_published_config_leaves_out_the_run_keys() -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text(encoding="utf-8"))
    published = contract.published_config(config)
    for section, key in contract.RUN_KEYS:
        assert key in config[section]  # the keys exist, so leaving them out is real
        assert key not in published[section]
    assert published["search"]["query"] == config["search"]["query"]
    assert published["analysis"] == config["analysis"]
    assert "email" in config["search"]  # the input was not modified


def test_no_script_reads_snakemake_config() -> None:
    """Every rule passes what it uses as params (ARCHITECTURE.md, "Incremental equals clean")."""
    offenders = [
        p.name
        for p in (REPO / "scripts").glob("*.py")
        if "snakemake.config" in p.read_text(encoding="utf-8")
        or ".config[" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_several_effects_per_trial_from_the_strata_index() -> None:
    """Which strata get analysis.dependence as params (common.smk): k effects > trials."""
    assert contract.several_effects_per_trial({"k": 23, "n_studies": 8}) is True
    assert contract.several_effects_per_trial({"k": 8, "n_studies": 8}) is False
