"""Which server process runs a lab: an expiring lease.

With several processes (``REDIS_URL`` set), each lab is run by exactly one of
them, the one holding its lease in Redis: the key ``coordlab:lease:<lab id>``
holds the owner's channel-layer channel (where commands for the lab are sent)
and expires unless the owner renews it. When an owner dies its leases run out
within ``ttl_ms``, and a process whose viewers watch the lab claims it and
resumes it from its latest snapshot. With one process, it owns every lab.
"""

from __future__ import annotations

from typing import Protocol

LEASE_TTL_MS = 5_000
RENEW_EVERY_S = 1.5
PREFIX = "coordlab:lease:"
# Extend the lease only if we still hold it (a compare-and-set, atomic in Redis).
RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class Leases(Protocol):
    me: str

    async def claim(self, lab_id: str) -> bool:
        """Take the lab if nobody holds it (or we already do); True if ours."""

    async def renew(self, lab_ids: list[str]) -> list[str]:
        """Extend our leases; returns the labs we no longer hold."""

    async def owner(self, lab_id: str) -> str | None:
        """The channel of the lab's owner, or None if nobody holds it."""

    async def release(self, lab_id: str) -> None:
        """Give the lab up (a clean shutdown or a lab put away)."""


class LocalLeases:
    """One process: it owns everything."""

    def __init__(self, me: str) -> None:
        self.me = me

    async def claim(self, lab_id: str) -> bool:
        return True

    async def renew(self, lab_ids: list[str]) -> list[str]:
        return []

    async def owner(self, lab_id: str) -> str | None:
        return self.me

    async def release(self, lab_id: str) -> None:
        return None


class RedisLeases:
    """Leases shared by every process through Redis."""

    def __init__(self, url: str, me: str, ttl_ms: int = LEASE_TTL_MS) -> None:
        import redis.asyncio

        self.redis = redis.asyncio.Redis.from_url(url, decode_responses=True)
        self.me = me
        self.ttl_ms = ttl_ms

    async def claim(self, lab_id: str) -> bool:
        key = PREFIX + lab_id
        if await self.redis.set(key, self.me, nx=True, px=self.ttl_ms):
            return True
        return bool(await self.redis.eval(RENEW, 1, key, self.me, self.ttl_ms))

    async def renew(self, lab_ids: list[str]) -> list[str]:
        lost = []
        for lab_id in lab_ids:
            if not await self.redis.eval(RENEW, 1, PREFIX + lab_id, self.me, self.ttl_ms):
                lost.append(lab_id)
        return lost

    async def owner(self, lab_id: str) -> str | None:
        value = await self.redis.get(PREFIX + lab_id)
        return None if value is None else str(value)

    async def release(self, lab_id: str) -> None:
        await self.redis.eval(RELEASE, 1, PREFIX + lab_id, self.me)

    async def close(self) -> None:
        await self.redis.aclose()
