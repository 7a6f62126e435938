"""A lab's simulation snapshot as the database stores it: the JSON text of the
generic codec, zlib-compressed and base64-encoded (about a fifteenth of its size).

Turning a checkpoint into that text means thawing the simulation and encoding
it: for an hour of Kafka traffic over a second of CPU, with stretches of a few
hundred milliseconds in C code that holds the interpreter lock. So the runtime
does it in a process of its own (``Packer``), where no viewer waits for it.
"""

from __future__ import annotations

import base64
import multiprocessing
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


def pack_frozen(frozen: bytes) -> str:
    """A checkpoint (``lab.freeze``) as the database stores its snapshot (in the packer's process,
    which then hands back the memory the simulation and its text took)."""
    packed = pack(snapshot_text(frozen))
    give_back()
    return packed


#: after packing a checkpoint at least this big the worker process is ended (a new one starts
#: for the next): Python keeps most of the memory a big simulation took, and the worker would
#: hold that peak for as long as the server runs
RECYCLE_AFTER_BYTES = 1024 * 1024


class Packer:
    """``pack_frozen`` in a worker process of its own, started on first use (spawned, not
    forked: the server's threads and sockets stay where they are), and started again after
    a big one."""

    def __init__(self) -> None:
        self.pool: ProcessPoolExecutor | None = None

    def pack(self, frozen: bytes) -> str:
        """Blocks the calling thread (the saver's) until the worker process has packed it."""
        if self.pool is None:
            self.pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        try:
            return self.pool.submit(pack_frozen, frozen).result()
        finally:
            if len(frozen) >= RECYCLE_AFTER_BYTES:
                self.pool.shutdown(wait=True)
                self.pool = None

    def shutdown(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
