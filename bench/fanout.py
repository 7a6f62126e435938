"""Fan-out: N viewers of one lab, against a bare ``websockets.broadcast()`` of the same bytes.

By default the lab is ``kafka-shop`` (the heaviest of the catalog on the wire, see
``bench.labcost``) on a server whose engine ticks at the real rate
(``COORDLAB_FRAMES_PER_SECOND=20``, as ``make run``); a lab that only moves on sends
at most ``LAB_FRAMES_PER_SECOND`` (10) frames a second, so that is the rate viewers
get. ``--lab network-basics --fps 10`` measures what this bench measured before.

For each server and each N, client processes (``bench.viewers``) open N
WebSocket viewers, wait until all are connected, warm up, then measure:

- frames per second each viewer got (mean, and the slowest viewer);
- p50/p99 frame delay: receive time minus the send time stamped in the frame;
- server CPU per delivered frame: the server's user+system time from /proc
  over the window, divided by the frames all viewers received in the window;
- the same figures for a bare ``websockets`` server (``bench.bare_server``)
  broadcasting frames of the lab's mean size at the lab's mean rate, both as
  measured in the same run, and the ratio.

Servers: ``daphne`` (CoordLab as ``make run`` starts it), ``uvicorn`` (the same
application), ``bare``; optionally ``daphne-asgi`` (daphne with
``COORDLAB_DIRECT_WRITES=0``: every frame through the ASGI send path).
The target: 500 viewers of the heaviest lab, p99 delay <= 100 ms and server CPU
per delivered frame <= 3x the bare broadcast's, measured in the same run.

    python -m bench.fanout [--lab kafka-shop] [--fps 20] [--viewers 100 300 500] [--seconds 8] [--warmup 3]
    python -m bench.fanout --quick                                 # 100 viewers, daphne and bare, short
    python -m bench.fanout --lab network-basics --fps 10           # the earlier table
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import select
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

from websockets.asyncio.client import connect

from .servers import (
    DAPHNE,
    PYTHON,
    ROOT,
    Server,
    bare_server,
    cpu_seconds,
    die_with_parent,
    lab_server,
    start_lab,
    uvicorn_command,
)

TARGET_VIEWERS = 500
DEFAULT_LAB = "kafka-shop"  # the heaviest lab on the wire (bench.labcost)
ENGINE_FPS = 20.0  # COORDLAB_FRAMES_PER_SECOND, as `make run`
#: frames a lab that only moves on sends per second at most (coordlab.labs.runtime.MOTION_FRAMES_PER_SECOND)
LAB_FRAMES_PER_SECOND = 10.0
TARGET_P99_MS = 100.0
TARGET_RATIO = 3.0
UVICORN_WS = ("websockets", "websockets-sansio")  # tried in this order; the first that streams frames is used
COARSE_CPU_SECONDS = 20 / os.sysconf("SC_CLK_TCK")  # /proc counts CPU time in clock ticks (10 ms)
SERVERS = ("daphne", "daphne-asgi", "uvicorn", "bare")
#: measured unless --servers says otherwise; daphne-asgi only on request: under ``coordlab.serve`` autobahn
#: refuses to send any message over its incoming limit (4 KiB), so its viewers get no lab frame at all
DEFAULT_SERVERS = ("daphne", "uvicorn", "bare")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def load_average() -> str:
    """The machine's load average over the last minute (others share it)."""
    with contextlib.suppress(OSError), open("/proc/loadavg") as loadavg:
        return loadavg.read().split()[0]
    return "?"


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    """One line from a client's stdout, or an error after ``timeout`` seconds."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError(f"a client process said nothing for {timeout:g} s")
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"a client process exited (code {process.wait()})")
    return line


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def measure(server: Server, viewers: int, seconds: float, warmup: float, clients: int) -> dict:
    """Hold ``viewers`` viewers on ``server`` and return one table row."""
    shares = [viewers // clients + (i < viewers % clients) for i in range(clients)]
    processes = [subprocess.Popen([PYTHON, "-m", "bench.viewers", "--url", server.ws_url,
                                   "--origin", server.http_url, "--count", str(share)],
                                  cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  preexec_fn=die_with_parent)
                 for share in shares if share]
    try:
        connected = sum(json.loads(_read_line(p, 120).removeprefix("READY "))["connected"] for p in processes)
        log(f"  {server.name}: {connected}/{viewers} viewers connected; "
            f"warming up {warmup:g} s, measuring {seconds:g} s")
        time.sleep(warmup)
        cpu_before, wall_start, started = cpu_seconds(server.pid), time.time(), time.monotonic()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(f"GO {wall_start:.6f} {seconds}\n")
            process.stdin.flush()
        time.sleep(max(0.0, started + seconds - time.monotonic()))
        cpu = cpu_seconds(server.pid) - cpu_before
        elapsed = time.monotonic() - started
        results = [json.loads(_read_line(p, seconds + 60)) for p in processes]
    finally:
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)  # normally they exit by themselves after reporting
            if process.poll() is None:
                process.kill()
                process.wait()
    frames = [count for result in results for count in result["frames"]]
    delays = sorted(delay for result in results for delay in result["delays"])
    total = sum(frames)
    return {
        "server": server.name, "viewers": viewers, "connected": connected,
        "fps": statistics.mean(frames) / seconds if frames else 0.0,
        "min_fps": min(frames) / seconds if frames else 0.0,
        "gaps": sum(result["gaps"] for result in results),
        "bytes_per_frame": sum(result["bytes"] for result in results) / total if total else math.nan,
        "p50": percentile(delays, 0.50), "p99": percentile(delays, 0.99),
        "cpu_s": cpu, "cpu_us": cpu / total * 1e6 if total else math.nan,
        "cpu_pct": cpu / elapsed * 100.0,
    }


async def _sample(ws_url: str, origin: str, frames: int) -> list[int]:
    async with connect(ws_url, origin=origin, compression=None, open_timeout=10, max_size=2**22) as socket:
        return [len(await asyncio.wait_for(socket.recv(decode=False), 5)) for _ in range(frames)]


def sample_frame_sizes(server: Server, frames: int = 20) -> list[int]:
    """Sizes in bytes of the next ``frames`` frames one viewer receives."""
    return asyncio.run(_sample(server.ws_url, server.http_url, frames))


def lab_frame_rate(fps: float) -> float:
    """The frames per second a lab that moves on every tick sends, with the engine at ``fps`` ticks/s
    (as ``coordlab.labs.runtime`` sets ``ticks_per_frame``)."""
    return fps / max(1, round(fps / LAB_FRAMES_PER_SECOND))


@contextlib.contextmanager
def lab_with_viewers_url(name: str, command: list[str], fps: float, slug: str = DEFAULT_LAB,
                         **env: str) -> Iterator[Server]:
    """A CoordLab server with one lab of ``slug`` started; ``ws_url`` is that lab's viewer URL."""
    with lab_server(name, command, fps, **env) as server:
        lab_id = start_lab(server.http_url, slug)
        server.ws_url = server.http_url.replace("http://", "ws://") + f"/ws/labs/{lab_id}/"
        log(f"{name}: pid {server.pid}, lab {server.ws_url} ({slug})")
        yield server


