"""Who is watching, across server processes sharing Redis."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest
import redis.asyncio

from coordlab import roster

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/6"


async def test_the_list_of_who_watches_spans_every_process(settings):
    settings.COORDLAB_REDIS_URL = REDIS_URL
    lab = "roster-" + secrets.token_hex(4)
    other = redis.asyncio.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        await other.set(f"{roster.PREFIX}{lab}:another-process", json.dumps(["Linus"]), ex=30)
        roster.arrive(lab, 1, "Grace")
        roster.arrive(lab, 2, "")
        assert await roster.names(lab) == ["Grace", "Linus", "anonymous"]
        await asyncio.sleep(0.1)
        mine = await other.get(f"{roster.PREFIX}{lab}:{roster._process}")
        assert sorted(json.loads(mine)) == ["Grace", "anonymous"], "the other processes can read ours"
        roster.depart(lab, 1)
        roster.depart(lab, 2)
        await asyncio.sleep(0.1)
        assert await other.get(f"{roster.PREFIX}{lab}:{roster._process}") is None
        await other.delete(f"{roster.PREFIX}{lab}:another-process")
        assert await roster.names(lab) == []
    finally:
        await other.aclose()
        for loop, (client, task) in list(roster._shared.items()):
            task.cancel()
            await client.aclose()
            del roster._shared[loop]
