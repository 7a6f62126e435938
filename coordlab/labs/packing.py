"""A lab's simulation snapshot as the database stores it: the JSON text of the
generic codec, zlib-compressed and base64-encoded (about a fifteenth of its size).

Turning a checkpoint into that text means thawing the simulation and encoding
it: for an hour of Kafka traffic over a second of CPU, with stretches of a few
hundred milliseconds in C code that holds the interpreter lock. So the runtime
does it in a process of its own (``Packer``), where no viewer waits for it.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import zlib
from concurrent.futures import ProcessPoolExecutor

from .collector import give_back
from .lab import snapshot_text

#: a stored simulation snapshot that starts with this is zlib-compressed and base64-encoded
PACKED = "zlib:"


def pack(snapshot: str) -> str:
    """A simulation snapshot (JSON text) as stored."""
    return PACKED + base64.b64encode(zlib.compress(snapshot.encode(), 1)).decode("ascii")


def unpack(stored: str) -> str:
    """The snapshot that ``pack`` stored (plain JSON text is taken as it is)."""
    if stored.startswith(PACKED):
        return zlib.decompress(base64.b64decode(stored[len(PACKED):])).decode()
    return stored


def pack_frozen(frozen: bytes) -> tuple[str, int]:
    """A checkpoint (``lab.freeze``) as the database stores its snapshot, and the packer
    process's resident memory afterwards in bytes (it hands back what the simulation and its
    text took, but Python keeps part of it)."""
    packed = pack(snapshot_text(frozen))
    give_back()
    return packed, resident_bytes()


def resident_bytes() -> int:
    """This process's resident memory (VmRSS), 0 where /proc does not say."""
    try:
        with open("/proc/self/status") as status:
            line = next((line for line in status if line.startswith("VmRSS:")), "VmRSS: 0 kB")
    except OSError:
        return 0
    return int(line.split()[1]) * 1024


def end_with_parent() -> None:
    """The worker's start: it ends when the server ends, even by SIGKILL (Linux's parent-death
    signal), instead of holding its memory as an orphan."""
    parent = os.getppid()
    libc = ctypes.util.find_library("c")
    if libc is not None:
        ctypes.CDLL(libc).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the server ended before the signal was asked for
        os._exit(0)


PR_SET_PDEATHSIG = 1
#: a worker that holds more than this after a pack is ended (a new one starts for the next):
#: Python keeps most of the memory a big simulation took, and the worker would hold that peak
#: for as long as the server runs
RECYCLE_ABOVE_BYTES = 64 * 1024 * 1024


class Packer:
    """``pack_frozen`` in a worker process of its own, started on first use (spawned, not
    forked: the server's threads and sockets stay where they are), and started again when a
    big simulation left it large."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None

    def pack(self, frozen: bytes) -> str:
        """Blocks the calling thread (the saver's) until the worker process has packed it."""
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=end_with_parent)
        packed, resident = self.pool.submit(pack_frozen, frozen).result()
        if resident > RECYCLE_ABOVE_BYTES:
            self.pool.shutdown(wait=True)
            self.pool = None
        return packed

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
