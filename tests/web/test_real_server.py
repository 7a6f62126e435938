"""The real daphne server: frames over a real WebSocket, with the in-memory
layer and with Redis, and bad input that leaves the server running."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.server import running_server, start_lab, start_owned_lab


def ws_url(url: str, lab_id: str) -> str:
    return url.replace("http", "ws") + f"/ws/labs/{lab_id}/"


async def frames(url: str, lab_id: str, count: int) -> list[int]:
    async with connect(ws_url(url, lab_id), origin=url, compression=None) as socket:
        seqs = []
        while len(seqs) < count:
            text = await asyncio.wait_for(socket.recv(), 5)
            match = re.search(r'data-seq="(\d+)"', text[:200])
            if match:
                seqs.append(int(match.group(1)))
        return seqs


@pytest.mark.parametrize("layer", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_viewers_get_frames_from_the_real_server(layer):
    env = {"REDIS_URL": "redis://127.0.0.1:6379/1"} if layer == "redis" else {}
    with running_server(**env) as url:
        lab_id = start_lab(url)

        async def two_viewers():
            return await asyncio.gather(frames(url, lab_id, 10), frames(url, lab_id, 10))

        first, second = asyncio.run(two_viewers())
        assert first == sorted(first) and second == sorted(second) and len(set(first)) == 10


def test_a_huge_message_closes_its_socket_unread_and_the_server_keeps_serving():
    """daphne refuses a message larger than a command may be (1009, "message too big") as
    soon as it reads the frame's length, before it holds the payload in memory."""
    with running_server() as url:
        lab_id, cookie = start_owned_lab(url)

        async def scenario():
            async with connect(ws_url(url, lab_id), origin=url, max_size=None, compression=None,
                               additional_headers={"Cookie": cookie}) as socket:
                with pytest.raises(ConnectionClosed) as closed:
                    await socket.send(json.dumps({"command": "crash", "node": "m1", "pad": "x" * 10_000_000}))
                    while True:
                        await asyncio.wait_for(socket.recv(), 10)
                # daphne drops the connection; a client still sending may not read its close frame
                assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
            async with connect(ws_url(url, lab_id), origin=url, additional_headers={"Cookie": cookie}) as socket:
                await socket.send('{"command": "crash", "node": "m1"}')
                while True:
                    text = await asyncio.wait_for(socket.recv(), 5)
                    if 'id="lab-notice"' in text:
                        return text

        assert "Killed m1." in asyncio.run(scenario())


def test_a_viewer_that_asks_for_compression_gets_its_frames_compressed():
    """Browsers ask for permessage-deflate: the server accepts it, the frames it writes straight
    to the socket (compressed once for every such viewer, without context takeover) decode to
    the lab's HTML, and the notices autobahn sends itself work too."""
    with running_server() as url:
        lab_id, cookie = start_owned_lab(url, "kafka-shop")

        async def watch():
            async with connect(ws_url(url, lab_id), origin=url, compression="deflate",
                               additional_headers={"Cookie": cookie}) as socket:
                texts = [await asyncio.wait_for(socket.recv(), 5) for _ in range(10)]
                await socket.send('{"command": "pause"}')
                for _ in range(50):
                    text = await asyncio.wait_for(socket.recv(), 5)
                    if 'id="lab-notice"' in text:
                        return socket.protocol.extensions, texts, text
                return socket.protocol.extensions, texts, ""

        extensions, texts, notice = asyncio.run(watch())
        assert [type(e).__name__ for e in extensions] == ["PerMessageDeflate"]
        assert all('id="lab-frame"' in t for t in texts) and any('id="kafka-topics"' in t for t in texts)
        assert "Paused" in notice
