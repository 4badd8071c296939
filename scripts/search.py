"""Snakemake adapter: fetch today's PubMed snapshot into the store (live mode only)."""

import datetime as dt

from livingreview.adapter import logged
from livingreview.pubmed import (
    DEFAULT_EUTILS,
    DEFAULT_MAX_RETRY_AFTER,
    PubMedClient,
    run_search,
    write_search_marker,
)

sm = snakemake  # noqa: F821 (injected by Snakemake)
with logged(sm.log[0], "search") as log:
    cfg = sm.params.search
    client = PubMedClient.from_env(
        cfg.get("eutils_url") or DEFAULT_EUTILS,
        email=cfg.get("email"),
        tool=cfg.get("tool") or "livingreview",
        timeout=float(cfg.get("timeout_s", 60)),
        max_retries=int(cfg.get("max_retries", 6)),
        max_retry_after=float(cfg.get("max_retry_after_s", DEFAULT_MAX_RETRY_AFTER)),
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
