"""Benchmark: fetch + parse 50,000 PubMed records from the fake E-utilities server.

Run by hand (not a test):  .venv/bin/python bench/bench_pubmed.py [n_records] [batch_size]

The fake server (tests/fake_eutils.py, real PubmedArticle records from
../shared/fixtures/pubmed with rewritten PMIDs) runs in a separate process so
the peak RSS measured here is the client's alone. No rate limit (rate=0).
Reported: wall time of run_search (esearch + efetch batches + validation +
snapshot assembly), parse_efetch throughput over the finished snapshot, and
peak RSS (ru_maxrss) of this process.
Targets (issue 3): >= 2,000 records/s parsed, < 500 MB peak RSS.
"""

from __future__ import annotations

import datetime as dt
import gzip
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fake_eutils import FakeEutils, make_corpus  # noqa: E402

from livingreview.search.pubmed import PubMedClient  # noqa: E402
from livingreview.search.pubmed_xml import parse_efetch  # noqa: E402
from livingreview.search.snapshots import run_search  # noqa: E402


def serve(n: int, conn) -> None:
    corpus = make_corpus(n, dt.date(2015, 1, 1), dt.date(2024, 12, 31))
    with FakeEutils(REPO.parent / "shared" / "fixtures" / "pubmed", corpus) as fake:
        conn.send(fake.base_url)
        conn.recv()  # wait until the client is done


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    parent, child = mp.Pipe()
    server = mp.Process(target=serve, args=(n, child), daemon=True)
    server.start()
    base_url = parent.recv()
    with tempfile.TemporaryDirectory() as tmp:
        client = PubMedClient(base_url, rate=0, timeout=120)
        t0, c0 = time.perf_counter(), time.process_time()
        snap = run_search(
            client,
            tmp,
            "bench",
            start_date=dt.date(2015, 1, 1),
            until=dt.date(2025, 1, 1),
            use_mdat=False,
            batch_size=batch,
        )
        fetch_s, fetch_cpu = time.perf_counter() - t0, time.process_time() - c0
        xml_bytes = sum(len(b) for b in iter(gzip.open(snap).read1, b""))  # streamed, not held
        t1, c1 = time.perf_counter(), time.process_time()
        count = sum(1 for _ in parse_efetch(snap))
        parse_s, parse_cpu = time.perf_counter() - t1, time.process_time() - c1
        gz_mb = snap.stat().st_size / 1e6
    parent.send("done")
    server.join(5)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"records: {count} (requests: {client.requests_made}, batch {batch})")
    print(
        f"snapshot: {xml_bytes / 1e6:.0f} MB XML, {gz_mb:.0f} MB gzip "
        f"({xml_bytes / count / 1e3:.1f} kB/record)"
    )
    print(
        f"run_search (fetch+validate+assemble): {fetch_s:.1f} s wall = {count / fetch_s:,.0f} "
        f"records/s; client CPU {fetch_cpu:.1f} s = {count / fetch_cpu:,.0f} records/s"
    )
    print(
        f"parse_efetch over the snapshot: {parse_s:.1f} s wall = {count / parse_s:,.0f} "
        f"records/s; CPU {parse_cpu:.1f} s = {count / parse_cpu:,.0f} records/s"
    )
    print(f"load average at end: {os.getloadavg()}")
    print(f"peak RSS (client process): {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
