"""Lab leases in Redis: one owner at a time, renewed while alive, free once it stops."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from coordlab.labs.ownership import RedisLeases

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/0"


# The lease lasts long enough that a busy machine (two pytest workers, browsers) pausing this
# test for a moment cannot make it run out between two steps that expect it alive.
TTL_MS = 1500


async def test_one_owner_at_a_time_and_a_dead_owners_lease_runs_out():
    lab = "lease-" + secrets.token_hex(4)
    first, second = RedisLeases(REDIS_URL, "first", ttl_ms=TTL_MS), RedisLeases(REDIS_URL, "second", ttl_ms=TTL_MS)
    try:
        assert await first.claim(lab) and await first.claim(lab)  # claiming again is renewing
        assert not await second.claim(lab)
        assert await second.owner(lab) == "first"
        await asyncio.sleep(TTL_MS / 1000 / 2)
        assert await first.renew([lab]) == []
        await asyncio.sleep(TTL_MS / 1000 / 2)
        assert not await second.claim(lab), "renewed, so still the first's"
        await asyncio.sleep(TTL_MS / 1000 * 1.5)  # the first stops renewing: it died
        assert await second.owner(lab) is None
        assert await second.claim(lab)
        assert await first.renew([lab]) == [lab], "the first learns it lost the lab"
        await first.release(lab)  # not its lease any more: nothing happens
        assert await second.owner(lab) == "second"
        await second.release(lab)
        assert await first.owner(lab) is None
    finally:
        await first.close()
        await second.close()
