"""The baseline: a bare ``websockets`` server that does nothing but broadcast.

Every ``1/fps`` seconds it sends one text frame of exactly ``--size`` bytes,
with the same header as a CoordLab frame (sequence number and send time in ms
since the epoch), to every connected client with ``websockets.broadcast()``.
Run by ``bench.fanout`` in its own process so its CPU time can be read alone:

    python -m bench.bare_server --port 8765 --size 8250 [--fps 10]
"""

from __future__ import annotations

import argparse
import asyncio
import time

import websockets
from websockets.asyncio.server import ServerConnection, serve

HEAD = '<div id="lab-frame" hx-swap-oob="true" hidden data-seq="{seq}" data-sent="{sent:.3f}"></div>'


async def main(port: int, size: int, fps: float, lifetime: float) -> None:
    clients: set[ServerConnection] = set()

    async def handler(connection: ServerConnection) -> None:
        clients.add(connection)
        try:
            await connection.wait_closed()
        finally:
            clients.discard(connection)

    async with serve(handler, "127.0.0.1", port, compression=None):
        print("LISTENING", flush=True)
        seq, interval = 0, 1.0 / fps
        deadline = time.monotonic()
        stop = time.monotonic() + lifetime
        while deadline < stop:  # the parent terminates the process long before
            deadline += interval
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            seq += 1
            head = HEAD.format(seq=seq, sent=time.time() * 1000.0)
            websockets.broadcast(clients, head + "x" * max(0, size - len(head)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="bare websockets.broadcast() server for bench.fanout")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, required=True, help="bytes per frame")
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--lifetime", type=float, default=1800.0, help="exit after this many seconds anyway")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.port, arguments.size, arguments.fps, arguments.lifetime))
