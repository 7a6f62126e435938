"""Freezing a simulation, and jumping a lab ahead, in a forked child process.

Pickling a simulation holds the interpreter lock for as long as one ``pickle``
call takes: for a Kafka lab with minutes of 10x traffic, 100–250 ms in which no
other thread, the event loop included, runs. A forked child gets a copy of the
whole process at once (the kernel copies pages only when one side writes them),
so the lab is held only for the fork itself, a few milliseconds, and the
pickling runs in the child, on another core, under a lock of its own. The child
writes the frozen bytes to a pipe and exits at once (``os._exit``: no clean-up
of the parent's threads, sockets or files runs twice).

A long jump ahead (minutes of a busy Kafka lab: tens of CPU seconds) runs the
same way (``jump_in_child``): the child runs a copy of the lab to the jump's
end, says how far it got every ``PROGRESS_EVERY_S``, and hands back the
simulation it reached and its checkpoints; the lab stands still meanwhile. So
the jump runs on another core at full speed, and the server process never
holds the millions of short-lived objects the jump makes and drops (Python's
allocator would keep much of that memory for good, pinned by a few objects
that outlive the jump).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import gc
import os
import pickle
import signal
import struct
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from .lab import Lab, freeze

CAN_FORK = hasattr(os, "fork")
#: how often a jump ahead in a child says how far it got
PROGRESS_EVERY_S = 0.25
#: a message from a jumping child: its tag (``PROGRESS`` or ``DONE``) and the length of what follows
HEADER = struct.Struct("!cQ")
PROGRESS = b"P"  # followed by the virtual time reached, as 8 bytes
DONE = b"D"  # followed by the pickled handover (``Lab.handover``)


def end_with_parent() -> None:
    """A child's first step: it ends when the server ends, even by SIGKILL (Linux's
    parent-death signal), instead of holding its memory as an orphan."""
    parent = os.getppid()
    libc = ctypes.util.find_library("c")
    if libc is not None:
        ctypes.CDLL(libc).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the server ended before the signal was asked for
        os._exit(0)


PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


@dataclass(frozen=True)
class Child:
    pid: int
    reader: int  # the read end of the pipe the child writes the frozen bytes to
    started: float


def freeze_in_child(sim: Any) -> Child:
    """Fork a child that freezes ``sim`` as it is at this moment; the parent goes on at once."""
    return run_in_child(lambda: freeze(sim))


def run_in_child(work: Callable[[], bytes]) -> Child:
    """Fork a child that does ``work`` on the process as it is at this moment and writes the
    bytes it returns to a pipe (``collect``); the parent goes on at once."""
    reader, writer = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: work, write, exit; nothing else of the parent's runs here
        status = 1
        try:
            os.close(reader)
            end_with_parent()
            gc.disable()  # the collector would touch (and so copy) every page for nothing
            data = work()
            view = memoryview(data)
            while view:
                view = view[os.write(writer, view):]
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    return Child(pid, reader, started)


def collect(child: Child) -> tuple[bytes, float]:
    """The frozen bytes the child wrote and the seconds it took (blocks: call it in a thread)."""
    chunks = []
    with os.fdopen(child.reader, "rb") as pipe:
        while chunk := pipe.read(1 << 20):
            chunks.append(chunk)
    _, status = os.waitpid(child.pid, 0)
    if status != 0:
        raise RuntimeError(f"the child process ended with status {status}")
    return b"".join(chunks), time.perf_counter() - child.started


def jump_in_child(lab: Lab) -> Child:
    """Fork a child that runs ``lab``'s jump ahead (its job) to the end, writing its progress
    and then its handover to a pipe (``messages``); the parent goes on at once."""
    reader, writer = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: jump, write, exit
        status = 1
        try:
            os.close(reader)
            end_with_parent()
            gc.freeze()  # the collector leaves the parent's objects (and so their pages) alone
            with os.fdopen(writer, "wb") as out:
                handover = lab.handover(lambda now: _write(out, PROGRESS, now.to_bytes(8, "big")), PROGRESS_EVERY_S)
                _write(out, DONE, pickle.dumps(handover, protocol=pickle.HIGHEST_PROTOCOL))
            status = 0
        finally:
            os._exit(status)
    os.close(writer)
    return Child(pid, reader, started)


def _write(out: Any, tag: bytes, data: bytes) -> None:
    out.write(HEADER.pack(tag, len(data)))
    out.write(data)
    out.flush()


async def messages(child: Child) -> AsyncIterator[tuple[bytes, bytes]]:
    """The messages a jumping child writes, read on the event loop as they come, until it
    closes its end of the pipe."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                os.fdopen(child.reader, "rb", buffering=0))
    try:
        while True:
            try:
                header = await reader.readexactly(HEADER.size)
            except asyncio.IncompleteReadError as error:
                if error.partial:
                    raise
                return
            tag, length = HEADER.unpack(header)
            yield tag, await reader.readexactly(length)
    finally:
        transport.close()


def end(child: Child) -> int:
    """Stop a child if it still runs and reap it; its exit status."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signal.SIGKILL)
    try:
        return os.waitpid(child.pid, 0)[1]
    except ChildProcessError:
        return 0
