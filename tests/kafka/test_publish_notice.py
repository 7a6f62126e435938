"""The publish notice predicts the partition with the count the producer knows: after
partitions are added, a producer keeps its old count until its metadata is refreshed, and
the notice says so instead of predicting a partition the record does not go to."""

from __future__ import annotations

from coordlab.labs.commands import from_data
from coordlab.labs.lab import Lab
from coordlab.labs.registry import get
from kafka_app.actions import WEB_PRODUCER
from kafka_app.model.partitioner import murmur2, to_positive


def test_after_partitions_are_added_the_notice_predicts_with_the_producers_stale_count():
    lab = Lab("x", get("kafka-keys"))
    publish = {"command": "act", "op": "publish", "topic": "chat", "key": "alice", "value": "hi"}
    lab.apply(from_data(publish))
    lab.apply(from_data({"command": "forward", "seconds": 2}))
    producer = lab.sim.nodes[WEB_PRODUCER]
    before = producer.partition_count("chat")
    lab.apply(from_data({"command": "act", "op": "add_partitions", "topic": "chat", "partitions": before + 3}))
    lab.apply(from_data({"command": "forward", "seconds": 2}))
    notice = lab.apply(from_data(publish))
    expected = to_positive(murmur2(b"alice")) % before
    assert f"% {before} partitions = partition {expected}." in notice
    assert f"metadata still says {before} partitions, not {before + 3}" in notice
    lab.apply(from_data({"command": "forward", "seconds": 2}))
    assert producer.outbox[-1]["partition"] == expected  # where the record really went
