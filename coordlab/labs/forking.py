"""Freezing a simulation in a forked child process.

Pickling a simulation holds the interpreter lock for as long as one ``pickle``
call takes: for a Kafka lab with minutes of 10x traffic, 100–250 ms in which no
other thread, the event loop included, runs. A forked child gets a copy of the
whole process at once (the kernel copies pages only when one side writes them),
so the lab is held only for the fork itself, a few milliseconds, and the
pickling runs in the child, on another core, under a lock of its own. The child
writes the frozen bytes to a pipe and exits at once (``os._exit``: no clean-up
of the parent's threads, sockets or files runs twice).
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from typing import Any

from .lab import freeze

CAN_FORK = hasattr(os, "fork")


@dataclass(frozen=True)
class Child:
    pid: int
    reader: int  # the read end of the pipe the child writes the frozen bytes to
    started: float


def freeze_in_child(sim: Any) -> Child:
    """Fork a child that freezes ``sim`` as it is at this moment; the parent goes on at once."""
    reader, writer = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: freeze, write, exit; nothing else of the parent's runs here
        status = 1
        try:
            os.close(reader)
            gc.disable()  # the collector would touch (and so copy) every page for nothing
            data = freeze(sim)
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
        raise RuntimeError(f"the child freezing a checkpoint ended with status {status}")
    return b"".join(chunks), time.perf_counter() - child.started
