"""Kafka model figures: records per wall-clock second produced (acks=all),
replicated to three brokers and consumed in fast-forward, and the memory a
million retained records take."""

from __future__ import annotations

import time

from bench.zookeeper import allocated
from kafka_app.model import Cluster, NewTopic
from kafka_app.model.log import PartitionLog

RECORDS = 100_000
TARGET_RECORDS_PER_SECOND = 50_000
VALUE = b"x" * 100


def produced_replicated_consumed() -> tuple[float, int]:
    """Records per second from the first send until a consumer has read them all, RF 3."""
    cluster = Cluster(brokers=3, zookeeper=3, seed=1)
    cluster.run_for(2)
    cluster.admin().create_topics([NewTopic("bench", 6, 3, topic_configs={"min.insync.replicas": "2"})])
    producer = cluster.producer(acks="all", linger_ms=5)
    producer.node.keep_results = False
    consumer = cluster.consumer("bench", auto_offset_reset="earliest")
    consumer.poll(timeout_ms=100)
    consumed = 0
    start = time.perf_counter()
    for index in range(RECORDS):
        producer.node.send(cluster.sim, "bench", VALUE, b"user-%d" % (index % 1000))
        if index % 1000 == 999:
            cluster.run_for(0.01)
            consumed += sum(len(batch) for batch in consumer.poll(max_records=100_000).values())
    while consumed < RECORDS:
        batches = consumer.poll(timeout_ms=1000, max_records=100_000)
        consumed += sum(len(batch) for batch in batches.values())
    elapsed = time.perf_counter() - start
    states = [cluster.partition_state("bench", p) for p in range(6)]
    replicated = sum(min(r["log_end_offset"] for r in state["per_replica"].values()) for state in states)
    assert producer.node.acked_count == RECORDS == replicated, "every record acknowledged and on all three replicas"
    return RECORDS / elapsed, replicated


def bare_logs() -> float:
    """The floor, measured in the same run: the same records appended to three logs and read back,
    with no network, protocol or clients, in records per second."""
    logs = [PartitionLog() for _ in range(3)]
    start = time.perf_counter()
    for index in range(RECORDS):
        for log in logs:
            log.append(index, b"user-%d" % (index % 1000), VALUE)
    for log in logs:
        log.high_watermark = log.log_end_offset
        offset = 0
        while offset < RECORDS:
            offset += len(log.read(offset, max_records=500))
    return RECORDS / (time.perf_counter() - start)


def million_records() -> PartitionLog:
    log = PartitionLog()
    for index in range(1_000_000):
        log.append(index, b"user-%d" % (index % 1000), VALUE)
    return log


def main() -> None:
    print(f"Kafka model: {RECORDS:,} records of {len(VALUE)} bytes, 6 partitions, RF 3, acks=all, best of 3")
    rate = max(produced_replicated_consumed()[0] for _ in range(3))
    verdict = "met" if rate >= TARGET_RECORDS_PER_SECOND else "NOT met"
    floor = max(bare_logs() for _ in range(3))
    print(f"  produced, replicated and consumed: {rate:10,.0f} records per wall-clock second "
          f"(target >= {TARGET_RECORDS_PER_SECOND:,}: {verdict})")
    print(f"  bare logs (3 appends and 3 reads each): {floor:10,.0f} records per second; "
          f"the whole cluster runs at {rate / floor:.2f}x that floor")
    size, _ = allocated(million_records)
    print(f"  a million retained records in one log: {size / 1024 / 1024:.0f} MB ({size / 1_000_000:.0f} bytes each)")


if __name__ == "__main__":
    main()
