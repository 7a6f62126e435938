"""The baseline: a bare ``websockets`` server broadcasting frames of a given
size at a given rate with ``websockets.broadcast()``, nothing else."""

from __future__ import annotations

import argparse
import asyncio
import time

from websockets import broadcast
from websockets.asyncio.server import serve

HEAD = '<div id="lab-frame" hx-swap-oob="true" hidden data-seq="{seq}" data-sent="{sent:.3f}"></div>'


async def main(port: int, size: int, fps: float) -> None:
    clients = set()

    async def handler(connection):
        clients.add(connection)
        try:
            await connection.wait_closed()
        finally:
            clients.discard(connection)

    async with serve(handler, "127.0.0.1", port, compression=None, max_size=2**20):
        seq, interval = 0, 1 / fps
        deadline = time.monotonic()
        while True:
            deadline += interval
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            seq += 1
            head = HEAD.format(seq=seq, sent=time.time() * 1000)
            broadcast(clients, head + "x" * max(0, size - len(head)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--fps", type=float, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.size, args.fps))