@contextlib.contextmanager
def uvicorn_server(fps: float, notes: list[str], choices: tuple[str, ...] = UVICORN_WS,
                   slug: str = DEFAULT_LAB) -> Iterator[Server]:
    """uvicorn with the first WebSocket implementation in ``choices`` that streams frames."""
    for ws in choices:
        with contextlib.ExitStack() as stack:
            try:
                server = stack.enter_context(lab_with_viewers_url("uvicorn", uvicorn_command(ws), fps, slug))
                sample_frame_sizes(server, 3)
            except Exception as error:  # this implementation does not work here: try the next one
                last_line = ([line for line in str(error).splitlines() if line.strip()] or [repr(error)])[-1]
                notes.append(f"uvicorn --ws {ws}: does not work ({last_line.strip()[:100]})")
                continue
            notes.append(f"uvicorn --ws {ws}: works, used for the uvicorn rows")
            yield server
            return
    raise RuntimeError("no uvicorn WebSocket implementation streamed frames: " + "; ".join(notes))


def run(servers: list[str], counts: list[int], seconds: float, warmup: float, fps: float, clients: int,
        uvicorn_ws: tuple[str, ...] = UVICORN_WS, slug: str = DEFAULT_LAB) -> tuple[dict[str, list[dict]], list[str]]:
    rows: dict[str, list[dict]] = {}
    notes: list[str] = [f"load average {load_average()} at the start ({os.cpu_count()} cores, shared)"]
    for name in [s for s in SERVERS if s in servers and s != "bare"]:
        if name == "uvicorn":
            context = uvicorn_server(fps, notes, uvicorn_ws, slug)
        else:
            env = {"COORDLAB_DIRECT_WRITES": "0"} if name == "daphne-asgi" else {}
            context = lab_with_viewers_url(name, DAPHNE, fps, slug, **env)
        with context as server:
            rows[name] = [measure(server, n, seconds, warmup, clients) for n in counts]
    # The baseline sends frames as large as the lab's were on average while measured, as often as the
    # lab sends them: the same bytes.
    measured = [row for name in rows for row in rows[name] if row["bytes_per_frame"] > 0]
    size = round(statistics.mean(row["bytes_per_frame"] for row in measured)) if measured else 0
    # The rate: the best any row got (rows of an overloaded server get fewer frames than the lab sends).
    rate = round(max(row["fps"] for row in measured), 1) if measured else lab_frame_rate(fps)
    if size:
        notes.append(f"frames of {size:,} bytes (the lab's mean while measured) at {rate:g} frames/s (the "
                     "best mean rate a row got): the bare server sends that")
    if "bare" in servers:
        if not size:  # no lab server measured: take the frame size from one anyway
            with lab_with_viewers_url("daphne", DAPHNE, fps, slug) as server:
                size = round(statistics.mean(sample_frame_sizes(server, 60)[-40:]))
            notes.append(f"frames of {size:,} bytes: a fresh lab's frames 20-60 (mean), for the bare server, "
                         f"at {rate:g} frames/s")
        with bare_server(size, rate) as server:
            log(f"bare: pid {server.pid}, {server.ws_url}, frames of {size:,} bytes at {rate:g}/s")
            rows["bare"] = [measure(server, n, seconds, warmup, clients) for n in counts]
    notes[0] += f", {load_average()} at the end"
    return rows, notes


