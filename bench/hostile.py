"""Hostile visitors: a command flood from one session and a long fast-forward, against a
real server (``python -m coordlab.serve`` on 127.0.0.1, as ``make run`` starts it).

Measured in one run, against one server process:

1. Flood. A sandbox of ``kafka-shop``, playing, watched by 20 anonymous viewers. Their
   frame rate and p99 frame delay (receive time minus the frame's ``data-sent`` stamp)
   are measured while nothing else happens (quiet), then while 10 sockets that share the
   sandbox owner's session cookie each send ``{"command": "play"}`` as fast as they can
   (flood; a socket the server closes is reopened after 0.1 s, as a hostile client would),
   then for a few seconds after the flooding sockets are closed (after). ``play``
   keeps the lab playing at its speed, so the viewers' frame rate can only drop because
   the server is busy, not because a flooder paused the lab. Printed: the flood's frame
   rate and p99 delay as a ratio of the quiet ones (target: >= 0.8x the quiet frame rate),
   what the flooders' commands got back, and how each flooding socket ended (closed by
   the server with which code, or still open when the bench closed it).
2. Forward. A sandbox of ``kafka-activity`` (the heaviest lab) gets ``10x load`` switched
   on and then a 600 s forward, while one viewer of another lab (``master-election``,
   playing) notes every frame's arrival. Printed: the longest gap between that viewer's
   frames during the forward (target: none over 200 ms), the longest in a quiet moment
   before it for reference, and how long the forward took: when its reply came (at once
   or when done, either is measured) and when the lab's clock (``data-now`` in its
   frames) showed the jump done.
3. The server's memory before, during (the peak, sampled every 100 ms) and after each of
   the two: the proportional set size (Pss from /proc/<pid>/smaps_rollup) of the server
   process and its children, so that a page a forked child shares with the server counts
   once, split between them (their VmRSS would count it twice: a checkpoint's child alive at
   the moment of a sample used to add up to the whole server again). After the flood =
   once the flooding sockets are closed and the after-window has passed; after the
   forward = once its lab was closed over HTTP (as its owner's "close" button does) and
   a few seconds passed. Target: after within 10% of before. A shorter jump ahead (60 s)
   of another such lab runs first and is printed apart: the first one in a process also
   pays for what any first time costs (forking its child, code paths and caches), which
   is not what a jump ahead leaves behind.

Viewers run in a child process of their own (this module with ``--record``), so their
receive times are not delayed by the flooders in this process. Every loop is bounded in
time and in count.

    python -m bench.hostile                 # full scale (``make bench``)
    python -m bench.hostile --quick         # small: 3 s flood, 60 s forward (the test's)
    python -m bench.hostile --only forward  # one of the two
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import http.client
import itertools
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from .fanout import _read_line, log, percentile
from .reader import SocketReader
from .servers import DAPHNE, PYTHON, ROOT, Server, _descendants, die_with_parent, lab_server, start_owned_lab
from .viewers import SENT

FRAMES_PER_SECOND = 20  # as `make run`
FLOOD_LAB = "kafka-shop"
FORWARD_LAB = "kafka-activity"
OTHER_LAB = "master-election"
FLOOD_COMMAND = json.dumps({"command": "play"})
TOGGLE_COMMAND = json.dumps({"command": "toggle", "name": "ten-x", "on": True})

TARGET_FPS_RATIO = 0.8
TARGET_GAP_MS = 200.0
TARGET_MEMORY_RATIO = 1.10
WARM_UP_FORWARD_S = 60
MEMORY_EVERY_S = 0.1

FRAME_START = b'<div id="lab-frame"'
NOTICE = re.compile(rb'id="lab-notice" class="notice (ok|error)"[^>]*>(.*?)</div>', re.S)
NOW = re.compile(rb'data-now="(\d+)"')
TAG = re.compile(r"<[^>]+>")

OPEN_TIMEOUT = 30.0
CLOSE_TIMEOUT = 10.0
REPLY_TIMEOUT = 15.0
MAX_COMMANDS_PER_FLOODER = 5_000_000  # the time limit ends a flood long before this
MAX_SOCKETS_PER_SLOT = 250  # a flood's socket that the server closes is reopened at most this often
RECONNECT_PAUSE_S = 0.1
MAX_FRAMES_PER_VIEWER = 200_000
MAX_NOTICES_KEPT = 50
RECORDER_LIFETIME_S = 1800.0  # a recorder child ends itself after this even if never told to


@dataclass(frozen=True)
class Scale:
    """How big and how long each part is."""

    viewers: int = 20
    flooders: int = 10
    warmup_s: float = 2.0
    quiet_s: float = 10.0
    flood_s: float = 20.0
    after_s: float = 5.0
    forward_s: int = 600
    forward_timeout_s: float = 300.0
    reference_s: float = 3.0
    settle_s: float = 5.0


FULL = Scale()
QUICK = Scale(warmup_s=1.0, quiet_s=3.0, flood_s=3.0, after_s=2.0, forward_s=60, forward_timeout_s=120.0,
              reference_s=2.0, settle_s=2.0)


# -- memory ------------------------------------------------------------------------


def memory_bytes(pid: int) -> int:
    """The memory a process and its children use together, in bytes: the sum of their
    proportional set sizes (a page shared by n of them counts 1/n in each)."""
    total = 0
    for process in _descendants(pid):
        with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{process}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


class MemorySampler:
    """Samples a server's memory (``memory_bytes``) every ``MEMORY_EVERY_S`` in a thread and keeps the
    peak since ``mark``."""

    def __init__(self, pid: int, lifetime_s: float = 3600.0) -> None:
        self.pid = pid
        self.lifetime_s = lifetime_s
        self.peak = 0
        self._marks = 0  # a sample taken before the latest mark must not count after it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        ends = time.monotonic() + self.lifetime_s
        while not self._stop.wait(MEMORY_EVERY_S) and time.monotonic() < ends:
            marks = self._marks
            value = memory_bytes(self.pid)
            with self._lock:
                if marks == self._marks:
                    self.peak = max(self.peak, value)

    def mark(self) -> int:
        """The memory now, which also starts a new peak."""
        value = memory_bytes(self.pid)
        with self._lock:
            self.peak = value
            self._marks += 1
        return value

    def peak_since_mark(self) -> int:
        """The most memory sampled since ``mark`` (the current one included)."""
        value = memory_bytes(self.pid)
        with self._lock:
            return max(self.peak, value)


@dataclass
class Memory:
    """Memory before, at the peak during, and after one part, and what "after" means."""

    before: int
    peak: int
    after: int
    after_means: str

    def line(self) -> str:
        ratio = self.after / self.before if self.before else math.nan
        verdict = "met" if ratio <= TARGET_MEMORY_RATIO else "NOT met"
        return (f"server memory (PSS, with its children): before {mib(self.before)}, peak during {mib(self.peak)}, "
                f"after {mib(self.after)} "
                f"({self.after_means}): after/before {ratio:.2f}x "
                f"(target <= {TARGET_MEMORY_RATIO:.2f}x: {verdict})")


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


# -- viewers in a child process ---------------------------------------------------


class Tape:
    """One viewer's socket and the arrival time and delay of every frame it got."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.arrivals: list[float] = []
        self.delays: list[float] = []
        self.closed: dict | None = None

    async def read(self) -> None:
        """Note every frame until the socket closes (or ``MAX_FRAMES_PER_VIEWER`` are noted)."""
        try:
            while True:
                data = await self.socket.recv(decode=False)
                received = time.time()
                stamp = SENT.search(data, 0, 200) if data.startswith(FRAME_START) else None
                if stamp is not None and len(self.arrivals) < MAX_FRAMES_PER_VIEWER:
                    self.arrivals.append(round(received, 4))
                    self.delays.append(round(received * 1000.0 - float(stamp.group(2)), 2))
        except ConnectionClosed:
            self.closed = {"at": time.time(), "code": self.socket.close_code, "reason": self.socket.close_reason}

    def as_data(self) -> dict:
        return {"arrivals": self.arrivals, "delays": self.delays, "closed": self.closed}


