"""Snakemake never owns a snapshot (issue 14): real runs of the search rules in a tmp copy.

The search job writes today's snapshot into the append-only store itself and
declares only a marker under ``results/``. A failing job, a params change and
a same-day rerun must each leave every completed snapshot byte-identical.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fake_eutils import SMALL_TEMPLATE_FILES, FakeEutils, make_corpus

from livingreview import clock
from livingreview.io import read_json
from livingreview.search.files import search_marker
from livingreview.search.pubmed import PubMedClient
from livingreview.search.records import read_records
from livingreview.search.snapshots import run_search

TODAY = clock.today()
EARLIER = TODAY - dt.timedelta(days=5)
KEY = "SECRET-wf-key-3141"
SNAKEFILE = """
configfile: "config.yaml"
include: "workflow/rules/search.smk"
"""


def store(root: Path) -> dict[str, bytes]:
    """Every file of the snapshot store (hidden and .partial files aside)."""
    folder = root / "search" / "pubmed"
    return {p.name: p.read_bytes() for p in sorted(folder.glob("[!.]*")) if p.is_file()}


@pytest.fixture()
def project(repo: Path, shared: Path, tmp_path: Path):
    """A workflow copy, a store holding one earlier snapshot, and a fake E-utilities."""
    corpus = make_corpus(30, TODAY - dt.timedelta(days=20), TODAY, first_pmid=43_000_000)
    with FakeEutils(
        shared / "fixtures" / "pubmed", corpus, template_files=SMALL_TEMPLATE_FILES
    ) as fake:
        root = tmp_path / "root"
        client = PubMedClient(fake.base_url, rate=0)
        run_search(
            client,
            root / "search" / "pubmed",
            "test[tiab]",
            start_date=TODAY - dt.timedelta(days=30),
            until=EARLIER,
        )
        work = tmp_path / "wf"
        (work / "workflow/rules").mkdir(parents=True)
        shutil.copy(repo / "workflow/rules/search.smk", work / "workflow/rules/search.smk")
        shutil.copytree(repo / "scripts", work / "scripts")
        (work / "Snakefile").write_text(SNAKEFILE)
        (work / "config.yaml").write_text(
            f"inputs: {{root: {root}}}\ndedup: {{title_similarity: 95}}\n"
            f"search: {{mode: live, eutils_url: '{fake.base_url}', query: 'test[tiab]', "
            f"start_date: '{TODAY - dt.timedelta(days=30)}', email: t@example.org, "
            "tool: livingreview, batch_size: 10, use_mdat: false, max_retries: 1, timeout_s: 5, "
            "max_retry_after_s: 60}\n"
        )
        fake.requests.clear()
        yield work, root, fake


def snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    return subprocess.run(
        [str(exe), "results/records/records.csv", "--cores", "1", "--resources", "ncbi=1", *args],
        cwd=work,
        capture_output=True,
        text=True,
        env={**os.environ, "NCBI_API_KEY": KEY},
        timeout=300,
    )


def test_search_job_never_owns_a_snapshot(project) -> None:
    work, root, fake = project
    earlier = store(root)
    assert set(earlier) == {f"{EARLIER}.xml.gz", f"{EARLIER}.json"}

    # The live run: today's snapshot lands in the store, the marker under results/.
    first = snakemake(work)
    assert first.returncode == 0, first.stderr
    marker = work / search_marker(TODAY.isoformat())
    assert read_json(marker)["snapshot"] == f"{TODAY}.xml.gz"
    after_first = store(root)
    assert set(after_first) == set(earlier) | {f"{TODAY}.xml.gz", f"{TODAY}.json"}
    assert all(after_first[k] == v for k, v in earlier.items())
    # build_records saw the new snapshot: every record of the corpus is in the table.
    assert len(read_records(work / "results/records/records.csv")) == 30
    assert any(
        str(TODAY) == s["until"]
        for s in read_json(work / "results/records/summary.json")["snapshots"]
    )
    fetches = fake.count("efetch")

    # Same-day rerun: nothing to do, nothing touched.
    again = snakemake(work)
    assert again.returncode == 0 and "Nothing to be done" in again.stderr, again.stderr
    assert store(root) == after_first

    # A params change reruns the job: it finds today's snapshot complete and fetches nothing.
    cfg = (work / "config.yaml").read_text()
    (work / "config.yaml").write_text(cfg.replace("batch_size: 10", "batch_size: 7"))
    changed = snakemake(work)
    assert changed.returncode == 0, changed.stderr
    assert "search_pubmed" in changed.stderr
    assert store(root) == after_first and fake.count("efetch") == fetches

    # A failing job (here: the key refused over plain http to another host), forced to run.
    (work / "config.yaml").write_text(
        cfg.replace(fake.base_url, "http://eutils.example.org/entrez/eutils/")
    )
    failed = snakemake(work, "--forcerun", "search_pubmed")
    assert failed.returncode != 0
    assert store(root) == after_first
    log = (work / f"results/logs/search/pubmed-{TODAY}.log").read_text()
    assert "refusing to send NCBI_API_KEY over plain http" in failed.stderr + log
    assert KEY not in failed.stderr + failed.stdout + log
    assert not marker.exists()  # Snakemake removed the failed job's output: only the marker


def test_failing_search_leaves_the_store_as_it_was(project) -> None:
    work, root, fake = project
    earlier = store(root)
    fake.fault("500", "efetch", times=100)
    failed = snakemake(work)
    assert failed.returncode != 0
    assert store(root) == earlier  # no snapshot for today, the earlier one untouched
    assert (root / "search/pubmed/.partial/plan.json").exists()  # resumable
    fake.faults.clear()
    resumed = snakemake(work)
    assert resumed.returncode == 0, resumed.stderr
    assert all(store(root)[k] == v for k, v in earlier.items())
    assert len(read_records(work / "results/records/records.csv")) == 30
