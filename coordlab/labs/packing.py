"""A lab's simulation snapshot as the database stores it: the JSON text of the
generic codec, zlib-compressed and base64-encoded (about a fifteenth of its size).

Turning a checkpoint into that text means thawing the simulation and encoding
it: for an hour of Kafka traffic over a second of CPU, with stretches of a few
hundred milliseconds in C code that holds the interpreter lock. So the runtime
does it in a forked child process (``pack_checkpoint``), where no viewer waits for it,
and which gives all that memory back when it exits.
"""

from __future__ import annotations

import base64
import zlib

from . import forking
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


def pack_checkpoint(frozen: bytes) -> str:
    """A checkpoint (``lab.freeze``) as the database stores its snapshot, packed in a forked
    child process where there is ``fork``: the child thaws and encodes the simulation, hands
    back the text and exits, so no process keeps the memory that took. Blocks the calling
    thread (the saver's) until it is done."""
    if not forking.CAN_FORK:
        return pack(snapshot_text(frozen))
    packed, _ = forking.collect(forking.run_in_child(lambda: pack(snapshot_text(frozen)).encode("ascii")))
    return packed.decode("ascii")