async def _open_tape(url: str, origin: str) -> Tape | None:
    try:
        socket = await connect(url, origin=origin, compression=None, open_timeout=OPEN_TIMEOUT,
                               ping_interval=None, max_size=2**22, close_timeout=CLOSE_TIMEOUT)
    except Exception as error:  # reported by the count of connected viewers
        print(f"hostile recorder: could not connect: {error!r}", file=sys.stderr, flush=True)
        return None
    return Tape(socket)


async def record(url: str, origin: str, count: int) -> None:
    """The ``--record`` child: hold ``count`` viewers of ``url``, print ``READY``, note every
    frame until a line (``END``) or end of file on stdin, then print all of it as JSON."""
    tapes = [tape for tape in await asyncio.gather(*(_open_tape(url, origin) for _ in range(count))) if tape]
    readers = [asyncio.create_task(tape.read()) for tape in tapes]
    print("READY " + json.dumps({"connected": len(tapes)}), flush=True)
    stdin = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stdin.readline(), RECORDER_LIFETIME_S)
    print(json.dumps({"viewers": [tape.as_data() for tape in tapes]}), flush=True)
    closing = [asyncio.create_task(tape.socket.close()) for tape in tapes]
    if closing:
        await asyncio.wait(closing, timeout=CLOSE_TIMEOUT)
    for task in closing + readers:
        task.cancel()