def ratio(row: dict, rows: dict[str, list[dict]]) -> float:
    bare = next((b for b in rows.get("bare", []) if b["viewers"] == row["viewers"]), None)
    return row["cpu_us"] / bare["cpu_us"] if bare else math.nan


def print_report(rows: dict[str, list[dict]], notes: list[str], args: argparse.Namespace) -> None:
    print(f"\nFan-out: one {args.lab} lab, the engine at {args.fps:g} ticks/s (the lab sends at most "
          f"{lab_frame_rate(args.fps):g} frames/s while it only moves on), {args.seconds:g} s measured after "
          f"{args.warmup:g} s warm-up, viewers in {args.clients} client processes")
    for note in notes:
        print(f"  {note}")
    print(f"{'server':<12}{'viewers':>8}{'frames/s':>9}{'min':>6}{'skipped':>8}{'p50 ms':>8}{'p99 ms':>8}"
          f"{'CPU µs/frame':>13}{'x bare':>7}{'CPU %':>7}{'B/frame':>8}")
    for server_rows in rows.values():
        for row in server_rows:
            viewers = f"{row['viewers']}" + ("" if row["connected"] == row["viewers"] else f"({row['connected']})")
            coarse = "~" if row["cpu_s"] < COARSE_CPU_SECONDS else ""
            print(f"{row['server']:<12}{viewers:>8}{row['fps']:>9.2f}{row['min_fps']:>6.1f}{row['gaps']:>8}"
                  f"{row['p50']:>8.1f}{row['p99']:>8.1f}{coarse + format(row['cpu_us'], '.1f'):>13}"
                  f"{ratio(row, rows):>7.2f}{row['cpu_pct']:>7.1f}{row['bytes_per_frame']:>8.0f}")
    print("(frames/s: mean per viewer; min: the slowest viewer; skipped: frames missed by all viewers together,\n"
          " from gaps in sequence numbers; CPU %: of one core; x bare: server CPU per delivered frame over\n"
          " the bare broadcast's at the same N; ~: under 20 clock ticks of server CPU in the window, so coarse)")
    expected = lab_frame_rate(args.fps)
    for name, server_rows in rows.items():
        if any(row["connected"] and not row["fps"] for row in server_rows):
            print(f"{name}: its viewers got no frame at all" + (
                " (autobahn refuses to send a message larger than daphne's --websocket-max-message-size, which "
                "coordlab.serve sets to 4 KiB; with direct writes the frames bypass it)" if name == "daphne-asgi"
                else ""))
    for row in rows.get("daphne", []):
        r = ratio(row, rows)
        if math.isnan(r):
            print(f"daphne, {row['viewers']} viewers: no bare baseline in this run, so no verdict")
            continue
        met = row["p99"] <= TARGET_P99_MS and r <= TARGET_RATIO and row["min_fps"] >= 0.95 * expected
        print(f"daphne, {row['viewers']} viewers of {args.lab}: p99 {row['p99']:.0f} ms "
              f"(target <= {TARGET_P99_MS:g}), CPU {r:.2f}x bare (target <= {TARGET_RATIO:g}), "
              f"slowest viewer {row['min_fps']:.1f} frames/s (the lab sends {expected:g}): "
              f"{'met' if met else 'NOT met'}"
              + (" <- the target" if row["viewers"] == TARGET_VIEWERS else ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default=DEFAULT_LAB, help=f"the lab's scenario slug (default {DEFAULT_LAB})")
    parser.add_argument("--quick", action="store_true",
                        help="a small run: 100 viewers, daphne and bare, 2 s warm-up, 4 s measured")
    parser.add_argument("--viewers", type=int, nargs="+", default=None, help="values of N (default 100 300 500)")
    parser.add_argument("--seconds", type=float, default=None, help="measuring window per row (default 8)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds after all viewers connected (default 3)")
    parser.add_argument("--fps", type=float, default=ENGINE_FPS,
                        help=f"the engine's ticks per second, COORDLAB_FRAMES_PER_SECOND (default {ENGINE_FPS:g}); "
                             f"a lab sends at most {LAB_FRAMES_PER_SECOND:g} frames/s of them")
    parser.add_argument("--clients", type=int, default=2, help="client processes holding the viewers")
    parser.add_argument("--servers", nargs="+", choices=SERVERS, default=None,
                        help="which servers to measure (default: daphne, uvicorn and bare; daphne and bare with "
                             "--quick)")
    parser.add_argument("--uvicorn-ws", nargs="+", default=list(UVICORN_WS),
                        help="uvicorn --ws implementations to try, in order (the first that works is used)")
    args = parser.parse_args(argv)
    for name, full, quick in (("viewers", [100, 300, 500], [100]), ("seconds", 8.0, 4.0), ("warmup", 3.0, 2.0),
                              ("servers", list(DEFAULT_SERVERS), ["daphne", "bare"])):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    # On SIGTERM unwind normally, so every ``finally`` stops the servers and clients it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    rows, notes = run(args.servers, args.viewers, args.seconds, args.warmup, args.fps, args.clients,
                      tuple(args.uvicorn_ws), args.lab)
    print_report(rows, notes, args)
    log(f"(fan-out bench took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
