"""Shared test fixtures: where the repository and ../shared live.

The run date is pinned for the whole session (``LIVINGREVIEW_TODAY``, which
every workflow subprocess inherits): a suite that crosses midnight would
otherwise compare a version dated one day with one dated the next.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from livingreview import clock

os.environ.setdefault(clock.ENV, dt.date.today().isoformat())

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared() -> Path:
    """The public fixtures (``../shared/fixtures``); a missing folder fails in one line."""
    if not (SHARED / "fixtures").is_dir():
        pytest.fail(
            f"{SHARED / 'fixtures'} is missing: the public test fixtures are expected in "
            "../shared beside the repository (see README, 'The two commands')",
            pytrace=False,
        )
    return SHARED