class Recorder:
    """A ``--record`` child process holding viewers of one lab; ``finish`` returns their tapes."""

    def __init__(self, ws_url: str, origin: str, count: int) -> None:
        self.process = subprocess.Popen(
            [PYTHON, "-m", "bench.hostile", "--record", "--url", ws_url, "--origin", origin, "--count", str(count)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
        self.connected = 0

    def ready(self) -> None:
        """Wait until the child has connected its viewers (``connected`` says how many did)."""
        self.connected = json.loads(_read_line(self.process, 120).removeprefix("READY "))["connected"]

    def finish(self) -> list[dict]:
        """Stop recording; every viewer's frames (``arrivals``, ``delays``) and how it closed."""
        assert self.process.stdin is not None
        self.process.stdin.write("END\n")
        self.process.stdin.flush()
        viewers: list[dict] = json.loads(_read_line(self.process, 60))["viewers"]
        self.stop()
        return viewers

    def stop(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=CLOSE_TIMEOUT + 5)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def recorder(ws_url: str, origin: str, count: int) -> Iterator[Recorder]:
    """A ``Recorder`` that is killed on the way out if it was not finished."""
    child = Recorder(ws_url, origin, count)
    try:
        child.ready()
        yield child
    finally:
        if child.process.poll() is None:
            child.process.kill()
            child.process.wait()


@dataclass
class Window:
    """What a set of viewers got between two wall-clock times."""

    name: str
    seconds: float
    fps: float  # mean per viewer
    min_fps: float  # the slowest viewer
    p50: float
    p99: float


def window(name: str, tapes: list[dict], start: float, end: float) -> Window:
    """Frame rate and delay percentiles of ``tapes`` for frames that arrived in [start, end)."""
    seconds = max(end - start, 1e-9)
    counts, delays = [], []
    for tape in tapes:
        inside = [delay for at, delay in zip(tape["arrivals"], tape["delays"], strict=True) if start <= at < end]
        counts.append(len(inside))
        delays.extend(inside)
    delays.sort()
    return Window(name, end - start, statistics.mean(counts) / seconds if counts else 0.0,
                  min(counts) / seconds if counts else 0.0, percentile(delays, 0.5), percentile(delays, 0.99))


def longest_gap(arrivals: list[float], start: float, end: float) -> float:
    """The longest time in seconds between two frames (or between ``start`` or ``end`` and the
    nearest frame) in a stretch that overlaps [start, end)."""
    times = [start, *[at for at in arrivals if start < at < end], end]
    before = [at for at in arrivals if at <= start]
    after = [at for at in arrivals if at >= end]
    if before:
        times[0] = before[-1]
    if after:
        times[-1] = after[0]
    return max(b - a for a, b in itertools.pairwise(times))


def closed_by_server(tapes: list[dict]) -> Counter:
    """How many viewers the server closed, by close code."""
    return Counter(str(tape["closed"]["code"]) for tape in tapes if tape["closed"])


def closed_viewers(codes: Counter) -> str:
    return "viewers the server closed: " + ", ".join(f"{n} with code {code}" for code, n in codes.items())


# -- talking to the server ----------------------------------------------------------


def ws_url(server: Server, lab_id: str) -> str:
    return server.http_url.replace("http://", "ws://") + f"/ws/labs/{lab_id}/"


def cookie_value(cookie: str, name: str) -> str:
    """One cookie's value from a ``Cookie`` header."""
    for part in cookie.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    raise KeyError(name)


def close_lab(server: Server, lab_id: str, cookie: str) -> int:
    """POST /labs/<id>/close/ as the lab's owner (as its "close" button does); the HTTP status."""
    address = urllib.parse.urlparse(server.http_url)
    connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=60)
    try:
        connection.request("POST", f"/labs/{lab_id}/close/", body=b"", headers={
            "Cookie": cookie, "X-CSRFToken": cookie_value(cookie, "csrftoken"),
            "Referer": server.http_url + "/", "Origin": server.http_url, "Content-Length": "0"})
        return connection.getresponse().status
    finally:
        connection.close()


def notice_text(raw: bytes) -> str:
    return html.unescape(TAG.sub("", raw.decode(errors="replace"))).strip()


def short(text: str, limit: int = 90) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- 1. the flood ---------------------------------------------------------------------


@dataclass
class Flooder:
    """One flooding socket: what it sent, what came back, and how it ended."""

    socket: ClientConnection | None
    failed: str = ""  # why it could not connect
    sent: int = 0
    frames: int = 0
    done: int = 0
    refused: int = 0
    refusals: Counter = field(default_factory=Counter)
    ended_after: float | None = None  # seconds into the flood when its reader saw it close
    closed_by_server: bool = False  # the server closed it (or dropped it) before the bench did
    code: int | None = None
    reason: str = ""

    def ending(self) -> str:
        """How this socket ended, in words."""
        if self.socket is None:
            return f"could not connect ({short(self.failed, 60)})"
        reason = f' "{short(self.reason, 50)}"' if self.reason else ""
        if self.closed_by_server:
            return f"closed by the server with code {self.code}{reason}"
        if self.code is None or self.code == 1006:
            return "open at the end of the flood, closed by the bench; the server did not answer the close"
        return f"open at the end of the flood, closed by the bench (the server answered {self.code}{reason})"


async def _open_flooder(url: str, origin: str, cookie: str) -> Flooder:
    try:
        socket = await connect(url, origin=origin, compression=None, open_timeout=OPEN_TIMEOUT, ping_interval=None,
                               max_size=2**22, close_timeout=CLOSE_TIMEOUT, additional_headers={"Cookie": cookie})
    except Exception as error:
        return Flooder(None, failed=repr(error))
    return Flooder(socket)


async def _drain(flooder: Flooder, started: float) -> None:
    """Read what the server sends a flooder (frames, replies) until it closes."""
    assert flooder.socket is not None
    try:
        while True:
            data = await flooder.socket.recv(decode=False)
            if data.startswith(FRAME_START):
                flooder.frames += 1
                continue
            notice = NOTICE.search(data)
            if notice is None:
                continue
            if notice.group(1) == b"ok":
                flooder.done += 1
            else:
                flooder.refused += 1
                if len(flooder.refusals) < 5 or notice.group(2) in flooder.refusals:
                    flooder.refusals[notice.group(2)] += 1
    except ConnectionClosed:
        flooder.ended_after = time.monotonic() - started


async def _flood(flooder: Flooder, deadline: float) -> bool:
    """Send ``FLOOD_COMMAND`` as fast as the socket takes it until ``deadline`` (loop time);
    True if the connection closed first."""
    assert flooder.socket is not None
    try:
        async with asyncio.timeout_at(deadline):
            while flooder.sent < MAX_COMMANDS_PER_FLOODER:
                await flooder.socket.send(FLOOD_COMMAND)
                flooder.sent += 1
                await asyncio.sleep(0)  # let the other flooders and the readers run
    except TimeoutError:
        return False
    except ConnectionClosed:
        return True
    return False


async def _slot(flooder: Flooder, url: str, origin: str, cookie: str, deadline: float, started: float,
                flooders: list[Flooder], readers: list[asyncio.Task[None]]) -> None:
    """One of the flood's sockets: flood on it, and when the server closes it (or refuses
    it), open another after ``RECONNECT_PAUSE_S``, as a hostile client would, until ``deadline``."""
    loop = asyncio.get_running_loop()
    for _ in range(MAX_SOCKETS_PER_SLOT):
        if flooder.socket is not None:
            readers.append(asyncio.create_task(_drain(flooder, started)))
            flooder.closed_by_server = await _flood(flooder, deadline)
        if loop.time() + RECONNECT_PAUSE_S >= deadline:
            return
        await asyncio.sleep(RECONNECT_PAUSE_S)
        try:
            async with asyncio.timeout_at(deadline):
                flooder = await _open_flooder(url, origin, cookie)
        except TimeoutError:
            return
        flooders.append(flooder)


async def flood(url: str, origin: str, cookie: str, count: int, seconds: float) -> tuple[float, float, list[Flooder]]:
    """Open ``count`` sockets with one session's cookie, flood for ``seconds`` (reopening any
    the server closes), then close those still open. Returns the flood's start and end (wall
    clock) and every socket it opened or tried to."""
    flooders = list(await asyncio.gather(*(_open_flooder(url, origin, cookie) for _ in range(count))))
    started_wall, started = time.time(), time.monotonic()
    readers: list[asyncio.Task[None]] = []
    deadline = asyncio.get_running_loop().time() + seconds
    await asyncio.gather(*(_slot(f, url, origin, cookie, deadline, started, flooders, readers) for f in list(flooders)))
    ended_wall = time.time()
    live = [f for f in flooders if f.socket is not None]
    closing = [asyncio.create_task(f.socket.close()) for f in live if f.socket is not None and not f.closed_by_server]
    if closing:
        await asyncio.wait(closing, timeout=CLOSE_TIMEOUT + 5)
    if readers:
        await asyncio.wait(readers, timeout=5)
    for task in closing + readers:
        task.cancel()
    for flooder in live:
        assert flooder.socket is not None
        flooder.code, flooder.reason = flooder.socket.close_code, flooder.socket.close_reason or ""
        # The server began the closing handshake, even if the bench's close crossed it.
        flooder.closed_by_server |= bool(flooder.socket.protocol.close_rcvd_then_sent)
    return started_wall, ended_wall, flooders


@dataclass
class FloodResult:
    connected: int
    windows: list[Window]
    flooders: list[Flooder]
    flood_seconds: float
    memory: Memory
    viewers_closed: Counter


def run_flood(server: Server, rss: MemorySampler, scale: Scale) -> FloodResult:
    """Part 1: viewers of a sandbox, quiet, then flooded by its owner's session, then after."""
    lab_id, cookie = start_owned_lab(server.http_url, FLOOD_LAB)
    url = ws_url(server, lab_id)
    log(f"flood: lab {lab_id} ({FLOOD_LAB}); {scale.viewers} viewers connecting")
    with recorder(url, server.http_url, scale.viewers) as viewers:
        time.sleep(scale.warmup_s)
        quiet_start = time.time()
        time.sleep(scale.quiet_s)
        before = rss.mark()
        log(f"flood: {scale.flooders} sockets of one session flooding for {scale.flood_s:g} s")
        start, end, flooders = asyncio.run(flood(url, server.http_url, cookie, scale.flooders, scale.flood_s))
        peak = rss.peak_since_mark()
        closed = time.time()
        log(f"flood: over; the flooding sockets were closed {closed - end:.1f} s after it; "
            f"watching {scale.after_s:g} s more")
        time.sleep(scale.after_s)
        after = memory_bytes(server.pid)
        tapes = viewers.finish()
        connected = viewers.connected
    windows = [window("quiet", tapes, quiet_start, quiet_start + scale.quiet_s),
               window("flood", tapes, start, end),
               window("after", tapes, closed, closed + scale.after_s)]
    memory = Memory(before, peak, after, f"flooding sockets closed, then {scale.after_s:g} s")
    return FloodResult(connected, windows, flooders, end - start, memory, closed_by_server(tapes))


def print_flood(result: FloodResult, scale: Scale) -> None:
    print(f"1. Flood: a {FLOOD_LAB} sandbox watched by {scale.viewers} viewers "
          f"({result.connected} connected); {scale.flooders} sockets sharing its owner's session cookie "
          f"send {FLOOD_COMMAND} as fast as they can for {scale.flood_s:g} s")
    print(f"   {'window':<8}{'seconds':>8}{'frames/s':>10}{'slowest':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for w in result.windows:
        print(f"   {w.name:<8}{w.seconds:>8.1f}{w.fps:>10.2f}{w.min_fps:>9.2f}{w.p50:>9.1f}{w.p99:>9.1f}")
    print("   (frames/s counts arrivals per viewer: frames held up by a stall may arrive later, faster than the\n"
          "    lab's rate; slowest: the viewer that got fewest; delay: arrival minus the frame's data-sent)")
    quiet, during = result.windows[0], result.windows[1]
    fps_ratio = during.fps / quiet.fps if quiet.fps else math.nan
    verdict = "met" if fps_ratio >= TARGET_FPS_RATIO else "NOT met"
    print(f"   flood vs quiet: frame rate {fps_ratio:.2f}x (target >= {TARGET_FPS_RATIO:g}x: {verdict}), "
          f"p99 delay {during.p99 / quiet.p99 if quiet.p99 else math.nan:.2f}x "
          f"({quiet.p99:.1f} ms -> {during.p99:.1f} ms)")
    sent = sum(f.sent for f in result.flooders)
    done, refused = sum(f.done for f in result.flooders), sum(f.refused for f in result.flooders)
    print(f"   flooders sent {sent:,} commands ({sent / max(result.flood_seconds, 1e-9):,.0f}/s); replies read: "
          f"{done:,} done, {refused:,} refused; frames read: {sum(f.frames for f in result.flooders):,}")
    refusals: Counter = Counter()
    for flooder in result.flooders:
        refusals.update(flooder.refusals)
    for text, count in refusals.most_common(3):
        print(f'     refused {count:,}x: "{short(notice_text(text).removeprefix("Not done:").strip())}"')
    endings = Counter(f.ending() for f in result.flooders)
    print(f"   how the flooding sockets ended ({len(result.flooders)} opened or tried, {scale.flooders} at a time; "
          f"one the server closes is reopened after {RECONNECT_PAUSE_S:g} s):")
    for text, n in endings.most_common(6):
        print(f"     {n:>4} {text}")
    early = sorted(f.ended_after for f in result.flooders if f.closed_by_server and f.ended_after is not None)
    if early:
        print(f"     the server closed them {early[0]:.2f}-{early[-1]:.2f} s into the flood")
    if result.viewers_closed:
        print("   " + closed_viewers(result.viewers_closed))
    print("   " + result.memory.line())


# -- 2. the forward -------------------------------------------------------------------


class LabReader(SocketReader):
    """Reads one lab socket in the background: the lab's clock from its frames, and replies."""

    def __init__(self, socket: ClientConnection) -> None:
        super().__init__(socket)
        self.now: int | None = None  # virtual ms, from the latest frame that carried it
        self.notices: list[tuple[float, bool, str]] = []  # (wall time, ok, text)
        self.start()

    def take(self, data: bytes, received: float) -> bool:
        if data.startswith(FRAME_START):
            now = NOW.search(data)
            if now is not None:
                self.now = int(now.group(1))
        else:
            notice = NOTICE.search(data)
            if notice is not None and len(self.notices) < MAX_NOTICES_KEPT:
                self.notices.append((received, notice.group(1) == b"ok", notice_text(notice.group(2))))
        return True

    async def command(self, text: str, timeout: float) -> tuple[bool, str] | None:
        """Send a command and wait for the reply (None if none came in time)."""
        seen = len(self.notices)
        await self.socket.send(text)
        if not await self.until(lambda: len(self.notices) > seen, time.monotonic() + timeout):
            return None
        _, ok, reply = self.notices[seen]
        return ok, reply


@dataclass
class ForwardRun:
    """What the forward's owner saw: when the reply came, and when the clock showed it done."""

    toggle: tuple[bool, str] | None = None
    begin: int | None = None  # the lab's virtual ms in its last frame before the forward
    started: float = 0.0  # wall clock, when the forward was sent
    replies: list[tuple[float, bool, str]] = field(default_factory=list)  # (seconds after sending, ok, text)
    clock_done_after: float | None = None
    timed_out: bool = False

    @property
    def refused(self) -> bool:
        return bool(self.replies) and not self.replies[0][1]

    @property
    def took(self) -> float | None:
        """Seconds until both the first reply came and the clock showed the jump (None if not done)."""
        if self.refused or self.clock_done_after is None or not self.replies:
            return None
        return max(self.clock_done_after, self.replies[0][0])


async def forward(url: str, origin: str, cookie: str, seconds: int, timeout: float) -> ForwardRun:
    """Switch the lab's 10x load on, forward ``seconds`` and wait until it is done (bounded)."""
    run = ForwardRun()
    async with connect(url, origin=origin, compression=None, open_timeout=OPEN_TIMEOUT, ping_interval=None,
                       max_size=2**24, close_timeout=CLOSE_TIMEOUT, additional_headers={"Cookie": cookie}) as socket:
        reader = LabReader(socket)
        await reader.until(lambda: reader.now is not None, time.monotonic() + REPLY_TIMEOUT)
        run.toggle = await reader.command(TOGGLE_COMMAND, REPLY_TIMEOUT)
        run.begin = reader.now
        target = (reader.now or 0) + seconds * 1000
        seen = len(reader.notices)
        run.started, sent = time.time(), time.monotonic()
        await socket.send(json.dumps({"command": "forward", "seconds": seconds}))

        def progress() -> bool:
            if run.clock_done_after is None and reader.now is not None and reader.now >= target:
                run.clock_done_after = time.monotonic() - sent
            replies = reader.notices[seen:]
            refused = bool(replies) and not replies[0][1]
            return refused or (run.clock_done_after is not None and bool(replies))

        run.timed_out = not await reader.until(progress, sent + timeout)
        run.replies = [(at - run.started, ok, text) for at, ok, text in reader.notices[seen:]]
        reader.task.cancel()
    return run


@dataclass
class ForwardResult:
    run: ForwardRun
    seconds: int
    other_connected: int
    reference_gap: float
    gap: float
    frames_during: int
    window_s: float
    closed_status: int
    memory: Memory
    viewers_closed: Counter
    warm_up: Memory | None = None  # the same, on a shorter forward run first in this process


def run_forward(server: Server, rss: MemorySampler, scale: Scale) -> ForwardResult:
    """Part 2: a long forward of the heaviest lab while a viewer of another lab notes its frames."""
    lab_id, cookie = start_owned_lab(server.http_url, FORWARD_LAB)
    other_id, _ = start_owned_lab(server.http_url, OTHER_LAB)
    log(f"forward: lab {lab_id} ({FORWARD_LAB}); a viewer of lab {other_id} ({OTHER_LAB})")
    with recorder(ws_url(server, other_id), server.http_url, 1) as viewer:
        time.sleep(scale.warmup_s)
        reference_start = time.time()
        time.sleep(scale.reference_s)
        before = rss.mark()
        log(f"forward: 10x load on, forward {scale.forward_s} s (waiting at most {scale.forward_timeout_s:g} s)")
        run = asyncio.run(forward(ws_url(server, lab_id), server.http_url, cookie, scale.forward_s,
                                  scale.forward_timeout_s))
        ended = time.time()
        peak = rss.peak_since_mark()
        status = close_lab(server, lab_id, cookie)
        time.sleep(scale.settle_s)
        after = memory_bytes(server.pid)
        tapes = viewer.finish()
        connected = viewer.connected
    arrivals = tapes[0]["arrivals"] if tapes else []
    what = "its lab closed over HTTP" if status in (302, 303) else f"closing its lab answered {status}: left idle"
    return ForwardResult(
        run, scale.forward_s, connected,
        reference_gap=longest_gap(arrivals, reference_start, reference_start + scale.reference_s),
        gap=longest_gap(arrivals, run.started, ended),
        frames_during=sum(run.started <= at < ended for at in arrivals), window_s=ended - run.started,
        closed_status=status, memory=Memory(before, peak, after, f"forward over, {what}, then {scale.settle_s:g} s"),
        viewers_closed=closed_by_server(tapes))


def print_forward(result: ForwardResult, scale: Scale) -> None:
    run = result.run
    print(f"2. Forward: a {FORWARD_LAB} sandbox, 10x load on, forward {result.seconds} s, while a viewer of "
          f"a {OTHER_LAB} lab (playing; {result.other_connected} connected) notes every frame")
    toggle = "no reply" if run.toggle is None else f'{"done" if run.toggle[0] else "REFUSED"}: "{short(run.toggle[1])}"'
    print(f"   10x load: {toggle}")
    if run.replies:
        at, ok, text = run.replies[0]
        print(f'   forward: first reply after {at:.2f} s, {"done" if ok else "REFUSED"}: "{short(text)}"')
        if len(run.replies) > 1:
            at, ok, text = run.replies[-1]
            print(f'            last of {len(run.replies)} replies after {at:.2f} s: "{short(text)}"')
    else:
        print("   forward: no reply")
    clock = ("never within the wait" if run.clock_done_after is None else f"after {run.clock_done_after:.2f} s")
    took = ("did not finish" + (f" within {scale.forward_timeout_s:g} s" if run.timed_out else "")
            if run.took is None else f"{run.took:.2f} s")
    begin = "(no frame showed it before)" if run.begin is None else f"from {run.begin / 1000:.1f} s"
    print(f"   the lab's clock (data-now) showed +{result.seconds} s {begin} {clock}; the forward took {took}")
    verdict = "met" if result.gap * 1000 <= TARGET_GAP_MS else "NOT met"
    print(f"   other lab's viewer: longest gap between frames during the forward {result.gap * 1000:,.0f} ms "
          f"(target <= {TARGET_GAP_MS:g} ms: {verdict}); {result.frames_during} frame(s) in those "
          f"{result.window_s:.1f} s; longest gap in {scale.reference_s:g} quiet s before: "
          f"{result.reference_gap * 1000:,.0f} ms")
    if result.viewers_closed:
        print("   " + closed_viewers(result.viewers_closed))
    if result.warm_up is not None:
        print(f"   first, a {WARM_UP_FORWARD_S} s jump ahead of another such lab, the first in this process: "
              + result.warm_up.line())
    print("   " + result.memory.line())


# -- the whole bench -------------------------------------------------------------------


def run(scale: Scale, parts: list[str], quick: bool) -> None:
    """Start one server, run the parts against it, print what they measured."""
    with lab_server("daphne", DAPHNE, FRAMES_PER_SECOND) as server, MemorySampler(server.pid) as rss:
        log(f"hostile: server pid {server.pid} at {server.http_url}")
        flood_result = run_flood(server, rss, scale) if "flood" in parts else None
        forward_result = None
        if "forward" in parts:
            # The first jump ahead in a process also pays for what any first time costs (forking its child,
            # the code paths and caches of a lab that far ahead): a shorter one goes first, and its memory is
            # printed apart, so that the measured one shows what a jump ahead leaves behind.
            warm_up = run_forward(server, rss, replace(scale, forward_s=WARM_UP_FORWARD_S))
            forward_result = replace(run_forward(server, rss, scale), warm_up=warm_up.memory)
    print(f"\nHostile visitors ({'quick' if quick else 'full scale'}): one daphne server "
          f"(python -m coordlab.serve, {FRAMES_PER_SECOND} frames/s) on 127.0.0.1, {os.cpu_count()} cores; "
          f"the bench's clients share the machine")
    if flood_result is not None:
        print_flood(flood_result, scale)
    if forward_result is not None:
        print_forward(forward_result, scale)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run: 3 s flood, 60 s forward")
    parser.add_argument("--only", choices=("flood", "forward"), help="run one of the two parts")
    parser.add_argument("--record", action="store_true", help=argparse.SUPPRESS)  # the viewers' child process
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--origin", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.record:
        asyncio.run(record(args.url, args.origin, args.count))
        return
    # On SIGTERM unwind normally, so every ``finally`` stops the server and children it started.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    try:
        run(QUICK if args.quick else FULL, [args.only] if args.only else ["flood", "forward"], args.quick)
    finally:
        signal.signal(signal.SIGTERM, previous)
    log(f"(hostile bench took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
