"""The store's own tests start from databases that do not exist yet or are empty:
opening, migrating and refusing outdated schemas is what they check."""

from __future__ import annotations

import pytest


@pytest.fixture
def sqlite_url(empty_sqlite_url: str) -> str:
    return empty_sqlite_url


@pytest.fixture
def postgres_url(empty_postgres_url: str) -> str:
    return empty_postgres_url
