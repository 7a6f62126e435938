"""A class of sandboxes: N students, each with their own Kafka lab, on one server process.

For each N, one server is started as ``make run`` starts it (``python -m coordlab.serve``
on 127.0.0.1, the in-memory channel layer, SQLite, the engine at 20 ticks/s), with the
per-address sandbox limit raised (every student comes from 127.0.0.1 here) and
``COORDLAB_MAX_LABS`` at least N. Then each student, in a session of their own (own
cookie jar), GETs the catalog and POSTs ``/labs/new/kafka-shop/`` with the CSRF token, as
the catalog's button does (``bench.servers.start_owned_lab``), and watches their lab over
its WebSocket (same-origin ``Origin``, their session cookie).

The sockets are held by client processes of their own (this module with ``--watch``,
asyncio and ``websockets``), so the students' receiving does not share a process with the
server or with the bench. After a warm-up, over the measured window:

- frames per second each student got (the slowest student's is the target's);
- the p99 delay of the students' frames (arrival minus the frame's ``data-sent``);
- click-to-frame: one student changes their lab's speed every ``CLICK_EVERY_S``,
  alternating ``{"command": "speed", "speed": 2}`` and ``... 1``, and the delay from sending
  until the first frame whose ``#lab-status`` shows the new ``data-speed`` (speed, not
  pause/play, so that the clicking student's lab keeps moving and their frame rate still
  counts); also until the command's reply (the ``#lab-notice`` sent to them alone);
- the server's CPU: user+system time from /proc over the window, as a share of one core.

Targets (issue 15): at N = 30 every student gets at least 10 frames/s and a click shows
within 150 ms p99.

    python -m bench.classroom                      # N = 10, 30, 60 (``make bench``)
    python -m bench.classroom --quick              # N = 5 and 10, short windows
    python -m bench.classroom --students 30 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from websockets.asyncio.client import ClientConnection, connect

from .fanout import _read_line, load_average, log, percentile
from .labcost import REFERENCE_STEPS_PER_S, baseline
from .reader import SocketReader
from .servers import DAPHNE, PYTHON, ROOT, Server, cpu_seconds, die_with_parent, lab_server, start_owned_lab
from .viewers import SENT

LAB = "kafka-shop"  # the heaviest lab on the wire (bench.labcost)
FRAMES_PER_SECOND = 20  # the engine's ticks per second, as `make run`
TARGET_STUDENTS = 30
TARGET_FPS = 10.0
TARGET_CLICK_MS = 150.0
CLICK_EVERY_S = 0.5
CLICK_TIMEOUT_S = 5.0  # a click whose frame did not come by then counts as this late
SPEEDS = (2.0, 1.0)  # the clicks alternate between these

FRAME_START = b'<div id="lab-frame"'
STATUS_SPEED = re.compile(rb'id="lab-status"[^>]*?data-speed="([\d.]+)"')
NOTICE = b'id="lab-notice"'

OPEN_TIMEOUT = 30.0
CLOSE_TIMEOUT = 10.0
GO_TIMEOUT_S = 600.0
STARTERS = 4  # students starting their labs at once (HTTP requests in flight)
LOG_SLOW_TICK = "a tick took"


@dataclass(frozen=True)
class Scale:
    students: tuple[int, ...] = (10, 30, 60)
    warmup_s: float = 5.0
    seconds: float = 15.0
    clients: int = 2


FULL = Scale()
QUICK = Scale(students=(5, 10), warmup_s=2.0, seconds=5.0)


# -- the students' sockets, in a child process ----------------------------------------------


class Student(SocketReader):
    """One student's socket and what came on it inside the window."""

    def __init__(self, socket: ClientConnection) -> None:
        super().__init__(socket)
        self.frames = 0
        self.delays: list[float] = []
        #: the wall-clock window frames are counted in (set by ``GO``), and whether this is the
        #: clicking student, who notes the latest speed a frame showed and the replies
        self.window = [math.inf, math.inf]
        self.clicker = False
        self.speed: float | None = None
        self.notices = 0

    def take(self, data: bytes, received: float) -> bool:
        if data.startswith(FRAME_START):
            stamp = SENT.search(data, 0, 200)
            if stamp is not None and self.window[0] <= received < self.window[1]:
                self.frames += 1
                self.delays.append(round(received * 1000.0 - float(stamp.group(2)), 2))
            if self.clicker:
                speed = STATUS_SPEED.search(data)
                if speed is not None:
                    self.speed = float(speed.group(1))
                    return True
        elif self.clicker and NOTICE in data:
            self.notices += 1
            return True
        return False


