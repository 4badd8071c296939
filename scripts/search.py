"""Snakemake adapter: fetch today's PubMed snapshot into the store (live mode only)."""

import datetime as dt

from livingreview.adapter import logged
from livingreview.search.pubmed import PubMedClient
from livingreview.search.snapshots import run_search, write_search_marker

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0], "search"):
    cfg = sm.params.search
    client = PubMedClient.from_env(
        cfg["eutils_url"],  # required; the retry and time-out defaults are in the schema
        email=cfg["email"],
        tool=cfg["tool"],
        timeout=float(cfg["timeout_s"]),
        max_retries=int(cfg["max_retries"]),
        max_retry_after=float(cfg["max_retry_after_s"]),
    )
    snapshot = run_search(
        client,
        sm.params.snapshot_dir,
        " ".join(str(cfg["query"]).split()),
        start_date=dt.date.fromisoformat(str(cfg["start_date"])),
        until=dt.date.fromisoformat(sm.params.until),
        use_mdat=bool(cfg["use_mdat"]),  # default in the config schema
        batch_size=int(cfg["batch_size"]),
    )
    write_search_marker(sm.output.marker, snapshot)
