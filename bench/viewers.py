"""A client process holding many WebSocket viewers of one server.

Run by ``bench.fanout``, never by hand. The protocol with the parent, one line
each way at a time:

1. the process connects ``--count`` viewers in batches (each batch is fully
   connected before the next starts), then prints ``READY {"connected": n}``;
2. the parent writes ``GO <start> <seconds>`` (``start`` in seconds since the
   epoch: the moment it read the server's CPU time); every viewer counts the
   frames it receives in that window and notes each frame's delay (receive
   time minus the ``data-sent`` stamp the server put in the frame);
3. the process prints one JSON line with the figures, closes its viewers and
   exits.

Viewers read frames as bytes (no UTF-8 decoding) and only look at the first
200 bytes, so the client stays cheap next to the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

SENT = re.compile(rb'data-seq="(\d+)" data-sent="([\d.]+)"')
BATCH = 50
OPEN_TIMEOUT = 30.0
CLOSE_TIMEOUT = 10.0
GO_TIMEOUT = 600.0  # the parent says GO within seconds; give up after this


class Viewer:
    """One connection and what it saw while the parent was measuring."""

    __slots__ = ("bytes", "delays", "frames", "gaps", "last_seq", "socket")

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.frames = 0
        self.bytes = 0
        self.gaps = 0  # frames skipped (sequence numbers never received)
        self.last_seq = 0
        self.delays: list[float] = []

    async def read(self, window: list[float]) -> None:
        """Read until the connection closes; count what arrives inside ``window`` (start, end)."""
        recv = self.socket.recv
        while True:
            try:
                data = await recv(decode=False)
            except ConnectionClosed:
                return
            received = time.time()
            stamp = SENT.search(data, 0, 200)
            if stamp is None:
                continue  # not a lab frame (e.g. a notice)
            seq = int(stamp.group(1))
            if window[0] <= received < window[1]:
                self.frames += 1
                self.bytes += len(data)
                self.delays.append(received * 1000.0 - float(stamp.group(2)))
                if self.last_seq and seq > self.last_seq + 1:
                    self.gaps += seq - self.last_seq - 1
            self.last_seq = seq


async def open_viewer(url: str, origin: str) -> Viewer | None:
    try:
        socket = await connect(url, origin=origin, compression=None, open_timeout=OPEN_TIMEOUT,
                               ping_interval=None, max_size=2**22)
    except Exception as error:  # a failed connection is reported, not fatal
        print(f"viewers: could not connect: {error!r}", file=sys.stderr)
        return None
    return Viewer(socket)


async def main(url: str, origin: str, count: int) -> None:
    loop = asyncio.get_running_loop()
    window = [float("inf"), float("inf")]  # wall-clock seconds; nothing counts until GO
    viewers: list[Viewer] = []
    readers: list[asyncio.Task[None]] = []
    for start in range(0, count, BATCH):  # a hall filling up, batch by batch
        batch = await asyncio.gather(*(open_viewer(url, origin) for _ in range(min(BATCH, count - start))))
        for viewer in batch:
            if viewer is not None:
                viewers.append(viewer)
                readers.append(asyncio.create_task(viewer.read(window)))
    print("READY " + json.dumps({"connected": len(viewers)}), flush=True)

    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    try:
        line = (await asyncio.wait_for(stdin.readline(), GO_TIMEOUT)).decode()
    except TimeoutError:
        line = ""
    if not line.startswith("GO "):  # the parent gave up (or died: end of file)
        await close_all(viewers, readers)
        return
    start, seconds = map(float, line.split()[1:3])
    window[:] = [start, start + seconds]
    await asyncio.sleep(max(0.0, start + seconds - time.time()) + 0.2)  # the window's last frames are in

    print(json.dumps({
        "seconds": seconds,
        "frames": [viewer.frames for viewer in viewers],
        "bytes": sum(viewer.bytes for viewer in viewers),
        "gaps": sum(viewer.gaps for viewer in viewers),
        "delays": [round(delay, 3) for viewer in viewers for delay in viewer.delays],
    }), flush=True)

    await close_all(viewers, readers)  # after the figures are out, so closing is never measured


async def close_all(viewers: list[Viewer], readers: list[asyncio.Task[None]]) -> None:
    closing = [asyncio.create_task(viewer.socket.close()) for viewer in viewers]
    if closing:
        await asyncio.wait(closing, timeout=CLOSE_TIMEOUT)
    for task in closing + readers:
        task.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="hold WebSocket viewers for bench.fanout")
    parser.add_argument("--url", required=True)
    parser.add_argument("--origin", required=True)
    parser.add_argument("--count", type=int, required=True)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url, arguments.origin, arguments.count))
