"""Shared fixtures."""

from __future__ import annotations

import pytest
import pytest_asyncio

from coordlab import floodgate
from coordlab.consumers import ADDRESSES, SESSIONS
from coordlab.labs.runtime import get_runtime, stop_runtime


@pytest.fixture(autouse=True)
def fresh_budgets():
    """Every test starts with full command budgets and no bans (they are per process, and in
    tests every socket comes from the same address)."""
    SESSIONS.buckets.clear()
    ADDRESSES.buckets.clear()
    floodgate.forget()


@pytest_asyncio.fixture
async def runtime():
    """The event loop's lab runtime, stopped after the test."""
    yield await get_runtime()
    await stop_runtime()


def pytest_collection_modifyitems(config, items):
    """Run browser tests last: Playwright's sync API keeps an event loop
    running in the main thread for the whole session, and asyncio tests
    cannot start their own loop while it runs."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)
