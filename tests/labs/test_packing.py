"""Saved snapshots are packed in a forked child process, which gives its memory back when it
exits: the text is the one packing in the server's own process gives, and no child is left."""

from __future__ import annotations

import os

import pytest

from coordlab.labs import forking
from coordlab.labs.commands import from_data
from coordlab.labs.lab import Lab, freeze, snapshot_text
from coordlab.labs.packing import pack, pack_checkpoint, unpack
from coordlab.labs.registry import get


def children() -> list[str]:
    """This process's child processes, zombies included."""
    found = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as listed:
            found += listed.read().split()
    return found


@pytest.mark.skipif(not forking.CAN_FORK, reason="needs os.fork")
def test_a_checkpoint_is_packed_in_a_child_that_is_gone_afterwards():
    lab = Lab("x", get("kafka-shop"))
    lab.apply(from_data({"command": "forward", "seconds": 20}))
    frozen = freeze(lab.sim)
    before = children()
    packed = pack_checkpoint(frozen)
    assert packed == pack(snapshot_text(frozen))
    assert unpack(packed) == lab.sim.snapshot()
    assert children() == before


@pytest.mark.skipif(not forking.CAN_FORK, reason="needs os.fork")
def test_a_child_that_fails_is_an_error_for_the_saver_and_leaves_nothing_behind():
    child = forking.run_in_child(lambda: os._exit(3))  # type: ignore[func-returns-value]
    with pytest.raises(RuntimeError, match="status"):
        forking.collect(child)
    assert str(child.pid) not in children()
