"""A client process holding many WebSocket viewers of one lab.

Protocol with the parent: connect every viewer, print ``READY``, wait for a
line ``GO <seconds>`` on stdin, count frames for that long, print one JSON
line with the frames each viewer got and every frame's delay (receive time
minus the ``data-sent`` stamp in the frame), then exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time

from websockets.asyncio.client import connect

SENT = re.compile(rb'data-sent="([\d.]+)"')


class Viewer:
    def __init__(self) -> None:
        self.counting = False
        self.frames = 0
        self.delays: list[float] = []

    async def run(self, url: str, origin: str, connected: asyncio.Event, stop: asyncio.Event, all_in) -> None:
        async with connect(url, origin=origin, compression=None, max_queue=None, open_timeout=60) as socket:
            all_in()
            await connected.wait()
            while not stop.is_set():
                try:
                    data = await asyncio.wait_for(socket.recv(decode=False), 1)
                except TimeoutError:
                    continue
                if not self.counting:
                    continue
                stamp = SENT.search(data, 0, 200)
                if stamp:
                    self.frames += 1
                    self.delays.append(time.time() * 1000 - float(stamp.group(1)))


async def main(url: str, origin: str, count: int) -> None:
    viewers = [Viewer() for _ in range(count)]
    connected, stop = asyncio.Event(), asyncio.Event()
    joined = 0

    def all_in() -> None:
        nonlocal joined
        joined += 1
        if joined == count:
            connected.set()

    tasks = []
    for start in range(0, count, 50):  # connect in batches, as a hall fills up
        tasks += [asyncio.create_task(v.run(url, origin, connected, stop, all_in)) for v in viewers[start:start + 50]]
        await asyncio.sleep(0.1)
    await connected.wait()
    print("READY", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    seconds = float(line.split()[1])
    for viewer in viewers:
        viewer.counting = True
    await asyncio.sleep(seconds)
    for viewer in viewers:
        viewer.counting = False
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    delays = [d for v in viewers for d in v.delays]
    print(json.dumps({"frames": [v.frames for v in viewers], "delays": delays}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--origin", required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.url, args.origin, args.count))
