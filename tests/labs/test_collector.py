"""The runtime's tidy: garbage made since the last tidy is collected, whichever generation the
collector had moved it to, before the survivors are frozen."""

from __future__ import annotations

import gc
import weakref

from coordlab.labs import collector


class Cycle:
    """An object that refers to itself: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


def test_a_cycle_that_became_garbage_after_reaching_the_oldest_generation_is_collected_not_frozen():
    cycle = Cycle()
    gone = weakref.ref(cycle)
    gc.collect(0)
    gc.collect(1)  # what a busy server's own collections do: it is in the oldest generation now
    del cycle
    try:
        collector.tidy()
        assert gone() is None
    finally:
        gc.unfreeze()