async def _open(url: str, origin: str, cookie: str) -> Student | str:
    try:
        socket = await connect(url, origin=origin, compression=None, open_timeout=OPEN_TIMEOUT, ping_interval=None,
                               max_size=2**23, close_timeout=CLOSE_TIMEOUT, additional_headers={"Cookie": cookie})
    except Exception as error:  # reported by the parent
        return repr(error)[:200]
    return Student(socket)


async def one_click(student: Student, target: float) -> dict:
    """Set the lab's speed to ``target``; the ms until a frame showed it and until the reply came
    (None: not within ``CLICK_TIMEOUT_S``)."""
    notices = student.notices
    replied: float | None = None
    sent = time.monotonic()
    await student.socket.send(json.dumps({"command": "speed", "speed": target}))

    def shown() -> bool:
        nonlocal replied
        if replied is None and student.notices > notices:
            replied = (time.monotonic() - sent) * 1000.0
        return student.speed == target

    ok = await student.until(shown, sent + CLICK_TIMEOUT_S)
    frame_ms = (time.monotonic() - sent) * 1000.0 if ok else None
    if replied is None and await student.until(lambda: student.notices > notices, sent + CLICK_TIMEOUT_S):
        replied = (time.monotonic() - sent) * 1000.0  # the reply came after the frame
    return {"frame_ms": frame_ms, "reply_ms": replied, "sent": sent}


async def click(student: Student, end: float) -> list[dict]:
    """Change the lab's speed every ``CLICK_EVERY_S`` until ``end`` (monotonic), alternating ``SPEEDS``."""
    clicks: list[dict] = []
    while time.monotonic() < end and not student.closed:
        result = await one_click(student, SPEEDS[len(clicks) % 2])
        clicks.append({"frame_ms": result["frame_ms"], "reply_ms": result["reply_ms"]})
        await asyncio.sleep(max(0.0, result["sent"] + CLICK_EVERY_S - time.monotonic()))
    return clicks


async def watch() -> None:
    """The ``--watch`` child: a JSON line on stdin says which labs to watch with which cookies;
    connect them all, print ``READY``, measure the window from ``GO``, print the figures."""
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=2**24)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    spec = json.loads(await stdin.readline())
    opened = await asyncio.gather(*(_open(s["url"], spec["origin"], s["cookie"]) for s in spec["students"]))
    students = [s for s in opened if isinstance(s, Student)]
    failures = [s for s in opened if isinstance(s, str)]
    window = [math.inf, math.inf]
    clicker_index = spec["clicker"]
    clicker = opened[clicker_index] if 0 <= clicker_index < len(opened) else None
    for student in students:
        student.window, student.clicker = window, student is clicker
    readers = [student.start() for student in students]
    print("READY " + json.dumps({"connected": len(students), "failures": failures[:3]}), flush=True)
    try:
        line = (await asyncio.wait_for(stdin.readline(), GO_TIMEOUT_S)).decode()
    except TimeoutError:
        line = ""
    clicks: list[dict] = []
    if line.startswith("GO "):
        start, seconds = map(float, line.split()[1:3])
        window[:] = [start, start + seconds]
        await asyncio.sleep(max(0.0, start - time.time()))
        end = time.monotonic() + seconds
        if isinstance(clicker, Student):
            clicks = await click(clicker, end)
        await asyncio.sleep(max(0.0, end - time.monotonic()) + 0.2)  # the window's last frames are in
        print(json.dumps({
            "frames": [s.frames for s in students],
            "delays": [d for s in students for d in s.delays],
            "closed": [s.close_code for s in students if s.closed],
            "clicks": clicks,
        }), flush=True)
    closing = [asyncio.create_task(s.socket.close()) for s in students]
    if closing:
        await asyncio.wait(closing, timeout=CLOSE_TIMEOUT)
    for task in closing + readers:
        task.cancel()


