"""Fan-out: N viewers of one lab at 10 frames/s, against a bare websockets broadcast.

For each server (CoordLab under daphne as `make run` starts it; the same
with frames sent through plain ASGI instead of written straight to the
sockets, "daphne-asgi"; the same application under uvicorn; and a bare
``websockets.broadcast()`` server sending frames of the same size at the same
rate) and each N, two client processes
hold the viewers; the server's CPU time is read from /proc over the measuring
window and divided by the frames all viewers received in it.

    python -m bench.fanout [--viewers 100 300 500] [--seconds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager

from websockets.asyncio.client import connect

from tests.server import DAPHNE, ROOT, UVICORN, free_port, running_server, start_lab

FPS = "10"
CLIENT_PROCESSES = 2
TARGET_P99_MS = 100
TARGET_RATIO = 3
TARGET_VIEWERS = 500


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(ws_url: str, origin: str, pid: int, viewers: int, seconds: float, warmup: float) -> dict:
    """Run the viewers against one server and return the figures of one table row."""
    shares = [viewers // CLIENT_PROCESSES + (i < viewers % CLIENT_PROCESSES) for i in range(CLIENT_PROCESSES)]
    clients = [subprocess.Popen([sys.executable, "-m", "bench.viewers", "--url", ws_url, "--origin", origin,
                                 "--count", str(share)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True) for share in shares if share]
    try:
        for client in clients:
            if client.stdout.readline().strip() != "READY":
                raise RuntimeError("a client process could not connect its viewers")
        time.sleep(warmup)
        cpu_before, started = cpu_seconds(pid), time.monotonic()
        for client in clients:
            client.stdin.write(f"GO {seconds}\n")
            client.stdin.flush()
        results = [json.loads(client.stdout.readline()) for client in clients]
        cpu = cpu_seconds(pid) - cpu_before
        elapsed = time.monotonic() - started
    finally:
        for client in clients:
            client.kill()
            client.wait()
    frames = [count for result in results for count in result["frames"]]
    delays = sorted(delay for result in results for delay in result["delays"])
    total = max(1, sum(frames))
    return {
        "viewers": viewers,
        "fps": statistics.mean(frames) / seconds,
        "p50": delays[len(delays) // 2] if delays else float("nan"),
        "p99": delays[min(len(delays) - 1, int(len(delays) * 0.99))] if delays else float("nan"),
        "cpu_us": cpu / total * 1e6,
        "cpu_pct": cpu / elapsed * 100,
    }


async def frame_size(ws_url: str, origin: str) -> int:
    async with connect(ws_url, origin=origin, compression=None) as socket:
        sizes = [len((await socket.recv()).encode()) for _ in range(10)]
    return max(sizes)


@contextmanager
def bare_server(size: int):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.bare_server", "--port", str(port), "--size", str(size),
                                "--fps", FPS], cwd=ROOT)
    try:
        time.sleep(1.0)
        yield f"ws://127.0.0.1:{port}/", process.pid
    finally:
        process.terminate()
        process.wait()


def lab_rows(command: list[str], counts: list[int], seconds: float, warmup: float,
             **env: str) -> tuple[list[dict], int]:
    with running_server(command, COORDLAB_FRAMES_PER_SECOND=FPS, **env) as url:
        lab_id = start_lab(url)
        ws_url = url.replace("http", "ws") + f"/ws/labs/{lab_id}/"
        size = asyncio.run(frame_size(ws_url, url))
        pid = running_server.process.pid
        return [measure(ws_url, url, pid, n, seconds, warmup) for n in counts], size


def print_table(rows: dict[str, list[dict]]) -> None:
    print(f"{'server':<12}{'viewers':>8}{'frames/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
          f"{'CPU µs/frame':>14}{'× bare':>8}{'CPU %':>8}")
    bare = {row["viewers"]: row for row in rows["bare"]}
    for server, server_rows in rows.items():
        for row in server_rows:
            ratio = row["cpu_us"] / bare[row["viewers"]]["cpu_us"]
            print(f"{server:<12}{row['viewers']:>8}{row['fps']:>10.1f}{row['p50']:>9.1f}{row['p99']:>9.1f}"
                  f"{row['cpu_us']:>14.1f}{ratio:>8.2f}{row['cpu_pct']:>8.1f}")


def verdict(rows: dict[str, list[dict]]) -> None:
    bare = {row["viewers"]: row for row in rows["bare"]}
    for row in rows["daphne"]:
        ratio = row["cpu_us"] / bare[row["viewers"]]["cpu_us"]
        met = row["p99"] <= TARGET_P99_MS and ratio <= TARGET_RATIO
        print(f"daphne, {row['viewers']} viewers: p99 {row['p99']:.0f} ms (target ≤ {TARGET_P99_MS}), "
              f"CPU {ratio:.2f}x bare (target ≤ {TARGET_RATIO}): {'met' if met else 'NOT met'}"
              + (" ← the target" if row["viewers"] == TARGET_VIEWERS else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description="Fan-out benchmark")
    parser.add_argument("--viewers", type=int, nargs="+", default=[100, 300, 500])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--only-daphne", action="store_true", help="skip the comparison servers")
    args = parser.parse_args()
    rows: dict[str, list[dict]] = {}
    rows["daphne"], size = lab_rows(DAPHNE, args.viewers, args.seconds, args.warmup)
    if not args.only_daphne:
        rows["daphne-asgi"], _ = lab_rows(DAPHNE, args.viewers, args.seconds, args.warmup, COORDLAB_DIRECT_WRITES="0")
        rows["uvicorn"], _ = lab_rows(UVICORN, args.viewers, args.seconds, args.warmup)
    with bare_server(size) as (ws_url, pid):
        rows["bare"] = [measure(ws_url, "http://127.0.0.1", pid, n, args.seconds, args.warmup) for n in args.viewers]
    print(f"\nFan-out: one lab at {FPS} frames/s, frames of {size:,} bytes, "
          f"{args.seconds:g} s measured after {args.warmup:g} s warm-up, {CLIENT_PROCESSES} client processes")
    print_table(rows)
    verdict(rows)


if __name__ == "__main__":
    main()
