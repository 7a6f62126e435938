"""Who is watching each lab: a display name per open socket, for the instructor's
"who is watching" list.

Each process knows its own sockets. With Redis (several processes), each process
also keeps its viewers' names of each lab under ``coordlab:watching:<lab>:<process>``
(refreshed every ``REFRESH_S``, gone ``EXPIRE_S`` after its process dies), and the
list is the union over processes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from django.conf import settings

PREFIX = "coordlab:watching:"
REFRESH_S = 10.0
EXPIRE_S = 30

_watching: dict[str, dict[int, str]] = {}
_process = uuid.uuid4().hex
_shared: dict[asyncio.AbstractEventLoop, tuple[Any, asyncio.Task[None]]] = {}
_writes: set[asyncio.Task[None]] = set()


def arrive(lab_id: str, key: int, name: str) -> None:
    _watching.setdefault(lab_id, {})[key] = name
    _share_soon(lab_id)


def depart(lab_id: str, key: int) -> None:
    viewers = _watching.get(lab_id)
    if viewers is not None:
        viewers.pop(key, None)
        if not viewers:
            del _watching[lab_id]
    _share_soon(lab_id)


def local_names(lab_id: str) -> list[str]:
    return [name or "anonymous" for name in _watching.get(lab_id, {}).values()]


async def names(lab_id: str) -> list[str]:
    """Display names of everyone watching, sorted ("anonymous" for viewers without one)."""
    redis = _redis()
    if redis is None:
        return sorted(local_names(lab_id))
    everyone = list(local_names(lab_id))
    async for key in redis.scan_iter(match=f"{PREFIX}{lab_id}:*"):
        if not str(key).endswith(":" + _process):
            stored = await redis.get(key)
            everyone.extend(json.loads(stored) if stored else [])
    return sorted(everyone)


# -- sharing through Redis -------------------------------------------------------------------


def _redis() -> Any:
    if not settings.COORDLAB_REDIS_URL:
        return None
    loop = asyncio.get_running_loop()
    if loop not in _shared:
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(settings.COORDLAB_REDIS_URL, decode_responses=True,
                                              **settings.COORDLAB_REDIS_OPTIONS)
        _shared[loop] = (client, loop.create_task(_refresh(client)))
    return _shared[loop][0]


async def _write(client: Any, lab_id: str) -> None:
    key = f"{PREFIX}{lab_id}:{_process}"
    if lab_id in _watching:
        await client.set(key, json.dumps(local_names(lab_id)), ex=EXPIRE_S)
    else:
        await client.delete(key)


def _share_soon(lab_id: str) -> None:
    try:
        client = _redis()
    except RuntimeError:  # no running loop (a test calling from sync code)
        return
    if client is not None:
        task = asyncio.get_running_loop().create_task(_write(client, lab_id))
        _writes.add(task)
        task.add_done_callback(_writes.discard)


async def _refresh(client: Any) -> None:
    while True:
        await asyncio.sleep(REFRESH_S)
        for lab_id in list(_watching):
            try:
                await _write(client, lab_id)
            except Exception:  # Redis is away for a moment: the next refresh tries again
                break
