"""The value types of the Kafka model, named as kafka-python names them."""

from __future__ import annotations

from typing import Any, NamedTuple


def log_name(topic: str, partition: int) -> str:
    """A partition's name, as its log directory on a broker is named (``orders-0``)."""
    return f"{topic}-{partition}"


def split_log_name(name: str) -> tuple[str, int]:
    """``orders-0`` → ("orders", 0); topic names may contain '-' themselves."""
    topic, _, partition = name.rpartition("-")
    return topic, int(partition)


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class RecordMetadata(NamedTuple):
    """What a successful send returns (kafka-python's ``RecordMetadata``)."""

    topic: str
    partition: int
    topic_partition: TopicPartition
    offset: int
    timestamp: int
    serialized_key_size: int
    serialized_value_size: int


class ConsumerRecord(NamedTuple):
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


class OffsetAndMetadata(NamedTuple):
    offset: int
    metadata: str


class NewTopic:
    """A topic to create (kafka-python's ``kafka.admin.NewTopic``)."""

    def __init__(self, name: str, num_partitions: int, replication_factor: int,
                 replica_assignments: dict[int, list[int]] | None = None,
                 topic_configs: dict[str, Any] | None = None) -> None:
        self.name = name
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.replica_assignments = replica_assignments or {}
        self.topic_configs = dict(topic_configs or {})

    def __repr__(self) -> str:
        return (f"NewTopic(name={self.name!r}, num_partitions={self.num_partitions}, "
                f"replication_factor={self.replication_factor}, topic_configs={self.topic_configs!r})")


class NewPartitions:
    """A new partition count for a topic (kafka-python's ``kafka.admin.NewPartitions``)."""

    def __init__(self, total_count: int, new_assignments: list[list[int]] | None = None) -> None:
        self.total_count = total_count
        self.new_assignments = new_assignments