# -- the parent ---------------------------------------------------------------------------------


@dataclass
class Row:
    students: int
    connected: int
    failures: list[str]
    seconds: float
    frames: list[int]
    delays: list[float]
    clicks: list[dict]
    cpu_s: float
    wall_s: float
    clients_cpu_s: float
    closed: list[int]
    slow_ticks: int
    slowest_tick_ms: float
    start_s: float  # how long starting the students' labs took

    @property
    def min_fps(self) -> float:
        return min(self.frames) / self.seconds if self.frames else 0.0

    @property
    def mean_fps(self) -> float:
        return statistics.mean(self.frames) / self.seconds if self.frames else 0.0

    def click_p99(self) -> float:
        times = sorted(CLICK_TIMEOUT_S * 1000 if c["frame_ms"] is None else c["frame_ms"] for c in self.clicks)
        return percentile(times, 0.99)

    def click_p50(self) -> float:
        times = sorted(CLICK_TIMEOUT_S * 1000 if c["frame_ms"] is None else c["frame_ms"] for c in self.clicks)
        return percentile(times, 0.50)

    def reply_p99(self) -> float:
        times = sorted(CLICK_TIMEOUT_S * 1000 if c["reply_ms"] is None else c["reply_ms"] for c in self.clicks)
        return percentile(times, 0.99)

    @property
    def cpu_ms_per_frame(self) -> float:
        frames = sum(self.frames)
        return self.cpu_s / frames * 1000.0 if frames else math.nan

    @property
    def cpu_pct(self) -> float:
        return self.cpu_s / self.wall_s * 100.0


def server_log(server: Server) -> str | None:
    """The server's log file (its stdout, which ``lab_server`` points at a file)."""
    with contextlib.suppress(OSError):
        return os.readlink(f"/proc/{server.pid}/fd/1")
    return None


def slow_ticks(path: str | None, offset: int) -> tuple[int, float, int]:
    """The engine's "a tick took N ms" warnings in the log after ``offset``: how many, the longest
    (ms), and the log's size now."""
    if path is None:
        return 0, 0.0, offset
    with contextlib.suppress(OSError), open(path, "rb") as log_file:
        log_file.seek(offset)
        text = log_file.read().decode(errors="replace")
        took = [float(m) for m in re.findall(LOG_SLOW_TICK + r" (\d+) ms", text)]
        return len(took), max(took, default=0.0), offset + len(text.encode())
    return 0, 0.0, offset


def start_students(server: Server, count: int) -> list[tuple[str, str]]:
    """``count`` students, each in a session of their own, start their own lab; (lab id, cookie) each."""
    with ThreadPoolExecutor(max_workers=STARTERS) as pool:
        return list(pool.map(lambda _: start_owned_lab(server.http_url, LAB), range(count)))


