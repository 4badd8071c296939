"""The search stage's entry point (rule ``search_pubmed``, live mode only).

The stage shape of ``docs/contracts.md``: settings parsed once from the rule's
params, ``run`` fetches today's snapshot, ``write`` writes the rule's marker.
Unlike other stages, ``run`` writes while it runs: the snapshot streams into
the store batch by batch (so a failed run resumes) and is committed by
:func:`~livingreview.search.snapshots.write_snapshot`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .pubmed import PubMedClient
from .snapshots import run_search, write_search_marker


@dataclass(frozen=True)
class SearchSettings:
    """The ``search`` section (defaults from the schema), the search date and the store folder."""

    eutils_url: str
    query: str
    start_date: dt.date
    until: dt.date
    snapshot_dir: Path
    email: str | None
    tool: str
    timeout_s: float
    max_retries: int
    max_retry_after_s: float
    use_mdat: bool
    batch_size: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SearchSettings:
        """From the rule's params: ``search`` (validated section), ``until``, ``snapshot_dir``."""
        cfg = params["search"]
        return cls(
            eutils_url=str(cfg["eutils_url"]),
            query=" ".join(str(cfg["query"]).split()),  # YAML folding leaves runs of spaces
            start_date=dt.date.fromisoformat(str(cfg["start_date"])),
            until=dt.date.fromisoformat(str(params["until"])),
            snapshot_dir=Path(params["snapshot_dir"]),
            email=cfg["email"],
            tool=str(cfg["tool"]),
            timeout_s=float(cfg["timeout_s"]),
            max_retries=int(cfg["max_retries"]),
            max_retry_after_s=float(cfg["max_retry_after_s"]),
            use_mdat=bool(cfg["use_mdat"]),
            batch_size=int(cfg["batch_size"]),
        )

    def client(self) -> PubMedClient:
        """An E-utilities client; the API key comes from ``NCBI_API_KEY`` only."""
        return PubMedClient.from_env(
            self.eutils_url,
            email=self.email,
            tool=self.tool,
            timeout=self.timeout_s,
            max_retries=self.max_retries,
            max_retry_after=self.max_retry_after_s,
        )


@dataclass(frozen=True)
class SearchResult:
    """The completed snapshot of ``until`` (fetched now, or already in the store)."""

    snapshot: Path


def run(
    settings: SearchSettings,
    inputs: Mapping[str, Any] | None = None,
    *,
    client: PubMedClient | None = None,
) -> SearchResult:
    """Fetch everything new since the last completed snapshot (the rule has no inputs).

    ``client`` replaces the one the settings make (tests pass one with no
    rate limit and no sleeping).
    """
    snapshot = run_search(
        client or settings.client(),
        settings.snapshot_dir,
        settings.query,
        start_date=settings.start_date,
        until=settings.until,
        use_mdat=settings.use_mdat,
        batch_size=settings.batch_size,
    )
    return SearchResult(snapshot)


def write(result: SearchResult, outputs: Mapping[str, Any]) -> None:
    """The rule's ``marker``: which snapshot this search date produced."""
    write_search_marker(outputs["marker"], result.snapshot)
