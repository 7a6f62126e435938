"""Frames cross a real Redis channel layer once per process, not once per viewer."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels_redis.core import RedisChannelLayer

from coordlab.labs.fanout import Fanout, Viewer, group_name

pytestmark = pytest.mark.redis

REDIS_URL = "redis://127.0.0.1:6379/0"


class Socket:
    def __init__(self):
        self.got = []

    async def __call__(self, message):
        self.got.append(message["text"])


async def test_a_frame_reaches_viewers_in_two_processes_through_redis():
    prefix = f"coordlab-test-{uuid.uuid4().hex[:8]}"

    def layer():
        return RedisChannelLayer(hosts=[REDIS_URL], prefix=prefix)

    engine_layer = layer()
    processes = [Fanout(layer()), Fanout(layer())]
    relays = [await fanout.start() for fanout in processes]
    delivered = {id(f): 0 for f in processes}
    for fanout in processes:
        original = fanout.deliver

        def counting(event, fanout=fanout, original=original):
            delivered[id(fanout)] += 1
            original(event)

        fanout.deliver = counting
    sockets = [[Socket() for _ in range(5)] for _ in processes]
    try:
        for fanout, group in zip(processes, sockets, strict=True):
            for socket in group:
                await fanout.join("lab-r", Viewer(socket))
        for seq in (1, 2):
            await engine_layer.group_send(group_name("lab-r"), {
                "type": "lab.frame", "lab": "lab-r", "seq": seq, "sent": 0.0, "fragments": [f"<p>{seq}</p>"]})
        for _ in range(100):
            if all(len(s.got) == 2 for group in sockets for s in group):
                break
            await asyncio.sleep(0.02)
        assert all([t[-8:] for t in s.got] == ["<p>1</p>", "<p>2</p>"] for group in sockets for s in group)
        assert list(delivered.values()) == [2, 2], "one message per process per frame"
    finally:
        for relay in relays:
            relay.cancel()
        for fanout in processes:
            await fanout.stop()
        await engine_layer.flush()


@pytest.mark.parametrize("options", ["settings", "defaults"])
async def test_a_relay_still_delivers_after_a_quiet_spell_longer_than_the_blocking_pop(options):
    """channels_redis waits 5 s per blocking pop. With the settings' Redis options an idle relay
    just waits on; with redis-py 8's defaults the pop ends in a TimeoutError, and the relay
    must live through it (it once died of it, silently, and its process saw no frame again)."""
    from django.conf import settings

    host = {"address": REDIS_URL, **(settings.COORDLAB_REDIS_OPTIONS if options == "settings" else {})}
    layer = RedisChannelLayer(hosts=[host], prefix=f"coordlab-test-{uuid.uuid4().hex[:8]}")
    fanout = Fanout(layer)
    relay = await fanout.start()
    socket = Socket()
    try:
        await fanout.join("lab-q", Viewer(socket))
        await asyncio.sleep(6.5)  # longer than one blocking pop
        await layer.group_send(group_name("lab-q"), {
            "type": "lab.frame", "lab": "lab-q", "seq": 1, "sent": 0.0, "fragments": ["<p>late</p>"]})
        for _ in range(150):
            if socket.got:
                break
            await asyncio.sleep(0.02)
        assert socket.got and socket.got[0].endswith("<p>late</p>")
        assert not relay.done()
    finally:
        relay.cancel()
