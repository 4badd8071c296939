"""The adapters' one logging and error wrapper (livingreview.adapter, issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from livingreview.adapter import logged, scrub

REPO = Path(__file__).resolve().parents[1]


def test_a_failing_stage_leaves_its_traceback_in_the_log_and_still_fails(tmp_path: Path) -> None:
    log = tmp_path / "stage.log"
    log.write_text("an older run's log\n")
    with pytest.raises(ValueError, match="bad cell"):
        with logged(log, "screening") as logger:
            logger.info("read 3 sheets")
            raise ValueError("bad cell")
    text = log.read_text()
    assert "older run" not in text  # each run overwrites its log
    assert "INFO livingreview.screening: read 3 sheets" in text
    assert "ERROR livingreview.screening: screening failed" in text
    assert "Traceback" in text and "ValueError: bad cell" in text


def test_secrets_never_reach_a_log(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NCBI_API_KEY", "k3y-v4lue-0123")
    log = tmp_path / "search.log"
    with pytest.raises(RuntimeError):
        with logged(log, "search") as logger:
            logger.info("GET https://e/esearch.fcgi?db=pubmed&api_key=abcdef&term=x")
            raise RuntimeError("rejected key k3y-v4lue-0123")
    text = log.read_text()
    assert "abcdef" not in text and "k3y-v4lue-0123" not in text
    assert "api_key=***" in text and "rejected key ***" in text
    assert scrub("token=xyz&a=1 password=p") == "token=***&a=1 password=***"


def test_every_adapter_runs_in_the_wrapper() -> None:
    """One shape for every scripts/ adapter: no hand-written logging set-up left."""
    for script in sorted((REPO / "scripts").glob("*.py")):
        text = script.read_text(encoding="utf-8")
        assert "with logged(" in text, script.name
        assert "basicConfig" not in text and "logging.exception" not in text, script.name
