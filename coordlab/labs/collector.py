"""Keeping Python's cyclic garbage collector from pausing every lab at once.

A full collection looks at every object the process holds, and a Kafka lab that
ran for minutes holds millions (its records): one took 100–150 ms on this
machine, long enough for every viewer of every lab to miss frames, and the
collector starts one whenever the heap has grown by a quarter. So every few
seconds the runtime collects everything made since the last time (cheap: the
collector skips what is frozen) and then moves everything that survived into
the collector's permanent generation (``gc.freeze``), which collections skip.
Frozen objects are still freed the moment nothing refers to them; only garbage
in reference cycles made of frozen objects waits, until the full collection the
runtime runs every ``FULL_EVERY_S`` seconds (one pause, on purpose and rarely,
instead of many).

What became garbage between two tidies is collected at the second, whichever
generation the collector had moved it to meanwhile: a flood of refused
handshakes (each a few reference cycles in the web server) would otherwise be
frozen as it was, garbage and all, and held for minutes.

A lab closed or put away leaves its whole simulation as garbage, some of it in
cycles that only a full collection frees: the next ``tidy`` after ``lab_gone``
runs one then, instead of holding that memory until the next scheduled one.

Memory freed by then is handed back to the operating system (glibc keeps freed
heap pages otherwise, so a flood or a closed lab would leave the process large).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time

FULL_EVERY_S = 600.0

_last_full = time.monotonic()
_libc_name = ctypes.util.find_library("c")
_malloc_trim = getattr(ctypes.CDLL(_libc_name), "malloc_trim", None) if _libc_name else None


def lab_gone() -> None:
    """A lab was dropped from memory: the next ``tidy`` collects everything."""
    global _last_full
    _last_full = -FULL_EVERY_S


def tidy() -> None:
    """Collect what was made since the last tidy and freeze the survivors; now and then, a
    full collection of everything, the frozen objects included."""
    global _last_full
    now = time.monotonic()
    if now - _last_full >= FULL_EVERY_S:
        _last_full = now
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    give_back()


def give_back() -> None:
    """Hand the memory the allocator holds free back to the operating system."""
    if _malloc_trim is not None:
        _malloc_trim(0)