def measure(count: int, scale: Scale) -> Row:
    environment = {"COORDLAB_MAX_SANDBOXES_PER_ADDRESS": str(10 * count + 100),
                   "COORDLAB_MAX_LABS": str(max(100, count + 10))}
    with lab_server("daphne", DAPHNE, FRAMES_PER_SECOND, **environment) as server:
        began = time.monotonic()
        labs = start_students(server, count)
        start_s = time.monotonic() - began
        log(f"classroom: {count} students started their {LAB} labs in {start_s:.1f} s (server pid {server.pid})")
        ws = server.http_url.replace("http://", "ws://")
        students = [{"url": f"{ws}/ws/labs/{lab_id}/", "cookie": cookie} for lab_id, cookie in labs]
        clients = max(1, min(scale.clients, count))
        shares = [students[i::clients] for i in range(clients)]
        processes = [subprocess.Popen([PYTHON, "-m", "bench.classroom", "--watch"], cwd=ROOT, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
                     for _ in shares]
        try:
            for index, (process, share) in enumerate(zip(processes, shares, strict=True)):
                assert process.stdin is not None
                process.stdin.write(json.dumps({"origin": server.http_url, "students": share,
                                                "clicker": 0 if index == 0 else -1}) + "\n")
                process.stdin.flush()
            ready = [json.loads(_read_line(p, 120).removeprefix("READY ")) for p in processes]
            connected = sum(r["connected"] for r in ready)
            log(f"classroom: {connected}/{count} students watching; warming up {scale.warmup_s:g} s, "
                f"measuring {scale.seconds:g} s")
            time.sleep(scale.warmup_s)
            path = server_log(server)
            _, _, offset = slow_ticks(path, 0)
            clients_before = sum(cpu_seconds(p.pid) for p in processes)
            cpu_before, wall_start, started = cpu_seconds(server.pid), time.time(), time.monotonic()
            for process in processes:
                assert process.stdin is not None
                process.stdin.write(f"GO {wall_start:.6f} {scale.seconds}\n")
                process.stdin.flush()
            time.sleep(max(0.0, started + scale.seconds - time.monotonic()))
            cpu = cpu_seconds(server.pid) - cpu_before
            wall = time.monotonic() - started
            clients_cpu = sum(cpu_seconds(p.pid) for p in processes) - clients_before
            ticks, longest, _ = slow_ticks(path, offset)
            results = [json.loads(_read_line(p, scale.seconds + CLICK_TIMEOUT_S + 60)) for p in processes]
        finally:
            for process in processes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=CLOSE_TIMEOUT + 5)
                if process.poll() is None:
                    process.kill()
                    process.wait()
    return Row(count, connected, [f for r in ready for f in r["failures"]], scale.seconds,
               [n for r in results for n in r["frames"]], sorted(d for r in results for d in r["delays"]),
               [c for r in results for c in r["clicks"]], cpu, wall, clients_cpu,
               [c for r in results for c in r["closed"]], ticks, longest, start_s)


