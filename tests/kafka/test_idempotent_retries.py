"""An idempotent producer's retries, as Kafka 3.x does them: the producer resends a failed batch
unchanged (``RecordAccumulator.reenqueue`` puts the same ``ProducerBatch`` back at the front of its
partition's queue), and the leader answers a batch whose sequence range it already holds with the
offsets it wrote it at, appending nothing (``UnifiedLog.append`` with
``ProducerStateEntry.findDuplicateBatch``, over the producer's latest 5 batches). A follower learns
the batches from what it copies, so a new leader recognises a batch its old leader wrote.

Before, a retry was rebuilt from the front of the queue with the records queued since, and the
leader compared only its first record: after a leader was killed with a batch on its way, the new
leader took the grown batch for the old one, wrote none of it and left the producer waiting for a
high watermark that never came, until delivery.timeout.ms failed every record of the batch.
"""

from __future__ import annotations

from typing import Any

import pytest

from coordlab.labs.commands import from_data
from coordlab.labs.lab import Lab
from coordlab.labs.registry import get
from kafka_app.guides import leader
from kafka_app.model import Cluster, NewTopic
from kafka_app.model.log import NUM_BATCHES_TO_RETAIN, BatchMetadata, PartitionLog
from kafka_app.model.producer import ProducerNode
from kafka_app.model.story import Service

PID = 7


# -- the log: a producer's latest batches -------------------------------------------------------------------------


def append_batch(log: PartitionLog, first_seq: int, count: int, producer_id: int = PID) -> None:
    for seq in range(first_seq, first_seq + count):
        log.append(0, b"k", f"v{seq}".encode(), producer_id=producer_id, sequence=seq, base_sequence=first_seq)


def test_a_batch_is_a_duplicate_only_if_its_whole_sequence_range_is_one_of_the_latest_batches():
    log = PartitionLog()
    append_batch(log, 0, 3)  # offsets 0-2
    append_batch(log, 3, 2)  # offsets 3-4
    assert log.producers[PID] == [BatchMetadata(0, 2, 0, 2), BatchMetadata(3, 4, 3, 4)]
    assert log.duplicate_of(PID, 0, 2) == (0, 3)  # the original offsets: first, last + 1
    assert log.duplicate_of(PID, 3, 4) == (3, 5)
    assert log.duplicate_of(PID, 0, 4) is None  # not a batch the producer sent (the old check said yes)
    assert log.duplicate_of(PID, 5, 6) is None and log.duplicate_of(PID + 1, 0, 2) is None
    for first in range(5, 5 + NUM_BATCHES_TO_RETAIN):
        append_batch(log, first, 1)
    assert len(log.producers[PID]) == NUM_BATCHES_TO_RETAIN and log.duplicate_of(PID, 3, 4) is None


def test_a_follower_knows_the_batches_it_copied_whole_and_after_a_truncation():
    leader_log, follower = PartitionLog(), PartitionLog()
    append_batch(leader_log, 0, 3)
    append_batch(leader_log, 3, 4)  # offsets 3-6
    copied = leader_log.read(0, max_records=5, upto=leader_log.log_end_offset)
    copied += leader_log.rest_of_batch(copied[-1], leader_log.log_end_offset)
    assert [r.offset for r in copied] == list(range(7))  # not cut inside the batch at offsets 3-6
    for record in copied:
        follower.append_record(0, record)
    assert follower.producers == leader_log.producers and follower.duplicate_of(PID, 3, 6) == (3, 7)
    follower.truncate_to(3)
    assert follower.producers[PID] == [BatchMetadata(0, 2, 0, 2)]


# -- a retry on a live cluster: the same batch, answered with its offsets ----------------------------------------


