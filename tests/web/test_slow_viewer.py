"""A viewer that stops reading costs the server one frame, not a growing queue."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import time

from websockets.asyncio.client import connect

from coordlab.labs.fanout import Frame, Viewer
from coordlab.labs.runtime import MOTION_FRAMES_PER_SECOND
from coordlab.labs.transport import SEND_BUFFER_BYTES
from tests.server import running_server, start_owned_lab

STALL_SECONDS = 8


class FakeSocket:
    """A DaphneSocket stand-in whose backlog the test sets."""

    deflated = False  # the connection did not ask for permessage-deflate

    def __init__(self):
        self.buffered = 1000
        self.written = []

    def backlog(self):
        return self.buffered

    def write(self, data):
        self.written.append(data)
        return True


async def test_a_viewer_with_a_backlog_keeps_only_the_latest_frame_until_it_drains():
    socket = FakeSocket()
    viewer = Viewer(send=None, socket=socket)
    for n in range(50):
        viewer.push(Frame(str(n)))
    assert socket.written == [] and viewer.waiting.message["text"] == "49"
    socket.buffered = 0
    await asyncio.sleep(0.12)
    assert socket.written == [b"\x81\x0249"] and viewer.waiting is None


async def test_a_frame_that_waited_for_a_backlog_never_goes_out_after_a_newer_one():
    """A notice (sent through daphne) leaves bytes in Twisted's buffer, so frame 1 waits;
    Twisted drains before the retry and frame 2 arrives: frame 2 must carry frame 1's
    other fragments and frame 1 must not follow it (a stale "playing" after "paused")."""
    socket = FakeSocket()
    viewer = Viewer(send=None, socket=socket)
    viewer.push(Frame.build(1, 0.0, ['<div id="status">playing</div>', '<div id="a">1</div>']))
    assert socket.written == []
    socket.buffered = 0
    viewer.push(Frame.build(2, 0.0, ['<div id="status">paused</div>']))
    await asyncio.sleep(0.12)
    texts = [data.decode(errors="replace") for data in socket.written]
    assert len(texts) == 1 and 'data-seq="2"' in texts[0], texts
    assert texts[0].endswith('<div id="a">1</div><div id="status">paused</div>')
    assert viewer.waiting is None and viewer.retry is None


def stalled_websocket(url: str, lab_id: str) -> socket.socket:
    """Open a WebSocket by hand with a tiny receive buffer, then never read."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws/labs/{lab_id}/ HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"Origin: {url}\r\n\r\n").encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert response.startswith(b"HTTP/1.1 101")
    return sock


def drain(sock: socket.socket) -> int:
    """Read everything the server had queued for this socket (until 1 s of quiet)."""
    sock.settimeout(1)
    total = 0
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return total
        if not chunk:
            return total
        total += len(chunk)


def test_a_stalled_viewer_neither_delays_others_nor_piles_up_frames():
    with running_server() as url:
        # the lab with the most to send (frames carry only what changed: a light lab's whole output
        # would fit in the stalled socket's buffers and prove nothing)
        lab_id, cookie = start_owned_lab(url, "kafka-shop")
        stalled = stalled_websocket(url, lab_id)

        async def healthy_viewer():
            delays, sizes = [], []
            ws = url.replace("http", "ws") + f"/ws/labs/{lab_id}/"
            async with connect(ws, origin=url, compression=None, additional_headers={"Cookie": cookie}) as viewer:
                end = time.time() + STALL_SECONDS
                while time.time() < end:
                    text = await asyncio.wait_for(viewer.recv(), 5)
                    sent = re.search(r'data-sent="([\d.]+)"', text[:200])
                    if sent:
                        delays.append(time.time() * 1000 - float(sent.group(1)))
                        sizes.append(len(text.encode()))
                await viewer.send('{"command": "pause"}')  # no new frames while the stalled one drains
            return delays, sizes

        delays, sizes = asyncio.run(healthy_viewer())
        produced = sum(sizes)
        received_by_stalled = drain(stalled)
        stalled.close()
        delays.sort()
        assert len(delays) >= STALL_SECONDS * MOTION_FRAMES_PER_SECOND * 0.6, "the healthy viewer kept getting frames"
        assert delays[int(len(delays) * 0.99)] < 500
        # Without the backlog check, daphne would have buffered every frame for
        # the stalled socket and it would now receive all of them. With it, the
        # stalled socket holds at most its (doubled) kernel send buffer and a frame.
        assert received_by_stalled <= 2 * SEND_BUFFER_BYTES + 100_000, (received_by_stalled, produced)
        assert produced > 1.5 * received_by_stalled, (received_by_stalled, produced)