def print_report(rows: list[Row], scale: Scale, quick: bool, load: str) -> None:
    print(f"\nA class of sandboxes ({'quick' if quick else 'full'}; load average {load} at the start, "
          f"{load_average()} at the end): N students, each in their own session, "
          f"each starts their own {LAB} lab and watches it; one daphne server (python -m coordlab.serve, "
          f"{FRAMES_PER_SECOND} ticks/s) per N on 127.0.0.1, {os.cpu_count()} cores; the students' sockets in "
          f"{scale.clients} client processes; {scale.seconds:g} s measured after {scale.warmup_s:g} s warm-up")
    print(f"  {'students':>8}{'slowest':>9}{'mean':>7}{'p50 ms':>8}{'p99 ms':>8}{'clicks':>7}{'click p50':>10}"
          f"{'click p99':>10}{'reply p99':>10}{'CPU %':>7}{'ms/frame':>9}{'slow ticks':>11}")
    for row in rows:
        students = f"{row.students}" + ("" if row.connected == row.students else f"({row.connected})")
        print(f"  {students:>8}{row.min_fps:>9.2f}{row.mean_fps:>7.2f}{percentile(row.delays, 0.5):>8.1f}"
              f"{percentile(row.delays, 0.99):>8.1f}{len(row.clicks):>7}{row.click_p50():>10.0f}"
              f"{row.click_p99():>10.0f}{row.reply_p99():>10.0f}{row.cpu_pct:>7.1f}{row.cpu_ms_per_frame:>9.1f}"
              f"{row.slow_ticks:>6}"
              + (f" <{row.slowest_tick_ms:,.0f}" if row.slow_ticks else ""))
    print("  (slowest/mean: frames per second per student; p50/p99 ms: the students' frames, arrival minus the\n"
          "   frame's data-sent; click: one student switches their lab's speed 1x<->2x every "
          f"{CLICK_EVERY_S:g} s, ms until a frame\n"
          "   shows the new speed in #lab-status (reply: until their #lab-notice), a click not shown within "
          f"{CLICK_TIMEOUT_S:g} s counts\n"
          "   as that; CPU %: the server's user+system time over the window, of one core; ms/frame: that CPU\n"
          "   time over the frames all students got; slow ticks: the engine's \"a tick took\" warnings (over 150 ms)\n"
          "   in the window, and the longest)")
    for row in rows:
        extra = []
        if row.failures:
            extra.append(f"could not connect: {row.failures[0]}")
        if row.closed:
            extra.append(f"{len(row.closed)} socket(s) closed by the server, codes {sorted(set(row.closed))}")
        extra.append(f"starting the {row.students} labs took {row.start_s:.1f} s")
        extra.append(f"the client processes used {row.clients_cpu_s / row.wall_s * 100:.0f}% of one core together")
        print(f"  N={row.students}: " + "; ".join(extra))
    target = next((row for row in rows if row.students == TARGET_STUDENTS), None)
    if target is None:
        print(f"  (no row at N = {TARGET_STUDENTS}, so no verdict; run without --quick)")
        return
    fps_met = target.connected == target.students and target.min_fps >= TARGET_FPS
    click_met = bool(target.clicks) and target.click_p99() <= TARGET_CLICK_MS
    print(f"  N = {TARGET_STUDENTS}: slowest student {target.min_fps:.1f} frames/s (target >= {TARGET_FPS:g}: "
          f"{'met' if fps_met else 'NOT met'}); click-to-frame p99 {target.click_p99():.0f} ms over "
          f"{len(target.clicks)} clicks (target <= {TARGET_CLICK_MS:g} ms: {'met' if click_met else 'NOT met'}); "
          f"server CPU {target.cpu_pct:.0f}% of one core")


def print_speed(rows: list[Row], speed: float) -> None:
    """This machine's speed in the same run (it is shared, and changes by up to 3x over a day), and
    what the server's CPU per frame would be at the speed the targets were set at."""
    print(f"  baseline in this run: the bare heapq loop (bench.labcost) ran at {speed:.2f}x its speed when "
          "the targets were set")
    for row in rows:
        if row.cpu_ms_per_frame:
            at_reference = row.cpu_ms_per_frame * speed
            print(f"  N={row.students}: {row.cpu_ms_per_frame:.1f} ms of server CPU per frame as measured, "
                  f"{at_reference:.1f} ms at the reference speed: one core would then serve about "
                  f"{1000 / at_reference / row.students:.1f} frames/s to each of the {row.students} students")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run: N = 5 and 10, short windows")
    parser.add_argument("--students", type=int, nargs="+", help="values of N (default 10 30 60)")
    parser.add_argument("--seconds", type=float, help="measured window per N")
    parser.add_argument("--warmup", type=float, help="seconds after every student is watching")
    parser.add_argument("--clients", type=int, help="client processes holding the students' sockets")
    parser.add_argument("--watch", action="store_true", help=argparse.SUPPRESS)  # a client process
    args = parser.parse_args(argv)
    if args.watch:
        asyncio.run(watch())
        return
    base = QUICK if args.quick else FULL
    scale = Scale(tuple(args.students or base.students), base.warmup_s if args.warmup is None else args.warmup,
                  base.seconds if args.seconds is None else args.seconds, args.clients or base.clients)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started, load = time.monotonic(), load_average()
    try:
        before = baseline()
        rows = [measure(count, scale) for count in scale.students]
        speed = (before + baseline()) / 2 / REFERENCE_STEPS_PER_S
    finally:
        signal.signal(signal.SIGTERM, previous)
    print_report(rows, scale, args.quick, load)
    print_speed(rows, speed)
    log(f"(classroom bench took {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