def produce_bodies(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every Produce request a producer sends, as sent."""
    sent: list[dict[str, Any]] = []
    request = ProducerNode.request

    def recording(self: ProducerNode, sim: Any, broker: str, kind: str, **body: Any) -> int:
        if kind == "Produce":
            sent.append(body)
        return request(self, sim, broker, kind, **body)

    monkeypatch.setattr(ProducerNode, "request", recording)
    return sent


def test_a_retried_batch_is_resent_unchanged_and_the_leader_answers_it_with_its_offsets(monkeypatch):
    cluster = Cluster(brokers=3, zookeeper=3, seed=7)
    cluster.run_for(2.0)
    cluster.admin().create_topics([NewTopic("t", 1, 3, topic_configs={"min.insync.replicas": "2"})])
    producer = cluster.producer(acks="all", request_timeout_ms=2_000)
    assert producer.send("t", value=b"first").get(timeout=10).offset == 0
    sent = produce_bodies(monkeypatch)
    leader_id = cluster.partition_state("t", 0)["leader"]
    cluster.cut(leader_id, producer.node.name, both_ways=False)  # the leader's answers are lost
    a = producer.send("t", value=b"a")
    cluster.run_for(0.5)
    log = cluster.broker(leader_id).logs["t-0"]
    assert log.high_watermark == 2  # written and replicated, but the producer does not know
    b, c = producer.send("t", value=b"b"), producer.send("t", value=b"c")  # queued behind a's batch
    cluster.heal()
    cluster.run_for(5.0)
    assert [(m.offset, m.partition) for m in (a.get(1), b.get(1), c.get(1))] == [(1, 0), (2, 0), (3, 0)]
    values = [[r["value"] for r in body["records"]] for body in sent]
    assert values == [[b"a"], [b"a"], [b"b", b"c"]]  # the retry carried a's batch alone, b and c came after
    assert sent[1]["records"] == sent[0]["records"]  # the same records with the same sequence numbers
    assert [r.value for r in log.all_records()] == [b"first", b"a", b"b", b"c"]  # a written once
    pid = producer.node.producer_id
    assert log.producers[pid] == [BatchMetadata(0, 0, 0, 0), BatchMetadata(1, 1, 1, 1), BatchMetadata(2, 3, 2, 3)]


def test_the_leader_appends_nothing_for_a_batch_it_has(monkeypatch):
    cluster = Cluster(brokers=3, zookeeper=3, seed=7)
    cluster.run_for(2.0)
    cluster.admin().create_topics([NewTopic("t", 1, 3)])
    producer = cluster.producer(acks="all")
    producer.send("t", value=b"first").get(timeout=10)
    broker = cluster.broker(cluster.partition_state("t", 0)["leader"])
    batch = [{"key": None, "value": f"v{seq}".encode(), "headers": [], "timestamp": 0, "producer_id": 99,
              "sequence": seq} for seq in range(3)]
    assert broker.append_as_leader(cluster.sim, "t-0", batch, -1) == (None, (1, 4))
    assert broker.append_as_leader(cluster.sim, "t-0", batch, -1) == (None, (1, 4))
    assert broker.logs["t-0"].log_end_offset == 4


# -- the lab where it showed: kafka-replication, payments-0's leader killed ------------------------------------------


@pytest.mark.parametrize("seed", [4, 6])  # seeds where a batch was on its way to the killed leader
def test_after_payments_0s_leader_is_killed_its_records_are_acknowledged_again_none_lost_or_doubled(seed):
    lab = Lab("test", get("kafka-replication"), seed)
    lab.apply(from_data({"command": "forward", "seconds": 30}))
    payments = lab.sim.nodes["payments"]
    dead = leader(lab.sim, "payments-0")
    assert isinstance(payments, Service) and dead is not None
    on_its_way = [payments.outgoing[i] for i in payments.queues["payments-0"] if payments.outgoing[i].sequence >= 0]
    assert on_its_way and "payments-0" in payments.busy
    killed = lab.sim.now
    lab.apply(from_data({"command": "crash", "node": dead.name}))
    acks_at = []
    acked = sum(1 for a in payments.acked if a[1] == 0)
    for _ in range(60):
        lab.apply(from_data({"command": "forward", "seconds": 1}))
        now_acked = sum(1 for a in payments.acked if a[1] == 0)
        if now_acked > acked:
            acks_at.append(lab.sim.now - killed)
        acked = now_acked
    assert acks_at and acks_at[0] <= 15_000  # the new leader is elected when dead's ZooKeeper session expires
    assert max(b - a for a, b in zip(acks_at, [*acks_at[1:], 60_000], strict=True)) <= 10_000
    assert payments.failed_count == 0 and not payments.retried.get("REQUEST_TIMED_OUT")
    new = leader(lab.sim, "payments-0")
    assert new is not None and new is not dead
    log = new.logs["payments-0"]
    written = [(r.producer_id, r.sequence) for r in log.all_records() if r.producer_id >= 0]
    assert len(written) == len(set(written))  # nothing written twice
    for _, partition, offset, producer_id, sequence in payments.acked:
        if partition == 0:
            record = log.record_at(offset)
            assert record is not None and (record.producer_id, record.sequence) == (producer_id, sequence)
    assert all((payments.producer_id, r.sequence) in written for r in on_its_way)
    assert lab.sim.nodes["safety"].violations == []
