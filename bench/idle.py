"""Idle cost: what labs cost while nobody watches them or while they are paused, and what
1,000 loaded, idle labs take in memory.

1. Against a real server (``python -m coordlab.serve`` on 127.0.0.1, as ``make run``
   starts it, engine at 20 ticks/s), in one run:

   - the baseline: the runtime started (one lab started and closed again over HTTP, so
     its engine, saver and fan-out run) and no lab loaded; the server's CPU over 10 s;
   - K labs started over HTTP (round-robin over the catalog, each in a session of its
     own), nobody watching: CPU over 10 s, from 6 s after the last one started (a lab is
     saved once within 2 s of starting, which costs CPU once);
   - the same K labs, each watched by one socket with its owner's cookie and playing:
     CPU over 5 s, for reference (what watching costs);
   - the same K labs, still watched, paused (``{"command": "pause"}`` from each socket,
     answered): CPU over 10 s, and the frames the K viewers got over 5 s of it.

   Targets: no frames from a paused lab, and no CPU: the unwatched and the paused labs
   add at most ``TARGET_IDLE_CPU_PCT`` of one core over the baseline, all K together
   (/proc counts CPU in 10 ms ticks; 10 s at 0.5% is 5 ticks).

2. In a fresh process of its own (this module with ``--memory``), after ``django.setup()``:
   1,000 labs built by the engine (``Engine.start_lab``, round-robin over
   ``coordlab.labs.registry.scenarios()``), each then watched for one tick (it advances
   50 ms and its first full frame is rendered, as for a student who opened it, which
   leaves its render caches behind), then left idle. VmRSS from /proc/self/status before
   the first lab, after the last (after a full garbage collection), and per lab. This
   is the engine without the web server, the database records or the checkpoints a
   server's forked child would freeze later: the labs' own memory, measured simply.
   Target: at most 2 GB for 1,000 labs.

    python -m bench.idle                 # K = 20, 1,000 labs (``make bench``)
    python -m bench.idle --quick         # K = 6, shorter windows, 100 labs (the 1,000 figure extrapolated)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect

from .fanout import _read_line, load_average, log
from .hostile import close_lab, memory_bytes, mib, ws_url
from .reader import SocketReader
from .servers import DAPHNE, PYTHON, ROOT, Server, cpu_seconds, die_with_parent, lab_server, start_owned_lab

FRAMES_PER_SECOND = 20  # the engine's ticks per second, as `make run`
TARGET_IDLE_CPU_PCT = 0.5  # of one core, K idle labs together, over the baseline
TARGET_LABS = 1000
TARGET_BYTES = 2 * 10**9  # 2 GB for 1,000 labs
FRAME_START = b'<div id="lab-frame"'
NOTICE = b'id="lab-notice"'
OPEN_TIMEOUT = 30.0
REPLY_TIMEOUT = 15.0
CATALOG_LINK = re.compile(r'action="/labs/new/([\w-]+)/"')


@dataclass(frozen=True)
class Scale:
    labs: int = 20  # K, on the server
    baseline_s: float = 10.0
    unwatched_s: float = 10.0
    playing_s: float = 5.0
    paused_s: float = 10.0
    frames_s: float = 5.0  # frames counted over this part of the paused window
    settle_s: float = 2.0
    #: after starting the labs: each is saved (state and snapshot) within COORDLAB_SAVE_EVERY_S (2 s) of
    #: starting, which costs CPU once; the unwatched window starts after that
    after_start_s: float = 6.0
    memory_labs: int = TARGET_LABS


FULL = Scale()
QUICK = Scale(labs=6, baseline_s=4.0, unwatched_s=4.0, playing_s=3.0, paused_s=5.0, frames_s=3.0, settle_s=1.0,
              after_start_s=5.0, memory_labs=100)


def catalog(server: Server) -> list[str]:
    """The scenario slugs the catalog page offers, in its order."""
    with urllib.request.urlopen(server.http_url + "/", timeout=30) as response:
        page = response.read().decode()
    return list(dict.fromkeys(CATALOG_LINK.findall(page)))


# -- 1. the server ------------------------------------------------------------------------------


class Watcher(SocketReader):
    """One lab's socket with its owner's cookie: frames counted, replies noted."""

    def __init__(self, socket: ClientConnection) -> None:
        super().__init__(socket)
        self.frames: list[float] = []  # arrival times
        self.notices = 0
        self.start()

    def take(self, data: bytes, received: float) -> bool:
        if data.startswith(FRAME_START):
            self.frames.append(received)
        elif NOTICE in data:
            self.notices += 1
        return True

    async def command(self, text: str) -> bool:
        """Send a command; True once its reply came (within ``REPLY_TIMEOUT``)."""
        seen = self.notices
        await self.socket.send(text)
        return await self.until(lambda: self.notices > seen, time.monotonic() + REPLY_TIMEOUT)

    def count(self, start: float, end: float) -> int:
        return sum(start <= at < end for at in self.frames)


@dataclass
class Window:
    name: str
    seconds: float
    cpu_s: float

    @property
    def pct(self) -> float:
        return self.cpu_s / self.seconds * 100.0


def cpu_window(server: Server, name: str, seconds: float) -> Window:
    before, started = cpu_seconds(server.pid), time.monotonic()
    time.sleep(seconds)
    return Window(name, time.monotonic() - started, cpu_seconds(server.pid) - before)


async def acpu_window(server: Server, name: str, seconds: float) -> Window:
    before, started = cpu_seconds(server.pid), time.monotonic()
    await asyncio.sleep(seconds)
    return Window(name, time.monotonic() - started, cpu_seconds(server.pid) - before)


@dataclass
class ServerResult:
    labs: list[str]
    windows: list[Window]
    connected: int
    paused: int
    playing_frames: int
    paused_frames: int
    frames_s: float
    per_viewer_max: int
    rss_before: int
    rss_labs: int


async def watched_windows(server: Server, labs: list[tuple[str, str]], scale: Scale) -> tuple:
    """Watch every lab (playing) and measure; pause them all and measure again."""
    async def open_one(lab_id: str, cookie: str) -> Watcher | None:
        try:
            socket = await connect(ws_url(server, lab_id), origin=server.http_url, compression=None,
                                   open_timeout=OPEN_TIMEOUT, ping_interval=None, max_size=2**23,
                                   additional_headers={"Cookie": cookie})
        except Exception as error:
            log(f"idle: could not connect to lab {lab_id}: {error!r}")
            return None
        return Watcher(socket)

    watchers = [w for w in await asyncio.gather(*(open_one(lab_id, cookie) for lab_id, cookie in labs)) if w]
    try:
        await asyncio.sleep(scale.settle_s)
        start = time.time()
        playing = await acpu_window(server, f"{len(labs)} labs watched, playing (reference)", scale.playing_s)
        playing_frames = sum(w.count(start, start + playing.seconds) for w in watchers)
        paused = sum(await asyncio.gather(*(w.command('{"command": "pause"}') for w in watchers)))
        await asyncio.sleep(scale.settle_s)  # the frame that shows the pause is out
        start = time.time()
        quiet = await acpu_window(server, f"{len(labs)} labs watched, paused", scale.paused_s)
        counts = [w.count(start, start + scale.frames_s) for w in watchers]
    finally:
        closing = [asyncio.create_task(w.socket.close()) for w in watchers]
        if closing:
            await asyncio.wait(closing, timeout=10)
        for w in watchers:
            w.task.cancel()
    return playing, quiet, len(watchers), paused, playing_frames, sum(counts), max(counts, default=0)


def run_server(scale: Scale) -> ServerResult:
    environment = {"COORDLAB_MAX_SANDBOXES_PER_ADDRESS": str(10 * scale.labs + 100),
                   "COORDLAB_MAX_LABS": str(max(100, scale.labs + 10))}
    with lab_server("daphne", DAPHNE, FRAMES_PER_SECOND, **environment) as server:
        slugs = catalog(server)
        if not slugs:
            raise RuntimeError("the catalog page offers no lab to start")
        first, cookie = start_owned_lab(server.http_url, slugs[0])  # starts the runtime
        status = close_lab(server, first, cookie)
        if status not in (302, 303):
            log(f"idle: closing the first lab answered {status}; it stays, unwatched")
        time.sleep(scale.settle_s)
        rss_before = memory_bytes(server.pid)
        baseline = cpu_window(server, "baseline: runtime started, no lab loaded", scale.baseline_s)
        slugs = [slugs[i % len(slugs)] for i in range(scale.labs)]
        labs = [start_owned_lab(server.http_url, slug) for slug in slugs]
        log(f"idle: {len(labs)} labs started on pid {server.pid}")
        time.sleep(scale.after_start_s)
        rss_labs = memory_bytes(server.pid)
        unwatched = cpu_window(server, f"{len(labs)} labs loaded, nobody watching", scale.unwatched_s)
        playing, paused_window, connected, paused, playing_frames, paused_frames, most = asyncio.run(
            watched_windows(server, labs, scale))
    return ServerResult(slugs, [baseline, unwatched, playing, paused_window], connected, paused, playing_frames,
                        paused_frames, scale.frames_s, most, rss_before, rss_labs)


def print_server(result: ServerResult, scale: Scale) -> None:
    kinds = len(set(result.labs))
    print(f"1. One daphne server ({FRAMES_PER_SECOND} ticks/s) on 127.0.0.1; K = {len(result.labs)} labs started over "
          f"HTTP, round-robin over {kinds} of the catalog's labs, each in its own session")
    baseline = result.windows[0]
    print(f"   {'window':<48}{'seconds':>8}{'CPU s':>8}{'CPU %':>8}{'over baseline':>15}")
    for w in result.windows:
        over = "" if w is baseline else f"{w.pct - baseline.pct:+.2f}"
        print(f"   {w.name:<48}{w.seconds:>8.1f}{w.cpu_s:>8.2f}{w.pct:>8.2f}{over:>15}")
    print(f"   (CPU: the server's user+system time from /proc, in {1000 / os.sysconf('SC_CLK_TCK'):g} ms ticks; "
          "% of one core)")
    playing = result.windows[2]
    print(f"   watched and playing: {result.playing_frames:,} frames to {result.connected} viewers in "
          f"{playing.seconds:.1f} s; {result.paused}/{result.connected} pauses answered")
    print(f"   server memory (PSS, with its child processes): {mib(result.rss_before)} with no lab, "
          f"{mib(result.rss_labs)} "
          f"with the {len(result.labs)} labs (the first labs also start the snapshot packer's processes and fill "
          "caches; what one more lab takes is part 2's figure)")
    unwatched, paused = result.windows[1], result.windows[3]
    for w in (unwatched, paused):
        extra = w.pct - baseline.pct
        verdict = "met" if extra <= TARGET_IDLE_CPU_PCT else "NOT met"
        print(f"   {w.name}: {extra:+.2f}% of a core over the baseline (target <= {TARGET_IDLE_CPU_PCT:g}%: "
              f"{verdict}; playing and watched: {playing.pct - baseline.pct:+.2f}%)")
    verdict = "met" if result.paused_frames == 0 and result.paused == result.connected else "NOT met"
    print(f"   frames from the {result.connected} paused labs to their viewers over {result.frames_s:g} s: "
          f"{result.paused_frames} (at most {result.per_viewer_max} to one viewer; target 0: {verdict})")


# -- 2. a thousand labs in one process --------------------------------------------------------------


def vm_status(field: str) -> int:
    """A size from /proc/self/status, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def memory_child(count: int) -> None:
    """The ``--memory`` child: build ``count`` labs, watch each for one tick, print RSS as JSON."""
    from .kernel import setup_django

    var_dir = tempfile.mkdtemp(prefix="coordlab-bench-")
    try:
        setup_django(var_dir)
        from coordlab.frames import render_frame
        from coordlab.labs import registry
        from coordlab.labs.engine import Engine

        async def publish(lab_id: str, seq: int, fragments: list[str]) -> None:
            return None

        scenarios = list(registry.scenarios().values())
        engine = Engine(render_frame, publish, FRAMES_PER_SECOND)
        gc.collect()
        before = vm_status("VmRSS")
        started = time.monotonic()

        async def load() -> None:
            for index in range(count):
                lab = engine.start_lab(scenarios[index % len(scenarios)])
                engine.viewer_joined(lab.id)
                await engine.tick(1000 / FRAMES_PER_SECOND)
                engine.viewer_left(lab.id)

        asyncio.run(load())
        took = time.monotonic() - started
        gc.collect()
        after = vm_status("VmRSS")
        print(json.dumps({"labs": len(engine.labs), "kinds": len({s.slug for s in scenarios}), "before": before,
                          "after": after, "peak": vm_status("VmHWM"), "seconds": took}), flush=True)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def run_memory(count: int) -> dict:
    process = subprocess.Popen([PYTHON, "-m", "bench.idle", "--memory", str(count)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
    try:
        return json.loads(_read_line(process, 900))
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        if process.poll() is None:
            process.kill()
            process.wait()


def print_memory(result: dict) -> None:
    labs = result["labs"]
    per_lab = (result["after"] - result["before"]) / max(1, labs)
    print(f"2. {labs:,} labs in one process (the engine after django.setup(), no web server; round-robin over "
          f"{result['kinds']} scenarios; each watched for one tick, so it advanced 50 ms and rendered its first "
          f"frame, then idle), built in {result['seconds']:.0f} s")
    print(f"   VmRSS before {mib(result['before'])}, after {mib(result['after'])} (peak {mib(result['peak'])}); "
          f"{per_lab / 2**20:.2f} MiB per lab")
    if labs >= TARGET_LABS:
        total, what = result["after"], f"{labs:,} labs"
    else:
        total, what = result["before"] + per_lab * TARGET_LABS, f"{TARGET_LABS:,} labs extrapolated from {labs}"
    verdict = "met" if total <= TARGET_BYTES else "NOT met"
    print(f"   {what}: {total / 1e9:.2f} GB of RSS (target <= {TARGET_BYTES / 1e9:g} GB: {verdict})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run: K = 6, short windows, 100 labs")
    parser.add_argument("--only", choices=("server", "memory"), help="run one of the two parts")
    parser.add_argument("--memory", type=int, help=argparse.SUPPRESS)  # the child that loads the labs
    args = parser.parse_args(argv)
    if args.memory is not None:
        memory_child(args.memory)
        return
    scale = QUICK if args.quick else FULL
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    load = load_average()
    try:
        server = run_server(scale) if args.only in (None, "server") else None
        memory = run_memory(scale.memory_labs) if args.only in (None, "memory") else None
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"\nIdle cost ({'quick' if args.quick else 'full'}; {os.cpu_count()} cores, load average "
          f"{load} at the start, {load_average()} at the end)")
    if server is not None:
        print_server(server, scale)
    if memory is not None:
        print_memory(memory)
    log(f"(idle bench took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
