"""Shared test fixtures: where the repository and ../shared live."""

from __future__ import annotations

from pathlib import Path

import pytest

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
