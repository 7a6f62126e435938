"""A Kafka lab's frames reuse what did not change since the lab's latest frame (a partition
whose log and replicas stood still, a record's box) and build again what did."""

from __future__ import annotations

import gc
import weakref

from coordlab.labs.commands import from_data
from coordlab.labs.lab import Lab
from coordlab.labs.registry import get
from kafka_app import frames


def partitions_by_name(lab: Lab) -> dict[str, dict]:
    return {p["name"]: p for p in frames.partitions(frames.context(lab))}


def test_a_partition_is_reused_while_it_stands_still_and_rebuilt_once_it_moves():
    lab = Lab("x", get("kafka-keys"))
    lab.apply(from_data({"command": "forward", "seconds": 5}))
    lab.apply(from_data({"command": "pause"}))
    first = partitions_by_name(lab)
    assert partitions_by_name(lab) == first
    assert all(partitions_by_name(lab)[name] is p for name, p in first.items())  # nothing moved: reused
    lab.apply(from_data({"command": "act", "op": "publish", "topic": "chat", "key": "k", "value": "new"}))
    lab.apply(from_data({"command": "forward", "seconds": 2}))
    lab.apply(from_data({"command": "pause"}))
    after = partitions_by_name(lab)
    moved = [name for name, p in after.items() if p is not first[name]]
    assert moved  # the record's partition (and whatever else moved) was built again
    for name in moved:
        assert after[name] != first[name]
    assert any('data-value="new"' in cell["html"] for p in after.values() for cell in p["cells"] if "html" in cell)


def test_what_a_lab_reused_goes_with_the_lab():
    lab = Lab("x", get("kafka-keys"))
    lab.apply(from_data({"command": "forward", "seconds": 5}))
    frames.context(lab)
    assert lab in frames._reused
    gone = weakref.ref(lab)
    del lab
    gc.collect()
    assert gone() is None, "what the lab's frames reused does not keep the lab (or its parts) alive"
